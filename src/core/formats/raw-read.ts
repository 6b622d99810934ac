/**
 * Reading a raw disk image: the file is the disk. A raw file has no
 * allocation table, so its one extent is "allocated" (a sparse file's holes
 * are the file system's business, not the image's).
 */
import type { ByteSource, DiskExtent, DiskImage, ImageReader } from './reader';
import { clipRead, readExact } from './reader';
import { rawFormat } from './raw';

export function openRaw(source: ByteSource): DiskImage {
  const size = source.size;
  return {
    formatId: rawFormat.id,
    size,
    read(offset: number, length: number): Promise<Uint8Array> {
      return readExact(source, offset, clipRead(size, offset, length), 'raw: the disk');
    },
    async *extents(): AsyncGenerator<DiskExtent> {
      if (size > 0) yield { offset: 0, length: size, allocated: true };
    },
  };
}

/** Anything no other reader recognises is a raw disk (openImage then checks it holds one). */
export const rawReader: ImageReader = {
  name: 'raw',
  recognise: () => true,
  open: async (source) => openRaw(source),
};
