/**
 * Reading VDI (VirtualBox), header version 1.x, dynamic ("normal") and fixed
 * (static) images, whoever wrote them (VirtualBox, `qemu-img -O vdi`, ours).
 * Undo and differencing images need their parent: a clear error.
 *
 * Memory: the block map (4 bytes per block); data is read in place.
 */
import { rd32le, rd64le } from '../bytes';
import { fail } from '../errors';
import { blockDisk, blockRuns, readExact, type BlockLoc, type ImageReader } from './reader';
import type { ByteSource, DiskExtent, DiskImage } from './reader';
import { formatBytes, hex, MIB, SECTOR } from '../units';
import { VDI, vdiFormat } from './vdi';

export const VDI_READ = {
  MAJOR: 1,
  TYPE_FIXED: 2,
  TYPE_UNDO: 3,
  TYPE_DIFF: 4,
  /** Block map entry of a block that reads as zeros without being stored. */
  BLOCK_ZERO: 0xffff_fffe,
  MIN_BLOCK: SECTOR,
  MAX_BLOCK: 256 * MIB,
  /** Bytes of header a reader needs (up to and including the UUIDs). */
  MIN_HEADER: 456,
} as const;

const R = VDI_READ;

export async function openVdi(source: ByteSource): Promise<DiskImage> {
  const O = VDI.OFF;
  const h = await readExact(source, 0, R.MIN_HEADER, 'vdi: the header');
  const version = rd32le(h, O.version);
  if (version >>> 16 !== R.MAJOR) {
    fail(
      'IMAGE_UNSUPPORTED',
      `vdi: header version ${version >>> 16}.${version & 0xffff} is not read here (1.x is); convert it with \`VBoxManage clonemedium --format VDI\` or \`qemu-img convert -O vdi\`.`,
    );
  }
  const type = rd32le(h, O.imageType);
  if (type === R.TYPE_DIFF || type === R.TYPE_UNDO) {
    fail(
      'IMAGE_BACKING_FILE',
      `vdi: this is a ${type === R.TYPE_DIFF ? 'differencing' : 'undo'} image: it holds only changes against its parent; merge it first (\`VBoxManage clonemedium\` of the child) and open the result.`,
    );
  }
  if (type !== VDI.TYPE_NORMAL && type !== R.TYPE_FIXED) {
    fail('IMAGE_CORRUPT', `vdi: the image type is ${type}, not 1 (dynamic) or 2 (fixed): the header is damaged.`);
  }
  const size = rd64le(h, O.diskSize);
  if (!Number.isSafeInteger(size) || size > VDI.MAX_SIZE) {
    fail(
      'IMAGE_TOO_LARGE',
      `vdi: the disk size ${size} bytes is above ${formatBytes(VDI.MAX_SIZE)}, the most this reader addresses: the header is damaged.`,
    );
  }
  const blockSize = rd32le(h, O.blockSize);
  if (blockSize < R.MIN_BLOCK || blockSize > R.MAX_BLOCK || (blockSize & (blockSize - 1)) !== 0) {
    fail(
      'IMAGE_CORRUPT',
      `vdi: the block size ${blockSize} is not a power of two from 512 bytes to 256 MiB: the header is damaged.`,
    );
  }
  const extra = rd32le(h, O.blockExtra);
  if (extra % SECTOR !== 0 || extra > R.MAX_BLOCK) {
    fail(
      'IMAGE_CORRUPT',
      `vdi: the per-block extra data size ${extra} is not a multiple of 512 up to 256 MiB: the header is damaged.`,
    );
  }
  const needed = Math.ceil(size / blockSize);
  const blocks = rd32le(h, O.blocks);
  if (blocks < needed) {
    fail(
      'IMAGE_CORRUPT',
      `vdi: the header counts ${blocks} blocks, fewer than the ${needed} of a ${formatBytes(size)} disk: the header is damaged.`,
    );
  }
  const mapOffset = rd32le(h, O.blockMapOffset);
  const dataOffset = rd32le(h, O.dataOffset);
  const map = await readExact(source, mapOffset, needed * 4, 'vdi: the block map');
  const stride = blockSize + extra;

  function entry(i: number): number {
    const e = rd32le(map, i * 4);
    if (e < R.BLOCK_ZERO && e >= blocks) {
      fail(
        'IMAGE_CORRUPT',
        `vdi: block map entry ${i} is ${hex(e)}, beyond the ${blocks} blocks of the image: the block map is damaged.`,
      );
    }
    return e;
  }
  async function locate(i: number): Promise<BlockLoc> {
    const e = entry(i);
    if (e >= R.BLOCK_ZERO) return { kind: 'zero' };
    return { kind: 'data', offset: dataOffset + e * stride + extra };
  }
  async function* runs(): AsyncGenerator<DiskExtent> {
    yield* blockRuns(0, needed, blockSize, (i) => entry(i) < R.BLOCK_ZERO);
  }
  return blockDisk(vdiFormat.id, size, source, { blockSize, locate, runs });
}

export const vdiReader: ImageReader = {
  name: 'VDI',
  recognise: (p) => p.head.length >= VDI.OFF.signature + 4 && rd32le(p.head, VDI.OFF.signature) === VDI.SIGNATURE,
  open: openVdi,
};
