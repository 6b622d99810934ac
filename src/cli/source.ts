/**
 * Node adapters for reading images: a ByteSource over a file descriptor
 * (positioned reads, nothing loaded beyond what is asked) and
 * `openImageFile(path)` with the coded errors for a missing or unreadable path.
 */
import { closeSync, fstatSync, openSync, read } from 'node:fs';
import type { ByteSource } from '../core/formats/reader';
import { ImageError, isImageError } from '../core/errors';

/** A ByteSource over an open file descriptor; `size` defaults to the file's size now. */
export function fdSource(fd: number, size = fstatSync(fd).size, name = 'the image'): ByteSource {
  return {
    size,
    async read(offset: number, length: number): Promise<Uint8Array> {
      const n = Math.max(0, Math.min(length, size - offset));
      const buf = new Uint8Array(n);
      let done = 0;
      while (done < n) {
        const got = await new Promise<number>((resolve, reject) =>
          read(fd, buf, done, n - done, offset + done, (err, bytes) => (err ? reject(err) : resolve(bytes))),
        ).catch((e: unknown) => {
          throw new ImageError(
            'IMAGE_READ_ERROR',
            `Reading ${name} at offset ${offset + done} failed: ${(e as Error).message}; check the disk and the file, then try again.`,
          );
        });
        if (got === 0) break; // the file shrank: callers see a short read
        done += got;
      }
      return done === n ? buf : buf.subarray(0, done);
    },
  };
}

/** Open an image file for reading; `close()` when done. */
export function openImageFile(path: string): { source: ByteSource; close(): void } {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const st = fstatSync(fd);
    if (!st.isFile() && !st.isBlockDevice()) {
      throw new ImageError(
        'IMAGE_READ_ERROR',
        `The image ${path} is not a file (a directory?); give the image file itself.`,
      );
    }
    // A block device's fstat size is 0: not supported here (read a file copy of the disk instead).
    const source = fdSource(fd, st.size, path);
    const opened = fd;
    return { source, close: () => closeSync(opened) };
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    if (isImageError(e)) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new ImageError('IMAGE_NOT_FOUND', `The image file ${path} does not exist; check the path.`);
    }
    if (code === 'EACCES') {
      throw new ImageError(
        'IMAGE_READ_ERROR',
        `The image file ${path} cannot be read (permission denied); check its permissions.`,
      );
    }
    throw new ImageError('IMAGE_READ_ERROR', `The image file ${path} cannot be read: ${(e as Error).message}.`);
  }
}
