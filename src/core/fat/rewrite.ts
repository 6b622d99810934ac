/**
 * Rewrite one existing file of a FAT volume, as patches: the data in its
 * clusters (grown from free clusters, or shrunk, as the new size needs), the
 * FAT entries in every copy, the directory entry's size and first cluster,
 * and FAT32's FSInfo free count. Used by set-args on `syslinux.cfg`.
 */
import { rd32le, u16le, u32le } from '../bytes';
import { fail } from '../errors';
import { formatBytes, SECTOR } from '../units';
import { FSINFO, FSINFO_UNKNOWN } from './boot-sector';
import { DIRENT } from './dir';
import type { FatEntry, FatReader, Readable } from './read';
import type { Patch } from '../plan';
import { terminalSafe } from '../terminal';

/** Free clusters, in order, from `from` on (wrapping), `count` of them; refuses (FAT_FULL) when there are fewer. */
async function freeClusters(fat: FatReader, count: number, from: number, exclude: Set<number>): Promise<number[]> {
  const out: number[] = [];
  const first = 2;
  const last = fat.clusterCount + 1;
  const start = from >= first && from <= last ? from : first;
  for (let i = 0; i <= last - first && out.length < count; i++) {
    const c = first + ((start - first + i) % (last - first + 1));
    if (!exclude.has(c) && (await fat.entry(c)) === 0) out.push(c);
  }
  if (out.length < count) {
    fail(
      'FAT_FULL',
      `The FAT volume has ${out.length} free clusters of ${formatBytes(fat.clusterBytes)} but the rewritten file needs ${count} more; free some space in the volume first.`,
    );
  }
  return out;
}

/** Set FAT entries (cluster → value) in every FAT copy; returns one patch per touched sector per copy. */
async function fatPatches(fat: FatReader, disk: Readable, set: Map<number, number>): Promise<Patch[]> {
  const bps = fat.bpb.bytesPerSector;
  const out: Patch[] = [];
  for (let copy = 0; copy < fat.bpb.numFats; copy++) {
    const base = fat.fatOffset(copy);
    const sectors = new Map<number, Uint8Array>();
    const byteAt = async (o: number): Promise<[Uint8Array, number]> => {
      const s = Math.floor(o / bps);
      let b = sectors.get(s);
      if (!b) {
        b = (await disk.read(base + s * bps, bps)).slice();
        sectors.set(s, b);
      }
      return [b, o - s * bps];
    };
    const put = async (o: number, v: number, mask = 0xff) => {
      const [b, i] = await byteAt(o);
      b[i] = (b[i] & ~mask) | (v & mask);
    };
    for (const [n, v] of set) {
      if (fat.type === 32) {
        const [b, i] = await byteAt(n * 4);
        const keep = i + 4 <= b.length ? rd32le(b, i) & 0xf0000000 : 0;
        const word = (keep | (v & 0x0fffffff)) >>> 0;
        for (let k = 0; k < 4; k++) await put(n * 4 + k, (word >>> (8 * k)) & 0xff);
      } else if (fat.type === 16) {
        await put(n * 2, v & 0xff);
        await put(n * 2 + 1, (v >> 8) & 0xff);
      } else {
        const o = (n * 3) >> 1;
        if (n & 1) {
          await put(o, (v << 4) & 0xf0, 0xf0);
          await put(o + 1, (v >> 4) & 0xff);
        } else {
          await put(o, v & 0xff);
          await put(o + 1, (v >> 8) & 0x0f, 0x0f);
        }
      }
    }
    for (const [s, b] of sectors) out.push({ offset: base + s * bps, bytes: b });
  }
  return out;
}

/**
 * Patches that make `entry` hold `bytes`. `disk` is the same source the
 * reader reads (patches are computed against it, not applied).
 */
export async function rewriteFile(
  fat: FatReader,
  disk: Readable,
  entry: FatEntry,
  bytes: Uint8Array,
): Promise<Patch[]> {
  if (entry.isDir) throw new Error(`internal: rewriteFile on directory ${entry.path}`);
  const cb = fat.clusterBytes;
  const oldNeed = Math.ceil(entry.size / cb);
  const need = Math.ceil(bytes.length / cb);
  const old = oldNeed ? await fat.chain(entry.firstCluster, oldNeed, entry.path) : [];
  if (old.length < oldNeed) {
    fail(
      'FAT_CHAIN_SHORT',
      `The file ${terminalSafe(entry.path)} is ${entry.size} bytes (${oldNeed} clusters) but its cluster chain ends after ${old.length}; repair the volume (fsck.fat) first.`,
    );
  }
  // The clusters past the file's size, if its chain is longer, are kept as they are.
  const set = new Map<number, number>();
  let clusters = old.slice(0, need);
  if (need > old.length) {
    const info = await fat.fsInfo();
    const hint = info?.valid ? info.nextFree : 2;
    const more = await freeClusters(fat, need - old.length, hint, new Set(old));
    clusters = [...old, ...more];
  } else {
    for (const c of old.slice(need)) set.set(c, 0);
  }
  clusters.forEach((c, i) => set.set(c, i === clusters.length - 1 ? fat.eocMin | 0x7 : clusters[i + 1]));
  const patches: Patch[] = await fatPatches(fat, disk, set);

  // Data: whole clusters, zero-padded, one patch per contiguous run.
  for (let i = 0; i < clusters.length;) {
    let j = i + 1;
    while (j < clusters.length && clusters[j] === clusters[j - 1] + 1) j++;
    const run = new Uint8Array((j - i) * cb);
    run.set(bytes.subarray(i * cb, Math.min(bytes.length, j * cb)), 0);
    patches.push({ offset: fat.clusterOffset(clusters[i]), bytes: run });
    i = j;
  }

  // Directory entry: size and first cluster.
  const e = (await disk.read(entry.entryOffset, DIRENT.size)).slice();
  const first = clusters.length ? clusters[0] : 0;
  if (fat.type === 32) u16le(e, DIRENT.clusterHigh, first >>> 16);
  u16le(e, DIRENT.clusterLow, first & 0xffff);
  u32le(e, DIRENT.fileSize, bytes.length);
  patches.push({ offset: entry.entryOffset, bytes: e });

  // FSInfo: the free count moves by what was taken or given back.
  const delta = clusters.length - old.length;
  const info = fat.type === 32 ? await fat.fsInfo() : undefined;
  if (info?.valid && delta !== 0) {
    const at = fat.offset + fat.bpb.fsInfoSector * fat.bpb.bytesPerSector;
    const s = (await disk.read(at, SECTOR)).slice();
    if (info.freeCount !== FSINFO_UNKNOWN) u32le(s, FSINFO.freeCount, Math.max(0, info.freeCount - delta));
    if (delta > 0) u32le(s, FSINFO.nextFree, clusters[clusters.length - 1] + 1);
    patches.push({ offset: at, bytes: s });
  }
  return patches;
}
