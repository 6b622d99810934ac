/** Reading qcow2 images (decoder in progress on branch decoders). */
import type { ByteSource, DiskImage } from '../disk/types';
import { fail } from '../errors';

export async function openQcow2(_source: ByteSource): Promise<DiskImage> {
  fail('IMAGE_UNSUPPORTED', 'qcow2 images cannot be read yet.');
}
