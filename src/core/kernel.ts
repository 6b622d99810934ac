/**
 * Kernel inspection: everything the image engine, the boot loader and the page
 * need to know about a unikernel file, validated as untrusted input.
 */
import { elfNotes, isElf, parseElf, PT_LOAD, type ElfFile } from './elf';
import { fail, isImageError } from './errors';
import { readSolo5Notes, type Solo5Device } from './solo5';
import { formatBytes, GIB, hex } from './units';
import { checkLoadPlan, type LoadPlan, type LoadSegment } from './load-plan';
import { MAX_SEGMENTS } from './boot/loader.generated';
import {
  checkFlags,
  findMultiboot,
  kludgePlan,
  MB_FLAG_AOUT_KLUDGE,
  MB_MAGIC,
  MB_SEARCH,
  type MultibootHeader,
} from './multiboot';

export interface KernelInfo {
  size: number;
  /** 'binary' for a non-ELF Multiboot image loaded through the a.out kludge. */
  format: 'elf32' | 'elf64' | 'binary';
  /** ELF e_entry, when the file is ELF (not used when the kludge is set). */
  elfEntry?: number;
  multiboot: MultibootHeader;
  load: LoadPlan;
  /** Solo5 target named by the ABI note, when there is one ('virtio' here). */
  solo5Target?: string;
  solo5AbiVersion?: number;
  /** Whether the kernel carries a Solo5 manifest note (MFT1) at all. */
  solo5Manifest: boolean;
  /**
   * Devices the Solo5 manifest declares, in manifest order (Solo5's virtio
   * target binds virtio devices to them in PCI order); empty without a manifest.
   */
  devices: Solo5Device[];
  /** Things worth telling the user that do not stop the build. */
  notes: string[];
}

/**
 * The largest kernel file we accept: 1 GiB. Hard limits lie higher (FAT32
 * files and the parameter block's kernel size are below 4 GiB), but every
 * adapter holds the whole kernel in memory as one array (Node's readFile and
 * browsers stop at 2 GiB), and at boot the loader reads and checksums every
 * byte through the BIOS, 60 KiB per call. A real Solo5 kernel is a few MiB
 * (tens with debug information), so a larger file is something else, most
 * often a disk image given by mistake. Adapters check the size before reading
 * (`checkKernelSize`), so such a file is refused without being read.
 */
export const MAX_KERNEL_SIZE = GIB;

/** Refuse a kernel file larger than MAX_KERNEL_SIZE; call with the size before reading the file. */
export function checkKernelSize(size: number, what = 'kernel'): void {
  if (size > MAX_KERNEL_SIZE) {
    fail(
      'KERNEL_SIZE_LIMIT',
      `The ${what} file is ${formatBytes(size)} (${size} bytes); the largest kernel accepted is ${formatBytes(MAX_KERNEL_SIZE)} (${MAX_KERNEL_SIZE} bytes), and a Solo5 kernel is a few MiB. Choose the .virtio file your unikernel build produced, not a disk image or an archive.`,
    );
  }
}

/** Inspect a kernel file; throws ImageError with a stable code on bad input. */
export function inspectKernel(b: Uint8Array, what = 'kernel'): KernelInfo {
  checkKernelSize(b.length, what);
  if (b.length === 0) {
    fail(
      'KERNEL_EMPTY',
      `The ${what} file is empty (0 bytes). Choose the .virtio file your unikernel build produced (for MirageOS: \`mirage configure -t virtio && make\`).`,
    );
  }
  const notes: string[] = [];
  let elf: ElfFile | undefined;
  let solo5Target: string | undefined;
  let solo5AbiVersion: number | undefined;
  let solo5Manifest = false;
  let devices: Solo5Device[] = [];
  if (isElf(b)) {
    elf = parseElf(b, what);
    const solo5 = readSolo5Notes(elfNotes(b, elf, what), what);
    solo5Target = solo5.abi?.target;
    solo5AbiVersion = solo5.abi?.version;
    solo5Manifest = solo5.manifest;
    devices = solo5.devices;
    if (solo5Target !== undefined && solo5Target !== 'virtio') {
      fail(
        'SOLO5_WRONG_TARGET',
        `This is a Solo5 ${solo5Target} unikernel; rebuild it with the virtio target (for MirageOS: \`mirage configure -t virtio\`), which produces a .virtio file that boots from a disk.`,
      );
    }
  } else if (b.length >= 4 && b[0] === 0x7f && b[1] === 0x45) {
    fail(
      'ELF_TRUNCATED',
      `The ${what} is truncated: it starts like an ELF file but has only ${b.length} bytes. Copy the file again or rebuild it.`,
    );
  }
  let mb: MultibootHeader;
  try {
    mb = findMultiboot(b, what);
  } catch (e) {
    if (!elf && isImageError(e) && e.code === 'MB_NO_HEADER') notAKernel(b, what);
    throw e;
  }
  checkFlags(mb, what);
  let load: LoadPlan;
  const source = planSource(mb, elf);
  if (source === 'aout-kludge') {
    load = kludgePlan(mb, b.length, what);
    if (elf && elf.entry !== load.entry) {
      notes.push(
        `The ELF entry ${hex(elf.entry)} is not the Multiboot entry_addr ${hex(load.entry)}; the boot loader jumps to entry_addr (32-bit code), as QEMU and GRUB do.`,
      );
    }
  } else if (elf && source) {
    load = elfPlan(b, elf, what);
  } else {
    fail(
      'MB_NO_LOAD_INFO',
      `The ${what} is not an ELF file and its Multiboot header (flags ${hex(mb.flags)}) has no address fields (flag bit 16), so there is no way to know where to load it. Rebuild it as an ELF kernel or set the a.out-kludge fields.`,
    );
  }
  checkLoadPlan(load, MAX_SEGMENTS, what);
  return {
    size: b.length,
    format: elf ? (elf.class === 64 ? 'elf64' : 'elf32') : 'binary',
    elfEntry: elf?.entry,
    multiboot: mb,
    load,
    solo5Target,
    solo5AbiVersion,
    solo5Manifest,
    devices,
    notes,
  };
}

/**
 * A file that is neither ELF nor carries a Multiboot header is not a kernel
 * at all (a disk image, an archive, a script...): say so, rather than talk
 * about Multiboot headers.
 */
function notAKernel(b: Uint8Array, what: string): never {
  const choose =
    'Choose the .virtio file your unikernel build produced (for MirageOS: `mirage configure -t virtio && make`).';
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) {
    fail(
      'NOT_A_KERNEL',
      `The ${what} file is gzip-compressed data (perhaps an image made earlier), not a kernel. ${choose}`,
    );
  }
  const head = Array.from(b.subarray(0, 4), (x) => x.toString(16).toUpperCase().padStart(2, '0')).join(' ');
  fail(
    'NOT_A_KERNEL',
    `The ${what} file is not a kernel: it is not an ELF file (it starts with bytes ${head}, not 7F 45 4C 46) and has no Multiboot header (magic ${hex(MB_MAGIC)}) in its first ${MB_SEARCH} bytes. ${choose}`,
  );
}

/**
 * Which header a kernel's load plan comes from: the Multiboot address fields
 * when flag bit 16 is set (they win over ELF, as in QEMU and GRUB), else the
 * ELF program headers; null when there are neither.
 */
export function planSource(mb: MultibootHeader, elf: ElfFile | undefined | null): LoadPlan['source'] | null {
  if (mb.flags & MB_FLAG_AOUT_KLUDGE) return 'aout-kludge';
  if (elf) return elf.class === 64 ? 'elf64' : 'elf32';
  return null;
}

/** Load plan from PT_LOAD program headers (physical addresses), when the kludge is not set. */
function elfPlan(b: Uint8Array, elf: ElfFile, what: string): LoadPlan {
  const segs: (LoadSegment & { vaddr: number; index: number })[] = [];
  for (const ph of elf.phdrs) {
    if (ph.type !== PT_LOAD || ph.memsz === 0) continue;
    const name = `program header ${ph.index} (PT_LOAD)`;
    if (ph.filesz > ph.memsz) {
      fail(
        'ELF_BAD_SEGMENT',
        `The ${what}'s ${name} has p_filesz ${hex(ph.filesz)} larger than p_memsz ${hex(ph.memsz)}. The file is damaged; rebuild it.`,
      );
    }
    if (ph.offset + ph.filesz > b.length) {
      fail(
        'ELF_SEGMENT_PAST_EOF',
        `The ${what} is truncated: its ${name} needs file bytes ${hex(ph.offset)}..${hex(ph.offset + ph.filesz)}, but the file has ${b.length} bytes. Copy the file again or rebuild it.`,
      );
    }
    segs.push({
      index: ph.index,
      fileOffset: ph.offset,
      fileSize: ph.filesz,
      loadAddr: ph.paddr,
      memSize: ph.memsz,
      vaddr: ph.vaddr,
    });
  }
  if (segs.length === 0) {
    fail(
      'ELF_NO_LOAD',
      `The ${what} has no PT_LOAD program headers and no Multiboot address fields, so there is nothing to load. Rebuild the kernel.`,
    );
  }
  segs.sort((x, y) => x.loadAddr - y.loadAddr);
  for (let i = 1; i < segs.length; i++) {
    const p = segs[i - 1];
    if (segs[i].loadAddr < p.loadAddr + p.memSize) {
      fail(
        'ELF_SEGMENT_OVERLAP',
        `The ${what}'s program headers ${p.index} and ${segs[i].index} overlap in memory (${hex(p.loadAddr)}+${hex(p.memSize)} and ${hex(segs[i].loadAddr)}). The file is damaged; rebuild it.`,
      );
    }
  }
  // e_entry is virtual; translate it through the segment that holds it
  // (checkLoadPlan then requires it to lie in bytes loaded from the file).
  const holder = segs.find((s) => elf.entry >= s.vaddr && elf.entry < s.vaddr + s.memSize);
  if (!holder) {
    fail(
      'LOAD_ENTRY_OUTSIDE',
      `The ${what}'s ELF entry ${hex(elf.entry)} is in none of its PT_LOAD segments, so the CPU would jump into nothing. Rebuild the kernel.`,
    );
  }
  const entry = elf.entry - holder.vaddr + holder.loadAddr;
  const last = segs[segs.length - 1];
  return {
    source: elf.class === 64 ? 'elf64' : 'elf32',
    entry,
    segments: segs.map(({ fileOffset, fileSize, loadAddr, memSize }) => ({ fileOffset, fileSize, loadAddr, memSize })),
    start: segs[0].loadAddr,
    end: last.loadAddr + last.memSize,
  };
}

/** One line for people: "ELF64, 220 KiB, loads 0x100000..0x11E000, entry 0x100040, Solo5 virtio". */
export function describeKernel(k: KernelInfo): string {
  const parts = [
    k.format === 'binary' ? 'Multiboot binary' : k.format.toUpperCase(),
    formatBytes(k.size),
    `loads ${hex(k.load.start)}..${hex(k.load.end)}`,
    `entry ${hex(k.load.entry)}`,
  ];
  if (k.solo5Target) parts.push(`Solo5 ${k.solo5Target}`);
  return parts.join(', ');
}
