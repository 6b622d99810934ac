/**
 * Reads that stop when their job is cancelled: a ByteSource or a DiskImage
 * whose every read (and every extent) first checks `signal`, and throws the
 * core's ABORTED error once it is aborted. The operations that read an image
 * (openImage, inspectImage, verifyImage, diskMap, buildWalkthrough) need no
 * signal of their own: opening another image stops reading the first at its
 * next read, even while a large tar.gz is inflated.
 */
import { aborted } from '../errors';
import type { AbortSignalLike } from '../stream';
import type { ByteSource, DiskExtent, DiskImage } from '../formats/reader';

function check(signal: AbortSignalLike | undefined): void {
  if (signal?.aborted) throw aborted('another image was opened, or the page stopped reading');
}

/** `source`, whose reads throw ABORTED once `signal` is aborted. */
export function abortableSource(source: ByteSource, signal?: AbortSignalLike): ByteSource {
  if (!signal) return source;
  const extents = source.extents?.bind(source);
  return {
    size: source.size,
    read(offset, length) {
      check(signal);
      return source.read(offset, length);
    },
    ...(extents && {
      async *extents() {
        for await (const x of extents()) {
          check(signal);
          yield x;
        }
      },
    }),
  };
}

/** `disk`, whose reads and extents throw ABORTED once `signal` is aborted. */
export function abortableDisk(disk: DiskImage, signal?: AbortSignalLike): DiskImage {
  if (!signal) return disk;
  return {
    formatId: disk.formatId,
    size: disk.size,
    read(offset, length) {
      check(signal);
      return disk.read(offset, length);
    },
    async *extents(): AsyncIterable<DiskExtent> {
      for await (const x of disk.extents()) {
        check(signal);
        yield x;
      }
    },
    ...(disk.where && {
      where: (offset: number, length: number) => {
        check(signal);
        return disk.where!(offset, length);
      },
    }),
  };
}
