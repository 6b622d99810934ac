/**
 * Zeros travel as lengths on the download path. A raw or fixed image is
 * mostly zeros, and every byte of a download crosses two threads before the
 * service worker hands it to the browser (worker -> page -> service worker),
 * each crossing a copy. So a chunk of zeros crosses as a `ZeroRun` (its
 * length), and the service worker turns it back into zeros right at the
 * Response it gives the browser (`expandZeroRuns`, wrapped around the
 * streamsaver package's response in src/sw.ts). The bytes of the file are the
 * same; the runs flow through the same streams, one per chunk, with the same
 * backpressure, so memory stays bounded and a cancel still reaches the build.
 *
 * Only where the package hands its stream to the service worker whole
 * (transferable streams): its other path posts each chunk itself and takes
 * Uint8Arrays only, so there the page writes real zeros (src/web/save.ts).
 *
 * Shared by the build worker, the page and the service worker: plain data
 * and streams only.
 */
import { KIB, MIB } from '../core/units';

/** A chunk of `zeros` zero bytes, sent as its length. */
export interface ZeroRun {
  readonly zeros: number;
}

/** What flows through streamsaver's stream on the download path. */
export type DownloadChunk = Uint8Array | ZeroRun;

/** Smaller all-zero chunks are sent as bytes: not worth a check. */
export const MIN_ZERO_RUN = 64 * KIB;
/** Largest piece of zeros the service worker makes at once (a longer run becomes several). */
export const ZERO_PIECE = 4 * MIB;
/** Largest run the service worker accepts (anything longer is not ours). */
const MAX_ZERO_RUN = 2 ** 40;

export function isZeroRun(x: unknown): x is ZeroRun {
  if (typeof x !== 'object' || x === null || x instanceof Uint8Array) return false;
  const n = (x as { zeros?: unknown }).zeros;
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 && n <= MAX_ZERO_RUN;
}

/**
 * Is every byte zero? Words at a time where aligned (a 4 MiB chunk takes a
 * fraction of a millisecond, far less than the copies it saves); a chunk
 * with data usually stops at its first words.
 */
export function allZero(bytes: Uint8Array): boolean {
  const { byteOffset, byteLength } = bytes;
  const head = (4 - (byteOffset % 4)) % 4;
  if (byteLength < head + 32) {
    for (let i = 0; i < byteLength; i++) if (bytes[i] !== 0) return false;
    return true;
  }
  const words = (byteLength - head) >>> 2;
  for (let i = 0; i < head; i++) if (bytes[i] !== 0) return false;
  for (let i = head + words * 4; i < byteLength; i++) if (bytes[i] !== 0) return false;
  const w = new Int32Array(bytes.buffer, byteOffset + head, words);
  const last = words - (words % 8);
  let i = 0;
  for (; i < last; i += 8) {
    if ((w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7]) !== 0) return false;
  }
  for (; i < words; i++) if (w[i] !== 0) return false;
  return true;
}

/** The chunk to send for `bytes`: a ZeroRun where it is a large enough run of zeros, else the bytes. */
export function asDownloadChunk(bytes: Uint8Array): DownloadChunk {
  return bytes.byteLength >= MIN_ZERO_RUN && allZero(bytes) ? { zeros: bytes.byteLength } : bytes;
}

/**
 * The service worker's side: `source` with every ZeroRun turned back into
 * zero bytes (fresh buffers, at most ZERO_PIECE each), one piece per pull,
 * so the browser's download sets the pace. Cancelling it (the download was
 * cancelled in the browser) cancels `source`; an error in `source` (the
 * build failed or was cancelled) errors it, and the download fails.
 */
export function expandZeroRuns(source: ReadableStream<unknown>): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let pending = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (pending === 0) {
          const { done, value } = await reader.read();
          if (done) {
            controller.close();
            return;
          }
          if (value instanceof Uint8Array) {
            controller.enqueue(value);
            return;
          }
          if (!isZeroRun(value)) throw new TypeError('internal: a download chunk is neither bytes nor a run of zeros');
          pending = value.zeros;
        }
        const n = Math.min(pending, ZERO_PIECE);
        pending -= n;
        controller.enqueue(new Uint8Array(n));
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    // Two pieces ready ahead of the browser, so it never waits on a round trip to the page.
    new CountQueuingStrategy({ highWaterMark: 2 }),
  );
}
