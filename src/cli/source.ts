/**
 * Node adapters for reading images: a ByteSource over a file descriptor
 * (positioned reads, nothing loaded beyond what is asked) and
 * `openImageFile(path)` with the coded errors for a missing or unreadable path.
 *
 * A sparse file's holes: Node (20, 22) has no lseek(SEEK_DATA/SEEK_HOLE) nor
 * FIEMAP, so `extents()` finds them by reading: 1 MiB at a time, compared
 * with zeros natively (Buffer.equals, a memcmp), which reads a hole at the
 * kernel's zero-fill speed (about 4 GB/s here) instead of walking it in
 * JavaScript. Only a sparse file (fewer blocks allocated than its size) is
 * scanned, and st_blocks only decides whether to scan, never what is data:
 * some file systems report it late or low (ZFS until its transaction group
 * syncs, compressed or inline files), and a hole taken on its word would
 * make set-args write zeros over the kernel.
 */
import { closeSync, constants, fstatSync, openSync, read, readFileSync, statSync, type Stats } from 'node:fs';
import type { SourceExtent } from '../core/formats/reader';
import type { ByteSource } from '../core/formats/reader';
import { ImageError, isImageError } from '../core/errors';
import { kindOf } from './tool';

/** Read `n` bytes at `offset` into `buf`; fewer only when the file ends (it shrank). */
async function readInto(fd: number, buf: Uint8Array, n: number, offset: number, name: string): Promise<number> {
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
  return done;
}

/** Bytes compared with zeros at once when looking for a sparse file's holes. */
const HOLE_SCAN = 1 << 20;
/** The longest run the scan gives at once (a signal is looked at between runs). */
const HOLE_RUN = 1 << 30;

/** A ByteSource over an open file descriptor; `size` defaults to the file's size now. */
export function fdSource(fd: number, size = fstatSync(fd).size, name = 'the image'): ByteSource {
  const source: ByteSource = {
    size,
    async *extents(): AsyncGenerator<SourceExtent> {
      const st = fstatSync(fd);
      const allocated = Number(st.blocks) * 512;
      if (!st.isFile() || !(allocated < size)) {
        // Not sparse, a block device (its st_blocks says nothing), or the platform does not say: all data.
        if (size > 0) yield { offset: 0, length: size, data: true };
        return;
      }
      // One buffer for the whole scan: a fresh 1 MiB per read would cost more than the reading.
      const buf = Buffer.alloc(HOLE_SCAN);
      const zeros = Buffer.alloc(HOLE_SCAN);
      let run: SourceExtent | undefined;
      for (let at = 0; at < size; at += HOLE_SCAN) {
        const n = Math.min(HOLE_SCAN, size - at);
        const got = await readInto(fd, buf, n, at, name);
        const data = got < n || !buf.subarray(0, n).equals(zeros.subarray(0, n));
        // Runs are cut at HOLE_RUN so that a consumer (the abortable source) can stop between them.
        if (run && run.data === data && run.length < HOLE_RUN) run.length += n;
        else {
          if (run) yield run;
          run = { offset: at, length: n, data };
        }
      }
      if (run) yield run;
    },
    async read(offset: number, length: number): Promise<Uint8Array> {
      const n = Math.max(0, Math.min(length, size - offset));
      const buf = new Uint8Array(n);
      const done = await readInto(fd, buf, n, offset, name);
      return done === n ? buf : buf.subarray(0, done);
    },
  };
  return source;
}

/**
 * Open an image for reading; `close()` when done. Only a regular file or a
 * block device (a disk, its size read from /sys/dev/block) is opened: the
 * path is looked at first (opening a FIFO waits for a writer, opening some
 * devices does something), then opened without blocking and checked again on
 * the descriptor, in case something else was put there meanwhile.
 */
export function openImageFile(path: string): { source: ByteSource; close(): void } {
  let fd: number | undefined;
  try {
    const seen = statSync(path);
    imageKind(path, seen);
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
    const st = fstatSync(fd);
    if (st.dev !== seen.dev || st.ino !== seen.ino) {
      throw new ImageError(
        'IMAGE_READ_ERROR',
        `The image ${path} changed while it was being opened; give a file nothing else is replacing.`,
      );
    }
    const size = imageKind(path, st);
    const source = fdSource(fd, size, path);
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

/** The size of an image at `path` with status `st`: a regular file's, or a block device's; anything else is refused. */
function imageKind(path: string, st: Stats): number {
  if (st.isFile()) return st.size;
  if (st.isBlockDevice()) return blockDeviceSize(path, st);
  if (st.isDirectory()) {
    throw new ImageError('IMAGE_NOT_A_FILE', `The image ${path} is a directory; give the image file inside it.`);
  }
  throw new ImageError(
    'IMAGE_NOT_A_FILE',
    `The image ${path} is ${kindOf(st)}, not a file, so reading it might never end; give the image file itself (or save what it delivers to a file first).`,
  );
}

/** A block device's size in bytes: Linux lists it, in 512-byte units, in /sys/dev/block/MAJOR:MINOR/size (fstat says 0). */
function blockDeviceSize(path: string, st: Stats): number {
  const rdev = BigInt(st.rdev);
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  let sectors = NaN;
  try {
    sectors = Number(readFileSync(`/sys/dev/block/${major}:${minor}/size`, 'latin1').trim());
  } catch {
    /* not Linux, or no sysfs */
  }
  if (!Number.isSafeInteger(sectors) || sectors < 0) {
    throw new ImageError(
      'IMAGE_NOT_A_FILE',
      `The image ${path} is a block device (a disk) whose size cannot be read here (no /sys/dev/block); copy the disk to a file (\`dd if=${path} of=disk.img bs=4M\`) and give that.`,
    );
  }
  return sectors * 512;
}
