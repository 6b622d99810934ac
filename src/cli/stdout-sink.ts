/**
 * IMAGE `-`: the image goes to standard output, for pipelines such as
 * `solo5-virtio-mkimage -f tar - app.virtio | gcloud storage cp - gs://b/disk.tar.gz`.
 * Standard output may be a pipe, so the sink is append-only: holes arrive as
 * zeros and the bytes equal those of the file output. Writes are
 * asynchronous (libuv's thread pool), so a signal is handled even while a
 * slow reader keeps the pipe full. Refused when standard output is a
 * terminal: an image is binary.
 */
import { fstatSync, write } from 'node:fs';
import { ImageError } from '../core/errors';
import type { Sink } from '../core/sink';
import { MIB } from '../core/units';
import { outputError } from './tool';

const STDOUT = 1;

/** Standard output closed by its reader (EPIPE): the image there is incomplete. */
export class OutputClosedError extends ImageError {
  constructor(written: number) {
    super(
      'OUTPUT_CLOSED',
      `Standard output was closed by the program reading it after ${written} bytes; the image it received is incomplete.`,
    );
  }
}

function writeOnce(bytes: Uint8Array, from: number): Promise<number> {
  return new Promise((done, fail) =>
    write(STDOUT, bytes, from, bytes.length - from, null, (e, n) => (e ? fail(e) : done(n))),
  );
}

/** `terminal`: whether standard output is a terminal (isatty(1)), then refused with `refusal` (mkimage's by default). */
export function openStdoutSink(
  terminal: boolean,
  refusal = 'Standard output is a terminal, and an image is binary: redirect it (`solo5-virtio-mkimage - app.virtio > disk.img`) or pipe it (`... | gcloud storage cp - gs://BUCKET/disk.tar.gz`).',
): Sink<void> {
  if (terminal) throw new ImageError('OUTPUT_IS_TERMINAL', refusal);
  try {
    fstatSync(STDOUT);
  } catch {
    throw new ImageError('OUTPUT_CLOSED', 'Standard output is closed, so there is nowhere to write the image to.');
  }
  let written = 0;
  return {
    seekable: false,
    chunkSize: MIB,
    async write(_position, bytes) {
      let done = 0;
      while (done < bytes.length) {
        try {
          done += await writeOnce(bytes, done);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          // A non-blocking pipe inherited from the caller: wait for room.
          if (code === 'EAGAIN') {
            await new Promise((r) => setTimeout(r, 5));
            continue;
          }
          if (code === 'EPIPE') throw new OutputClosedError(written + done);
          throw outputError(e, {
            name: 'the image to standard output',
            outcome: 'The image on standard output is incomplete.',
          });
        }
      }
      written += done;
    },
    close() {},
    abort() {},
  };
}
