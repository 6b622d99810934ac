/**
 * Shared by test/formats-{qcow2,vhd,vmdk,vdi}.test.ts: synthetic plans, a tiny
 * Node sink (data → write, hole → seek) and the qemu-img round trip.
 */
import { closeSync, ftruncateSync, openSync, statSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import fc from 'fast-check';
import { makePlan, type ImagePlan, type Piece } from '../../src/core/plan';
import type { FormatOptions, OutputFormat } from '../../src/core/formats/types';
import { openFileSink } from '../../src/cli/file-sink';
import { writeImage, type Sink } from '../../src/core/sink';
import { run, runAll } from './tools';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** Everything an async iterable gives, in order (Array.fromAsync before Node 22). */
export async function allOf<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of items) out.push(x);
  return out;
}

export const OPTS: FormatOptions = { timestamp: 1_700_000_000, seed: 0x1234_5678 };

/** Deterministic pseudo-random bytes (xorshift32), never all zero. */
export function noise(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  b[0] |= 1;
  return b;
}

/**
 * Pieces that stress every container: LBA 0, odd unaligned offsets, pieces
 * crossing 64 KiB / 1 MiB / 2 MiB / 32 MiB / 512 MiB boundaries, a piece made
 * only of zeros (must come back as zeros, may be left unallocated), a piece of
 * text that compresses well, and the very end of the disk.
 */
export function syntheticPlan(size: number): ImagePlan {
  const pieces: Piece[] = [];
  const add = (offset: number, len: number, seed: number, zero = false) => {
    if (offset < 0 || offset + len > size) return;
    if (pieces.some((p) => offset < p.offset + p.bytes.length + 1 && p.offset < offset + len + 1)) return;
    pieces.push({ offset, bytes: zero ? new Uint8Array(len) : noise(len, seed) });
  };
  add(0, 512, 1); // MBR
  add(512 * 3 + 17, 1000, 2); // odd, unaligned
  add(64 * KiB - 100, 300, 3); // across a qcow2 cluster / VMDK grain
  add(MiB - 7, 20, 4); // across a VDI block
  add(2 * MiB - 4 * KiB, 8 * KiB + 3, 5); // across a VHD block
  add(3 * MiB, 256 * KiB, 0, true); // zeros in a piece
  add(5 * MiB + 1, 100 * KiB, 6); // ~100 KiB "kernel"
  const text = new Uint8Array(200 * KiB).map((_, i) => 'unikernel '.charCodeAt(i % 10));
  if (7 * MiB + text.length <= size) pieces.push({ offset: 7 * MiB, bytes: text });
  add(32 * MiB - 333, 1000, 7); // across a VMDK grain table
  add(512 * MiB - 5000, 10_000, 8); // across a qcow2 L2 table
  add(Math.floor(size / 2 / 512) * 512 + 123, 4567, 9);
  add(size - 777, 777, 10); // the last bytes of the disk
  return makePlan(size, pieces);
}

export interface Written {
  path: string;
  length: number;
  /** Bytes actually allocated on disk (holes excluded). */
  allocated: number;
  /** sha256 of the part stream (data bytes, and each hole's length): equal files give equal digests. */
  sha256: string;
  ms: number;
  /** The largest data part: what the format holds in memory at once (besides the plan). */
  maxPart: number;
}

/** Our test sink: data parts are written, holes are seeked over. */
export async function writeFormat(
  format: OutputFormat,
  plan: ImagePlan,
  path: string,
  opts: FormatOptions = OPTS,
): Promise<Written> {
  const t0 = performance.now();
  const hash = createHash('sha256');
  let end = 0;
  let maxPart = 0;
  // The CLI's file sink, watched: the largest part (bounded memory) and a
  // hash of the file in which holes count by their length (hashing
  // gigabytes of zeros would be slow).
  const file = openFileSink(path);
  const sink: Sink = {
    ...file,
    write(position, bytes) {
      if (position > end) hash.update(`\0hole ${position - end}\0`);
      maxPart = Math.max(maxPart, bytes.length);
      hash.update(bytes);
      end = position + bytes.length;
      return file.write(position, bytes);
    },
    close(length) {
      if (length > end) hash.update(`\0hole ${length - end}\0`);
      return file.close(length);
    },
  };
  // No file name unless the test gives one: the format's default, as before.
  await writeImage(plan, format, sink, { fileName: '', ...opts });
  const ms = performance.now() - t0;
  const st = statSync(path);
  return { path, length: st.size, allocated: st.blocks * 512, sha256: hash.digest('hex'), ms, maxPart };
}

/** The reference: the plan written as a sparse raw disk, independently of any format module. */
export function writeRaw(plan: ImagePlan, path: string): void {
  const fd = openSync(path, 'w');
  try {
    for (const p of plan.pieces) writeSync(fd, p.bytes, 0, p.bytes.length, p.offset);
    ftruncateSync(fd, plan.size);
  } finally {
    closeSync(fd);
  }
}

/** `qemu-img info`; without `fmt` qemu must recognise the format by itself. */
export function qemuInfo(
  path: string,
  fmt?: string,
): { format: string; 'virtual-size': number; 'actual-size': number; [k: string]: unknown } {
  return JSON.parse(run('qemu-img', ['info', '--output=json', ...(fmt ? ['-f', fmt] : []), path]));
}

/** `qemu-img check`: returns the JSON report; fails the test on any error, leak or corruption. */
export function qemuCheck(path: string, fmt: string): Record<string, unknown> {
  const r = runAll('qemu-img', ['check', '--output=json', '-f', fmt, path]);
  expect(r.stderr, `qemu-img check stderr for ${path}`).toBe('');
  expect(r.status, `qemu-img check exit status for ${path}: ${r.stdout}`).toBe(0);
  const rep = JSON.parse(r.stdout) as Record<string, unknown>;
  for (const k of ['corruptions', 'leaks', 'check-errors', 'corruptions-fixed', 'leaks-fixed']) {
    if (k in rep) expect(rep[k], `${k} in ${JSON.stringify(rep)}`).toBe(0);
  }
  return rep;
}

/**
 * The byte-for-byte proof: `qemu-img convert -O raw` of our file equals the
 * reference raw disk (`qemu-img compare` reads every byte of both, zeros
 * included, and exits 0 only when they are identical and the same size).
 */
export function qemuRoundTrip(path: string, fmt: string, rawRef: string, converted: string): void {
  run('qemu-img', ['convert', '-f', fmt, '-O', 'raw', path, converted]);
  expect(statSync(converted).size).toBe(statSync(rawRef).size);
  const cmp = runAll('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', rawRef, converted]);
  expect(cmp.status, `qemu-img compare: ${cmp.stdout}${cmp.stderr}`).toBe(0);
  // And straight from our container, without the intermediate file.
  const cmp2 = runAll('qemu-img', ['compare', '-f', 'raw', '-F', fmt, rawRef, path]);
  expect(cmp2.status, `qemu-img compare ${fmt}: ${cmp2.stdout}${cmp2.stderr}`).toBe(0);
}

/** sha256 of a byte range of a file, for the smaller sizes. */
export function sha256File(path: string): string {
  return run('sha256sum', [path]).split(' ')[0];
}

/** Random small plans for property tests: a size and a few non-overlapping pieces. */
export function planArbitrary(opts: { maxSize: number; sizeStep: number }) {
  return fc
    .record({
      units: fc.integer({ min: 1, max: Math.floor(opts.maxSize / opts.sizeStep) }),
      pieces: fc.array(
        fc.record({
          at: fc.double({ min: 0, max: 1, noNaN: true }),
          len: fc.integer({ min: 1, max: 200_000 }),
          seed: fc.integer({ min: 1, max: 1e9 }),
          zero: fc.boolean(),
        }),
        { maxLength: 6 },
      ),
    })
    .map(({ units, pieces }) => {
      const size = units * opts.sizeStep;
      const out: Piece[] = [];
      for (const p of pieces) {
        const len = Math.min(p.len, size);
        const offset = Math.min(size - len, Math.floor(p.at * size));
        if (out.some((q) => offset < q.offset + q.bytes.length + 1 && q.offset < offset + len + 1)) continue;
        out.push({ offset, bytes: p.zero ? new Uint8Array(len) : noise(len, p.seed) });
      }
      return makePlan(size, out);
    });
}

/** Guest byte ranges qemu-img map says are stored (data: true). */
export function qemuMapData(path: string, fmt: string): { start: number; length: number }[] {
  const m = JSON.parse(run('qemu-img', ['map', '--output=json', '-f', fmt, path])) as {
    start: number;
    length: number;
    data: boolean;
  }[];
  return m.filter((e) => e.data).map((e) => ({ start: e.start, length: e.length }));
}

/**
 * Property: for random small plans, each format's file has the plan's virtual
 * size (and a clean `qemu-img check` where qemu-img can check the format), and
 * converts back to exactly the raw disk.
 */
export async function roundTripProperty(
  formats: { format: OutputFormat; check: boolean }[],
  dir: { path(name: string): string },
  opts: { sizeStep: number; numRuns: number; seed: number },
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(planArbitrary({ maxSize: 80 * MiB, sizeStep: opts.sizeStep }), async (plan) => {
      writeRaw(plan, dir.path('p.raw'));
      for (const { format, check } of formats) {
        const qemuFmt = format.qemuDriver!;
        const w = await writeFormat(format, plan, dir.path(`p-${format.id}${format.extension}`));
        if (check) qemuCheck(w.path, qemuFmt);
        expect(qemuInfo(w.path, qemuFmt)['virtual-size']).toBe(plan.size);
        qemuRoundTrip(w.path, qemuFmt, dir.path('p.raw'), dir.path('p.back'));
      }
    }),
    { numRuns: opts.numRuns, seed: opts.seed },
  );
}
