/**
 * Runs of zeros on the download path (src/web/zeros.ts): the check the build
 * worker makes, and the service worker's expansion back into bytes.
 */
import { describe, expect, it } from 'vitest';
import {
  allZero,
  asDownloadChunk,
  expandZeroRuns,
  isZeroRun,
  MIN_ZERO_RUN,
  ZERO_PIECE,
  type DownloadChunk,
} from '../src/web/zeros';

const MiB = 1 << 20;

/** A source stream that counts how many chunks were read from it. */
function source(chunks: unknown[]) {
  let reads = 0;
  let cancelled: unknown = null;
  const stream = new ReadableStream<unknown>(
    {
      pull(c) {
        if (reads === chunks.length) c.close();
        else c.enqueue(chunks[reads++]);
      },
      cancel(reason) {
        cancelled = reason ?? 'cancelled';
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, reads: () => reads, cancelled: () => cancelled };
}

async function readAll(s: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const r = s.getReader(); ;) {
    const { done, value } = await r.read();
    if (done) return out;
    out.push(value);
  }
}

describe('allZero', () => {
  it('sees every byte of the view, at every alignment, and none outside it', () => {
    const buf = new Uint8Array(200);
    for (let off = 0; off < 8; off++) {
      for (const len of [0, 1, 3, 4, 5, 31, 32, 33, 64, 101]) {
        const view = buf.subarray(off, off + len);
        expect(allZero(view)).toBe(true);
        for (let i = 0; i < len; i++) {
          view[i] = 0x80;
          expect(allZero(view)).toBe(false);
          view[i] = 0;
        }
        // Bytes just outside the view do not count.
        if (off > 0) buf[off - 1] = 1;
        buf[off + len] = 1;
        expect(allZero(view)).toBe(true);
        buf.fill(0);
      }
    }
  });
});

describe('asDownloadChunk and isZeroRun', () => {
  it('sends a large run of zeros as its length, anything else as the bytes', () => {
    const big = new Uint8Array(4 * MiB);
    expect(asDownloadChunk(big)).toEqual({ zeros: 4 * MiB });
    expect(asDownloadChunk(big.subarray(1, MIN_ZERO_RUN + 1))).toEqual({ zeros: MIN_ZERO_RUN });
    const small = big.subarray(0, MIN_ZERO_RUN - 1);
    expect(asDownloadChunk(small)).toBe(small);
    big[4 * MiB - 1] = 7;
    expect(asDownloadChunk(big)).toBe(big);
  });

  it('takes only a positive whole length as a run', () => {
    expect(isZeroRun({ zeros: 512 })).toBe(true);
    for (const x of [
      null,
      3,
      'zeros',
      {},
      { zeros: 0 },
      { zeros: -1 },
      { zeros: 1.5 },
      { zeros: '9' },
      { zeros: 2 ** 60 },
    ])
      expect(isZeroRun(x)).toBe(false);
    expect(isZeroRun(new Uint8Array(4))).toBe(false);
  });
});

describe('expandZeroRuns (the service worker)', () => {
  it('gives the bytes and the zeros in order, runs in pieces of at most ZERO_PIECE', async () => {
    const a = Uint8Array.of(1, 2, 3);
    const b = Uint8Array.of(9);
    const run = 2 * ZERO_PIECE + 5;
    const chunks: DownloadChunk[] = [a, { zeros: run }, b, { zeros: 7 }];
    const out = await readAll(expandZeroRuns(source(chunks).stream));
    expect(out[0]).toBe(a);
    expect(out.slice(1, 4).map((p) => p.length)).toEqual([ZERO_PIECE, ZERO_PIECE, 5]);
    expect(out.slice(1, 4).every((p) => allZero(p))).toBe(true);
    expect(out[4]).toBe(b);
    expect(out[5]).toEqual(new Uint8Array(7));
    expect(out.length).toBe(6);
  });

  it('reads the source only as the download asks (a few pieces ahead, not the whole run list)', async () => {
    const src = source(Array.from({ length: 100 }, () => ({ zeros: MiB })));
    const r = expandZeroRuns(src.stream).getReader();
    await r.read();
    await new Promise((res) => setTimeout(res, 20));
    expect(src.reads()).toBeLessThanOrEqual(4);
    await r.cancel('stop');
  });

  it('passes a cancel (the download cancelled in the browser) to the source', async () => {
    const src = source([{ zeros: MiB }, { zeros: MiB }, { zeros: MiB }]);
    const r = expandZeroRuns(src.stream).getReader();
    await r.read();
    await r.cancel('the user cancelled');
    expect(src.cancelled()).toBe('the user cancelled');
  });

  it('fails the download when the source fails (the build was cancelled) or sends something else', async () => {
    const failing = new ReadableStream({
      start(c) {
        c.enqueue({ zeros: 10 });
        c.error(new Error('Cancelled.'));
      },
    });
    await expect(readAll(expandZeroRuns(failing))).rejects.toThrow('Cancelled.');
    await expect(readAll(expandZeroRuns(source(['text']).stream))).rejects.toThrow(/neither bytes nor a run/);
  });
});
