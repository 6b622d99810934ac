/** Reading VHD images (decoder in progress on branch decoders). */
import type { ByteSource, DiskImage } from '../disk/types';
import { fail } from '../errors';

export async function openVhd(_source: ByteSource): Promise<DiskImage> {
  fail('IMAGE_UNSUPPORTED', 'VHD images cannot be read yet.');
}
