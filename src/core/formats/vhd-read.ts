/**
 * Reading VHD, fixed and dynamic, whoever wrote it (Hyper-V, Azure, Virtual
 * PC, `qemu-img -O vpc`, ours). The footer is found at the end of the file
 * (512 bytes, or 511 from some old writers); a dynamic disk whose end was cut
 * off is still found through the footer copy at offset 0. Checksums are
 * verified. The disk size is the footer's current size (what Hyper-V and
 * Azure use; QEMU's own images have it equal to their CHS size). A
 * differencing disk needs its parent: a clear error.
 *
 * Memory: the BAT (4 bytes per block) and nothing else; data is read in place.
 */
import { latin1, rd32be, rd64be } from '../bytes';
import { fail } from '../errors';
import { blockDisk, blockRuns, hasMagic, readExact, type BlockLoc, type ImageReader } from './reader';
import type { ByteSource, DiskExtent, DiskImage } from './reader';
import { formatBytes, hex, MIB, SECTOR } from '../units';
import { VHD, vhdChecksum, vhdDynamicFormat, vhdFormat } from './vhd';
import { terminalSafe } from '../terminal';

export const VHD_READ = {
  COOKIE: 'conectix',
  DYN_COOKIE: 'cxsparse',
  DISK_DIFFERENCING: 4,
  BAT_FREE: 0xffff_ffff,
  MIN_BLOCK: SECTOR,
  MAX_BLOCK: 256 * MIB,
  /** Parent's name in a differencing disk's dynamic header: UTF-16 BE, 512 bytes. */
  PARENT_NAME: 64,
  PARENT_NAME_SIZE: 512,
  /** The fixed disk is read in place, in pieces of this size. */
  FIXED_PIECE: MIB,
} as const;

const R = VHD_READ;

function checkFooter(b: Uint8Array): boolean {
  return (
    latin1(b, VHD.FOOTER.cookie, 8) === R.COOKIE &&
    rd32be(b, VHD.FOOTER.checksum) === vhdChecksum(b, VHD.FOOTER.checksum)
  );
}

function utf16be(b: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = off; i + 1 < off + len; i += 2) {
    const c = (b[i] << 8) | b[i + 1];
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}

export async function openVhd(source: ByteSource): Promise<DiskImage> {
  const F = VHD.FOOTER;
  // The footer: at the end (512 or 511 bytes), else the copy at the start.
  let footer: Uint8Array | undefined;
  let sawCookie = false;
  for (const at of [source.size - VHD.FOOTER_SIZE, source.size - VHD.FOOTER_SIZE + 1, 0]) {
    if (at < 0) continue;
    const b = new Uint8Array(VHD.FOOTER_SIZE);
    b.set(await source.read(at, VHD.FOOTER_SIZE));
    if (latin1(b, F.cookie, 8) !== R.COOKIE) continue;
    sawCookie = true;
    if (checkFooter(b)) {
      footer = b;
      break;
    }
  }
  if (!footer) {
    fail(
      sawCookie ? 'IMAGE_CHECKSUM' : 'IMAGE_TRUNCATED',
      sawCookie
        ? 'vhd: the footer checksum does not match its bytes (in every copy): the footer is damaged.'
        : 'vhd: no VHD footer ("conectix") at the end of the file: the file is truncated; copy it again.',
    );
  }
  const diskType = rd32be(footer, F.diskType);
  const size = rd64be(footer, F.currentSize);
  if (!Number.isSafeInteger(size) || size > VHD.MAX_SIZE) {
    fail(
      'IMAGE_TOO_LARGE',
      `vhd: the disk size ${size} bytes is above the VHD limit of ${formatBytes(VHD.MAX_SIZE)}: the footer is damaged.`,
    );
  }
  if (diskType === VHD.DISK_FIXED) return openFixed(source, size);
  if (diskType === VHD.DISK_DYNAMIC || diskType === R.DISK_DIFFERENCING) {
    return openDynamic(source, size, rd64be(footer, F.dataOffset), diskType === R.DISK_DIFFERENCING);
  }
  fail(
    'IMAGE_CORRUPT',
    `vhd: the disk type is ${diskType}, not 2 (fixed), 3 (dynamic) or 4 (differencing): the footer is damaged.`,
  );
}

function openFixed(source: ByteSource, size: number): DiskImage {
  if (size > source.size - VHD.FOOTER_SIZE + 1) {
    fail(
      'IMAGE_TRUNCATED',
      `vhd: the footer says the disk is ${formatBytes(size)} (${size} bytes), but the file holds only ${source.size} bytes before it: the file is truncated; copy it again.`,
    );
  }
  async function* runs(): AsyncGenerator<DiskExtent> {
    yield { offset: 0, length: size, allocated: true };
  }
  return blockDisk(vhdFormat.id, size, source, {
    blockSize: R.FIXED_PIECE,
    locate: async (i) => ({ kind: 'data', offset: i * R.FIXED_PIECE }),
    runs,
  });
}

async function openDynamic(
  source: ByteSource,
  size: number,
  dynOffset: number,
  differencing: boolean,
): Promise<DiskImage> {
  const D = VHD.DYN;
  const dyn = await readExact(source, dynOffset, VHD.DYN_HEADER_SIZE, 'vhd: the dynamic disk header');
  if (latin1(dyn, D.cookie, 8) !== R.DYN_COOKIE) {
    fail(
      'IMAGE_CORRUPT',
      `vhd: no dynamic disk header ("cxsparse") at ${hex(dynOffset)}, where the footer points: the image is damaged.`,
    );
  }
  if (rd32be(dyn, D.checksum) !== vhdChecksum(dyn, D.checksum)) {
    fail('IMAGE_CHECKSUM', 'vhd: the dynamic disk header checksum does not match its bytes: the header is damaged.');
  }
  if (differencing) {
    const parent = utf16be(dyn, R.PARENT_NAME, R.PARENT_NAME_SIZE);
    fail(
      'IMAGE_BACKING_FILE',
      `vhd: this is a differencing disk: it holds only changes against its parent${parent ? ` ("${terminalSafe(parent)}")` : ''}; merge it into its parent first (Hyper-V "Edit disk", or \`qemu-img convert -O vpc\` next to the parent) and open the result.`,
    );
  }
  const blockSize = rd32be(dyn, D.blockSize);
  if (blockSize < R.MIN_BLOCK || blockSize > R.MAX_BLOCK || (blockSize & (blockSize - 1)) !== 0) {
    fail(
      'IMAGE_CORRUPT',
      `vhd: the block size ${blockSize} is not a power of two from 512 bytes to 256 MiB: the header is damaged.`,
    );
  }
  const blocks = Math.ceil(size / blockSize);
  const maxEntries = rd32be(dyn, D.maxTableEntries);
  if (maxEntries < blocks) {
    fail(
      'IMAGE_CORRUPT',
      `vhd: the block table has ${maxEntries} entries, fewer than the ${blocks} blocks of a ${formatBytes(size)} disk: the header is damaged.`,
    );
  }
  const batOffset = rd64be(dyn, D.tableOffset);
  const bat = await readExact(source, batOffset, blocks * 4, 'vhd: the block allocation table');
  const bitmapBytes = Math.ceil(blockSize / SECTOR / 8 / SECTOR) * SECTOR;

  async function locate(i: number): Promise<BlockLoc> {
    const e = rd32be(bat, i * 4);
    if (e === R.BAT_FREE) return { kind: 'zero' };
    return { kind: 'data', offset: e * SECTOR + bitmapBytes };
  }
  async function* runs(): AsyncGenerator<DiskExtent> {
    yield* blockRuns(0, blocks, blockSize, (i) => rd32be(bat, i * 4) !== R.BAT_FREE);
  }
  return blockDisk(vhdDynamicFormat.id, size, source, { blockSize, locate, runs });
}

/**
 * A VHD: its footer ("conectix") in the last 512 bytes (some old writers
 * made it 511, the last byte missing), or a dynamic VHD's footer copy at 0
 * (when the end is cut off).
 */
export const vhdReader: ImageReader = {
  name: 'VHD',
  recognise: (p) =>
    (p.size >= VHD.FOOTER_SIZE && (hasMagic(p.tail, 0, R.COOKIE) || hasMagic(p.tail, 1, R.COOKIE))) ||
    hasMagic(p.head, 0, R.COOKIE),
  open: openVhd,
};
