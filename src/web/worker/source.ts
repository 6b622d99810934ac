/**
 * A ByteSource over a Blob (a dropped or picked File, or the image just
 * built): each read is one `Blob.slice()`, so only the bytes asked for are
 * ever loaded, whatever the image's size.
 */
import type { ByteSource } from '../../core/formats/reader';
import { ImageError } from '../../core/errors';

export function blobSource(blob: Blob, name = 'the image'): ByteSource {
  const size = blob.size;
  return {
    size,
    async read(offset: number, length: number): Promise<Uint8Array> {
      const start = Math.max(0, Math.min(offset, size));
      const end = Math.max(start, Math.min(offset + length, size));
      try {
        return new Uint8Array(await blob.slice(start, end).arrayBuffer());
      } catch (e) {
        // NotReadableError: the file changed or was removed since it was chosen.
        throw new ImageError(
          'IMAGE_READ_ERROR',
          `Reading ${name} failed (${(e as Error)?.name ?? 'error'}): the file may have changed or been moved since it was chosen; choose it again.`,
        );
      }
    },
  };
}
