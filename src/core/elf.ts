/**
 * ELF reader for kernel inspection: only what a boot loader needs (class,
 * machine, entry, program headers, notes). Input is untrusted: every read is
 * bounds-checked and every failure names the field, the value and the limit.
 */
import { fail } from './errors';
import { formatBytes, hex, MIB } from './units';
import { rd16le, rd32le, rd64le } from './bytes';

export const EM_386 = 3;
export const EM_X86_64 = 62;
export const PT_LOAD = 1;
export const PT_NOTE = 4;

/** Byte offsets of the ELF header's fields; where ELF32 and ELF64 differ, both. */
export const ELF_HDR = {
  magic: 0,
  class: 4,
  data: 5,
  identVersion: 6,
  osAbi: 7,
  identPad: 8,
  type: 16,
  machine: 18,
  version: 20,
  entry: 24,
  phoff32: 28,
  phoff64: 32,
  phentsize32: 42,
  phentsize64: 54,
  phnum32: 44,
  phnum64: 56,
  /** Header sizes. */
  size32: 52,
  size64: 64,
} as const;
/** Byte offsets inside one program header, ELF32 and ELF64 (p_flags moves). */
export const PHDR32 = {
  type: 0,
  offset: 4,
  vaddr: 8,
  paddr: 12,
  filesz: 16,
  memsz: 20,
  flags: 24,
  align: 28,
  size: 32,
} as const;
export const PHDR64 = {
  type: 0,
  flags: 4,
  offset: 8,
  vaddr: 16,
  paddr: 24,
  filesz: 32,
  memsz: 40,
  align: 48,
  size: 56,
} as const;
export const ELFCLASS32 = 1;
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const ET_EXEC = 2;

export interface ProgramHeader {
  index: number;
  /** Where this program header itself lies in the file. */
  at: number;
  type: number;
  offset: number;
  vaddr: number;
  paddr: number;
  filesz: number;
  memsz: number;
  align: number;
}

export interface ElfNote {
  name: string;
  type: number;
  desc: Uint8Array;
}

export interface ElfFile {
  class: 32 | 64;
  machine: number;
  type: number;
  entry: number;
  phdrs: ProgramHeader[];
}

export function isElf(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
}

/** Parse the ELF header and program headers. Call only when isElf(b). */
export function parseElf(b: Uint8Array, what = 'kernel'): ElfFile {
  if (b.length < ELF_HDR.size32) {
    fail(
      'ELF_TRUNCATED',
      `The ${what} is truncated: an ELF header needs at least ${ELF_HDR.size32} bytes but the file has ${b.length}. Copy the file again or rebuild it.`,
    );
  }
  const cls = b[ELF_HDR.class];
  if (cls !== ELFCLASS32 && cls !== ELFCLASS64) {
    fail(
      'ELF_BAD_CLASS',
      `The ${what} has ELF class ${cls} (byte 4 of the file); only 1 (ELF32) and 2 (ELF64) exist. The file is damaged or not an ELF executable.`,
    );
  }
  if (b[ELF_HDR.data] !== ELFDATA2LSB) {
    fail(
      'ELF_NOT_LITTLE_ENDIAN',
      `The ${what} is big-endian (ELF data encoding ${b[ELF_HDR.data]}); x86 kernels are little-endian (1). Build the unikernel for x86_64.`,
    );
  }
  const is64 = cls === ELFCLASS64;
  const ehsize = is64 ? ELF_HDR.size64 : ELF_HDR.size32;
  if (b.length < ehsize) {
    fail(
      'ELF_TRUNCATED',
      `The ${what} is truncated: an ELF${is64 ? 64 : 32} header needs ${ehsize} bytes but the file has ${b.length}. Copy the file again or rebuild it.`,
    );
  }
  const type = rd16le(b, ELF_HDR.type);
  const machine = rd16le(b, ELF_HDR.machine);
  if (machine !== EM_386 && machine !== EM_X86_64) {
    fail(
      'ELF_NOT_X86',
      `The ${what} is for ELF machine ${machine} (e_machine), not x86 (3) or x86-64 (62). Build the unikernel for x86_64 with the virtio target.`,
    );
  }
  const entry = is64 ? rd64le(b, ELF_HDR.entry) : rd32le(b, ELF_HDR.entry);
  const phoff = is64 ? rd64le(b, ELF_HDR.phoff64) : rd32le(b, ELF_HDR.phoff32);
  const phentsize = rd16le(b, is64 ? ELF_HDR.phentsize64 : ELF_HDR.phentsize32);
  const phnum = rd16le(b, is64 ? ELF_HDR.phnum64 : ELF_HDR.phnum32);
  const minEnt = is64 ? PHDR64.size : PHDR32.size;
  const phdrs: ProgramHeader[] = [];
  if (phnum > 0) {
    if (phentsize < minEnt) {
      fail(
        'ELF_BAD_PHDR',
        `The ${what}'s program header entry size e_phentsize is ${phentsize}, less than the ${minEnt} bytes an ELF${is64 ? 64 : 32} program header needs. The file is damaged.`,
      );
    }
    const end = phoff + phnum * phentsize;
    if (end > b.length) {
      fail(
        'ELF_TRUNCATED',
        `The ${what} is truncated: its ${phnum} program headers end at byte ${end} (e_phoff ${hex(phoff)}) but the file has ${b.length} bytes. Copy the file again or rebuild it.`,
      );
    }
    for (let i = 0; i < phnum; i++) {
      const o = phoff + i * phentsize;
      phdrs.push(
        is64
          ? {
              index: i,
              at: o,
              type: rd32le(b, o + PHDR64.type),
              offset: rd64le(b, o + PHDR64.offset),
              vaddr: rd64le(b, o + PHDR64.vaddr),
              paddr: rd64le(b, o + PHDR64.paddr),
              filesz: rd64le(b, o + PHDR64.filesz),
              memsz: rd64le(b, o + PHDR64.memsz),
              align: rd64le(b, o + PHDR64.align),
            }
          : {
              index: i,
              at: o,
              type: rd32le(b, o + PHDR32.type),
              offset: rd32le(b, o + PHDR32.offset),
              vaddr: rd32le(b, o + PHDR32.vaddr),
              paddr: rd32le(b, o + PHDR32.paddr),
              filesz: rd32le(b, o + PHDR32.filesz),
              memsz: rd32le(b, o + PHDR32.memsz),
              align: rd32le(b, o + PHDR32.align),
            },
      );
    }
  }
  return { class: is64 ? 64 : 32, machine, type, entry, phdrs };
}

/**
 * The most note bytes a kernel may have us walk, over all its PT_NOTE
 * segments together. A Solo5 kernel has a few hundred bytes of notes (the ABI
 * note, a build id, a manifest of a few KiB); 1 MiB is far beyond any real
 * one. The cap keeps the walk bounded by a constant, not by the number of
 * program headers times the bytes each one points at (65535 PT_NOTE headers
 * over one 1 MiB region would otherwise be 64 GiB of walking).
 */
export const MAX_NOTE_BYTES = MIB;

/**
 * Notes from PT_NOTE segments; malformed notes end the walk of their segment
 * quietly. Segments naming the same bytes as an earlier one are walked once;
 * more than MAX_NOTE_BYTES of notes in all is refused (ELF_BAD_NOTES).
 */
export function elfNotes(b: Uint8Array, elf: ElfFile, what = 'kernel'): ElfNote[] {
  // The distinct note ranges first, so that too many bytes are refused before any walking.
  const ranges: { start: number; end: number; align: number }[] = [];
  const seen = new Set<string>();
  let total = 0;
  for (const ph of elf.phdrs) {
    if (ph.type !== PT_NOTE) continue;
    const align = ph.align === 8 ? 8 : 4;
    const start = Math.min(ph.offset, b.length);
    const end = Math.min(ph.offset + ph.filesz, b.length);
    const key = `${start}:${end}:${align}`;
    if (end - start < 12 || seen.has(key)) continue;
    seen.add(key);
    ranges.push({ start, end, align });
    total += end - start;
  }
  if (total > MAX_NOTE_BYTES) {
    fail(
      'ELF_BAD_NOTES',
      `The ${what}'s ${ranges.length} PT_NOTE program headers name ${formatBytes(total)} of notes in all, more than the ${formatBytes(MAX_NOTE_BYTES)} this tool reads (a real kernel has a few KiB). The file is damaged or not a kernel; rebuild it.`,
    );
  }
  const notes: ElfNote[] = [];
  for (const { start, end, align } of ranges) {
    const pad = (n: number) => Math.ceil(n / align) * align;
    let o = start;
    while (o + 12 <= end) {
      const namesz = rd32le(b, o);
      const descsz = rd32le(b, o + 4);
      const type = rd32le(b, o + 8);
      const nameAt = o + 12;
      if (namesz > 256 || descsz > end) break;
      const descAt = nameAt + pad(namesz);
      const next = descAt + pad(descsz);
      if (descAt + descsz > end) break;
      // A note without an owner name means nothing to anyone: skip it.
      if (namesz > 0 && b[nameAt] !== 0) {
        let name = '';
        for (let i = 0; i < namesz && b[nameAt + i] !== 0; i++) name += String.fromCharCode(b[nameAt + i]);
        notes.push({ name, type, desc: b.subarray(descAt, descAt + descsz) });
      }
      o = next;
    }
  }
  return notes;
}
