/**
 * The Node file sink: the image is written to a temporary file next to the
 * target and renamed over it only when every byte is in place, so a failed
 * or interrupted run leaves no partial file. Holes are skipped (a sparse
 * file). Used by the CLI, the bench and the tests, through `writeImage`.
 */
import {
  closeSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ImageError, isImageError } from '../core/errors';
import type { Sink } from '../core/sink';

export interface FileSink extends Sink<void> {
  /** The temporary file while writing. */
  readonly tempPath: string;
}

function writeAll(fd: number, bytes: Uint8Array, pos: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, pos + done);
}

/** Open a temporary file next to `target`; `close` renames it over `target`, `abort` removes it. */
export function openFileSink(target: string): FileSink {
  const dir = dirname(resolve(target));
  const tempPath = join(dir, `.${basename(target)}.${process.pid}.tmp`);
  let fd: number;
  try {
    const st = statSync(target, { throwIfNoEntry: false });
    if (st?.isDirectory()) {
      throw new ImageError(
        'OUTPUT_UNWRITABLE',
        `The output ${target} is a directory; give a file name, e.g. ${join(target, 'disk.img')}.`,
      );
    }
    fd = openSync(tempPath, 'wx', 0o644);
  } catch (e) {
    if (isImageError(e)) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new ImageError(
        'OUTPUT_UNWRITABLE',
        `Cannot write ${target}: the directory ${dir} does not exist; create it first.`,
      );
    }
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      throw new ImageError(
        'OUTPUT_UNWRITABLE',
        `Cannot write ${target}: no permission to create files in ${dir}${code === 'EROFS' ? ' (read-only file system)' : ''}; choose another location.`,
      );
    }
    throw new ImageError('OUTPUT_UNWRITABLE', `Cannot write ${target}: ${(e as Error).message}.`);
  }
  let open = true;
  const closeFd = () => {
    if (open) {
      open = false;
      closeSync(fd);
    }
  };
  return {
    tempPath,
    seekable: true,
    write(position, bytes) {
      writeAll(fd, bytes, position);
    },
    close(length) {
      // Holes at the end: extend the file without writing (sparse).
      if (fstatSync(fd).size !== length) ftruncateSync(fd, length);
      fsyncSync(fd);
      closeFd();
      renameSync(tempPath, target);
    },
    abort() {
      try {
        closeFd();
      } catch {
        /* already closed */
      }
      try {
        unlinkSync(tempPath);
      } catch {
        /* nothing to remove */
      }
    },
  };
}
