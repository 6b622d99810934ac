/**
 * The worker's jobs (src/web/worker/build.ts) without a browser: the three sinks get
 * the same bytes the core's format writer gives (what the CLI writes), the
 * download sinks (a transferred stream; the port the page pumps from) hold
 * one chunk at a time or send only on `pull` (bounded memory), and
 * cancelling aborts the sink.
 */
import { describe, expect, it } from 'vitest';
import { MessageChannel } from 'node:worker_threads';
import { build, blobSink, portSink, streamSink, STREAM_CHUNK, type WorkerSink as Sink } from '../src/web/worker/build';
import { FORMATS, requireFormat } from '../src/core/formats/index';
import { collect } from '../src/core/sink';
import { planImage } from '../src/core/image';
import { solo5Kernel } from './helpers/fixtures';
import type { DownloadMessage } from '../src/web/protocol';
import { expandZeroRuns, isZeroRun, type DownloadChunk } from '../src/web/zeros';
import { createHash } from 'node:crypto';

const MiB = 1 << 20;
const kernel = solo5Kernel({ abiTarget: 3 });
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** What the core writes for these inputs (the CLI's bytes), holes as zeros: the reference. */
async function reference(formatId: string, size: number, args: string, fileName: string) {
  const built = planImage(kernel, { size, args });
  const file = await collect(requireFormat(formatId), built.plan, {
    timestamp: built.timestamp,
    seed: built.seed,
    fileName,
  });
  return { hash: sha(file), length: file.length };
}

/** A seekable in-memory sink that records writes (a stand-in for a File System Access writable). */
function memorySink(size: number) {
  const file = new Uint8Array(size + 4 * MiB);
  const log: string[] = [];
  let length = -1;
  const sink: Sink = {
    seekable: true,
    async write(pos, bytes) {
      file.set(bytes, pos);
    },
    async close(n) {
      length = n;
    },
    async abort() {
      log.push('abort');
    },
  };
  return { sink, log, bytes: () => file.subarray(0, length) };
}

describe('build() over the sinks', () => {
  for (const { id: formatId, extension } of FORMATS) {
    it(`${formatId}: a seekable sink gets the format's bytes, file name included`, async () => {
      const size = 1024 * MiB; // every format's size rule accepts 1 GiB
      const fileName = `my disk${extension}`;
      const m = memorySink(size);
      const r = await build({ kernel, size, args: 'a b', formatId, fileName }, m.sink);
      const ref = await reference(formatId, size, 'a b', fileName);
      expect(r.fileSize).toBe(ref.length);
      expect(sha(m.bytes())).toBe(ref.hash);
    });
  }

  it('the Blob sink gives the same bytes, and refuses output over its cap', async () => {
    const size = 64 * MiB;
    const r = await build(
      { kernel, size, args: 'x', formatId: 'raw', fileName: 'disk.img' },
      blobSink('application/octet-stream', 128 * MiB),
    );
    expect(r.blob!.size).toBe(size);
    expect(sha(new Uint8Array(await r.blob!.arrayBuffer()))).toBe((await reference('raw', size, 'x', 'disk.img')).hash);
    await expect(
      build(
        { kernel, size: 256 * MiB, args: 'x', formatId: 'raw', fileName: 'disk.img' },
        blobSink('application/octet-stream', 128 * MiB),
      ),
    ).rejects.toMatchObject({ code: 'BLOB_TOO_BIG' });
  });

  it('the port sink sends one chunk per pull, zeros as their length, then end', async () => {
    const size = 64 * MiB;
    const ch = new MessageChannel();
    const sink = portSink(ch.port2 as unknown as MessagePort);
    const got: Uint8Array[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    let zeroBytes = 0;
    const ended = new Promise<void>((resolve, reject) => {
      ch.port1.on('message', (m: DownloadMessage) => {
        if (m.type === 'chunk' || m.type === 'zeros') {
          inFlight--;
          // What the page does with a run of zeros where the service worker cannot expand it.
          const bytes = m.type === 'chunk' ? m.bytes : new Uint8Array(m.length);
          if (m.type === 'zeros') zeroBytes += m.length;
          got.push(bytes);
          expect(bytes.length).toBeLessThanOrEqual(STREAM_CHUNK);
          // The "service worker" asks for the next chunk only after this one arrived.
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          ch.port1.postMessage({ type: 'pull' });
        } else if (m.type === 'end') resolve();
        else if (m.type === 'abort') reject(new Error(m.message));
      });
    });
    inFlight = 2;
    ch.port1.postMessage({ type: 'pull' });
    ch.port1.postMessage({ type: 'pull' });
    const r = await build({ kernel, size, args: 'x', formatId: 'raw', fileName: 'disk.img' }, sink);
    await ended;
    ch.port1.close();
    expect(r.fileSize).toBe(size);
    expect(maxInFlight).toBeLessThanOrEqual(2);
    const all = Buffer.concat(got);
    expect(all.length).toBe(size);
    expect(sha(all)).toBe((await reference('raw', size, 'x', 'disk.img')).hash);
    // The image is mostly zeros, and they crossed as lengths.
    expect(zeroBytes).toBeGreaterThan(size / 2);
  });

  it('the stream sink (a transferred WritableStream) gets the same bytes, one chunk at a time, zeros as lengths, then close', async () => {
    const size = 64 * MiB;
    const got: Uint8Array[] = [];
    let runs = 0;
    let closed = false;
    // HWM 1, as a transferred stream: a chunk must be taken before the next is written.
    const stream = new WritableStream<DownloadChunk>(
      {
        async write(chunk) {
          if (isZeroRun(chunk)) {
            runs++;
            expect(chunk.zeros).toBeLessThanOrEqual(STREAM_CHUNK);
            got.push(new Uint8Array(chunk.zeros));
          } else {
            expect(chunk.length).toBeLessThanOrEqual(STREAM_CHUNK);
            got.push(chunk.slice()); // what serialization does when the chunk crosses to the page
          }
          await new Promise((r) => setTimeout(r, 0));
        },
        close() {
          closed = true;
        },
      },
      new CountQueuingStrategy({ highWaterMark: 1 }),
    );
    const r = await build({ kernel, size, args: 'x', formatId: 'raw', fileName: 'disk.img' }, streamSink(stream));
    expect(r.fileSize).toBe(size);
    expect(closed).toBe(true);
    expect(runs).toBeGreaterThan(size / STREAM_CHUNK / 2);
    expect(sha(Buffer.concat(got))).toBe((await reference('raw', size, 'x', 'disk.img')).hash);
  });

  for (const [formatId, size] of [
    ['raw', 64 * MiB],
    ['vhd', 64 * MiB],
    ['vmdk', 64 * MiB],
    ['tar', 1024 * MiB], // GCE takes whole GiB
  ] as const) {
    it(`${formatId}: through the stream sink and the service worker's expandZeroRuns, the bytes are the core's`, async () => {
      const fileName = 'disk' + requireFormat(formatId).extension;
      // streamsaver's identity TransformStream, then the service worker's expansion; the download reads it.
      const ts = new TransformStream<DownloadChunk, DownloadChunk>();
      const body = expandZeroRuns(ts.readable);
      const read = new Response(body).arrayBuffer();
      const r = await build({ kernel, size, args: 'x', formatId, fileName }, streamSink(ts.writable));
      const bytes = new Uint8Array(await read);
      const ref = await reference(formatId, size, 'x', fileName);
      expect(r.fileSize).toBe(ref.length);
      expect(bytes.length).toBe(ref.length);
      expect(sha(bytes)).toBe(ref.hash);
    });
  }

  it("the stream sink says the download was cancelled in the browser when the stream errors, and cancel is the core's ABORTED", async () => {
    let n = 0;
    const cancelled = new WritableStream<Uint8Array>({
      write() {
        if (++n === 3) throw new TypeError('the user cancelled the download');
      },
    });
    await expect(
      build({ kernel, size: 1024 * MiB, args: '', formatId: 'raw', fileName: 'disk.img' }, streamSink(cancelled)),
    ).rejects.toMatchObject({ code: 'DOWNLOAD_CANCELLED' });

    const ctl = new AbortController();
    let aborted: unknown;
    let m = 0;
    const stream = new WritableStream<Uint8Array>({
      write() {
        if (++m === 3) ctl.abort();
      },
      abort(reason) {
        aborted = reason;
      },
    });
    await expect(
      build(
        { kernel, size: 1024 * MiB, args: '', formatId: 'raw', fileName: 'disk.img' },
        streamSink(stream, ctl.signal),
        {
          signal: ctl.signal,
        },
      ),
    ).rejects.toMatchObject({ code: 'ABORTED' });
    // The stream was aborted, so the browser's download fails rather than ending short.
    expect(aborted).toBeDefined();
  });

  it("cancelling aborts the sink and rejects with the core's ABORTED error", async () => {
    const ctl = new AbortController();
    const m = memorySink(MiB);
    const sink: Sink = {
      ...m.sink,
      seekable: false, // every zero is written, so there is time to cancel
      async write(pos, bytes) {
        if (pos > 8 * MiB) ctl.abort();
        await m.sink.write(0, bytes.subarray(0, Math.min(bytes.length, MiB)));
      },
    };
    await expect(
      build({ kernel, size: 16 * 1024 * MiB, args: '', formatId: 'raw', fileName: 'disk.img' }, sink, {
        signal: ctl.signal,
      }),
    ).rejects.toMatchObject({ code: 'ABORTED' });
    expect(m.log).toEqual(['abort']);
  });

  it("an unknown format is the page's sentence, not a crash", async () => {
    await expect(
      build({ kernel, size: 64 * MiB, args: '', formatId: 'zip', fileName: 'disk.img' }, memorySink(0).sink),
    ).rejects.toMatchObject({ code: 'FORMAT_UNKNOWN' });
  });
});
