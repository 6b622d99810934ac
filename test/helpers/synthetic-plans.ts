/**
 * Synthetic image plans for format tests: pieces of random bytes at chosen
 * places, and the checks that compare a file on disk with a plan using real
 * tools (cmp, du) without reading gigabytes of holes.
 */
import { readSync, openSync, closeSync, statSync } from 'node:fs';
import { makePlan, readPlan, type ImagePlan, type Piece } from '../../src/core/plan';
import { run } from './tools';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** Deterministic pseudo-random bytes (xorshift32); `nonZeroSectors` avoids all-zero 512-byte sectors. */
export function randomBytes(n: number, seed: number, nonZeroSectors = true): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed | 0 || 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  if (nonZeroSectors) for (let i = 0; i < n; i += 512) b[i] |= 1;
  return b;
}

/** An MBR-like sector: random boot code, a partition entry, 0x55AA. */
export function mbrLike(seed: number): Uint8Array {
  const s = randomBytes(512, seed);
  s.fill(0, 440, 510);
  s.set([0x80, 0, 0, 0, 0x0c, 0xfe, 0xff, 0xff, 0, 8, 0, 0], 446);
  s[510] = 0x55;
  s[511] = 0xaa;
  return s;
}

/** `count` pieces of `len` bytes every `stride` bytes from `start`: many sparse regions. */
export function spread(start: number, count: number, stride: number, len: number, seed: number): Piece[] {
  return Array.from({ length: count }, (_, i) => ({ offset: start + i * stride, bytes: randomBytes(len, seed + i) }));
}

/** A plan like a real image: MBR, loader sectors, FAT-ish metadata, a ~100 KiB kernel. */
export function kernelLikePlan(size: number, kernelBytes = 100 * KiB): ImagePlan {
  return makePlan(size, [
    { offset: 0, bytes: mbrLike(1) },
    { offset: 512, bytes: randomBytes(16 * KiB, 2) },
    { offset: 1 * MiB, bytes: randomBytes(1536, 3) },
    { offset: 1 * MiB + 16 * KiB, bytes: randomBytes(8 * KiB, 4) },
    { offset: 4 * MiB, bytes: randomBytes(kernelBytes, 5) },
  ]);
}

/** Read `len` bytes of a file at `pos`. */
export function readAt(path: string, pos: number, len: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const n = readSync(fd, out, done, len - done, pos + done);
      if (n === 0) break;
      done += n;
    }
    return out.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

/** Allocated bytes according to `du` (what a sparse file really takes). */
export function duBytes(path: string): number {
  return Number(run('du', ['-B1', path]).split(/\s/)[0]);
}

/** The plan's pieces rounded out to 4 KiB and merged: where a sparse copy may hold data. */
export function dataRanges(plan: ImagePlan, align = 4 * KiB): [number, number][] {
  const out: [number, number][] = [];
  for (const p of plan.pieces) {
    const s = Math.floor(p.offset / align) * align;
    const e = Math.min(plan.size, Math.ceil((p.offset + p.bytes.length) / align) * align);
    if (out.length && s <= out[out.length - 1][1]) out[out.length - 1][1] = Math.max(out[out.length - 1][1], e);
    else out.push([s, e]);
  }
  return out;
}

/** Upper bound of what a sparse file of this plan should allocate. */
export function allocationBound(plan: ImagePlan): number {
  let n = 0;
  for (const [s, e] of dataRanges(plan)) n += e - s;
  return n + 64 * KiB;
}

/**
 * Are two sparse files of this plan the same? Full `cmp` when the disk is
 * small; otherwise `cmp` over every range that may hold data, and `du` on
 * both to show that nothing else is allocated (so everything else reads as
 * zeros). Reading gigabytes of holes takes seconds per GiB here.
 */
export function sameSparseFiles(a: string, b: string, plan: ImagePlan, fullUpTo = 2 * GiB): void {
  const sa = statSync(a).size;
  const sb = statSync(b).size;
  if (sa !== plan.size || sb !== plan.size) throw new Error(`sizes ${sa} and ${sb}, expected ${plan.size}`);
  if (plan.size <= fullUpTo) {
    run('cmp', [a, b]);
  } else {
    for (const [s, e] of dataRanges(plan)) run('cmp', ['-i', `${s}:${s}`, '-n', String(e - s), a, b]);
  }
  const bound = allocationBound(plan);
  for (const f of [a, b]) {
    const used = duBytes(f);
    if (used > bound) throw new Error(`${f} allocates ${used} bytes, more than the ${bound} its data needs`);
  }
}

/**
 * Does a file hold exactly the plan? Compares every piece, the bytes around
 * each piece boundary and a few random offsets with readPlan, and checks with
 * `du` that nothing else is allocated.
 */
export function fileMatchesPlan(path: string, plan: ImagePlan, samples = 16, seed = 1): void {
  const size = statSync(path).size;
  if (size !== plan.size) throw new Error(`${path} is ${size} bytes, expected ${plan.size}`);
  const check = (pos: number, len: number) => {
    const from = Math.max(0, pos);
    const n = Math.min(plan.size, pos + len) - from;
    if (n <= 0) return;
    const want = new Uint8Array(n);
    readPlan(plan, from, want);
    const got = readAt(path, from, n);
    if (Buffer.compare(Buffer.from(got), Buffer.from(want)) !== 0)
      throw new Error(`${path} differs from the plan in [${from}, ${from + n})`);
  };
  for (const [s, e] of dataRanges(plan)) check(s - 4096, Math.min(e - s, 64 * MiB) + 8192);
  for (const p of plan.pieces) check(p.offset + p.bytes.length - 4096, 8192);
  let x = seed;
  for (let i = 0; i < samples; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    check(Math.floor((x / 2 ** 32) * plan.size), 4096);
  }
  check(plan.size - 4096, 4096);
  const used = duBytes(path);
  const bound = allocationBound(plan);
  if (used > bound) throw new Error(`${path} allocates ${used} bytes, more than the ${bound} its data needs`);
}
