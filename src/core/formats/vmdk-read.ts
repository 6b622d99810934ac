/** Reading VMDK images (decoder in progress on branch decoders). */
import type { ByteSource, DiskImage } from '../disk/types';
import { fail } from '../errors';

export async function openVmdk(_source: ByteSource): Promise<DiskImage> {
  fail('IMAGE_UNSUPPORTED', 'VMDK images cannot be read yet.');
}
export async function vmdkDescriptorError(_source: ByteSource): Promise<DiskImage> {
  fail('IMAGE_EXTENT_FILES', 'This VMDK descriptor keeps the disk in other files; open the extent file.');
}
