/**
 * Reading a raw disk image: the file is the disk. A raw file has no
 * allocation table: its extents are the source's data and holes when the
 * source can tell them (a sparse file, through the CLI), else one
 * "allocated" run.
 */
import type { ByteSource, DiskExtent, DiskImage, ImageReader } from './reader';
import { clipRead, mergeRuns, readExact, type SourceExtent } from './reader';

async function* holes(extents: AsyncIterable<SourceExtent>): AsyncGenerator<DiskExtent> {
  for await (const x of extents) yield { offset: x.offset, length: x.length, allocated: x.data };
}
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
      if (size <= 0) return;
      if (!source.extents) {
        yield { offset: 0, length: size, allocated: true };
        return;
      }
      yield* mergeRuns(holes(source.extents()), size);
    },
  };
}

/** Anything no other reader recognises is a raw disk (openImage then checks it holds one). */
export const rawReader: ImageReader = {
  name: 'raw',
  recognise: () => true,
  open: async (source) => openRaw(source),
};
