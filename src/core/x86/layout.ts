/**
 * The memory our BIOS loader works in, as a table the stepper draws: the
 * first MiB (the BIOS's areas, the loader's variables, the Multiboot
 * information and memory map, the CRC table, the stack, stage 1, stage 2,
 * the bounce buffer, the EBDA, video memory and the ROMs) and the kernel at
 * 1 MiB (each segment's bytes from the file and its zeroed bss). Every
 * address comes from the loader's own constants (src/boot/layout.inc,
 * exported by scripts/build-boot.mjs) or from the model PC (pc.ts); the
 * kernel's from its parameter block.
 */
import {
  BOUNCE_ADDR,
  CHUNK_SECTORS,
  CMDLINE_OFF,
  CRC_TABLE,
  MBI_ADDR,
  MBI_SIZE,
  MMAP_ADDR,
  MMAP_MAX,
  PARAMS_OFF,
  PARAMS_SIZE,
  STACK_TOP,
  STAGE2_ADDR,
  STAGE2_MAX_SECTORS,
  VAR_BASE,
  VAR_BOOT_DRIVE,
  VAR_CHUNK_LEN,
  VAR_CRC,
  VAR_CUR_LBA,
  VAR_FILE_POS,
  VAR_MMAP_COUNT,
  VAR_RAM_END,
} from '../boot/loader.generated';
import { MMAP_ENTRY } from '../boot/mbi';
import type { LoadSegment } from '../load-plan';
import { EBDA_START } from './pc';

/** Where the BIOS puts LBA 0 (stage 1). */
export const STAGE1_ADDR = 0x7c00;
const SECTOR = 512;
const MIB = 0x100000;
/** The loader's variables sit in one 256-byte page (layout.inc's map). */
const VAR_PAGE = 0x100;
/** The CRC-32 table: 256 entries of 4 bytes. */
const CRC_TABLE_BYTES = 256 * 4;
/** The stack's room below STACK_TOP, as layout.inc's map gives it (0x7000–0x7BFF). */
const STACK_ROOM = 0xc00;
const VIDEO = 0xa0000;
const ROMS = 0xc0000;

export type RegionKind = 'bios' | 'loader' | 'multiboot' | 'stack' | 'buffer' | 'kernel' | 'bss' | 'free' | 'device';

export interface MemoryRegion {
  /** Stable id (tests, the page's highlight). */
  id: string;
  name: string;
  /** [start, end) */
  start: number;
  end: number;
  kind: RegionKind;
  /** What is there, in a sentence or less; '' for free memory. */
  note: string;
}

export interface LayoutInput {
  /** Bytes of stage 2 the loader runs (its sectors, as stage 1 reads them); default the most it may have. */
  stage2Bytes?: number;
  /** Bytes of the command line with its NUL, when known. */
  cmdlineBytes?: number;
  /** The kernel's segments and entry (the parameter block), when known. */
  segments?: readonly LoadSegment[];
  entry?: number;
}

const h = (n: number) => '0x' + n.toString(16).toUpperCase();

/** Fill the gaps between sorted regions with free memory. */
function withGaps(regions: MemoryRegion[], from: number, to: number): MemoryRegion[] {
  const out: MemoryRegion[] = [];
  let at = from;
  for (const r of regions) {
    if (r.start > at) out.push({ id: `free-${h(at)}`, name: 'Free', start: at, end: r.start, kind: 'free', note: '' });
    out.push(r);
    at = Math.max(at, r.end);
  }
  if (to > at) out.push({ id: `free-${h(at)}`, name: 'Free', start: at, end: to, kind: 'free', note: '' });
  return out;
}

/** The first MiB while the loader runs, in address order, gaps as free memory. */
export function lowMemoryLayout(input: LayoutInput = {}): MemoryRegion[] {
  const stage2 = input.stage2Bytes ?? STAGE2_MAX_SECTORS * SECTOR;
  const cmdline =
    input.cmdlineBytes !== undefined
      ? `, the command line at ${h(STAGE2_ADDR + CMDLINE_OFF)} (${input.cmdlineBytes} bytes with its NUL)`
      : '';
  const vars: [number, string][] = [
    [VAR_BOOT_DRIVE, 'boot drive'],
    [VAR_CUR_LBA, 'next LBA'],
    [VAR_FILE_POS, 'file position'],
    [VAR_CHUNK_LEN, 'chunk length'],
    [VAR_CRC, 'running CRC'],
    [VAR_RAM_END, 'end of RAM at 1 MiB'],
    [VAR_MMAP_COUNT, 'memory map entries'],
  ];
  return withGaps(
    [
      {
        id: 'ivt',
        name: 'Interrupt vector table',
        start: 0,
        end: 0x400,
        kind: 'bios',
        note: 'real-mode interrupt vectors (the BIOS set them)',
      },
      {
        id: 'bda',
        name: 'BIOS data area',
        start: 0x400,
        end: 0x500,
        kind: 'bios',
        note: 'COM1 at 0x400, the EBDA segment at 0x40E, memory size at 0x413',
      },
      {
        id: 'vars',
        name: 'Loader variables',
        start: VAR_BASE,
        end: VAR_BASE + VAR_PAGE,
        kind: 'loader',
        note: vars.map(([a, n]) => `${n} ${h(a)}`).join(', '),
      },
      {
        id: 'mbi',
        name: 'Multiboot information',
        start: MBI_ADDR,
        end: MBI_ADDR + MBI_SIZE,
        kind: 'multiboot',
        note: 'what the kernel gets in EBX',
      },
      {
        id: 'mmap',
        name: 'Memory map',
        start: MMAP_ADDR,
        end: MMAP_ADDR + MMAP_MAX * MMAP_ENTRY.stride,
        kind: 'multiboot',
        note: `room for ${MMAP_MAX} E820 entries of ${MMAP_ENTRY.stride} bytes, for the kernel`,
      },
      {
        id: 'crc',
        name: 'CRC-32 table',
        start: CRC_TABLE,
        end: CRC_TABLE + CRC_TABLE_BYTES,
        kind: 'loader',
        note: '256 entries, built before the first check',
      },
      {
        id: 'stack',
        name: 'Stack',
        start: STACK_TOP - STACK_ROOM,
        end: STACK_TOP,
        kind: 'stack',
        note: `grows down from ${h(STACK_TOP)}`,
      },
      {
        id: 'stage1',
        name: 'Stage 1 (the MBR)',
        start: STAGE1_ADDR,
        end: STAGE1_ADDR + SECTOR,
        kind: 'loader',
        note: 'LBA 0, where the BIOS put it',
      },
      {
        id: 'stage2',
        name: 'Stage 2',
        start: STAGE2_ADDR,
        end: STAGE2_ADDR + stage2,
        kind: 'loader',
        note: `code, the parameter block at ${h(STAGE2_ADDR + PARAMS_OFF)}–${h(STAGE2_ADDR + PARAMS_OFF + PARAMS_SIZE - 1)}${cmdline}`,
      },
      {
        id: 'bounce',
        name: 'Bounce buffer',
        start: BOUNCE_ADDR,
        end: BOUNCE_ADDR + CHUNK_SECTORS * SECTOR,
        kind: 'buffer',
        note: `disk reads land here, ${CHUNK_SECTORS} sectors at a time, before protected mode copies them up`,
      },
      {
        id: 'ebda',
        name: 'Extended BIOS data area',
        start: EBDA_START,
        end: VIDEO,
        kind: 'bios',
        note: 'the BIOS keeps it (reserved in the memory map)',
      },
      { id: 'video', name: 'Video memory', start: VIDEO, end: ROMS, kind: 'device', note: 'not RAM' },
      { id: 'roms', name: 'Option ROMs and the BIOS', start: ROMS, end: MIB, kind: 'device', note: 'read-only' },
    ],
    0,
    MIB,
  );
}

/** The kernel at 1 MiB: each segment's bytes from the file and its bss, gaps as free memory; empty when unknown. */
export function kernelMemoryLayout(input: LayoutInput = {}): MemoryRegion[] {
  const segs = [...(input.segments ?? [])].sort((a, b) => a.loadAddr - b.loadAddr);
  if (segs.length === 0) return [];
  const regions: MemoryRegion[] = [];
  segs.forEach((s, i) => {
    const n = segs.length > 1 ? ` ${i + 1}` : '';
    const entry =
      input.entry !== undefined && input.entry >= s.loadAddr && input.entry < s.loadAddr + s.fileSize
        ? `; the entry is at ${h(input.entry)}`
        : '';
    if (s.fileSize > 0)
      regions.push({
        id: `seg${i + 1}`,
        name: `Kernel segment${n}`,
        start: s.loadAddr,
        end: s.loadAddr + s.fileSize,
        kind: 'kernel',
        note: `${s.fileSize} bytes copied from the file at offset ${h(s.fileOffset)}${entry}`,
      });
    if (s.memSize > s.fileSize)
      regions.push({
        id: `bss${i + 1}`,
        name: `Kernel bss${n}`,
        start: s.loadAddr + s.fileSize,
        end: s.loadAddr + s.memSize,
        kind: 'bss',
        note: `${s.memSize - s.fileSize} bytes the loader zeroes`,
      });
  });
  const end = Math.max(...regions.map((r) => r.end));
  return withGaps(regions, Math.min(MIB, regions[0].start), end);
}

/** The ids of the regions that `writes` touch (free memory included), in region order. */
export function regionsTouched(
  regions: readonly MemoryRegion[],
  writes: readonly { address: number; length: number }[],
): string[] {
  return regions
    .filter((r) => writes.some((w) => w.address < r.end && w.address + w.length > r.start))
    .map((r) => r.id);
}
