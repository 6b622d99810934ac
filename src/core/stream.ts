/**
 * The generic streaming API: any OutputFormat over any plan, as an async
 * stream of parts with progress, cancellation and bounded memory. The web
 * worker and the CLI are sinks around it; the core stays free of DOM and Node
 * types (hence `AbortSignalLike`, and timers looked up on `globalThis`).
 *
 * Parts are views: of the plan's pieces, of a format's own buffers, or of one
 * shared zero buffer (fillHoles). A sink must write or copy a part before it
 * asks for the next one, and must copy rather than transfer it to another
 * thread (transferring a view detaches the whole buffer under it).
 */
import { aborted, isImageError, type ImageError } from './errors';
import type { FormatOptions, OutputFormat, OutputPart } from './formats/types';
import type { ImagePlan } from './plan';
import { MIB } from './units';

/** What `AbortSignal` has that we use; a DOM or Node AbortSignal fits. */
export interface AbortSignalLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
}

export interface Progress {
  /** Bytes of the virtual disk produced so far. */
  covered: number;
  /** The disk size. */
  total: number;
  /** Bytes of output so far (holes included). */
  written: number;
}

export interface StreamOptions extends FormatOptions {
  signal?: AbortSignalLike;
  /** Called at the start, at most every PROGRESS_MS in between, and at the end with covered = total. */
  onProgress?: (p: Progress) => void;
  /** Largest data part handed to the sink, and the zero buffer's size. Default 1 MiB. */
  chunkSize?: number;
  /** Turn holes into zero data parts, for sinks that cannot seek (a download stream). */
  fillHoles?: boolean;
}

export const DEFAULT_CHUNK = MIB;
/** Least time between two progress callbacks. */
export const PROGRESS_MS = 100;
/** Most time spent without letting the event loop run (a worker's cancel message). */
export const SLICE_MS = 16;

type Later = (cb: () => void) => void;

/**
 * A macrotask, so that messages and timers get their turn: setImmediate where
 * it exists (Node), else a MessageChannel (not clamped to 4 ms like nested
 * timeouts in browsers), else setTimeout, else a microtask.
 */
const later: Later = (() => {
  // The core's own view of the host: each runtime's lib types describe these globals
  // differently (Node's MessagePort declares no onmessage), and every one is tested below.
  const g = globalThis as unknown as {
    setImmediate?: (cb: () => void) => unknown;
    setTimeout?: (cb: () => void, ms: number) => unknown;
    MessageChannel?: new () => {
      port1: { onmessage: (() => void) | null; close?: () => void };
      port2: { postMessage: (m: unknown) => void };
    };
  };
  if (typeof g.setImmediate === 'function') return (cb) => void g.setImmediate!(cb);
  if (typeof g.MessageChannel === 'function') {
    const queue: (() => void)[] = [];
    let ch: InstanceType<NonNullable<typeof g.MessageChannel>> | undefined;
    return (cb) => {
      if (!ch) {
        ch = new g.MessageChannel!();
        ch.port1.onmessage = () => queue.shift()?.();
      }
      queue.push(cb);
      ch.port2.postMessage(0);
    };
  }
  if (typeof g.setTimeout === 'function') return (cb) => void g.setTimeout!(cb, 0);
  return (cb) => void Promise.resolve().then(cb);
})();

export function nextTask(): Promise<void> {
  return new Promise((resolve) => later(resolve));
}

/** The ImageError to throw: the signal's reason when it is one (the CLI's "Interrupted by SIGINT"), else ABORTED. */
export function abortError(signal: AbortSignalLike): ImageError {
  if (isImageError(signal.reason)) return signal.reason;
  return aborted(signal.reason instanceof Error && signal.reason.message ? signal.reason.message : undefined);
}

/**
 * Stream `format` over `plan`. Throws ImageError 'ABORTED' (or the signal's
 * reason, when that is an ImageError) as soon as the signal is aborted (checked before every part and after every pause), and
 * whatever the format throws. Memory is one part plus one zero buffer.
 */
export async function* streamImage(
  plan: ImagePlan,
  format: OutputFormat,
  opts: StreamOptions,
): AsyncGenerator<OutputPart> {
  const { signal, onProgress, fillHoles = false } = opts;
  const chunk = opts.chunkSize ?? DEFAULT_CHUNK;
  if (!Number.isSafeInteger(chunk) || chunk < 512)
    throw new Error(`internal: chunkSize ${chunk} must be an integer of at least 512`);
  const total = plan.size;
  let covered = 0;
  let written = 0;
  let zeros: Uint8Array | undefined;
  let lastProgress = Date.now();
  let lastPause = lastProgress;

  const check = () => {
    if (signal?.aborted) throw abortError(signal);
  };
  check();
  onProgress?.({ covered, total, written });

  // Every part leaves through here: abort check, progress, and a pause now and then.
  async function* emit(part: OutputPart): AsyncGenerator<OutputPart> {
    check();
    yield part;
    written += part.kind === 'data' ? part.bytes.length : part.length;
    if (part.covered !== undefined && part.covered > covered) covered = part.covered;
    const now = Date.now();
    if (onProgress && now - lastProgress >= PROGRESS_MS) {
      lastProgress = now;
      onProgress({ covered, total, written });
    }
    if (now - lastPause >= SLICE_MS) {
      await nextTask();
      lastPause = Date.now();
    }
    check();
  }

  for await (const part of format.write(plan, {
    timestamp: opts.timestamp,
    seed: opts.seed,
    fileName: opts.fileName,
  })) {
    if (part.kind === 'data') {
      const n = part.bytes.length;
      if (n <= chunk) {
        yield* emit(part);
        continue;
      }
      // Slice big parts; `covered` grows in step when the part maps 1:1 to the disk.
      const end = part.covered;
      for (let i = 0; i < n; i += chunk) {
        const to = Math.min(n, i + chunk);
        yield* emit({
          kind: 'data',
          bytes: part.bytes.subarray(i, to),
          covered: end === undefined ? undefined : end - (n - to),
        });
      }
    } else if (!fillHoles) {
      yield* emit(part);
    } else {
      zeros ??= new Uint8Array(chunk);
      const end = part.covered;
      for (let left = part.length; left > 0;) {
        const n = Math.min(left, chunk);
        left -= n;
        yield* emit({ kind: 'data', bytes: zeros.subarray(0, n), covered: end === undefined ? undefined : end - left });
      }
    }
  }
  check();
  covered = total;
  onProgress?.({ covered, total, written });
}
