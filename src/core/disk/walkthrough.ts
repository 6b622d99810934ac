/**
 * The boot walkthrough: numbered steps from power-on to the kernel's first
 * instruction, each with the exact bytes involved, read from the disk and cut
 * into labelled fields, and a plain explanation. Built from the same readers
 * as `inspect` (the opened image with its loader, the parameter block, FAT,
 * the Multiboot header); what the loader builds in memory is derived from the
 * disk's values, and what depends on the machine (the BIOS memory map) is
 * shown as a labelled example.
 *
 * Reads are bounded: LBA 0, stage 2, the volume's boot sector, directory
 * entries, the configuration, and of the kernel only its headers and the
 * bytes at its entry point. A damaged disk gives fewer steps and a note;
 * coded errors never escape, only bugs do.
 */
import { charText, rd16le, rd32le, rd64le, u32le, utf8 } from '../bytes';
import {
  EM_386,
  EM_X86_64,
  ELF_HDR,
  ELFCLASS64,
  ELFDATA2LSB,
  ET_EXEC,
  isElf,
  parseElf,
  PHDR32,
  PHDR64,
  PT_LOAD,
  type ElfFile,
} from '../elf';
import { fail, isImageError } from '../errors';
import { planSource } from '../kernel';
import { decodeChs, MBR, PART_ENTRY, partitionTypeName } from '../mbr';
import {
  findMultiboot,
  kludgePlan,
  MB_FLAG_AOUT_KLUDGE,
  MB_FLAG_MEMORY_INFO,
  MB_FLAG_PAGE_ALIGN,
  MB_FLAG_VIDEO_MODE,
  MB_HEADER,
  MB_MAGIC,
  MB_SEARCH,
  type MultibootHeader,
} from '../multiboot';
import { DAP, encodeDap } from '../boot/dap';
import { E820_TYPE_NAMES, encodeMmap, MBI, mbiFlagBits, MMAP_ENTRY } from '../boot/mbi';
import { formatBytes, hex, KIB, MIB, plural, SECTOR } from '../units';
import {
  CHUNK_SECTORS,
  CMDLINE_OFF,
  FLAG_DEBUG_EXIT,
  KERNEL_MIN_ADDR,
  MAX_SEGMENTS,
  MBI_ADDR,
  MBI_FLAGS,
  MBI_SIZE,
  MMAP_ADDR,
  MULTIBOOT_MAGIC_EAX,
  PARAMS_MAGIC,
  PARAMS_OFF,
  PARAMS_SIZE,
  P_CMDLINE_LEN,
  P_CRC,
  P_ENTRY,
  P_FLAGS,
  P_KERNEL_CRC,
  P_KERNEL_LBA,
  P_KERNEL_SIZE,
  P_LOAD_END,
  P_LOAD_START,
  P_SEGS,
  P_SEG_COUNT,
  P_SIZE,
  P_VERSION,
  SEG_SIZE,
  STAGE1_FIELDS_OFF,
  STAGE2_ADDR,
} from '../boot/loader.generated';
import { BPB, BPB32, EBPB, EBPB_AT } from '../fat/boot-sector';
import { DIRENT } from '../fat/dir';
import type { LoadPlan, LoadSegment } from '../load-plan';
import type { Bootloader, DiskContext, OurLoader } from './bootloader';
import { utf8Decode, type FatEntry, type FatReader } from '../fat/read';
import type { DiskImage } from '../formats/reader';
import type { OpenedImage } from './open-image';
import type { HexDump, HexField, WalkStep, Walkthrough } from './walkthrough-types';

/** Where the BIOS puts LBA 0, and where SYSLINUX's MBR code moves itself to. */
const BOOT_ADDR = 0x7c00;
const SYSLINUX_MBR_RELOC = 0x0600;
/** Stage 1 starts with a short jump and a nop (3 bytes); the area kept empty follows. */
const STAGE1_JUMP_END = 3;
/** Bytes of the kernel shown at its entry point. */
const ENTRY_BYTES = 16;
/** File offsets beyond this are not followed through a FAT chain (bounded work on hostile tables). */
const MAX_FILE_OFFSET = 64 * MIB;
/** Bytes of a configuration file shown. */
const MAX_CONFIG_SHOWN = 2048;
/**
 * Stage 2's code: after the parameter block, before the command line. Byte
 * patterns of instructions are looked for only here, so that no value in the
 * block and no command line can be taken for code.
 */
const CODE_FROM = PARAMS_OFF + PARAMS_SIZE;

// ---------------------------------------------------------------- formatting

const sectors = (n: number) => `${plural(n, 'sector')} (${formatBytes(n * SECTOR)})`;
const quote = (s: string) => `"${s}"`;

function find(hay: Uint8Array, needle: ArrayLike<number>, from = 0, to = hay.length): number {
  outer: for (let i = from; i + needle.length <= to; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** An instruction pattern in stage 2's code (see CODE_FROM), or -1. */
const findCode = (s2: Uint8Array, needle: ArrayLike<number>) =>
  find(s2, needle, CODE_FROM, Math.min(CMDLINE_OFF, s2.length));

/** Bytes and little-endian u32s, in order: an instruction pattern. */
function pattern(...parts: (number | { u32: number })[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else {
      const b = new Uint8Array(4);
      u32le(b, 0, p.u32);
      out.push(...b);
    }
  }
  return Uint8Array.from(out);
}

/** One dump under construction: fields are added in order and may not overlap. */
class Dump {
  private readonly fields: HexField[] = [];
  constructor(
    private readonly caption: string,
    private readonly diskOffset: number | null,
    private readonly memoryAddress: number | null,
    readonly bytes: Uint8Array,
  ) {}

  f(start: number, length: number, label: string, value: string): this {
    const last = this.fields[this.fields.length - 1];
    if (length <= 0 || start < (last ? last.start + last.length : 0) || start + length > this.bytes.length) {
      throw new Error(`internal: walkthrough field "${label}" at ${start}+${length} in ${this.bytes.length} bytes`);
    }
    this.fields.push({ start, length, label, value });
    return this;
  }

  u8(start: number, label: string, value: (v: number) => string = hex): this {
    return this.f(start, 1, label, value(this.bytes[start]));
  }
  u16(start: number, label: string, value: (v: number) => string = (v) => `${v}`): this {
    return this.f(start, 2, label, value(rd16le(this.bytes, start)));
  }
  u32(start: number, label: string, value: (v: number) => string = hex): this {
    return this.f(start, 4, label, value(rd32le(this.bytes, start)));
  }
  u64(start: number, label: string, value: (v: number) => string = (v) => `${v}`): this {
    return this.f(start, 8, label, value(rd64le(this.bytes, start)));
  }
  text(start: number, length: number, label: string): this {
    return this.f(start, length, label, quote(charText(this.bytes.subarray(start, start + length))));
  }

  done(): HexDump {
    return {
      caption: this.caption,
      diskOffset: this.diskOffset,
      memoryAddress: this.memoryAddress,
      bytes: this.bytes,
      fields: this.fields,
    };
  }
}

/** Bytes read from the disk at `offset`, exactly `length` of them (a coded error when the disk is shorter). */
async function readAt(disk: DiskImage, offset: number, length: number): Promise<Uint8Array> {
  const b = await disk.read(offset, length);
  if (b.length < length) {
    fail(
      'IMAGE_TRUNCATED',
      `The disk ends at ${formatBytes(disk.size)}, before the ${length} bytes at offset ${hex(offset)} that this step shows: the image is truncated or damaged.`,
    );
  }
  return b.slice(0, length);
}

// ---------------------------------------------------------------- shared steps

interface Builder {
  ctx: DiskContext;
  boot: Bootloader;
  notes: string[];
}

function chsText(b: Uint8Array, o: number): string {
  const { cylinder, head, sector } = decodeChs(b, o);
  return `cylinder ${cylinder}, head ${head}, sector ${sector} (old geometry addressing; LBA loaders ignore it)`;
}

/** Step: the BIOS reads LBA 0 to 0x7C00, checks 55 AA and jumps. */
function biosStep(b: Builder, what: string): WalkStep {
  const lba0 = b.ctx.lba0;
  const head = new Dump(
    'LBA 0, bytes 0x000–0x00F: the first instructions the CPU runs',
    0,
    BOOT_ADDR,
    lba0.slice(0, 16),
  );
  if (lba0[0] === 0xeb) {
    const target = 2 + ((lba0[1] << 24) >> 24);
    head.f(0, 2, 'Jump (short)', `jmp to offset ${hex(target)}, address ${hex(BOOT_ADDR + target)}`);
  } else {
    head.f(0, 16, 'Boot code', 'machine code, run from 0x7C00');
  }
  const tail = new Dump(
    'LBA 0, bytes 0x1F0–0x1FF: the end of the sector',
    0x1f0,
    BOOT_ADDR + 0x1f0,
    lba0.slice(0x1f0, 0x200),
  );
  const sig = lba0[MBR.signature] === 0x55 && lba0[MBR.signature + 1] === 0xaa;
  tail.f(
    MBR.signature - 0x1f0,
    2,
    'Boot signature',
    sig ? '55 AA: the BIOS may start this disk' : 'not 55 AA: the BIOS will not start this disk',
  );
  const text = [
    'When the PC is switched on, its firmware (the BIOS: the program stored on the motherboard) tests the hardware and then looks for a disk to start from.',
    'It reads the disk\'s first sector, LBA 0, into memory at address `0x7C00`. (LBA, "logical block address", numbers the disk\'s 512-byte sectors from 0.)',
    "It only starts the sector if its last two bytes are `0x55 0xAA`, the boot signature. Then it jumps to `0x7C00` with the drive's number in the DL register (`0x80` for the first hard disk). The CPU is still in 16-bit real mode, the mode every PC starts in: only the first 1 MiB of memory can be addressed.",
    what,
  ];
  if (!sig) b.notes.push('LBA 0 has no 55 AA signature: a BIOS would not start this disk.');
  return { id: 'bios', title: 'The BIOS loads LBA 0 to 0x7C00', text, dumps: [head.done(), tail.done()] };
}

/** Step: the partition table at the end of LBA 0. */
function partitionStep(b: Builder, text: string[]): WalkStep {
  const lba0 = b.ctx.lba0;
  const from = 0x1b0;
  const d = new Dump(
    'LBA 0, bytes 0x1B0–0x1FF: disk signature and partition table',
    from,
    BOOT_ADDR + from,
    lba0.slice(from, SECTOR),
  );
  d.u32(MBR.diskSignature - from, 'Disk signature', (v) => `${hex(v)} (an identifier operating systems use)`);
  d.f(MBR.diskSignature + 4 - from, 2, 'Reserved', 'usually zero');
  for (let i = 0; i < 4; i++) {
    const o = MBR.table + i * MBR.entrySize;
    const at = o - from;
    const n = i + 1;
    if (lba0[o + PART_ENTRY.type] === 0) {
      d.f(at, MBR.entrySize, `Entry ${n}`, 'empty (type 0): no partition');
      continue;
    }
    d.u8(at + PART_ENTRY.bootFlag, `Entry ${n}: boot flag`, (v) =>
      v === 0x80 ? '0x80: active, the partition to boot' : v === 0 ? '0x0: not active' : `${hex(v)}: not valid`,
    );
    d.f(at + PART_ENTRY.firstChs, 3, `Entry ${n}: first sector (CHS)`, chsText(lba0, o + PART_ENTRY.firstChs));
    d.u8(at + PART_ENTRY.type, `Entry ${n}: type`, (v) => `${hex(v)}: ${partitionTypeName(v)}`);
    d.f(at + PART_ENTRY.lastChs, 3, `Entry ${n}: last sector (CHS)`, chsText(lba0, o + PART_ENTRY.lastChs));
    d.u32(
      at + PART_ENTRY.startLba,
      `Entry ${n}: first sector (LBA)`,
      (v) => `LBA ${v} (byte offset ${hex(v * SECTOR)})`,
    );
    d.u32(at + PART_ENTRY.sectors, `Entry ${n}: sectors`, sectors);
  }
  d.f(MBR.signature - from, 2, 'Boot signature', '55 AA');
  const p = b.ctx.partition;
  const intro = p
    ? `The partition table has four 16-byte entries. Entry ${p.index + 1} is the ${partitionTypeName(p.type)} partition: it starts at LBA ${p.startLba} and is ${sectors(p.sectors)} long${p.active ? ', and it is marked active (boot flag `0x80`)' : ''}. It holds the FAT file system with the kernel file.`
    : 'The partition table has four 16-byte entries: for each, a boot flag, a type, the first sector and the number of sectors.';
  return { id: 'partition', title: 'The partition table', text: [intro, ...text], dumps: [d.done()] };
}

/** Run a step builder; a coded error (a damaged structure) becomes a note and the step is left out. */
async function attempt(b: Builder, what: string, f: () => Promise<WalkStep | null> | WalkStep | null) {
  try {
    return await f();
  } catch (e) {
    if (!isImageError(e)) throw e;
    b.notes.push(`${what} cannot be shown: ${e.message}`);
    return null;
  }
}

// ---------------------------------------------------------------- the kernel's headers

/** A window on the kernel file: its bytes at a file offset, and where they are on the disk (null: not one run). */
interface KernelFile {
  size: number;
  read(offset: number, length: number): Promise<{ bytes: Uint8Array; diskOffset: number | null }>;
}

function oursKernel(disk: DiskImage, lba: number, size: number): KernelFile {
  return {
    size,
    async read(offset, length) {
      const n = Math.max(0, Math.min(length, size - offset));
      return { bytes: await readAt(disk, lba * SECTOR + offset, n), diskOffset: lba * SECTOR + offset };
    },
  };
}

function fatKernel(disk: DiskImage, fat: FatReader, e: FatEntry): KernelFile {
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
function multibootDump(h: MultibootHeader, bytes: Uint8Array, diskOffset: number | null): HexDump {
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
async function kernelHeader(k: KernelFile): Promise<{ head: Uint8Array; mb: MultibootHeader }> {
  const { bytes: head } = await k.read(0, Math.min(k.size, MB_SEARCH + MB_HEADER.kludgeSize));
  return { head, mb: findMultiboot(head, 'kernel') };
}

async function multibootHeaderDump(k: KernelFile, mb: MultibootHeader): Promise<HexDump> {
  const len = mb.flags & MB_FLAG_AOUT_KLUDGE ? MB_HEADER.kludgeSize : MB_HEADER.basicSize;
  const r = await k.read(mb.offset, len);
  return multibootDump(mb, r.bytes, r.diskOffset);
}

/** The bytes at the entry point, found through the load plan's segments. */
async function entryDump(k: KernelFile, entry: number, segments: LoadSegment[]): Promise<HexDump | null> {
  const seg = segments.find((s) => entry >= s.loadAddr && entry < s.loadAddr + s.fileSize);
  if (!seg) return null;
  const fileOffset = seg.fileOffset + (entry - seg.loadAddr);
  const r = await k.read(fileOffset, ENTRY_BYTES);
  if (r.bytes.length === 0) return null;
  return new Dump(
    `The kernel's first instructions: file offset ${hex(fileOffset)}, copied to ${hex(entry)}`,
    r.diskOffset,
    entry,
    r.bytes,
  )
    .f(0, r.bytes.length, 'Entry point code', `32-bit machine code at ${hex(entry)}, the kernel's first instruction`)
    .done();
}

/** The kernel's headers, read once: its head, its Multiboot header, its ELF header, and where its load plan came from. */
interface KernelHeaders {
  head: Uint8Array;
  headDiskOffset: number | null;
  mb: MultibootHeader | null;
  elf: ElfFile | null;
  source: LoadPlan['source'] | null;
}

async function readKernelHeaders(b: Builder, k: KernelFile): Promise<KernelHeaders> {
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
function elfDump(kh: KernelHeaders, entry: number): HexDump | null {
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

// ---------------------------------------------------------------- our loader

function stage1Step(b: Builder, ours: OurLoader): WalkStep {
  const lba0 = b.ctx.lba0;
  const from = 0x50;
  const fields = new Dump(
    `LBA 0, bytes ${hex(from)}–${hex(from + 0x1f)}: stage 1's two fields`,
    from,
    BOOT_ADDR + from,
    lba0.slice(from, from + 0x20),
  )
    .f(
      0,
      STAGE1_FIELDS_OFF - from,
      `Kept empty (${hex(from)}–${hex(STAGE1_FIELDS_OFF - 1)})`,
      `zeros, the end of the area ${hex(STAGE1_JUMP_END)}–${hex(STAGE1_FIELDS_OFF - 1)} kept empty: some BIOSes write a FAT BPB there, so no code lives there`,
    )
    .u32(STAGE1_FIELDS_OFF - from, "Stage 2's first sector", (v) => `LBA ${v}`)
    .u16(STAGE1_FIELDS_OFF + 4 - from, "Stage 2's length", sectors)
    .done();
  const dumps = [fields];
  // The check: mov ah, 41h; mov bx, 55AAh; ...; int 13h.
  const at = find(lba0, [0xb4, 0x41, 0xbb, 0xaa, 0x55], 0, MBR.codeSize);
  if (at >= 0) {
    const int13 = find(lba0, [0xcd, 0x13], at + 5, Math.min(MBR.codeSize, at + 12));
    if (int13 >= 0) {
      const d = new Dump(
        `LBA 0, bytes ${hex(at)}–${hex(int13 + 1)}: the extensions check`,
        at,
        BOOT_ADDR + at,
        lba0.slice(at, int13 + 2),
      )
        .f(0, 2, 'mov ah, 41h', 'BIOS disk function 41h: "are the extensions there?"')
        .f(2, 3, 'mov bx, 55AAh', 'a test value; a BIOS with extensions answers AA55h');
      if (int13 - at === 7 && lba0[at + 5] === 0x89 && lba0[at + 6] === 0xea) {
        d.f(5, 2, 'mov dx, bp', 'the boot drive number, kept in BP');
      } else if (int13 - at > 5) d.f(5, int13 - at - 5, 'More setup', 'other instructions before the call');
      dumps.push(d.f(int13 - at, 2, 'int 13h', 'call the BIOS disk service').done());
    }
  }
  const dap = encodeDap(ours.stage2Sectors, 0, STAGE2_ADDR, ours.stage2Lba);
  dumps.push(
    new Dump(
      'The disk address packet stage 1 builds on its stack (in memory, from the two fields above)',
      null,
      null,
      dap,
    )
      .u8(DAP.packetSize, 'Packet size', (v) => `${v} bytes`)
      .u8(DAP.reserved, 'Reserved', () => '0')
      .u16(DAP.sectors, 'Sectors to read', (v) => `${v}`)
      .u16(DAP.bufferOffset, 'Buffer offset', (v) => hex(v))
      .u16(DAP.bufferSegment, 'Buffer segment', (v) => `${hex(v)}: so the buffer is at ${hex(STAGE2_ADDR)}`)
      .u64(DAP.lba, 'First sector', (v) => `LBA ${v}`)
      .done(),
  );
  const text = [
    `Stage 1 is our code in the first 440 bytes of LBA 0. That is too small for a whole loader, so its one job is to load stage 2, the bigger part, from the sectors after LBA 0.`,
    'It sets up the segment registers and a stack just below `0x7C00`, remembers the boot drive from DL, and prepares the serial port COM1 for messages.',
    'Then it asks the BIOS, with `INT 13h` function `41h`, whether the disk "extensions" are there: they read sectors by their LBA number, instead of the old cylinder/head/sector addressing, which cannot reach past about 8 GB. Without them it stops with "no INT 13h extensions".',
    `It reads stage 2 with function \`42h\`, which takes a 16-byte disk address packet: how many sectors (${ours.stage2Sectors}), where to put them (\`${hex(STAGE2_ADDR)}\`) and the first sector (LBA ${ours.stage2Lba}). Both numbers come from the two fields the image builder wrote into stage 1 at offset \`${hex(STAGE1_FIELDS_OFF)}\`.`,
    `Last, it checks that stage 2 carries the parameter block's magic \`UKBP\` at \`${hex(STAGE2_ADDR + PARAMS_OFF)}\` ("stage 2 damaged" if not) and jumps to \`${hex(STAGE2_ADDR)}\`, the drive number still in DL.`,
  ];
  if (!ours.stage1Current) {
    text.push("This image's stage 1 differs from this tool version's; the explanation describes the current one.");
  }
  return { id: 'stage1', title: 'Stage 1 checks the disk extensions and reads stage 2', text, dumps };
}

function paramsStep(b: Builder, ours: OurLoader): WalkStep {
  const s2 = ours.stage2;
  const base = ours.stage2Lba * SECTOR;
  const p = PARAMS_OFF;
  const r = ours.report;
  const d = new Dump(
    `Stage 2, bytes 0x0–${hex(p + P_SEGS - 1)}: the jump and the parameter block`,
    base,
    STAGE2_ADDR,
    s2.slice(0, p + P_SEGS),
  );
  if (s2[0] === 0xe9) {
    d.f(0, 3, 'Jump (near)', `jmp to ${hex((STAGE2_ADDR + 3 + rd16le(s2, 1)) & 0xffff)}, over the block to the code`);
  }
  d.f(
    p,
    4,
    'Magic',
    `${hex(rd32le(s2, p))} ${quote(charText(s2.subarray(p, p + 4)))}${rd32le(s2, p) === PARAMS_MAGIC ? ': checked by stage 1 before it jumped here' : ' (not ours)'}`,
  );
  d.u16(p + P_VERSION, 'Version', (v) => `${v}`);
  d.u16(
    p + P_SIZE,
    'Block size',
    (v) => `${hex(v)} bytes${v === PARAMS_SIZE ? '' : ` (expected ${hex(PARAMS_SIZE)})`}`,
  );
  d.u32(p + P_CRC, 'CRC-32 of stage 2', (v) =>
    r.computedCrc === null
      ? hex(v)
      : r.computedCrc === v
        ? `${hex(v)}: matches the bytes it covers`
        : `${hex(v)}: the bytes give ${hex(r.computedCrc)}, so the loader stops`,
  );
  d.u32(p + P_FLAGS, 'Flags', (v) =>
    v & FLAG_DEBUG_EXIT ? `${hex(v)}: bit 0, on failure in a virtual machine exit QEMU with status 255` : hex(v),
  );
  d.u64(p + P_KERNEL_LBA, "Kernel's first sector", (v) => `LBA ${v} (byte offset ${hex(v * SECTOR)})`);
  d.u32(p + P_KERNEL_SIZE, "Kernel's size", (v) => `${v} bytes (${formatBytes(v)})`);
  d.u32(p + P_KERNEL_CRC, "Kernel's CRC-32", (v) => `${hex(v)}: checked after reading`);
  d.u32(p + P_ENTRY, 'Entry point', (v) => `${hex(v)}: where the loader jumps`);
  d.u32(p + P_LOAD_START, 'Load start', (v) => `${hex(v)}: lowest address written`);
  d.u32(p + P_LOAD_END, 'Load end', (v) => `${hex(v)}: one past the highest address written or zeroed`);
  d.u16(p + P_SEG_COUNT, 'Segments', (v) => `${v} (at most ${MAX_SEGMENTS})`);
  d.u16(p + P_CMDLINE_LEN, 'Command line length', (v) => `${v} bytes (without the NUL)`);
  d.f(p + P_CMDLINE_LEN + 2, P_SEGS - (P_CMDLINE_LEN + 2), 'Reserved', 'zeros');
  const dumps = [d.done()];
  const len = rd16le(s2, p + P_CMDLINE_LEN);
  if (CMDLINE_OFF + len + 1 <= s2.length) {
    const cl = s2.slice(CMDLINE_OFF, CMDLINE_OFF + len + 1);
    const c = new Dump(
      `Stage 2, bytes ${hex(CMDLINE_OFF)}–${hex(CMDLINE_OFF + len)}: the command line`,
      base + CMDLINE_OFF,
      STAGE2_ADDR + CMDLINE_OFF,
      cl,
    );
    const space = cl.indexOf(0x20);
    const nameLen = space >= 0 && space < len ? space : len;
    if (nameLen > 0) c.f(0, nameLen, "Kernel's name", quote(utf8Decode(cl.subarray(0, nameLen))));
    if (len > nameLen + 1)
      c.f(nameLen + 1, len - nameLen - 1, 'Arguments', quote(utf8Decode(cl.subarray(nameLen + 1, len))));
    c.f(len, 1, 'End', 'NUL (0x00): the end of the text');
    dumps.push(c.done());
  }
  const text = [
    `Stage 2 is ${sectors(ours.stage2Sectors)} at LBA ${ours.stage2Lba}, in the gap between LBA 0 and the partition, now in memory at \`${hex(STAGE2_ADDR)}\`. It starts with a jump over its parameter block: the facts the image builder wrote about this kernel.`,
    `First it checks the block: the version, the size, that it lists at most ${MAX_SEGMENTS} segments, and a CRC-32 (a 32-bit checksum: changing any byte changes it) computed over the block from its flags on, all of stage 2's code and the command line. (The magic \`UKBP\` was checked by stage 1 before it jumped here.) A damaged or edited stage 2 stops here with "stage 2 or its parameter block damaged".`,
    `The block says where the kernel file is (it was written in one piece, so a sector number and a size are enough: the loader never reads the FAT), its CRC-32, where its parts go in memory and where to jump. The command line is kept at the end of stage 2; the kernel receives it as it is, its own file name first.`,
  ];
  for (const problem of r.problems) text.push(problem);
  return { id: 'params', title: 'Stage 2 checks its parameter block', text, dumps };
}

function a20Step(ours: OurLoader): WalkStep {
  const s2 = ours.stage2;
  const dumps: HexDump[] = [];
  const at = findCode(s2, [0xb8, 0x01, 0x24, 0xcd, 0x15]);
  if (at >= 0) {
    dumps.push(
      new Dump(
        `Stage 2, bytes ${hex(at)}–${hex(at + 4)}: asking the BIOS`,
        ours.stage2Lba * SECTOR + at,
        STAGE2_ADDR + at,
        s2.slice(at, at + 5),
      )
        .f(0, 3, 'mov ax, 2401h', 'BIOS function 2401h: "turn A20 on"')
        .f(3, 2, 'int 15h', 'call the BIOS system service')
        .done(),
    );
  }
  return {
    id: 'a20',
    title: 'The A20 line is switched on',
    text: [
      'The first PCs had 20 address lines, so an address past 1 MiB wrapped around to 0. For old programs a PC may still start with that wrap, the 21st address line, A20, held off; many firmwares (SeaBIOS, the BIOS in QEMU, among them) switch A20 on before they boot the disk.',
      'The kernel goes to 1 MiB and above, so A20 must be on; because it may already be, stage 2 first tests whether it is (it writes two addresses exactly 1 MiB apart and sees whether they are the same memory), then asks the BIOS (`INT 15h`, `AX=2401h`), then the keyboard controller (which, for historical reasons, drives A20), then the "fast A20" port `0x92`, testing after each. If none works it stops with "could not enable the A20 line".',
    ],
    dumps,
  };
}

/**
 * An example of the BIOS memory map: what QEMU 7.2's `pc` machine with 128 MiB
 * (SeaBIOS) reports, as the demo kernel prints it (test/walkthrough.test.ts
 * boots it and compares).
 */
const EXAMPLE_E820: [number, number, number][] = [
  [0x0, 0x9fc00, 1],
  [0x9fc00, 0x400, 2],
  [0xf0000, 0x10000, 2],
  [0x100000, 0x7ee0000, 1],
  [0x7fe0000, 0x20000, 2],
  [0xfffc0000, 0x40000, 2],
  [0xfd00000000, 0x300000000, 2],
];
const EXAMPLE_MACHINE = "QEMU's pc machine with 128 MiB";
/** The example's boot drive: the first hard disk. */
const EXAMPLE_DRIVE = 0x80;
/** The 32-bit signature 'SMAP' that INT 15h E820h takes in EDX and returns in EAX. */
const SMAP = 0x534d4150;
/** The E820 type of usable RAM. */
const E820_RAM = 1;
/** The example's usable RAM from 1 MiB: the end of the type-1 entry holding 1 MiB. */
const EXAMPLE_RAM_END = (() => {
  const e = EXAMPLE_E820.find(([a, l, t]) => t === E820_RAM && a <= KERNEL_MIN_ADDR && a + l > KERNEL_MIN_ADDR)!;
  return e[0] + e[1];
})();
/** The example's INT 12h answer: KiB of conventional memory, the usable RAM at 0. */
const EXAMPLE_MEM_LOWER = EXAMPLE_E820[0][1] / KIB;

function e820Step(ours: OurLoader): WalkStep {
  const s2 = ours.stage2;
  const dumps: HexDump[] = [];
  // mov eax, 0xE820 (66 B8 20 E8 00 00); mov edx, 'SMAP' (66 BA then the signature)
  const at = findCode(s2, pattern(0x66, 0xb8, { u32: 0xe820 }, 0x66, 0xba, { u32: SMAP }));
  if (at >= 0) {
    dumps.push(
      new Dump(
        `Stage 2, bytes ${hex(at)}–${hex(at + 11)}: the call's arguments`,
        ours.stage2Lba * SECTOR + at,
        STAGE2_ADDR + at,
        s2.slice(at, at + 12),
      )
        .f(0, 6, 'mov eax, E820h', 'BIOS function E820h: "describe the memory"')
        .f(6, 6, "mov edx, 'SMAP'", 'a signature the BIOS checks and returns')
        .done(),
    );
  }
  const map = encodeMmap(EXAMPLE_E820);
  const d = new Dump(
    `Example only (${EXAMPLE_MACHINE}): the memory map as stage 2 stores it at ${hex(MMAP_ADDR)}; every machine gives its own`,
    null,
    MMAP_ADDR,
    map,
  );
  EXAMPLE_E820.forEach((_, i) => {
    const o = i * MMAP_ENTRY.stride;
    const n = i + 1;
    d.u32(o + MMAP_ENTRY.size, `Entry ${n}: size`, (v) => `${v}: bytes that follow`)
      .u64(o + MMAP_ENTRY.addr, `Entry ${n}: start`, (v) => hex(v))
      .u64(o + MMAP_ENTRY.length, `Entry ${n}: length`, (v) => `${hex(v)} (${formatBytes(v)})`)
      .u32(o + MMAP_ENTRY.type, `Entry ${n}: type`, (v) => `${v}: ${E820_TYPE_NAMES[v] ?? 'other'}`);
  });
  dumps.push(d.done());
  const end = ours.params.loadEnd;
  const needs = end > KERNEL_MIN_ADDR ? formatBytes(end - KERNEL_MIN_ADDR) : 'nothing';
  return {
    id: 'e820',
    title: 'The BIOS memory map (E820)',
    text: [
      'The kernel must know which memory it may use. Stage 2 asks the BIOS with `INT 15h` function `E820h`, once per region: each answer is a start address, a length and a type (1 is usable RAM; the rest is reserved for the BIOS, devices or ACPI tables).',
      `Stage 2 keeps the answers as they are, ${MMAP_ENTRY.stride} bytes each (a size of ${MMAP_ENTRY.e820Bytes}, then the ${MMAP_ENTRY.e820Bytes} bytes from the BIOS), at \`${hex(MMAP_ADDR)}\`, and hands the list to the kernel. These entries come from the machine, not from the disk: the example below is what ${EXAMPLE_MACHINE} reports.`,
      `Then it checks that the kernel fits: usable RAM must run from 1 MiB to at least the parameter block's load end, \`${hex(end)}\` (${needs} above 1 MiB for this kernel). If not, it stops with "kernel too large for memory".`,
    ],
    dumps,
  };
}

function mbiStep(ours: OurLoader): WalkStep {
  const s2 = ours.stage2;
  const mbi = new Uint8Array(MBI_SIZE);
  const cmdline = STAGE2_ADDR + CMDLINE_OFF;
  const nameAt = findCode(s2, [...utf8('unikernel-disk'), 0]);
  const mmapLength = EXAMPLE_E820.length * MMAP_ENTRY.stride;
  u32le(mbi, MBI.flags, MBI_FLAGS);
  u32le(mbi, MBI.memLower, EXAMPLE_MEM_LOWER);
  u32le(mbi, MBI.memUpper, (EXAMPLE_RAM_END - KERNEL_MIN_ADDR) / KIB);
  // boot_device: the drive (DL, 0x80) in the top byte, partition 0, then 0xFFFF: no sub-partitions.
  u32le(mbi, MBI.bootDevice, ((EXAMPLE_DRIVE << 24) | 0xffff) >>> 0);
  u32le(mbi, MBI.cmdline, cmdline);
  u32le(mbi, MBI.mmapLength, mmapLength);
  u32le(mbi, MBI.mmapAddr, MMAP_ADDR);
  if (nameAt >= 0) u32le(mbi, MBI.bootLoaderName, STAGE2_ADDR + nameAt);
  const machine = `(example: ${EXAMPLE_MACHINE})`;
  const d = new Dump(
    `The Multiboot information stage 2 builds at ${hex(MBI_ADDR)} (in memory); fields marked "example" come from the machine`,
    null,
    MBI_ADDR,
    mbi,
  )
    .u32(MBI.flags, 'flags', (v) => `${hex(v)}: ${mbiFlagBits(v).join('; ') || 'none'}`)
    .u32(MBI.memLower, 'mem_lower', (v) => `${v} KiB of conventional memory (below 640 KiB), from INT 12h ${machine}`)
    .u32(MBI.memUpper, 'mem_upper', (v) => `${v} KiB of RAM from 1 MiB on ${machine}`)
    .u32(
      MBI.bootDevice,
      'boot_device',
      (v) => `${hex(v)}: drive ${hex(v >>> 24)} from DL, partition 0, no sub-partitions ${machine}`,
    )
    .u32(MBI.cmdline, 'cmdline', (v) => `${hex(v)}: the command line inside stage 2`)
    .u32(MBI.modsCount, 'mods_count', (v) => `${v}: no modules`)
    .u32(MBI.modsAddr, 'mods_addr', () => '0')
    .f(MBI.syms, MBI.mmapLength - MBI.syms, 'syms', 'unused (zeros)')
    .u32(MBI.mmapLength, 'mmap_length', (v) => `${v} bytes: ${EXAMPLE_E820.length} entries ${machine}`)
    .u32(MBI.mmapAddr, 'mmap_addr', (v) => `${hex(v)}: the memory map`)
    .f(MBI.drivesLength, MBI.bootLoaderName - MBI.drivesLength, 'drives, config table', 'unused (zeros)')
    .u32(MBI.bootLoaderName, 'boot_loader_name', (v) =>
      v ? `${hex(v)}: "unikernel-disk", inside stage 2` : '0: not found in this stage 2',
    )
    .f(MBI.apmTable, MBI_SIZE - MBI.apmTable, 'APM, video', 'unused (zeros)')
    .done();
  return {
    id: 'mbi',
    title: 'The Multiboot information',
    text: [
      `Multiboot is the agreement between a boot loader and a kernel that Solo5 kernels follow. The loader fills a structure, the Multiboot information, and passes its address; stage 2 builds it at \`${hex(MBI_ADDR)}\`, ${MBI_SIZE} bytes.`,
      `Its flags say which fields are valid: the memory sizes (from \`INT 12h\` and the memory map), the boot drive, the command line (a pointer to \`${hex(cmdline)}\`, where stage 1 put it with the rest of stage 2), the memory map itself and the loader's name.`,
      "The bytes below are built in memory, not read from the disk. The pointers are this disk's; the memory sizes, the boot drive and the map's length come from the machine, shown here with example values.",
    ],
    dumps: [d],
  };
}

function kernelReadStep(b: Builder, ours: OurLoader, kh: KernelHeaders | null): WalkStep {
  const p = ours.params;
  const dumps: HexDump[] = [];
  const elf = kh ? elfDump(kh, p.entry) : null;
  if (elf) dumps.push(elf);
  const reads = Math.ceil(p.kernelSize / (CHUNK_SECTORS * SECTOR));
  return {
    id: 'kernel',
    title: 'Reading the kernel and checking its CRC',
    text: [
      `The kernel file${b.boot.kernelPath ? ` \`${b.boot.kernelPath}\`` : ''} is ${p.kernelSize} bytes from LBA ${p.kernelLba}. Stage 2 reads it ${CHUNK_SECTORS} sectors (${formatBytes(CHUNK_SECTORS * SECTOR)}) at a time with \`INT 13h\` function \`42h\`: ${plural(reads, 'read')} here.`,
      'Each piece lands in a buffer at `0x10000`, below 1 MiB, because the BIOS works in real mode and cannot write higher. Stage 2 adds every piece to a running CRC-32 and copies its parts to their places above 1 MiB (the next step).',
      `After the last piece the CRC-32 must be \`${hex(p.kernelCrc32)}\`, the value in the parameter block; if the file was changed after the image was built, the loader stops with "kernel checksum mismatch". (\`unikernel-disk verify\` checks the same without booting.)`,
    ],
    dumps,
  };
}

/** Where the image builder found the segments, as a sentence, from the load plan's source. */
function segmentsSource(source: LoadPlan['source'] | null): string {
  switch (source) {
    case 'aout-kludge':
      return "the image builder computed them from the address fields of the kernel's Multiboot header (one segment: `header_addr` and `load_addr` give its file offset, `load_end_addr` the bytes from the file, `bss_end_addr` the end of the bss) and wrote them into the parameter block.";
    case 'elf32':
    case 'elf64':
      return "the kernel's Multiboot header has no address fields (flag bit 16 is clear), so the image builder took them from its ELF program headers (each `PT_LOAD` entry's `p_offset`, `p_filesz`, `p_paddr` and `p_memsz`) and wrote them into the parameter block.";
    default:
      return "the image builder read them from the kernel's headers and wrote them into the parameter block.";
  }
}

/** The PT_LOAD program headers the segments came from (when the plan's source is ELF and they lie in the kernel's head). */
function programHeaderDumps(kh: KernelHeaders): HexDump[] {
  const elf = kh.elf;
  if (!elf || (kh.source !== 'elf32' && kh.source !== 'elf64')) return [];
  const is64 = elf.class === 64;
  const P = is64 ? PHDR64 : PHDR32;
  const w = is64 ? 8 : 4;
  const out: HexDump[] = [];
  for (const ph of elf.phdrs) {
    if (ph.type !== PT_LOAD || ph.memsz === 0 || ph.at + P.size > kh.head.length) continue;
    if (out.length === MAX_SEGMENTS) break;
    const d = new Dump(
      `The kernel's program header ${ph.index} (PT_LOAD), at file offset ${hex(ph.at)}`,
      kh.headDiskOffset === null ? null : kh.headDiskOffset + ph.at,
      null,
      kh.head.slice(ph.at, ph.at + P.size),
    );
    const num = (v: number) => `${v} (${formatBytes(v)})`;
    const pf = rd32le(kh.head, ph.at + P.flags);
    const rwx = [pf & 4 ? 'read' : '', pf & 2 ? 'write' : '', pf & 1 ? 'execute' : ''].filter(Boolean);
    const perms = `${hex(pf)}: ${rwx.join(', ') || 'no access'}`;
    const fields: [number, number, string, string][] = [
      [P.type, 4, 'p_type', '1: PT_LOAD, a slice to load'],
      [P.offset, w, 'p_offset', `${hex(ph.offset)}: where the slice starts in the file`],
      [P.vaddr, w, 'p_vaddr', `${hex(ph.vaddr)}: its virtual address; the image builder uses it only to place e_entry`],
      [P.paddr, w, 'p_paddr', `${hex(ph.paddr)}: its physical address, where the loader copies it`],
      [P.filesz, w, 'p_filesz', `${num(ph.filesz)} from the file`],
      [P.memsz, w, 'p_memsz', `${num(ph.memsz)} in memory; the rest is zeroed`],
    ];
    if (is64) fields.splice(1, 0, [PHDR64.flags, 4, 'p_flags', perms]);
    else fields.push([PHDR32.flags, 4, 'p_flags', perms]);
    fields.push([P.align, w, 'p_align', hex(ph.align)]);
    for (const [start, length, label, value] of fields) d.f(start, length, label, value);
    out.push(d.done());
  }
  return out;
}

function segmentsStep(ours: OurLoader, kh: KernelHeaders | null): WalkStep {
  const source = kh?.source ?? null;
  const s2 = ours.stage2;
  const segs = ours.params.segments;
  const at = PARAMS_OFF + P_SEGS;
  const d = new Dump(
    `Stage 2, bytes ${hex(at)}–${hex(at + segs.length * SEG_SIZE - 1)}: the segment table`,
    ours.stage2Lba * SECTOR + at,
    STAGE2_ADDR + at,
    s2.slice(at, at + segs.length * SEG_SIZE),
  );
  segs.forEach((_, i) => {
    const o = i * SEG_SIZE;
    const n = i + 1;
    d.u32(o, `Segment ${n}: file offset`, (v) => hex(v))
      .u32(o + 4, `Segment ${n}: bytes from the file`, (v) => `${v} (${formatBytes(v)})`)
      .u32(o + 8, `Segment ${n}: load address`, (v) => hex(v))
      .u32(o + 12, `Segment ${n}: bytes in memory`, (v) => `${v} (${formatBytes(v)})`);
  });
  const lines = segs.map(
    (s, i) =>
      `Segment ${i + 1}: ${s.fileSize} bytes from file offset \`${hex(s.fileOffset)}\` go to \`${hex(s.loadAddr)}\`${s.memSize > s.fileSize ? `; then ${s.memSize - s.fileSize} bytes up to \`${hex(s.loadAddr + s.memSize)}\` are set to zero (the bss)` : ''}.`,
  );
  return {
    id: 'segments',
    title: 'Copying the segments and clearing the bss',
    text: [
      `A kernel file is not copied to memory as a whole: its headers say which slices of the file go where. Each slice is a segment; ${segmentsSource(source)}`,
      'Real mode cannot reach memory above 1 MiB, so for each piece read, stage 2 switches briefly to 32-bit protected mode (next step), copies the parts of the piece that belong to a segment, and switches back for the next BIOS call.',
      ...lines,
      "The bss holds the kernel's variables that start at zero; they take no room in the file. Stage 2 clears it just before the jump.",
    ],
    dumps: [...(kh ? programHeaderDumps(kh) : []), d.done()],
  };
}

/** Decode one 8-byte GDT descriptor. */
function descriptorText(b: Uint8Array, o: number): string {
  if (b.subarray(o, o + 8).every((x) => x === 0)) return 'the null descriptor (the CPU requires one)';
  const base = (b[o + 2] | (b[o + 3] << 8) | (b[o + 4] << 16) | (b[o + 7] << 24)) >>> 0;
  const rawLimit = b[o] | (b[o + 1] << 8) | ((b[o + 6] & 0x0f) << 16);
  const gran = (b[o + 6] & 0x80) !== 0;
  const bits32 = (b[o + 6] & 0x40) !== 0;
  const access = b[o + 5];
  const code = (access & 0x08) !== 0;
  const limit = gran ? rawLimit * 4096 + 4095 : rawLimit;
  return `${bits32 ? '32' : '16'}-bit ${code ? 'code' : 'data'}, base ${hex(base)}, ${formatBytes(limit + 1)}`;
}

function pmodeStep(ours: OurLoader): WalkStep {
  const s2 = ours.stage2;
  const base = ours.stage2Lba * SECTOR;
  const dumps: HexDump[] = [];
  // lgdt [gdtr] (0F 01 16 disp16): the GDTR, then the table it points to.
  const lgdt = findCode(s2, [0x0f, 0x01, 0x16]);
  if (lgdt >= 0) {
    const gdtrAt = rd16le(s2, lgdt + 3) - STAGE2_ADDR;
    if (gdtrAt >= 0 && gdtrAt + 6 <= s2.length) {
      const limit = rd16le(s2, gdtrAt);
      const gdtAt = rd32le(s2, gdtrAt + 2) - STAGE2_ADDR;
      const size = limit + 1;
      if (size % 8 === 0 && size <= 256 && gdtAt >= 0 && gdtAt + size <= s2.length && gdtAt + size === gdtrAt) {
        const d = new Dump(
          `Stage 2, bytes ${hex(gdtAt)}–${hex(gdtrAt + 5)}: the GDT and the GDTR`,
          base + gdtAt,
          STAGE2_ADDR + gdtAt,
          s2.slice(gdtAt, gdtrAt + 6),
        );
        for (let i = 0; i < size / 8; i++) d.f(i * 8, 8, `Descriptor ${hex(i * 8)}`, descriptorText(s2, gdtAt + i * 8));
        d.u16(size, 'GDTR: limit', (v) => `${hex(v)}: the table is ${v + 1} bytes`);
        d.u32(size + 2, 'GDTR: base', (v) => `${hex(v)}: the table's address`);
        dumps.push(d.done());
      }
    }
  }
  const text = [
    "Protected mode is the CPU's 32-bit mode: it can address 4 GiB, and memory is reached through segments described in a table, the GDT (global descriptor table). Each 8-byte descriptor gives a segment's base address, its size and its kind.",
    "Stage 2's GDT has flat 32-bit code and data segments (base 0, 4 GiB: an address is simply the physical address), and 16-bit ones used to return to real mode between BIOS calls. The GDTR, 6 bytes, tells the CPU where the table is (`lgdt`).",
    "To switch, stage 2 turns interrupts off (`cli`: the BIOS's interrupt handlers only work in real mode), loads the GDTR, sets bit 0 (PE) of the control register CR0, and makes a far jump to selector `0x08`, the 32-bit code segment; then it loads `0x10`, the data segment, into the other segment registers.",
  ];
  if (dumps.length === 0) text.push('The GDT could not be located in this stage 2, so its bytes are not shown.');
  return { id: 'pmode', title: 'Protected mode', text, dumps };
}

async function jumpStep(ours: OurLoader, k: KernelFile | null, kh: KernelHeaders | null): Promise<WalkStep> {
  const s2 = ours.stage2;
  const p = ours.params;
  const dumps: HexDump[] = [];
  // mov eax, magic (B8); mov ebx, MBI_ADDR (BB); jmp [entry field] (FF 25)
  const seq = pattern(0xb8, { u32: MULTIBOOT_MAGIC_EAX }, 0xbb, { u32: MBI_ADDR }, 0xff, 0x25, {
    u32: STAGE2_ADDR + PARAMS_OFF + P_ENTRY,
  });
  const at = findCode(s2, seq);
  if (at >= 0) {
    dumps.push(
      new Dump(
        `Stage 2, bytes ${hex(at)}–${hex(at + seq.length - 1)}: the last three instructions`,
        ours.stage2Lba * SECTOR + at,
        STAGE2_ADDR + at,
        s2.slice(at, at + seq.length),
      )
        .f(0, 5, 'mov eax, 2BADB002h', 'the Multiboot magic: "a Multiboot loader started you"')
        .f(5, 5, `mov ebx, ${hex(MBI_ADDR).slice(2)}h`, 'the address of the Multiboot information')
        .f(
          10,
          6,
          `jmp [${hex(STAGE2_ADDR + PARAMS_OFF + P_ENTRY).slice(2)}h]`,
          `jump to the address in the parameter block's entry field: ${hex(p.entry)}`,
        )
        .done(),
    );
  }
  let kernelText = '';
  const mb = kh?.mb;
  if (k && mb) {
    dumps.push(await multibootHeaderDump(k, mb));
    const found = `The kernel's Multiboot header (found in its first ${MB_SEARCH} bytes, at file offset \`${hex(mb.offset)}\`)`;
    kernelText =
      kh.source === 'aout-kludge'
        ? `${found} is where these addresses came from: the image builder read \`header_addr\`, \`load_addr\`, \`load_end_addr\`, \`bss_end_addr\` and \`entry_addr\` when it wrote the parameter block.`
        : kh.source === 'elf32' || kh.source === 'elf64'
          ? `${found} has no address fields (flag bit 16 is clear), so these addresses came from the ELF headers: the image builder took the segments from the \`PT_LOAD\` program headers and the entry point from \`e_entry\`, turned into a physical address through the segment that holds it, when it wrote the parameter block.`
          : `${found} is shown below.`;
  }
  const entry = k ? await entryDump(k, p.entry, p.segments) : null;
  if (entry) dumps.push(entry);
  const text = [
    `In protected mode stage 2 clears the bss, puts the Multiboot magic \`${hex(MULTIBOOT_MAGIC_EAX)}\` in EAX and the information's address \`${hex(MBI_ADDR)}\` in EBX, and jumps to the entry point \`${hex(p.entry)}\`. From here on the kernel runs; the loader is never used again.`,
    'The kernel checks EAX to know a Multiboot loader started it, and reads the memory map and the command line through EBX. A Solo5 kernel then sets up its own GDT and stack, switches to 64-bit mode and starts the unikernel with the arguments after its file name.',
  ];
  if (kernelText) text.push(kernelText);
  return { id: 'jump', title: "The jump to the kernel's first instruction", text, dumps };
}

async function oursSteps(b: Builder, ours: OurLoader): Promise<(WalkStep | null)[]> {
  const out: (WalkStep | null)[] = [];
  out.push(
    biosStep(
      b,
      'Here LBA 0 is a master boot record (MBR): 440 bytes of our stage 1 code, a 4-byte disk signature, the partition table, and the signature. The first bytes jump over an area kept empty to the code.',
    ),
  );
  out.push(await attempt(b, 'Stage 1', () => stage1Step(b, ours)));
  out.push(
    await attempt(b, 'The partition table', () =>
      partitionStep(b, [
        'Our loader does not need the table: stage 1 and the parameter block hold sector numbers directly. The table is there for the BIOS (some refuse a disk with no active partition) and for every other program that reads the disk, which finds the kernel as a file in this FAT partition.',
      ]),
    ),
  );
  out.push(await attempt(b, 'The parameter block', () => paramsStep(b, ours)));
  if (!ours.report.params || ours.report.problems.length) {
    b.notes.push(
      'The parameter block is damaged, so the loader would stop after checking it; the steps after it are not shown.',
    );
    return out;
  }
  const { kernelLba, kernelSize } = ours.params;
  const kernelEnd = kernelLba * SECTOR + kernelSize;
  const k =
    Number.isSafeInteger(kernelEnd) && kernelEnd <= b.ctx.disk.size
      ? oursKernel(b.ctx.disk, kernelLba, kernelSize)
      : null;
  if (!k) {
    b.notes.push(
      `The parameter block puts the kernel at LBA ${kernelLba} (${kernelSize} bytes), past the end of the ${formatBytes(b.ctx.disk.size)} disk, so the kernel's bytes are not shown; the loader would fail to read it.`,
    );
  }
  let kh: KernelHeaders | null = null;
  if (k) {
    await attempt(b, "The kernel's headers", async () => {
      kh = await readKernelHeaders(b, k);
      return null;
    });
  }
  const headers = kh as KernelHeaders | null;
  out.push(a20Step(ours));
  out.push(e820Step(ours));
  out.push(mbiStep(ours));
  if (k) out.push(await attempt(b, 'Reading the kernel', () => kernelReadStep(b, ours, headers)));
  out.push(segmentsStep(ours, headers));
  out.push(pmodeStep(ours));
  out.push(await attempt(b, 'The jump to the kernel', () => jumpStep(ours, k, headers)));
  return out;
}

// ---------------------------------------------------------------- SYSLINUX

function bootSectorDump(fat: FatReader): HexDump {
  const bs = fat.bootSector;
  const fat32 = fat.type === 32;
  const ext = EBPB_AT[fat32 ? 32 : 16];
  const end = ext + EBPB.size;
  const d = new Dump(
    `The partition's first sector (LBA ${fat.offset / SECTOR}), bytes 0x00–${hex(end - 1)}: jump, OEM name and BPB`,
    fat.offset,
    BOOT_ADDR,
    bs.slice(0, end),
  );
  const target = bs[0] === 0xeb ? 2 + ((bs[1] << 24) >> 24) : -1;
  d.f(0, 3, 'Jump', target >= 0 ? `jmp to offset ${hex(target)}, over the BPB to the boot code` : 'not a short jump');
  d.text(BPB.oemName, 8, 'OEM name');
  d.u16(BPB.bytesPerSector, 'Bytes per sector');
  d.u8(
    BPB.sectorsPerCluster,
    'Sectors per cluster',
    (v) => `${v} (clusters of ${formatBytes(v * fat.bpb.bytesPerSector)})`,
  );
  d.u16(BPB.reservedSectors, 'Reserved sectors', (v) => `${v}: before the first FAT`);
  d.u8(BPB.numFats, 'FAT copies', (v) => `${v}`);
  d.u16(BPB.rootEntries, 'Root entries', (v) => (v ? `${v}` : '0: the root is a cluster chain (FAT32)'));
  d.u16(BPB.totalSectors16, 'Sectors (16-bit)', (v) => (v ? `${v}` : '0: see the 32-bit count'));
  d.u8(BPB.media, 'Media', (v) => (v === 0xf8 ? '0xF8: a fixed disk' : hex(v)));
  d.u16(BPB.fatSectors16, 'Sectors per FAT (16-bit)', (v) => (v ? `${v}` : '0: see the 32-bit count'));
  d.u16(BPB.sectorsPerTrack, 'Sectors per track', (v) => `${v} (old geometry)`);
  d.u16(BPB.heads, 'Heads', (v) => `${v} (old geometry)`);
  d.u32(BPB.hiddenSectors, 'Hidden sectors', (v) => `${v}: the volume's LBA on the disk`);
  d.u32(BPB.totalSectors32, 'Sectors (32-bit)', (v) => `${v}`);
  if (fat32) {
    d.u32(BPB32.fatSectors32, 'Sectors per FAT', (v) => `${v}`);
    d.u16(BPB32.extFlags, 'FAT flags', (v) =>
      v & 0x80 ? `${hex(v)}: one active FAT` : `${hex(v)}: the FATs are mirrored`,
    );
    d.u16(BPB32.fsVersion, 'Version', (v) => `${v}`);
    d.u32(BPB32.rootCluster, 'Root directory cluster', (v) => `${v}`);
    d.u16(BPB32.fsInfoSector, 'FSInfo sector', (v) => `${v}`);
    d.u16(BPB32.backupBootSector, 'Backup boot sector', (v) => `${v}`);
    d.f(BPB32.backupBootSector + 2, ext - (BPB32.backupBootSector + 2), 'Reserved', 'zeros');
  }
  d.u8(ext + EBPB.driveNumber, 'Drive number', (v) => hex(v));
  d.u8(ext + 1, 'Reserved', (v) => hex(v));
  d.u8(ext + EBPB.bootSignature, 'Extended signature', (v) =>
    v === 0x29 ? '0x29: serial, label and type follow' : hex(v),
  );
  d.u32(ext + EBPB.volumeId, 'Volume serial', (v) => hex(v));
  d.text(ext + EBPB.volumeLabel, 11, 'Volume label');
  d.text(ext + EBPB.fsType, 8, 'File system type');
  return d.done();
}

function direntDump(caption: string, e: FatEntry, bytes: Uint8Array, fat: FatReader): HexDump {
  const attrs = (v: number) =>
    [
      [0x01, 'read-only'],
      [0x02, 'hidden'],
      [0x04, 'system'],
      [0x10, 'directory'],
      [0x20, 'archive'],
    ]
      .filter(([bit]) => v & (bit as number))
      .map(([, n]) => n)
      .join(', ') || 'none';
  const d = new Dump(caption, e.entryOffset, null, bytes);
  d.text(DIRENT.name, 11, 'Short name (8 + 3)');
  d.u8(DIRENT.attr, 'Attributes', (v) => `${hex(v)}: ${attrs(v)}`);
  d.f(DIRENT.ntCase, DIRENT.clusterHigh - DIRENT.ntCase, 'Case flags and times', 'creation and access time');
  d.u16(DIRENT.clusterHigh, 'First cluster (high)', (v) => `${v}`);
  d.f(DIRENT.writeTime, 4, 'Last written', 'time and date');
  d.u16(
    DIRENT.clusterLow,
    'First cluster (low)',
    (v) =>
      `${v}: cluster ${e.firstCluster}${fat.validCluster(e.firstCluster) ? `, LBA ${fat.clusterOffset(e.firstCluster) / SECTOR}` : ''}`,
  );
  d.u32(DIRENT.fileSize, 'Size', (v) => `${v} bytes`);
  return d.done();
}

async function syslinuxSteps(b: Builder): Promise<(WalkStep | null)[]> {
  const sys = b.boot.syslinux!;
  const fat = b.ctx.fat!;
  const out: (WalkStep | null)[] = [];
  if (fat.offset === 0) {
    // A volume without a partition table: SYSLINUX's boot sector is LBA 0 itself.
    out.push(
      biosStep(
        b,
        "Here LBA 0 is the FAT volume's own boot sector (the disk has no partition table), so the BIOS runs SYSLINUX's boot code in it directly.",
      ),
    );
  } else {
    out.push(
      biosStep(
        b,
        `Here LBA 0 holds SYSLINUX's MBR code. It copies itself from \`0x7C00\` down to \`${hex(SYSLINUX_MBR_RELOC)}\` to make room, looks in the partition table for the partition marked active, and loads that partition's first sector to \`0x7C00\`.`,
      ),
    );
    out.push(
      await attempt(b, 'The partition table', () =>
        partitionStep(b, [
          'SYSLINUX\'s MBR code boots the active partition, so the boot flag matters here: with no active partition it stops ("Missing operating system"), and with two it refuses.',
        ]),
      ),
    );
  }
  out.push(
    await attempt(b, "The partition's boot sector", () => ({
      id: 'vbr',
      title: "The partition's boot sector",
      text: [
        "The partition's first sector is its volume boot record: a jump over the BPB, an OEM name (the program that wrote the sector), the BPB itself, and SYSLINUX's boot code after it.",
        `The BPB ("BIOS parameter block") describes the FAT${fat.type} file system: the sector and cluster sizes, where the FATs (the tables of cluster chains) and the root directory are, and how big the volume is.`,
        "The MBR code jumped here, to `0x7C00`, with the drive number in DL and the partition's entry in DS:SI.",
      ],
      dumps: [bootSectorDump(fat)],
    })),
  );
  out.push(
    await attempt(b, 'ldlinux.sys', async () => {
      const e = sys.ldlinux;
      const bytes = await readAt(b.ctx.disk, e.entryOffset, DIRENT.size);
      return {
        id: 'ldlinux',
        title: "SYSLINUX's core, ldlinux.sys",
        text: [
          "`syslinux --install` copied its core, `ldlinux.sys`, into the volume, and wrote into the boot sector where the file's first sector is; that sector in turn lists where the rest of the file lies. So the boot code loads the core without reading the FAT, and the file must never move (it is marked read-only, hidden and system).",
          `Below is the file's directory entry, which is how any FAT reader, this tool included, finds it: ${e.size} bytes from cluster ${e.firstCluster}.`,
          'ldlinux.sys knows FAT: from here on SYSLINUX reads files by name, starting with `ldlinux.c32`, the rest of its core.',
        ],
        dumps: [direntDump(`The directory entry of ${e.path}`, e, bytes, fat)],
      };
    }),
  );
  out.push(
    await attempt(b, 'syslinux.cfg', async () => {
      const e = sys.config;
      const n = Math.min(e.size, MAX_CONFIG_SHOWN, fat.clusterBytes);
      const at = fat.clusterOffset(e.firstCluster);
      const bytes = await readAt(b.ctx.disk, at, n);
      const d = new Dump(`${e.path}, the first ${n} bytes (cluster ${e.firstCluster})`, at, null, bytes);
      // Lines as byte ranges: the label's run line and APPEND are the point.
      const text = charText(bytes);
      const starts: number[] = [0];
      for (let i = 0; i < text.length; i++) if (text[i] === '\n') starts.push(i + 1);
      const line = (i: number) => {
        const s = starts[i];
        let t = i + 1 < starts.length ? starts[i + 1] - 1 : text.length;
        if (t > s && text[t - 1] === '\r') t--;
        return { s, t };
      };
      const boot = sys.boot;
      const marks: [number, string, string][] = [];
      const lines = text.split('\n');
      lines.forEach((l, i) => {
        const m = /^\s*(SERIAL|DEFAULT|LABEL)\s+(\S+)(?:\s+(\S+))?/i.exec(l);
        if (!m) return;
        const key = m[1].toUpperCase();
        if (key === 'SERIAL') {
          marks.push([i, 'SERIAL', `messages also on serial port ${m[2]}${m[3] ? ` at ${m[3]} baud` : ''}`]);
        } else if (key === 'DEFAULT') marks.push([i, 'DEFAULT', `boot the label "${boot.label}" without asking`]);
        else if (m[2] === boot.label) marks.push([i, 'LABEL', 'the label that boots; its lines follow']);
      });
      if (boot.runLine >= 0)
        marks.push([
          boot.runLine,
          'KERNEL',
          `run ${boot.runs}${boot.multiboot ? ': the Multiboot loader module' : ''}`,
        ]);
      if (boot.appendLine !== null)
        marks.push([boot.appendLine, 'APPEND', `its arguments: ${[...boot.options, boot.cmdline].join(' ')}`]);
      marks.sort((x, y) => x[0] - y[0]);
      let previous = -1;
      for (const [i, label, value] of marks) {
        if (i >= starts.length || i === previous) continue;
        previous = i;
        const { s, t } = line(i);
        if (t > s && t <= bytes.length) d.f(s, t - s, `${label} line`, value);
      }
      return {
        id: 'config',
        title: 'SYSLINUX reads syslinux.cfg',
        text: [
          `SYSLINUX looks for its configuration in \`/boot/syslinux/\`, \`/syslinux/\`, then the root; here it is \`${e.path}\`.`,
          `\`DEFAULT\` names the label to boot; the label's \`KERNEL\` line names what to run: \`${boot.runs}\`${boot.multiboot ? ', a SYSLINUX module that loads Multiboot kernels' : ''}. \`APPEND\` gives its arguments${boot.multiboot ? `: ${boot.options.length ? `the option \`${boot.options.join(' ')}\` (use the Multiboot header's load addresses rather than the ELF headers), ` : ''}the kernel file, then the kernel's own arguments` : ''}.`,
          `The kernel will receive the command line \`${boot.cmdline}\`, its own file name first.`,
        ],
        dumps: [d.done()],
      };
    }),
  );
  const kernelPath = b.boot.kernelPath;
  let kernelEntry: FatEntry | undefined;
  if (kernelPath) {
    await attempt(b, 'The kernel file', async () => {
      kernelEntry = await fat.find(kernelPath);
      if (!kernelEntry || kernelEntry.isDir)
        b.notes.push(`The configuration names ${kernelPath}, which is not in the volume.`);
      return null;
    });
  }
  if (!sys.boot.multiboot) {
    b.notes.push(
      `The label "${sys.boot.label}" runs ${sys.boot.runs}, not mboot.c32 (the Multiboot loader), so the steps after the configuration are not shown.`,
    );
  }
  if (!sys.boot.multiboot || !kernelEntry || kernelEntry.isDir) return out;
  const k = fatKernel(b.ctx.disk, fat, kernelEntry);
  let plan: { entry: number; segments: LoadSegment[] } | null = null;
  out.push(
    await attempt(b, 'mboot.c32 loading the kernel', async () => {
      const { head, mb } = await kernelHeader(k);
      const aout = sys.boot.options.includes('-aout');
      const isElf64 = isElf(head) && head.length > ELF_HDR.class && head[ELF_HDR.class] === ELFCLASS64;
      if (mb.flags & MB_FLAG_AOUT_KLUDGE) plan = kludgePlan(mb, k.size, 'kernel');
      const text = [
        `\`mboot.c32\` (with \`libcom32.c32\`, the library SYSLINUX modules share) reads \`${kernelEntry!.path}\` (${k.size} bytes) through SYSLINUX's FAT driver and looks for its Multiboot header in the first ${MB_SEARCH} bytes.`,
        aout
          ? "`-aout` tells it to use the header's address fields: copy the file from `load_addr` up to `load_end_addr`, zero memory up to `bss_end_addr`, and jump to `entry_addr`."
          : isElf64
            ? "Without `-aout`, mboot.c32 loads an ELF64 kernel by its ELF headers and jumps to the ELF entry, which in a Solo5 kernel is 64-bit code: the machine crashes (Solo5 issue #429). Solo5's tool added `-aout` for this reason."
            : 'Without `-aout`, mboot.c32 loads the kernel by its ELF headers when it has them.',
        'It then builds its own Multiboot information: the memory sizes and the BIOS memory map, the command line, its name; unlike our loader it passes no boot device.',
      ];
      const r = await k.read(mb.offset, mb.flags & MB_FLAG_AOUT_KLUDGE ? MB_HEADER.kludgeSize : MB_HEADER.basicSize);
      return {
        id: 'mboot',
        title: 'mboot.c32 loads the kernel',
        text,
        dumps: [multibootDump(mb, r.bytes, r.diskOffset)],
      };
    }),
  );
  out.push(
    await attempt(b, 'The jump to the kernel', async () => {
      const dumps: HexDump[] = [];
      const pl = plan as { entry: number; segments: LoadSegment[] } | null;
      if (pl) {
        const d = await entryDump(k, pl.entry, pl.segments);
        if (d) dumps.push(d);
      }
      return {
        id: 'jump',
        title: "The jump to the kernel's first instruction",
        text: [
          `mboot.c32 switches to 32-bit protected mode (flat segments, interrupts off), puts the Multiboot magic \`${hex(MULTIBOOT_MAGIC_EAX)}\` in EAX and the address of its Multiboot information in EBX, and jumps to the entry point${pl ? ` \`${hex(pl.entry)}\`` : ''}.`,
          'From here on the kernel runs, exactly as with any Multiboot loader.',
        ],
        dumps,
      };
    }),
  );
  return out;
}

// ---------------------------------------------------------------- GRUB, none

function otherSteps(b: Builder): (WalkStep | null)[] {
  const kind = b.boot.kind;
  const out: (WalkStep | null)[] = [
    biosStep(
      b,
      kind === 'grub'
        ? "Here LBA 0 holds GRUB's first stage (boot.img). It loads GRUB's core image, usually from the sectors right after LBA 0, which reads GRUB's modules and its configuration."
        : 'This tool does not know the code in this LBA 0, so the steps after it cannot be shown.',
    ),
  ];
  if (b.ctx.mbr) out.push(partitionStep(b, []));
  b.notes.push(
    kind === 'grub'
      ? "GRUB's own stages (core.img and its modules) are not walked through here; only LBA 0 and the partition table are shown."
      : 'No boot loader this tool knows: only LBA 0 and the partition table are shown.',
  );
  return out;
}

// ---------------------------------------------------------------- entry

/** The walkthrough of a disk; coded problems become notes, never exceptions. */
export async function buildWalkthrough(img: OpenedImage): Promise<Walkthrough> {
  const ctx: DiskContext = img;
  const boot = img.boot;
  const b: Builder = { ctx, boot, notes: [...boot.notes] };
  if (ctx.mbrError) b.notes.push(ctx.mbrError.message);
  let steps: (WalkStep | null)[];
  if (boot.kind === 'unikernel-disk' && boot.ours) steps = await oursSteps(b, boot.ours);
  else if (boot.kind === 'syslinux' && boot.syslinux && ctx.fat) steps = await syslinuxSteps(b);
  else steps = otherSteps(b);
  return {
    loader: boot.kind,
    cmdline: boot.cmdline,
    steps: steps.filter((s): s is WalkStep => s !== null),
    notes: b.notes,
  };
}
