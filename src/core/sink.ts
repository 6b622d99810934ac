/**
 * The one path from a plan to bytes somewhere: the Sink contract and
 * `writeImage`, the single write loop. The CLI's file, the worker's three
 * save paths, the bench and the tests are all sinks; none of them walks
 * `streamImage` itself.
 */
import { aborted, isImageError } from './errors';
import type { FormatOptions, OutputFormat } from './formats/types';
import type { ImagePlan } from './plan';
import { streamImage, type AbortSignalLike, type Progress } from './stream';

/**
 * Where an image's bytes go. `writeImage` calls `write` for every data part
 * in file order, then `close` once with the final length, or `abort` once if
 * anything failed or was cancelled (and then never `close`).
 */
export interface Sink<R = void> {
  /**
   * true: the sink can write at any offset, so holes are skipped (a sparse
   * file; `close` sets the length over a trailing hole). false: bytes are
   * appended, and holes arrive as zero data parts.
   */
  readonly seekable: boolean;
  /** Largest part the sink wants in one write; also the zero buffer's size. Default 1 MiB. */
  readonly chunkSize?: number;
  /** Write `bytes` at `position` (for an append-only sink, position is always the bytes so far). */
  write(position: number, bytes: Uint8Array): void | Promise<void>;
  /** Every part is written and the file is `length` bytes: set the length, flush, close, and return the result. */
  close(length: number): R | Promise<R>;
  /** Drop what was written: the target keeps what it had before (nothing half-written is left). */
  abort(reason: unknown): void | Promise<void>;
}

export interface WriteOptions extends FormatOptions {
  /** Base name of the output file: some formats record it (a VMDK's extent). */
  fileName: string;
  signal?: AbortSignalLike;
  onProgress?: (p: Progress) => void;
}

export interface Written<R> {
  /** Bytes in the output file. */
  fileSize: number;
  /** What the sink's `close` returned. */
  result: R;
}

/**
 * Stream `format` over `plan` into `sink`. On any failure or cancel the sink
 * is aborted and the error rethrown (an ImageError: ABORTED, or the signal's
 * own reason when that is an ImageError). A cancel that arrives after `close`
 * changes nothing: the file is in place.
 */
export async function writeImage<R>(
  plan: ImagePlan,
  format: OutputFormat,
  sink: Sink<R>,
  opts: WriteOptions,
): Promise<Written<R>> {
  const { signal } = opts;
  const check = () => {
    if (signal?.aborted) throw isImageError(signal.reason) ? signal.reason : aborted();
  };
  let pos = 0;
  try {
    for await (const part of streamImage(plan, format, {
      timestamp: opts.timestamp,
      seed: opts.seed,
      fileName: opts.fileName,
      signal,
      onProgress: opts.onProgress,
      chunkSize: sink.chunkSize,
      fillHoles: !sink.seekable,
    })) {
      if (part.kind === 'data') {
        await sink.write(pos, part.bytes);
        pos += part.bytes.length;
      } else pos += part.length; // only seekable sinks get holes
      check();
    }
    // Last chance to cancel: after close() the file is in place.
    check();
    const result = await sink.close(pos);
    return { fileSize: pos, result };
  } catch (e) {
    await abortSink(sink, e);
    throw e;
  }
}

/**
 * Abort `sink` because of `reason`, never throwing: the error that made us
 * abort is the one to report. For every path that gives up on a sink.
 */
export async function abortSink(sink: Pick<Sink<unknown>, 'abort'>, reason: unknown): Promise<void> {
  try {
    await sink.abort(reason);
  } catch {
    /* the first error is the one to report */
  }
}

/**
 * The work a job does before `writeImage` takes over its sink (checks,
 * reading an image back): if it fails, the sink is aborted too, so an
 * opened file or download is never left behind half-made.
 */
export async function beforeWriting<T>(sink: Pick<Sink<unknown>, 'abort'>, work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    await abortSink(sink, e);
    throw e;
  }
}

/**
 * A sink that keeps the whole file in memory, holes as zeros. For small
 * images only (tests, a tar.gz of a few MiB): a raw image of N GiB takes
 * N GiB here, so real outputs use a file or stream sink.
 */
export function memorySink(limit = 2 ** 31): Sink<Uint8Array> {
  const parts: { position: number; bytes: Uint8Array }[] = [];
  return {
    seekable: true,
    write(position, bytes) {
      if (position + bytes.length > limit) {
        throw new Error(`internal: memorySink of more than ${limit} bytes; write images this big to a file`);
      }
      // Copy: parts are views a format may reuse.
      parts.push({ position, bytes: bytes.slice() });
    },
    close(length) {
      if (length > limit) throw new Error(`internal: memorySink of ${length} bytes; write images this big to a file`);
      const out = new Uint8Array(length);
      for (const p of parts) out.set(p.bytes, p.position);
      return out;
    },
    abort() {
      parts.length = 0;
    },
  };
}

/** The whole file in memory (holes as zeros), for small images: tests and a tar.gz of a few MiB. */
export async function collect(
  format: OutputFormat,
  plan: ImagePlan,
  opts: FormatOptions & { fileName?: string },
): Promise<Uint8Array> {
  const { result } = await writeImage(plan, format, memorySink(), { fileName: 'disk', ...opts });
  return result;
}
