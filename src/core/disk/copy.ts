/**
 * The one way a disk read back (edited by patches, or as it is) becomes
 * bytes again: `copyPlan`, an `ImagePlan` whose data stays on the disk
 * (`StoredData`), written by the same format writers as a fresh build
 * (`rewrite.ts`), which read it as they go.
 */
import { crc32, derive32 } from '../bytes';
import { aborted, ImageError } from '../errors';
import type { AbortSignalLike } from '../stream';
import { isZero, MAX_SECTOR_RUNS, STORED_BLOCK, type ImagePlan, type Patch, type StoredData } from '../plan';
import { MIB, SECTOR } from '../units';
import type { DiskImage, StoredPiece } from '../formats/reader';

/** Bytes read from the disk at once. */
const READ_CHUNK = MIB;

export interface ReadOptions {
  /** Checked before each 1 MiB read: the reading stops with ABORTED (or the signal's own ImageError). */
  signal?: AbortSignalLike;
  /** Bytes read so far of `total` (the allocated and patched bytes), after each read. */
  onRead?: (done: number, total: number) => void;
}

/** Sorted, merged [start, end) ranges. */
function merge(ranges: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (const [s, e] of [...ranges].sort((a, b) => a[0] - b[0])) {
    if (e <= s) continue;
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

/** The disk's bytes with the patches applied (a later patch wins): always a fresh buffer when one applies. */
function patchedReader(disk: DiskImage, patches: readonly Patch[]) {
  return async (at: number, n: number): Promise<Uint8Array> => {
    let chunk = await disk.read(at, n);
    const touching = patches.filter((p) => p.offset < at + n && p.offset + p.bytes.length > at);
    if (touching.length || chunk.length !== n) {
      // A copy: the source's buffer is not ours to change.
      const copy = new Uint8Array(n);
      copy.set(chunk.subarray(0, n), 0);
      for (const p of touching) {
        const from = Math.max(at, p.offset);
        const to = Math.min(at + n, p.offset + p.bytes.length);
        copy.set(p.bytes.subarray(from - p.offset, to - p.offset), from - at);
      }
      chunk = copy;
    }
    return chunk;
  };
}

/** The most stored places remembered as zeros: a 64 KiB cluster each, 4 GiB of them. */
const MAX_ZERO_PLACES = 1 << 16;

/**
 * Stored places (file offset and length) already read and found to hold only
 * zeros, so that a chunk whose pieces are all stored there, or not stored, is
 * not read again: a container whose table entries share one block costs that
 * block, not the disk size the entries claim. Only where the disk says where
 * its bytes are (`DiskImage.where`), and never over a patch.
 */
class ZeroPlaces {
  private readonly seen = new Set<string>();
  constructor(
    private readonly disk: DiskImage,
    private readonly patches: readonly Patch[],
  ) {}

  async places(at: number, n: number): Promise<StoredPiece[] | undefined> {
    if (!this.disk.where || this.patches.some((p) => p.offset < at + n && p.offset + p.bytes.length > at)) return;
    return this.disk.where(at, n);
  }

  known(places: readonly StoredPiece[]): boolean {
    return places.every((p) => p.file === null || this.seen.has(`${p.file}+${p.length}`));
  }

  learn(places: readonly StoredPiece[], chunk: Uint8Array): void {
    let o = 0;
    for (const p of places) {
      if (p.file !== null && this.seen.size < MAX_ZERO_PLACES && isZero(chunk.subarray(o, o + p.length)))
        this.seen.add(`${p.file}+${p.length}`);
      o += p.length;
    }
  }
}

/**
 * A disk (with patches) as a plan whose data stays on the disk: one pass
 * reads the allocated extents (and the patched ranges), 1 MiB at a time,
 * and keeps only where the non-zero sectors are (a bit per 64 KiB block, and
 * the sector runs while there are at most MAX_SECTOR_RUNS) and the seed of
 * the identifiers; the writer reads the data again as it writes. Memory is
 * a chunk and the map, whatever the disk holds (clusters shared by many
 * table entries included). Patches are applied in order (a later one wins).
 * The same disk and patches always give the same plan, so the writers give
 * the same file.
 */
export async function copyPlan(
  disk: DiskImage,
  patches: readonly Patch[] = [],
  opts: ReadOptions = {},
): Promise<ImagePlan> {
  for (const p of patches) {
    if (p.offset < 0 || p.offset + p.bytes.length > disk.size) {
      throw new Error(`internal: patch at ${p.offset}+${p.bytes.length} is outside the ${disk.size}-byte disk`);
    }
  }
  const ranges: [number, number][] = patches.map((p) => [p.offset, p.offset + p.bytes.length]);
  for await (const x of disk.extents()) if (x.allocated) ranges.push([x.offset, x.offset + x.length]);
  const read = patchedReader(disk, patches);
  const blocks = new Uint8Array(Math.ceil(disk.size / STORED_BLOCK / 8));
  let runs: Float64Array | null = new Float64Array(64);
  let runCount = 0; // all runs, listed or not: part of the seed
  let listed = 0; // pairs in `runs`
  let runEnd = -1; // end of the current run of non-zero sectors
  let crc = 0;
  const addRun = (start: number, end: number) => {
    for (let b = Math.floor(start / STORED_BLOCK); b <= Math.floor((end - 1) / STORED_BLOCK); b++)
      blocks[b >> 3] |= 1 << (b & 7);
    if (start === runEnd) {
      if (runs) runs[listed * 2 - 1] = end;
    } else {
      runCount++;
      if (runs && listed >= MAX_SECTOR_RUNS) runs = null;
      if (runs) {
        if (listed * 2 + 2 > runs.length) {
          const bigger = new Float64Array(runs.length * 2);
          bigger.set(runs);
          runs = bigger;
        }
        runs[listed * 2] = start;
        runs[listed * 2 + 1] = end;
        listed++;
      }
    }
    runEnd = end;
  };
  // Whole sectors, so that runs start and end on sector boundaries.
  const spans = merge(ranges).map(([s0, e0]): [number, number] => [
    Math.floor(s0 / SECTOR) * SECTOR,
    Math.min(disk.size, Math.ceil(e0 / SECTOR) * SECTOR),
  ]);
  const toRead = spans.reduce((a, [s, e]) => a + (e - s), 0);
  const zeros = new ZeroPlaces(disk, patches);
  let done = 0;
  for (const [s, e] of spans) {
    for (let at = s; at < e; at += READ_CHUNK) {
      const n = Math.min(READ_CHUNK, e - at);
      const sig = opts.signal;
      if (sig?.aborted) throw sig.reason instanceof ImageError ? sig.reason : aborted();
      const places = await zeros.places(at, n);
      if (places && zeros.known(places)) {
        // Stored where zeros were already found (table entries sharing a block): nothing to read.
        done += n;
        opts.onRead?.(done, toRead);
        continue;
      }
      const chunk = await read(at, n);
      done += n;
      opts.onRead?.(done, toRead);
      if (places) zeros.learn(places, chunk);
      if (isZero(chunk)) continue;
      // Runs of non-zero sectors within the chunk: their bytes go into the seed's CRC in order.
      let from = -1;
      for (let o = 0; o <= n; o += SECTOR) {
        const nonZero = o < n && !isZero(chunk.subarray(o, Math.min(n, o + SECTOR)));
        if (nonZero && from < 0) from = o;
        else if (!nonZero && from >= 0) {
          crc = crc32(chunk.subarray(from, o), crc);
          addRun(at + from, at + Math.min(o, n));
          from = -1;
        }
      }
    }
    runEnd = -1; // a run never continues across spans (the bytes between are unallocated)
  }
  const sectorRuns = runs ? runs.slice(0, listed * 2) : null;
  const stored: StoredData = {
    blocks,
    sectorRuns,
    seed: derive32('disk-seed', disk.size, runCount, crc),
    read,
  };
  return { size: disk.size, pieces: [], regions: [], stored };
}

/** A seed for the writers' identifiers, derived from the plan's bytes: same disk, same seed. */
export function planSeed(plan: ImagePlan): number {
  if (plan.stored) return plan.stored.seed;
  let h = 0;
  for (const p of plan.pieces) {
    h = crc32(p.bytes, h);
  }
  return derive32('disk-seed', plan.size, plan.pieces.length, h);
}
