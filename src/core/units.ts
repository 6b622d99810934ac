/**
 * Units, the disk layout's fixed numbers, and how numbers are written for
 * people. Defined once here; every other module imports them.
 */

/** Bytes in a disk sector (LBA unit) everywhere in this project. */
export const SECTOR = 512;
export const KIB = 1024;
export const MIB = 1024 * KIB;
export const GIB = 1024 * MIB;
export const TIB = 1024 * GIB;
/** 2^32: the end of what 32-bit addresses (Multiboot) and 32-bit sizes reach. */
export const FOUR_GIB = 2 ** 32;

/** The partition starts 1 MiB in (LBA 2048), as fdisk and the old tool do. */
export const PARTITION_LBA = 2048;
/** Lowest address a kernel may load at: below 1 MiB lie the BIOS, the loader and its buffers. */
export const MIN_LOAD_ADDR = 0x100000;

/** Format a number as 0x-prefixed upper-case hex, for messages. */
export function hex(n: number | bigint): string {
  return '0x' + n.toString(16).toUpperCase();
}

/** "1 sector", "3 sectors", "2 entries" (with `many`): a count and its noun, for messages and the page. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** "1 GiB", "64 MiB", "12.5 KiB", "300 bytes": for messages and the page. */
export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${n} ${n === 1 ? 'byte' : 'bytes'}`;
  const s = Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1).replace(/\.?0+$/, '');
  return `${s} ${units[u]}`;
}
