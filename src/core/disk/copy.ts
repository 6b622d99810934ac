/**
 * The one way a disk read back (edited by patches, or as it is) becomes
 * bytes again: `copyPlan`, an `ImagePlan` of its non-zero data, written by
 * the same format writers as a fresh build (`rewrite.ts`).
 */
import { crc32, derive32 } from '../bytes';
import { aborted, fail, ImageError } from '../errors';
import type { AbortSignalLike } from '../stream';
import { isZero, makePlan, type ImagePlan, type Patch, type Piece } from '../plan';
import { formatBytes, GIB, MIB, SECTOR } from '../units';
import type { DiskImage } from '../formats/reader';

/** The most non-zero data a disk may hold to be copied through memory (convert, set-args). */
export const MAX_PLAN_DATA = 2 * GIB;
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

/**
 * Read the disk into a plan of its non-zero data: only the allocated extents
 * (and the patched ranges) are read, 1 MiB at a time; the sectors that are
 * all zeros after patching are dropped; the rest becomes pieces. Patches are
 * applied in order (a later one wins). The same disk and patches always give
 * the same plan, so the writers give the same file.
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
  const pieces: Piece[] = [];
  let total = 0;
  // The run of non-zero sectors being gathered, as chunks to join.
  let runStart = -1;
  let runParts: Uint8Array[] = [];
  let runEnd = -1;
  const flush = () => {
    if (runStart < 0) return;
    const n = runEnd - runStart;
    total += n;
    if (total > MAX_PLAN_DATA) {
      fail(
        'CONVERT_TOO_MUCH_DATA',
        `The image holds more than ${formatBytes(MAX_PLAN_DATA)} of non-zero data, the most copied through memory here; a unikernel disk holds a few MiB.`,
      );
    }
    // A copy of exactly the run: a view would keep its whole 1 MiB read buffer alive.
    const bytes = new Uint8Array(n);
    let o = 0;
    for (const p of runParts) {
      bytes.set(p, o);
      o += p.length;
    }
    pieces.push({ offset: runStart, bytes });
    runStart = -1;
    runParts = [];
  };
  // Whole sectors, so that pieces start and end on sector boundaries.
  const spans = merge(ranges).map(([s0, e0]): [number, number] => [
    Math.floor(s0 / SECTOR) * SECTOR,
    Math.min(disk.size, Math.ceil(e0 / SECTOR) * SECTOR),
  ]);
  const toRead = spans.reduce((a, [s, e]) => a + (e - s), 0);
  let done = 0;
  for (const [s, e] of spans) {
    for (let at = s; at < e; at += READ_CHUNK) {
      const n = Math.min(READ_CHUNK, e - at);
      const sig = opts.signal;
      if (sig?.aborted) throw sig.reason instanceof ImageError ? sig.reason : aborted();
      let chunk = await disk.read(at, n);
      done += n;
      opts.onRead?.(done, toRead);
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
      if (isZero(chunk)) {
        flush();
        continue;
      }
      for (let o = 0; o < n; o += SECTOR) {
        const sec = chunk.subarray(o, Math.min(n, o + SECTOR));
        const zero = isZero(sec);
        const pos = at + o;
        if (zero) {
          flush();
          continue;
        }
        if (runStart >= 0 && runEnd === pos) {
          const last = runParts[runParts.length - 1];
          // Extend the last part when it is a view of this chunk, else start a new part.
          if (last.buffer === chunk.buffer && last.byteOffset + last.length === sec.byteOffset) {
            runParts[runParts.length - 1] = chunk.subarray(last.byteOffset, sec.byteOffset + sec.length);
          } else runParts.push(sec);
        } else {
          flush();
          runStart = pos;
          runParts = [sec];
        }
        runEnd = pos + sec.length;
      }
    }
    flush();
  }
  flush();
  return makePlan(disk.size, pieces);
}

/** A seed for the writers' identifiers, derived from the plan's bytes: same disk, same seed. */
export function planSeed(plan: ImagePlan): number {
  let h = 0;
  for (const p of plan.pieces) {
    h = crc32(p.bytes, h);
  }
  return derive32('disk-seed', plan.size, plan.pieces.length, h);
}
