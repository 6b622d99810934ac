/**
 * The file allocation table itself: 12-, 16- or 32-bit entries, one per
 * cluster. Entry 0 holds the media byte, entry 1 end-of-chain; a file's
 * clusters are a chain, each entry naming the next, the last end-of-chain.
 * We write only the head of the table that has non-zero entries.
 */
import { u16le, u32le } from '../bytes';
import { SECTOR } from '../units';
import { FIRST_CLUSTER, type FatType } from './layout';

/** End-of-chain marker and the ones above the media byte in entry 0, by type (FAT32 uses 28 bits). */
export const FAT_ENTRY: Record<FatType, { eoc: number; mediaHigh: number }> = {
  12: { eoc: 0xfff, mediaHigh: 0xf00 },
  16: { eoc: 0xffff, mediaHigh: 0xff00 },
  32: { eoc: 0x0fffffff, mediaHigh: 0x0fffff00 },
};

/** Set FAT entry `n` to `v` in a FAT image buffer of the given type. */
export function setFatEntry(fat: Uint8Array, type: FatType, n: number, v: number): void {
  if (type === 32) u32le(fat, n * 4, v);
  else if (type === 16) u16le(fat, n * 2, v);
  else {
    const o = (n * 3) >> 1;
    if (n & 1) {
      fat[o] = (fat[o] & 0x0f) | ((v << 4) & 0xf0);
      fat[o + 1] = (v >> 4) & 0xff;
    } else {
      fat[o] = v & 0xff;
      fat[o + 1] = (fat[o + 1] & 0xf0) | ((v >> 8) & 0x0f);
    }
  }
}

/** A run of contiguous clusters holding one file (or FAT32's root directory). */
export interface Chain {
  firstCluster: number;
  clusters: number;
}

/**
 * The head of a FAT: entries 0 .. `end`-1 (the first cluster after the last
 * chain), padded with zeros to whole sectors. Entries past it are zero (free).
 */
export function encodeFatHead(type: FatType, media: number, end: number, chains: readonly Chain[]): Uint8Array {
  const { eoc, mediaHigh } = FAT_ENTRY[type];
  const headBytes = Math.ceil((end * type) / 8);
  const fat = new Uint8Array(Math.ceil(headBytes / SECTOR) * SECTOR);
  setFatEntry(fat, type, 0, mediaHigh | media);
  setFatEntry(fat, type, 1, eoc);
  for (const c of chains) {
    if (c.clusters === 0) continue; // an empty file has no chain
    if (c.firstCluster < FIRST_CLUSTER || c.firstCluster + c.clusters > end)
      throw new Error(`internal: chain ${c.firstCluster}+${c.clusters} outside the FAT head of ${end} entries`);
    for (let i = 0; i < c.clusters; i++)
      setFatEntry(fat, type, c.firstCluster + i, i === c.clusters - 1 ? eoc : c.firstCluster + i + 1);
  }
  return fat;
}
