/** Reading VDI images (decoder in progress on branch decoders). */
import type { ByteSource, DiskImage } from '../disk/types';
import { fail } from '../errors';

export async function openVdi(_source: ByteSource): Promise<DiskImage> {
  fail('IMAGE_UNSUPPORTED', 'VDI images cannot be read yet.');
}
