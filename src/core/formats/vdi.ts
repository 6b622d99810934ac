/**
 * VDI (VirtualBox), dynamic ("normal") image, header version 1.1.
 *
 *   0      pre-header: 64 bytes of text, signature, version
 *   72     header (400 bytes): type, offsets, size, block size, counts, UUIDs
 *   512    block map: one u32 per 1 MiB block; 0xFFFFFFFF = not allocated
 *   data   (block map end rounded up to 1 MiB) the allocated blocks, in disk order
 *
 * Only the non-zero 1 MiB blocks are stored. All fields are little-endian.
 * The image and "last modification" UUIDs are derived from the seed, so the
 * same inputs give the same file (VirtualBox registers disks by UUID: two
 * images from the same inputs clash; `VBoxManage internalcommands sethduuid`
 * gives one of them a fresh UUID).
 */
import type { ImagePlan } from '../plan';
import { ascii, deriveBytes, u32le, u64le } from '../bytes';
import { fail } from '../errors';
import { formatBytes, MIB as MiB, SECTOR } from '../units';
import type { FormatOptions, OutputFormat, OutputPart } from './types';
import { blockParts, lastCovers, nonZeroBlocks } from './blocks';

export const VDI = {
  PRE_HEADER_TEXT: '<<< Oracle VM VirtualBox Disk Image >>>\n',
  SIGNATURE: 0xbeda107f,
  VERSION: 0x0001_0001, // 1.1
  HEADER_SIZE: 400,
  TYPE_NORMAL: 1, // dynamic
  BLOCK_SIZE: MiB,
  BLOCK_FREE: 0xffff_ffff,
  BLOCK_MAP_OFFSET: 512,
  DATA_ALIGN: MiB,
  /** Keeps every offset below 2^53 and the block count well inside a u32. */
  MAX_SIZE: 2 ** 52,
  OFF: {
    text: 0,
    signature: 64,
    version: 68,
    headerSize: 72,
    imageType: 76,
    imageFlags: 80,
    description: 84, // 256 bytes
    blockMapOffset: 340,
    dataOffset: 344,
    legacyCylinders: 348,
    legacyHeads: 352,
    legacySectors: 356,
    legacySectorSize: 360,
    diskSize: 368,
    blockSize: 376,
    blockExtra: 380,
    blocks: 384,
    blocksAllocated: 388,
    uuidCreate: 392,
    uuidModify: 408,
    uuidLinkage: 424,
    uuidParentModify: 440,
    lchsCylinders: 456,
    lchsHeads: 460,
    lchsSectors: 464,
    lchsSectorSize: 468,
  },
} as const;

export interface VdiLayout {
  blocks: number;
  allocated: number[];
  blockMapBytes: number;
  dataOffset: number;
  length: number;
}

export function vdiLayout(plan: ImagePlan): VdiLayout {
  const blocks = Math.ceil(plan.size / VDI.BLOCK_SIZE);
  const allocated = nonZeroBlocks(plan, VDI.BLOCK_SIZE);
  const blockMapBytes = Math.ceil((blocks * 4) / 512) * 512;
  const dataOffset = Math.ceil((VDI.BLOCK_MAP_OFFSET + blockMapBytes) / VDI.DATA_ALIGN) * VDI.DATA_ALIGN;
  return { blocks, allocated, blockMapBytes, dataOffset, length: dataOffset + allocated.length * VDI.BLOCK_SIZE };
}

function uuid(salt: string, plan: ImagePlan, opts: FormatOptions): Uint8Array {
  const id = deriveBytes(16, salt, opts.seed, plan.size);
  // Stored as VirtualBox's RTUUID (first three fields little-endian): the version nibble is in byte 7.
  id[7] = (id[7] & 0x0f) | 0x40;
  id[8] = (id[8] & 0x3f) | 0x80;
  return id;
}

export function encodeVdiHeader(plan: ImagePlan, l: VdiLayout, opts: FormatOptions): Uint8Array {
  const b = new Uint8Array(512);
  const O = VDI.OFF;
  ascii(b, O.text, VDI.PRE_HEADER_TEXT, 64);
  u32le(b, O.signature, VDI.SIGNATURE);
  u32le(b, O.version, VDI.VERSION);
  u32le(b, O.headerSize, VDI.HEADER_SIZE);
  u32le(b, O.imageType, VDI.TYPE_NORMAL);
  u32le(b, O.blockMapOffset, VDI.BLOCK_MAP_OFFSET);
  u32le(b, O.dataOffset, l.dataOffset);
  // Legacy geometry left 0 (VirtualBox computes one); its sector size must be 512.
  u32le(b, O.legacySectorSize, SECTOR);
  u64le(b, O.diskSize, plan.size);
  u32le(b, O.blockSize, VDI.BLOCK_SIZE);
  u32le(b, O.blocks, l.blocks);
  u32le(b, O.blocksAllocated, l.allocated.length);
  b.set(uuid('vdi-uuid-create', plan, opts), O.uuidCreate);
  b.set(uuid('vdi-uuid-modify', plan, opts), O.uuidModify);
  // Linkage and parent UUIDs stay zero: no parent image. LCHS geometry 0: "not set".
  return b;
}

export function encodeVdiBlockMap(l: VdiLayout): Uint8Array {
  const m = new Uint8Array(l.blockMapBytes).fill(0xff);
  l.allocated.forEach((blk, i) => u32le(m, blk * 4, i));
  return m;
}

function checkSize(size: number): void {
  if (size > VDI.MAX_SIZE) {
    fail(
      'SIZE_FORMAT_LIMIT',
      `vdi: the disk size ${formatBytes(size)} is above the limit of ${formatBytes(VDI.MAX_SIZE)}; choose a smaller size.`,
    );
  }
}

async function* parts(plan: ImagePlan, opts: FormatOptions): AsyncGenerator<OutputPart> {
  const l = vdiLayout(plan);
  if (l.dataOffset > 0xffff_ffff) throw new Error('internal: VDI data offset beyond 32 bits');
  yield { kind: 'data', bytes: encodeVdiHeader(plan, l, opts), covered: 0 };
  yield { kind: 'data', bytes: encodeVdiBlockMap(l), covered: 0 };
  const gap = l.dataOffset - VDI.BLOCK_MAP_OFFSET - l.blockMapBytes;
  if (gap > 0) yield { kind: 'hole', length: gap, covered: 0 };
  yield* blockParts(plan, l.allocated, VDI.BLOCK_SIZE);
}

export const vdiFormat: OutputFormat = {
  id: 'vdi',
  label: 'VDI (VirtualBox)',
  extension: '.vdi',
  mime: 'application/octet-stream',
  plainDisk: false,
  usedFor: 'VirtualBox: dynamic image, only the 1 MiB blocks holding data are stored',
  checkSize,
  qemuDriver: 'vdi',
  write(plan, opts) {
    checkSize(plan.size);
    return lastCovers(parts(plan, opts), plan.size);
  },
};
