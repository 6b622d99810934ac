/**
 * The Multiboot information structure (Multiboot 1 specification, section
 * 3.3) and the memory-map entries it points to: field offsets, and the flag
 * bits named. The loader (src/boot/mbi.inc, memmap.inc) fills them in memory;
 * here they are described for people (the boot walkthrough) and encoded for
 * its example.
 */
import { u32le, u64le } from '../bytes';

/** Byte offsets of the Multiboot information's fields. */
export const MBI = {
  flags: 0,
  memLower: 4,
  memUpper: 8,
  bootDevice: 12,
  cmdline: 16,
  modsCount: 20,
  modsAddr: 24,
  syms: 28,
  mmapLength: 44,
  mmapAddr: 48,
  drivesLength: 52,
  drivesAddr: 56,
  configTable: 60,
  bootLoaderName: 64,
  apmTable: 68,
  vbeControlInfo: 72,
  /** One past the VBE fields (vbe_interface_len ends here). */
  vbeEnd: 88,
} as const;

/** What each flag bit says is valid, by bit number. */
export const MBI_FLAG_NAMES: readonly string[] = [
  'memory sizes (mem_lower, mem_upper)',
  'boot device',
  'command line',
  'modules (mods_count, mods_addr)',
  'a.out symbol table',
  'ELF section headers',
  'memory map (mmap_length, mmap_addr)',
  'drives',
  'configuration table',
  'boot loader name',
  'APM table',
  'VBE video information',
  'framebuffer information',
];

/** The set bits of an MBI flags word, each named: "bit 0: memory sizes (...)". */
export function mbiFlagBits(flags: number): string[] {
  const out: string[] = [];
  for (let bit = 0; bit < 32; bit++) {
    if (((flags >>> bit) & 1) === 0) continue;
    out.push(`bit ${bit}: ${MBI_FLAG_NAMES[bit] ?? 'not defined by Multiboot 1'}`);
  }
  return out;
}

/**
 * One memory-map entry as the loader stores it: a u32 size (of the rest, 20),
 * then the 20 bytes INT 15h E820h returns: u64 start, u64 length, u32 type.
 */
export const MMAP_ENTRY = {
  size: 0,
  addr: 4,
  length: 12,
  type: 20,
  /** Bytes per entry, the size field included. */
  stride: 24,
  /** The value of the size field: the bytes of one E820 answer. */
  e820Bytes: 20,
} as const;

/** E820 region types. */
export const E820_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'usable RAM',
  2: 'reserved',
  3: 'ACPI tables',
  4: 'ACPI NVS',
};

/** Encode memory-map entries as the loader stores them. */
export function encodeMmap(entries: readonly (readonly [addr: number, length: number, type: number])[]): Uint8Array {
  const b = new Uint8Array(entries.length * MMAP_ENTRY.stride);
  entries.forEach(([addr, length, type], i) => {
    const o = i * MMAP_ENTRY.stride;
    u32le(b, o + MMAP_ENTRY.size, MMAP_ENTRY.e820Bytes);
    u64le(b, o + MMAP_ENTRY.addr, addr);
    u64le(b, o + MMAP_ENTRY.length, length);
    u32le(b, o + MMAP_ENTRY.type, type);
  });
  return b;
}
