/**
 * streamImage: cancellation, progress, chunking, fillHoles, and that a sink
 * around it writes the same file as the format itself (checked with cmp).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { extents, makePlan, readPlan, type ImagePlan } from '../src/core/plan';
import { rawFormat } from '../src/core/formats/raw';
import { gceFormat } from '../src/core/formats/gce';
import { streamImage, type Progress } from '../src/core/stream';
import { collect } from '../src/core/sink';
import { ImageError, isImageError } from '../src/core/errors';
import type { OutputPart } from '../src/core/formats/types';
import { writeFile } from './helpers/sink';
import { run, tempDir, tools } from './helpers/tools';
import { GiB, KiB, MiB, fileMatchesPlan, kernelLikePlan, mbrLike, randomBytes } from './helpers/synthetic-plans';

const OPTS = { timestamp: 1_700_000_000, seed: 3 };
const tmp = tempDir('ukd-stream-');
afterAll(() => tmp.cleanup());

function smallPlan(): ImagePlan {
  return makePlan(24 * MiB, [
    { offset: 0, bytes: mbrLike(1) },
    { offset: 4096 + 3, bytes: randomBytes(777, 2) },
    { offset: 3 * MiB, bytes: randomBytes(3 * MiB + 11, 3) },
    { offset: 20 * MiB - 5, bytes: randomBytes(10, 4) },
  ]);
}

async function all(it: AsyncIterable<OutputPart>): Promise<OutputPart[]> {
  const out: OutputPart[] = [];
  for await (const p of it) out.push(p.kind === 'data' ? { ...p, bytes: p.bytes.slice() } : p);
  return out;
}

function concat(parts: OutputPart[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.kind === 'data' ? p.bytes.length : p.length;
  const out = new Uint8Array(n);
  let pos = 0;
  for (const p of parts) {
    if (p.kind === 'data') out.set(p.bytes, pos);
    pos += p.kind === 'data' ? p.bytes.length : p.length;
  }
  return out;
}

async function expectAborted(run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (e) {
    expect(isImageError(e) && e.code).toBe('ABORTED');
    return;
  }
  throw new Error('expected ABORTED');
}

describe('streamImage', () => {
  it('fillHoles: only data parts, at most chunkSize, concatenating to exactly the raw bytes', async () => {
    const plan = smallPlan();
    const seen = new Set<ArrayBufferLike>();
    const parts: OutputPart[] = [];
    for await (const p of streamImage(plan, rawFormat, { ...OPTS, fillHoles: true, chunkSize: 256 * KiB })) {
      expect(p.kind).toBe('data');
      if (p.kind !== 'data') continue;
      expect(p.bytes.length).toBeLessThanOrEqual(256 * KiB);
      if (p.bytes.every((b) => b === 0)) seen.add(p.bytes.buffer);
      parts.push({ ...p, bytes: p.bytes.slice() });
    }
    const want = new Uint8Array(plan.size);
    readPlan(plan, 0, want);
    expect(Buffer.compare(Buffer.from(concat(parts)), Buffer.from(want))).toBe(0);
    // Holes are views of one shared zero buffer, not fresh allocations.
    expect(seen.size).toBe(1);
  });

  it("without fillHoles: the format's holes pass through, big data parts are sliced without copying", async () => {
    const plan = smallPlan();
    const parts = [] as OutputPart[];
    for await (const p of streamImage(plan, rawFormat, { ...OPTS, chunkSize: 64 * KiB })) {
      if (p.kind === 'data') {
        expect(p.bytes.length).toBeLessThanOrEqual(64 * KiB);
        expect(plan.pieces.some((x) => x.bytes.buffer === p.bytes.buffer)).toBe(true);
      }
      parts.push(p.kind === 'data' ? { ...p, bytes: p.bytes.slice() } : p);
    }
    expect(parts.filter((p) => p.kind === 'hole')).toHaveLength(
      [...extents(plan)].filter((x) => x.kind === 'zero').length,
    );
    expect(Buffer.compare(Buffer.from(concat(parts)), Buffer.from(await collect(rawFormat, plan, OPTS)))).toBe(0);
    // covered never goes back and ends at the disk size.
    const covered = parts.map((p) => p.covered ?? 0);
    expect(covered).toEqual([...covered].sort((a, b) => a - b));
    expect(covered.at(-1)).toBe(plan.size);
  });

  it('GCE through the stream is the same file as the format itself', async () => {
    const plan = kernelLikePlan(GiB);
    const streamed = concat(await all(streamImage(plan, gceFormat, OPTS)));
    expect(Buffer.compare(Buffer.from(streamed), Buffer.from(await collect(gceFormat, plan, OPTS)))).toBe(0);
  });

  it('progress starts at 0, never goes back, ends at covered = total, and is throttled', async () => {
    const plan = makePlan(64 * GiB, [
      { offset: 0, bytes: mbrLike(2) },
      { offset: 40 * GiB, bytes: randomBytes(5000, 3) },
    ]);
    const calls: Progress[] = [];
    let parts = 0;
    let written = 0;
    for await (const p of streamImage(plan, rawFormat, {
      ...OPTS,
      fillHoles: true,
      chunkSize: 256 * KiB,
      onProgress: (x) => calls.push(x),
    })) {
      parts++;
      written += p.kind === 'data' ? p.bytes.length : p.length;
    }
    expect(parts).toBeGreaterThan(250_000);
    expect(calls[0]).toEqual({ covered: 0, total: 64 * GiB, written: 0 });
    expect(calls.at(-1)).toEqual({ covered: 64 * GiB, total: 64 * GiB, written: 64 * GiB });
    expect(written).toBe(64 * GiB);
    for (let i = 1; i < calls.length; i++) {
      expect(calls[i].covered).toBeGreaterThanOrEqual(calls[i - 1].covered);
      expect(calls[i].written).toBeGreaterThanOrEqual(calls[i - 1].written);
    }
    // Not one call per part: at most one per PROGRESS_MS plus the first and the last.
    expect(calls.length).toBeLessThan(parts / 100);
  });

  it('progress for GCE reaches the disk size though the output is small', async () => {
    const plan = kernelLikePlan(16 * GiB);
    let last: Progress | undefined;
    let n = 0;
    for await (const p of streamImage(plan, gceFormat, { ...OPTS, onProgress: (x) => (last = x) }))
      if (p.kind === 'data') n += p.bytes.length;
    expect(last).toEqual({ covered: 16 * GiB, total: 16 * GiB, written: n });
  });

  it('an already aborted signal throws ABORTED before any part', async () => {
    const ac = new AbortController();
    ac.abort();
    const it = streamImage(smallPlan(), rawFormat, { ...OPTS, signal: ac.signal });
    await expectAborted(() => it.next());
  });

  it('aborting mid-way throws ABORTED on the next part', async () => {
    const ac = new AbortController();
    let parts = 0;
    await expectAborted(async () => {
      for await (const _ of streamImage(smallPlan(), rawFormat, { ...OPTS, signal: ac.signal, chunkSize: 64 * KiB })) {
        if (++parts === 10) ac.abort();
      }
    });
    expect(parts).toBe(10);
  });

  it('lets the event loop run: an abort from a timer stops a long stream whose sink never waits', async () => {
    const ac = new AbortController();
    const plan = makePlan(256 * GiB, [{ offset: 0, bytes: mbrLike(3) }]);
    let covered = 0;
    setTimeout(() => ac.abort(new Error('user pressed Cancel')), 5);
    let message = '';
    try {
      for await (const p of streamImage(plan, rawFormat, {
        ...OPTS,
        signal: ac.signal,
        fillHoles: true,
        chunkSize: 4096,
      }))
        covered = p.covered ?? covered;
    } catch (e) {
      expect(isImageError(e) && e.code).toBe('ABORTED');
      message = (e as Error).message;
    }
    expect(message).toBe('The image was cancelled before it was finished (user pressed Cancel).');
    // 256 GiB in 4 KiB parts is 64 million parts: the abort came long before the end.
    expect(covered).toBeLessThan(plan.size);
  });

  it('an ImageError given as the abort reason is thrown as it is', async () => {
    const ac = new AbortController();
    const reason = new ImageError('ABORTED', 'Interrupted by SIGINT; no image was written.');
    ac.abort(reason);
    const it = streamImage(smallPlan(), gceFormat, { ...OPTS, signal: ac.signal });
    await expect(it.next()).rejects.toBe(reason);
  });

  describe.skipIf(!tools('cmp'))('through a Node file sink', () => {
    it('streamed raw written sparse matches the plan; streamed with fillHoles is the same file, byte for byte', async () => {
      const plan = makePlan(64 * MiB, [...smallPlan().pieces, { offset: 64 * MiB - 512, bytes: randomBytes(512, 9) }]);
      const sparse = tmp.path('sparse.img');
      const full = tmp.path('full.img');
      const direct = tmp.path('direct.img');
      expect(await writeFile(sparse, plan, rawFormat, OPTS)).toBe(plan.size);
      expect(await writeFile(full, plan, rawFormat, { ...OPTS, seekable: false })).toBe(plan.size);
      expect(await writeFile(direct, plan, rawFormat, OPTS)).toBe(plan.size);
      fileMatchesPlan(sparse, plan);
      run('cmp', [sparse, full]);
      run('cmp', [sparse, direct]);
    });
  });
});
