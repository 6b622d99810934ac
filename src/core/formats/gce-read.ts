/** Reading GCE images (decoder in progress on branch decoders). */
import type { ByteSource, DiskImage } from '../disk/types';
import { fail } from '../errors';

export async function openGce(_source: ByteSource): Promise<DiskImage> {
  fail('IMAGE_UNSUPPORTED', 'GCE images cannot be read yet.');
}
