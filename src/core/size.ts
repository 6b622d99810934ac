/** Disk sizes as people type them ("64M", "1G", "10G", "1048576"). */
import { fail } from './errors';
import type { OutputFormat } from './formats/types';
import { formatBytes, GIB, KIB, MIB, SECTOR, TIB } from './units';

/** The old tool's size, and ours by default. */
export const DEFAULT_SIZE = GIB;
/** MBR partition fields are 32-bit sector numbers: 2 TiB is the end of the road. */
export const MAX_SIZE = 2 ** 32 * SECTOR;

const UNITS: Record<string, number> = { '': 1, K: KIB, M: MIB, G: GIB, T: TIB };

/**
 * Parse "64M", "1G", "1.5G", "10GiB", "512k" (binary units, case-insensitive;
 * a bare number is bytes). The result must be a whole number of 512-byte sectors.
 */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) {
    fail(
      'SIZE_MALFORMED',
      `The size "${text}" is not a size: write a number with an optional unit K, M, G or T (binary: 1G = 1024 MiB), for example 64M, 1G or 10G.`,
    );
  }
  const bytes = Number(m[1]) * UNITS[m[2].toUpperCase()];
  // Past 2 TiB the size is refused as too large, whether or not it is exact.
  if (bytes <= MAX_SIZE && !Number.isInteger(bytes)) {
    fail(
      'SIZE_MALFORMED',
      `The size "${text}" is not a whole number of bytes; write it in a smaller unit (for example 1536M instead of 1.5001G).`,
    );
  }
  return checkSize(bytes, text);
}

/**
 * A size as --size takes it, exact: "2G", "1536M", "640K", "1536" (bytes):
 * the largest binary unit that divides it. What suggestions are written in,
 * so that each can be fed back as it is.
 */
export function sizeText(bytes: number): string {
  for (const [u, n] of [
    ['T', TIB],
    ['G', GIB],
    ['M', MIB],
    ['K', KIB],
  ] as const) {
    if (bytes >= n && bytes % n === 0) return `${bytes / n}${u}`;
  }
  return String(bytes);
}

/** "1 byte", "1000 bytes": an exact count, for messages. */
function exactBytes(n: number): string {
  return `${n} ${n === 1 ? 'byte' : 'bytes'}`;
}

/** Check a size in bytes: a positive whole number of sectors, within what an MBR can address. */
export function checkSize(bytes: number, text = String(bytes)): number {
  const shown = text === String(bytes) || Number(text) === bytes ? exactBytes(bytes) : `${text} (${exactBytes(bytes)})`;
  if (bytes > MAX_SIZE) {
    fail(
      'SIZE_TOO_LARGE',
      `The size ${text === String(bytes) ? text : `${text}${bytes < 2 ** 64 ? ` (${formatBytes(bytes)})` : ''}`} is larger than 2 TiB, the most an MBR partition table can describe; choose 2T or less.`,
    );
  }
  if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes % SECTOR !== 0) {
    const fix =
      bytes > 0 && Number.isFinite(bytes)
        ? sizeText(bytes >= MIB ? Math.ceil(bytes / MIB) * MIB : Math.ceil(bytes / SECTOR) * SECTOR)
        : '1G';
    fail(
      'SIZE_NOT_SECTORS',
      `The size ${shown} is not a positive whole number of 512-byte sectors; round it, for example to ${fix}.`,
    );
  }
  return bytes;
}

/** The one size check for an image: the rules every disk meets, then the format's own. */
export function checkImageSize(bytes: number, format: Pick<OutputFormat, 'checkSize'>, text?: string): number {
  checkSize(bytes, text);
  format.checkSize?.(bytes);
  return bytes;
}
