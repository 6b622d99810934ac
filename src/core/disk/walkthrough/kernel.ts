/**
 * The kernel's headers, for the walkthrough: a window on the kernel file
 * (one run of sectors for our loader, a FAT cluster chain for SYSLINUX), its
 * Multiboot and ELF headers cut into fields, and the bytes at its entry point.
 */
import { ELF_HDR, ELFDATA2LSB, type ElfFile, EM_386, EM_X86_64, ET_EXEC, isElf, parseElf } from '../../elf';
import { fail, isImageError } from '../../errors';
import { planSource } from '../../kernel';
import {
  findMultiboot,
  MB_FLAG_AOUT_KLUDGE,
  MB_FLAG_MEMORY_INFO,
  MB_FLAG_PAGE_ALIGN,
  MB_FLAG_VIDEO_MODE,
  MB_HEADER,
  MB_MAGIC,
  MB_SEARCH,
  type MultibootHeader,
} from '../../multiboot';
import { formatBytes, hex, MIB, SECTOR } from '../../units';
import type { LoadPlan, LoadSegment } from '../../load-plan';
import type { FatEntry, FatReader } from '../../fat/read';
import type { DiskImage } from '../../formats/reader';
import type { HexDump } from './types';
import { Dump, readAt } from './dump';
import { codeDump, disassemble, endsFlow } from './code';
import type { Builder } from './shared';

/** Bytes of the kernel shown at its entry point: the instructions that start in them. */
const ENTRY_BYTES = 16;
/** The longest x86 instruction. */
const MAX_INSTRUCTION = 15;
/** File offsets beyond this are not followed through a FAT chain (bounded work on hostile tables). */
const MAX_FILE_OFFSET = 64 * MIB;

/** A window on the kernel file: its bytes at a file offset, and where they are on the disk (null: not one run). */
export interface KernelFile {
  size: number;
  read(offset: number, length: number): Promise<{ bytes: Uint8Array; diskOffset: number | null }>;
}

export function oursKernel(disk: DiskImage, lba: number, size: number): KernelFile {
  return {
    size,
    async read(offset, length) {
      const n = Math.max(0, Math.min(length, size - offset));
      return { bytes: await readAt(disk, lba * SECTOR + offset, n), diskOffset: lba * SECTOR + offset };
    },
  };
}

export function fatKernel(disk: DiskImage, fat: FatReader, e: FatEntry): KernelFile {
  return {
    size: e.size,
    async read(offset, length) {
      const n = Math.max(0, Math.min(length, e.size - offset));
      if (n === 0) return { bytes: new Uint8Array(0), diskOffset: null };
      if (offset + n > MAX_FILE_OFFSET) {
        fail(
          'FILE_TOO_BIG_TO_READ',
          `${e.path}: the walkthrough follows a file's cluster chain at most ${formatBytes(MAX_FILE_OFFSET)} in, and byte ${offset + n} is further.`,
        );
      }
      const cb = fat.clusterBytes;
      const first = Math.floor(offset / cb);
      const last = Math.floor((offset + n - 1) / cb);
      const chain = await fat.chain(e.firstCluster, last + 1, e.path);
      const out = new Uint8Array(n);
      let contiguous = chain.length > last;
      for (let c = first, done = 0; c <= last && c < chain.length; c++) {
        if (c > first && chain[c] !== chain[c - 1] + 1) contiguous = false;
        const inCluster = c === first ? offset - first * cb : 0;
        const take = Math.min(n - done, cb - inCluster);
        out.set(await readAt(disk, fat.clusterOffset(chain[c]) + inCluster, take), done);
        done += take;
      }
      return { bytes: out, diskOffset: contiguous ? fat.clusterOffset(chain[first]) + offset - first * cb : null };
    },
  };
}

/** The Multiboot header dump: magic, flags, checksum, and the a.out-kludge addresses. */
export function multibootDump(h: MultibootHeader, bytes: Uint8Array, diskOffset: number | null): HexDump {
  const d = new Dump(
    `The kernel's Multiboot header, at file offset ${hex(h.offset)}`,
    diskOffset,
    h.headerAddr ?? null,
    bytes,
  );
  d.u32(MB_HEADER.magic, 'Magic', (v) => `${hex(v)}: "I am a Multiboot kernel"`);
  d.u32(MB_HEADER.flags, 'Flags', (v) => {
    const bits: string[] = [];
    if (v & MB_FLAG_PAGE_ALIGN) bits.push('bit 0: align modules to 4 KiB');
    if (v & MB_FLAG_MEMORY_INFO) bits.push('bit 1: pass the memory sizes and map');
    if (v & MB_FLAG_VIDEO_MODE) bits.push('bit 2: set a video mode');
    bits.push(
      v & MB_FLAG_AOUT_KLUDGE
        ? 'bit 16: the addresses below say where to load'
        : 'bit 16 clear: no address fields, so the ELF program headers say where to load',
    );
    return `${hex(v)}: ${bits.join('; ')}`;
  });
  d.u32(
    MB_HEADER.checksum,
    'Checksum',
    (v) => `${hex(v)}: magic + flags + checksum = ${hex((MB_MAGIC + h.flags + v) >>> 0)}`,
  );
  if (bytes.length >= MB_HEADER.kludgeSize) {
    d.u32(MB_HEADER.headerAddr, 'header_addr', (v) => `${hex(v)}: where this header lands in memory`);
    d.u32(MB_HEADER.loadAddr, 'load_addr', (v) => `${hex(v)}: where the first loaded byte goes`);
    d.u32(MB_HEADER.loadEndAddr, 'load_end_addr', (v) =>
      v ? `${hex(v)}: end of the bytes copied from the file` : '0: to the end of the file',
    );
    d.u32(MB_HEADER.bssEndAddr, 'bss_end_addr', (v) => (v ? `${hex(v)}: zero memory up to here` : '0: no bss'));
    d.u32(MB_HEADER.entryAddr, 'entry_addr', (v) => `${hex(v)}: the first instruction`);
  }
  return d.done();
}

/** Read the kernel's head and find its Multiboot header (coded errors from a damaged kernel). */
export async function kernelHeader(k: KernelFile): Promise<{ head: Uint8Array; mb: MultibootHeader }> {
  const { bytes: head } = await k.read(0, Math.min(k.size, MB_SEARCH + MB_HEADER.kludgeSize));
  return { head, mb: findMultiboot(head, 'kernel') };
}

export async function multibootHeaderDump(k: KernelFile, mb: MultibootHeader): Promise<HexDump> {
  const len = mb.flags & MB_FLAG_AOUT_KLUDGE ? MB_HEADER.kludgeSize : MB_HEADER.basicSize;
  const r = await k.read(mb.offset, len);
  return multibootDump(mb, r.bytes, r.diskOffset);
}

/** What the registers hold at a Multiboot kernel's entry (Multiboot 0.6.96, "Machine state"). */
const ENTRY_ROLES = { eax: 'the Multiboot magic', ebx: "the Multiboot information's address" };

/**
 * The kernel's first instructions at its entry point (found through the load
 * plan's segments), decoded: those that start in its first 16 bytes, up to a
 * jump that does not fall through.
 */
export async function entryDump(k: KernelFile, entry: number, segments: LoadSegment[]): Promise<HexDump | null> {
  const seg = segments.find((s) => entry >= s.loadAddr && entry < s.loadAddr + s.fileSize);
  if (!seg) return null;
  const fileOffset = seg.fileOffset + (entry - seg.loadAddr);
  const inSegment = seg.fileSize - (entry - seg.loadAddr);
  const r = await k.read(fileOffset, Math.min(ENTRY_BYTES + MAX_INSTRUCTION - 1, inSegment));
  if (r.bytes.length === 0) return null;
  const caption = `The kernel's first instructions: file offset ${hex(fileOffset)}, copied to ${hex(entry)}`;
  const code = disassemble(r.bytes, 0, entry, 32, {
    until: (i) => endsFlow(i) || i.eip + i.length >= entry + ENTRY_BYTES,
  });
  if (code.length > 0) return codeDump(caption, r.diskOffset, code, 32, [], ENTRY_ROLES);
  const bytes = r.bytes.slice(0, ENTRY_BYTES);
  return new Dump(caption, r.diskOffset, entry, bytes)
    .f(0, bytes.length, 'Entry point code', `32-bit machine code at ${hex(entry)} that this walkthrough cannot decode`)
    .done();
}

/** The kernel's headers, read once: its head, its Multiboot header, its ELF header, and where its load plan came from. */
export interface KernelHeaders {
  head: Uint8Array;
  headDiskOffset: number | null;
  mb: MultibootHeader | null;
  elf: ElfFile | null;
  source: LoadPlan['source'] | null;
}

export async function readKernelHeaders(b: Builder, k: KernelFile): Promise<KernelHeaders> {
  const { bytes: head, diskOffset } = await k.read(0, Math.min(k.size, MB_SEARCH + MB_HEADER.kludgeSize));
  let mb: MultibootHeader | null = null;
  let elf: ElfFile | null = null;
  try {
    mb = findMultiboot(head, 'kernel');
  } catch (e) {
    if (!isImageError(e)) throw e;
    b.notes.push(`The kernel's Multiboot header cannot be shown: ${e.message}`);
  }
  if (isElf(head)) {
    try {
      elf = parseElf(head, 'kernel');
    } catch (e) {
      if (!isImageError(e)) throw e;
      b.notes.push(`The kernel's ELF header cannot be shown: ${e.message}`);
    }
  }
  return { head, headDiskOffset: diskOffset, mb, elf, source: mb ? planSource(mb, elf) : null };
}

/** The start of the ELF header, decoded by elf.ts; `entry` is where the loader jumps. */
export function elfDump(kh: KernelHeaders, entry: number): HexDump | null {
  const elf = kh.elf;
  if (!elf) return null;
  const is64 = elf.class === 64;
  const len = ELF_HDR.entry + (is64 ? 8 : 4);
  const d = new Dump("The kernel file's first bytes: its ELF header", kh.headDiskOffset, null, kh.head.slice(0, len));
  d.f(ELF_HDR.magic, 4, 'ELF magic', '7F "ELF": an ELF executable');
  d.u8(ELF_HDR.class, 'Class', () => (is64 ? '2: 64-bit' : '1: 32-bit'));
  d.u8(ELF_HDR.data, 'Byte order', (v) => (v === ELFDATA2LSB ? '1: little-endian' : `${v}`));
  d.u8(ELF_HDR.identVersion, 'ELF version', (v) => `${v}`);
  d.u8(ELF_HDR.osAbi, 'OS ABI', (v) => `${v}`);
  d.f(ELF_HDR.identPad, ELF_HDR.type - ELF_HDR.identPad, 'Padding', 'zeros');
  d.f(ELF_HDR.type, 2, 'Type', elf.type === ET_EXEC ? '2: an executable' : `${elf.type}`);
  d.f(
    ELF_HDR.machine,
    2,
    'Machine',
    elf.machine === EM_X86_64 ? '62: x86-64' : elf.machine === EM_386 ? '3: x86 (32-bit)' : `${elf.machine}`,
  );
  d.u32(ELF_HDR.version, 'Version', (v) => `${v}`);
  const src = kh.source;
  const value =
    src === 'aout-kludge'
      ? `${hex(elf.entry)}: not used: the loader jumps to the Multiboot header's entry_addr, ${hex(entry)}${is64 && elf.entry !== entry ? " (a Solo5 kernel's e_entry is 64-bit code)" : ''}`
      : src === 'elf32' || src === 'elf64'
        ? elf.entry === entry
          ? `${hex(elf.entry)}: where the loader jumps`
          : `${hex(elf.entry)}: a virtual address; the loader jumps to the same byte at its physical address ${hex(entry)}`
        : hex(elf.entry);
  d.f(ELF_HDR.entry, is64 ? 8 : 4, 'ELF entry (e_entry)', value);
  return d.done();
}
