/**
 * The worker's jobs as plain async functions (squoosh style): the message
 * plumbing lives in worker.ts, so these can be unit tested without a worker.
 * They run the same core as the CLI, so the bytes are the same.
 */
import { inspectKernel } from '../../core/kernel';
import { planImage } from '../../core/image';
import { planBuild } from '../../core/build';
import { aborted, fail } from '../../core/errors';
import { beforeWriting, writeImage, type Sink } from '../../core/sink';
import { MIB } from '../../core/units';
import { asDownloadChunk, isZeroRun, type DownloadChunk } from '../zeros';
import type {
  BuildRequest,
  BuildResult,
  DownloadMessage,
  KernelSummary,
  PreviewResult,
  Progress,
  SinkSpec,
} from '../protocol';

/** Output chunk size: the bound on memory per chunk in flight. */
export const CHUNK = MIB;
/**
 * Chunks of a download are larger: each one crosses two threads (worker ->
 * page -> service worker), and the download is mostly zeros.
 */
export const STREAM_CHUNK = 4 << 20;

export function inspect(kernel: Uint8Array): KernelSummary {
  const info = inspectKernel(kernel);
  return {
    size: info.size,
    format: info.format,
    loadStart: info.load.start,
    loadEnd: info.load.end,
    entry: info.load.entry,
    source: info.load.source,
    solo5Target: info.solo5Target,
    solo5Manifest: info.solo5Manifest,
    devices: info.devices.map((d) => ({ name: d.name, kind: d.kind })),
    notes: [...info.notes],
  };
}

export function preview(kernel: Uint8Array, size: number, args: string, sizeStep?: number): PreviewResult {
  const built = planImage(kernel, { size, args, sizeStep });
  return {
    size: built.plan.size,
    fatType: built.fat.type,
    cmdline: built.cmdline,
    regions: built.plan.regions.map((r) => ({ ...r })),
  };
}

export interface RunOptions {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

/** What the worker's sinks return from close(): only the blob sink has something. */
export type WorkerSink = Sink<Blob | void>;

/** Plan and write one image through the core's one write loop; the sink is aborted on any failure or cancel. */
export async function build(req: BuildRequest, sink: WorkerSink, opts: RunOptions = {}): Promise<BuildResult> {
  const built = await beforeWriting(sink, () =>
    planBuild(req.kernel, { formatId: req.formatId, size: req.size, args: req.args }),
  );
  const { fileSize, result } = await writeImage(built.plan, built.format, sink, {
    fileName: req.fileName,
    signal: opts.signal,
    onProgress: opts.onProgress,
    timestamp: built.timestamp,
    seed: built.seed,
  });
  return { fileSize, diskSize: built.plan.size, ...(result ? { blob: result } : {}) };
}

/**
 * A sink that keeps nothing and skips holes: `build` through it gives the
 * exact length of the file a build would write (the page's download size for
 * formats whose length the disk size does not decide).
 */
export function countingSink(): WorkerSink {
  return { seekable: true, chunkSize: CHUNK, write() {}, close() {}, abort() {} };
}

/** File System Access sink: positioned writes, holes skipped, `truncate` sets the length. */
export async function fileSink(handle: FileSystemFileHandle): Promise<WorkerSink> {
  const w = await handle.createWritable({ keepExistingData: false });
  return {
    seekable: true,
    chunkSize: CHUNK,
    async write(position, bytes) {
      await w.write({ type: 'write', position, data: bytes as Uint8Array<ArrayBuffer> });
    },
    async close(length) {
      await w.truncate(length);
      await w.close();
    },
    async abort() {
      // abort() drops the browser's swap file: the target keeps its old contents.
      await w.abort().catch(() => {});
      // The save picker may have created the file empty; don't leave an empty stub behind.
      try {
        const f = await handle.getFile();
        const remove = (handle as unknown as { remove?: () => Promise<void> }).remove;
        if (f.size === 0 && remove) await remove.call(handle);
      } catch {
        /* nothing to clean */
      }
    },
  };
}

const cancelledInBrowser = () =>
  fail('DOWNLOAD_CANCELLED', 'The download was cancelled in the browser, so the image was not saved.');

/**
 * Download sink (streamsaver): the page's WritableStream, transferred here;
 * its other end is the Response body the service worker hands the browser.
 * Writes wait for the stream's backpressure, so memory stays bounded. Chunks
 * of zeros go as their length (src/web/zeros.ts): the service worker makes
 * the zeros.
 */
export function streamSink(stream: WritableStream<DownloadChunk>, signal?: AbortSignal): WorkerSink {
  const writer = stream.getWriter();
  let ours = false; // we aborted it ourselves
  const failed = (): never => {
    if (signal?.aborted) throw aborted();
    return cancelledInBrowser();
  };
  return {
    seekable: false,
    chunkSize: STREAM_CHUNK,
    async write(_position, bytes) {
      for (let off = 0; off < bytes.length; off += STREAM_CHUNK) {
        const piece = bytes.subarray(off, Math.min(bytes.length, off + STREAM_CHUNK));
        const chunk = asDownloadChunk(piece);
        // A transferred stream holds one chunk: write() settles once this one is
        // serialized (copied) for the page, so the core may reuse its buffer
        // after it, and no copy of ours is needed. A view into a larger buffer
        // is sliced, or the whole buffer would be serialized; a run of zeros
        // is only its length.
        const whole = piece.byteOffset === 0 && piece.byteLength === piece.buffer.byteLength;
        await writer.write(chunk !== piece || whole ? chunk : piece.slice()).catch(failed);
        if (signal?.aborted) throw aborted();
      }
    },
    async close() {
      try {
        await writer.close();
      } catch {
        if (!ours) failed();
      }
    },
    async abort(reason) {
      ours = true;
      await writer.abort(reason instanceof Error ? reason.message : 'cancelled').catch(() => {});
    },
  };
}

/**
 * Download sink where the browser cannot transfer a stream: a chunk goes to
 * the page only when it pulls (the page writes it into streamsaver's stream),
 * so at most a few chunks are in memory however large the image. Chunks of
 * zeros go as their length; the page makes them (or lets the service worker).
 */
export function portSink(port: MessagePort, signal?: AbortSignal, onCancel?: () => void): WorkerSink {
  let credits = 0;
  let wake: (() => void) | null = null;
  let dropped = false; // the user cancelled the download in the browser
  const poke = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  port.onmessage = (e: MessageEvent<DownloadMessage>) => {
    if (e.data.type === 'pull') credits++;
    else if (e.data.type === 'cancel') {
      dropped = true;
      onCancel?.();
    }
    poke();
  };
  port.start?.();
  signal?.addEventListener('abort', poke, { once: true });
  const waitCredit = async () => {
    while (credits === 0 && !dropped && !signal?.aborted) {
      await new Promise<void>((r) => (wake = r));
    }
    if (dropped) cancelledInBrowser();
    if (signal?.aborted) throw aborted();
    credits--;
  };
  const send = (m: DownloadMessage, transfer: Transferable[] = []) => port.postMessage(m, transfer);
  return {
    seekable: false,
    chunkSize: STREAM_CHUNK,
    async write(_position, bytes) {
      // Send in STREAM_CHUNK-sized pieces; copy so the core's buffers are never detached.
      for (let off = 0; off < bytes.length; off += STREAM_CHUNK) {
        await waitCredit();
        const view = bytes.subarray(off, Math.min(bytes.length, off + STREAM_CHUNK));
        const chunk = asDownloadChunk(view);
        if (isZeroRun(chunk)) {
          send({ type: 'zeros', length: chunk.zeros });
          continue;
        }
        const piece = view.slice();
        send({ type: 'chunk', bytes: piece }, [piece.buffer]);
      }
    },
    async close() {
      send({ type: 'end' });
      port.close();
    },
    async abort(reason) {
      const message = reason instanceof Error ? reason.message : 'cancelled';
      try {
        send({ type: 'abort', message });
      } catch {
        /* port already closed */
      }
      port.close();
    },
  };
}

/**
 * Blob sink, the last resort: holes become repeats of one zero Blob (browsers
 * share the backing store), data parts are kept. Refuses output above `cap`.
 */
export function blobSink(mime: string, cap: number): WorkerSink {
  const parts: BlobPart[] = [];
  let size = 0;
  let zero: Blob | null = null;
  const check = (n: number) => {
    size += n;
    if (size > cap) {
      fail(
        'BLOB_TOO_BIG',
        `This browser can only save through memory here, and the output passed the ${Math.round(cap / MIB)} MiB limit; choose a smaller Size or use a browser with file saving (Chrome, Edge) or the command-line tool.`,
      );
    }
  };
  const sink: WorkerSink = {
    seekable: true,
    chunkSize: CHUNK,
    async write(position, bytes) {
      // Fill any gap since the last part with shared zero blobs.
      let gap = position - size;
      if (gap > 0) {
        check(gap);
        zero ??= new Blob([new Uint8Array(CHUNK)]);
        while (gap > 0) {
          const n = Math.min(gap, CHUNK);
          parts.push(n === CHUNK ? zero : zero.slice(0, n));
          gap -= n;
        }
      }
      check(bytes.length);
      parts.push(bytes.slice() as Uint8Array<ArrayBuffer>);
    },
    async close(length) {
      await sink.write(length, new Uint8Array(0));
      return new Blob(parts, { type: mime });
    },
    async abort() {
      parts.length = 0;
    },
  };
  return sink;
}

export async function openSink(spec: SinkSpec, mime: string, signal?: AbortSignal): Promise<WorkerSink> {
  switch (spec.kind) {
    case 'file':
      return fileSink(spec.handle);
    case 'stream':
      return streamSink(spec.stream, signal);
    case 'port':
      return portSink(spec.port, signal);
    case 'blob':
      return blobSink(mime, spec.cap);
  }
}
