/**
 * VHD (Virtual PC / Hyper-V / Azure), fixed and dynamic.
 *
 * Fixed:   the raw disk, then a 512-byte footer. Streams naturally: zero runs
 *          are holes, so the file is sparse on disk. Azure wants this, with a
 *          virtual size that is a whole number of MiB.
 * Dynamic: footer copy (512) | dynamic header (1024) | BAT (4 bytes per 2 MiB
 *          block, padded to a sector) | blocks, each a 512-byte sector bitmap
 *          followed by 2 MiB of data | footer. Only non-zero blocks are stored.
 *
 * All fields are big-endian. Footer and dynamic header carry a one's-complement
 * checksum of their bytes. Timestamps count seconds from 2000-01-01T00:00:00Z.
 */
import type { ImagePlan } from '../plan';
import { loadExtents, loadPlan } from '../plan';
import { ascii, deriveBytes, u16be, u32be, u64be } from '../bytes';
import { fail } from '../errors';
import { formatBytes, GIB, MIB as MiB, SECTOR } from '../units';
import type { FormatOptions, OutputFormat, OutputPart } from './types';
import { nonZeroBlocks } from './blocks';

export const VHD = {
  FOOTER_SIZE: 512,
  DYN_HEADER_SIZE: 1024,
  BLOCK_SIZE: 2 * MiB,
  BITMAP_SIZE: 512, // 4096 sectors → 512 bytes, already a whole sector
  /** Largest VHD Microsoft supports. */
  MAX_SIZE: 2040 * 1024 * MiB,
  /** 2000-01-01T00:00:00Z in Unix seconds. */
  EPOCH: 946_684_800,
  DISK_FIXED: 2,
  DISK_DYNAMIC: 3,
  /**
   * Creator application. QEMU (and Virtual PC) take the disk size from the CHS
   * geometry, which rounds it down, unless the creator is one of a few known
   * to use the exact current size; "qem2" is the one QEMU defined for exactly
   * that meaning ("current size is authoritative"), so we write it. Hyper-V and
   * Azure always use the current size.
   */
  CREATOR_APP: 'qem2',
  CREATOR_VERSION: 0x0001_0000,
  CREATOR_HOST_OS: 0x5769_326b, // "Wi2k"
  NO_DATA_OFFSET: 0xffff_ffff_ffff_ffff,
  FOOTER: {
    cookie: 0, // "conectix"
    features: 8, // 2: reserved bit always set
    version: 12, // 0x00010000
    dataOffset: 16, // fixed: all ones; dynamic: offset of the dynamic header
    timestamp: 24,
    creatorApp: 28,
    creatorVersion: 32,
    creatorHostOs: 36,
    originalSize: 40,
    currentSize: 48,
    geometry: 56, // cylinders u16, heads u8, sectors per track u8
    diskType: 60,
    checksum: 64,
    uniqueId: 68, // 16 bytes
    savedState: 84,
  },
  DYN: {
    cookie: 0, // "cxsparse"
    dataOffset: 8, // all ones
    tableOffset: 16, // BAT
    version: 24, // 0x00010000
    maxTableEntries: 28,
    blockSize: 32,
    checksum: 36,
    // 40.. parent UUID, timestamp, name and locators: all zero (no parent)
  },
} as const;

/** One's complement of the byte sum, the checksum field itself counted as zero. */
export function vhdChecksum(b: Uint8Array, checksumOffset: number): number {
  let sum = 0;
  for (let i = 0; i < b.length; i++) if (i < checksumOffset || i >= checksumOffset + 4) sum += b[i];
  return ~sum >>> 0;
}

/** CHS geometry from the total sector count, the algorithm of the VHD specification (appendix). */
export function vhdGeometry(size: number): { cylinders: number; heads: number; sectors: number } {
  let total = Math.floor(size / SECTOR);
  if (total > 65535 * 16 * 255) total = 65535 * 16 * 255;
  let spt: number;
  let heads: number;
  let cth: number;
  if (total >= 65535 * 16 * 63) {
    spt = 255;
    heads = 16;
    cth = Math.floor(total / spt);
  } else {
    spt = 17;
    cth = Math.floor(total / spt);
    heads = Math.floor((cth + 1023) / 1024);
    if (heads < 4) heads = 4;
    if (cth >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      cth = Math.floor(total / spt);
    }
    if (cth >= heads * 1024) {
      spt = 63;
      heads = 16;
      cth = Math.floor(total / spt);
    }
  }
  return { cylinders: Math.floor(cth / heads), heads, sectors: spt };
}

export function vhdUniqueId(plan: ImagePlan, opts: FormatOptions): Uint8Array {
  const id = deriveBytes(16, 'vhd-unique-id', opts.seed, plan.size);
  id[6] = (id[6] & 0x0f) | 0x40; // looks like a version 4 UUID
  id[8] = (id[8] & 0x3f) | 0x80;
  return id;
}

export function encodeVhdFooter(f: {
  size: number;
  diskType: number;
  dataOffset: number;
  timestamp: number;
  uniqueId: Uint8Array;
}): Uint8Array {
  const b = new Uint8Array(VHD.FOOTER_SIZE);
  const O = VHD.FOOTER;
  ascii(b, O.cookie, 'conectix', 8);
  u32be(b, O.features, 2);
  u32be(b, O.version, 0x0001_0000);
  if (f.dataOffset === VHD.NO_DATA_OFFSET) b.fill(0xff, O.dataOffset, O.dataOffset + 8);
  else u64be(b, O.dataOffset, f.dataOffset);
  u32be(b, O.timestamp, Math.max(0, Math.min(0xffff_ffff, Math.floor(f.timestamp) - VHD.EPOCH)));
  ascii(b, O.creatorApp, VHD.CREATOR_APP, 4);
  u32be(b, O.creatorVersion, VHD.CREATOR_VERSION);
  u32be(b, O.creatorHostOs, VHD.CREATOR_HOST_OS);
  u64be(b, O.originalSize, f.size);
  u64be(b, O.currentSize, f.size);
  const g = vhdGeometry(f.size);
  u16be(b, O.geometry, g.cylinders);
  b[O.geometry + 2] = g.heads;
  b[O.geometry + 3] = g.sectors;
  u32be(b, O.diskType, f.diskType);
  b.set(f.uniqueId, O.uniqueId);
  u32be(b, O.checksum, vhdChecksum(b, O.checksum));
  return b;
}

export function encodeVhdDynamicHeader(batOffset: number, maxTableEntries: number): Uint8Array {
  const b = new Uint8Array(VHD.DYN_HEADER_SIZE);
  const O = VHD.DYN;
  ascii(b, O.cookie, 'cxsparse', 8);
  b.fill(0xff, O.dataOffset, O.dataOffset + 8);
  u64be(b, O.tableOffset, batOffset);
  u32be(b, O.version, 0x0001_0000);
  u32be(b, O.maxTableEntries, maxTableEntries);
  u32be(b, O.blockSize, VHD.BLOCK_SIZE);
  u32be(b, O.checksum, vhdChecksum(b, O.checksum));
  return b;
}

function checkCommon(name: string, size: number): void {
  if (size > VHD.MAX_SIZE) {
    fail(
      'SIZE_FORMAT_LIMIT',
      `${name}: the disk size ${+(size / GIB).toFixed(3)} GiB (${size} bytes) is above the VHD limit of 2040 GiB; choose a smaller size, or use qcow2 or VMDK.`,
    );
  }
}

function checkFixed(size: number): void {
  checkCommon('vhd', size);
  if (size % MiB !== 0) {
    fail(
      'SIZE_NOT_MIB',
      `vhd: the disk size ${formatBytes(size)} (${size} bytes) is not a whole number of MiB, which Azure requires for a fixed VHD; round it to ${Math.ceil(size / MiB)}M.`,
    );
  }
}

function checkDynamic(size: number): void {
  checkCommon('vhd-dynamic', size);
}

async function* writeFixed(plan: ImagePlan, opts: FormatOptions): AsyncGenerator<OutputPart> {
  for await (const e of loadExtents(plan, VHD.BLOCK_SIZE)) {
    if (e.kind === 'data') yield { kind: 'data', bytes: e.bytes, covered: e.offset + e.bytes.length };
    else yield { kind: 'hole', length: e.length, covered: e.offset + e.length };
  }
  const footer = encodeVhdFooter({
    size: plan.size,
    diskType: VHD.DISK_FIXED,
    dataOffset: VHD.NO_DATA_OFFSET,
    timestamp: opts.timestamp,
    uniqueId: vhdUniqueId(plan, opts),
  });
  yield { kind: 'data', bytes: footer, covered: plan.size };
}

export interface VhdDynamicLayout {
  blocks: number[];
  maxTableEntries: number;
  batOffset: number;
  batBytes: number;
  dataOffset: number;
  /** File length: blocks, then the footer. */
  length: number;
}

export function vhdDynamicLayout(plan: ImagePlan): VhdDynamicLayout {
  const blocks = nonZeroBlocks(plan, VHD.BLOCK_SIZE);
  const maxTableEntries = Math.ceil(plan.size / VHD.BLOCK_SIZE);
  const batOffset = VHD.FOOTER_SIZE + VHD.DYN_HEADER_SIZE;
  const batBytes = Math.ceil((maxTableEntries * 4) / 512) * 512;
  const dataOffset = batOffset + batBytes;
  const length = dataOffset + blocks.length * (VHD.BITMAP_SIZE + VHD.BLOCK_SIZE) + VHD.FOOTER_SIZE;
  return { blocks, maxTableEntries, batOffset, batBytes, dataOffset, length };
}

async function* writeDynamic(plan: ImagePlan, opts: FormatOptions): AsyncGenerator<OutputPart> {
  const l = vhdDynamicLayout(plan);
  const footer = encodeVhdFooter({
    size: plan.size,
    diskType: VHD.DISK_DYNAMIC,
    dataOffset: VHD.FOOTER_SIZE,
    timestamp: opts.timestamp,
    uniqueId: vhdUniqueId(plan, opts),
  });
  yield { kind: 'data', bytes: footer, covered: 0 };
  yield { kind: 'data', bytes: encodeVhdDynamicHeader(l.batOffset, l.maxTableEntries), covered: 0 };
  const bat = new Uint8Array(l.batBytes).fill(0xff);
  l.blocks.forEach((blk, i) => u32be(bat, blk * 4, (l.dataOffset + i * (VHD.BITMAP_SIZE + VHD.BLOCK_SIZE)) / 512));
  yield { kind: 'data', bytes: bat, covered: 0 };
  for (const blk of l.blocks) {
    const buf = new Uint8Array(VHD.BITMAP_SIZE + VHD.BLOCK_SIZE);
    buf.fill(0xff, 0, VHD.BITMAP_SIZE); // every sector of the block is present
    await loadPlan(plan, blk * VHD.BLOCK_SIZE, buf.subarray(VHD.BITMAP_SIZE));
    yield { kind: 'data', bytes: buf, covered: Math.min(plan.size, (blk + 1) * VHD.BLOCK_SIZE) };
  }
  yield { kind: 'data', bytes: footer, covered: plan.size };
}

export const vhdFormat: OutputFormat = {
  id: 'vhd',
  label: 'VHD, fixed (Azure)',
  extension: '.vhd',
  mime: 'application/octet-stream',
  plainDisk: true,
  usedFor: 'Azure page blobs, Hyper-V, AWS ImportSnapshot: the raw disk plus a 512-byte footer (size in whole MiB)',
  checkSize: checkFixed,
  qemuDriver: 'vpc',
  outputLength: (diskSize) => diskSize + VHD.FOOTER_SIZE,
  sizeStep: MiB,
  write(plan, opts) {
    checkFixed(plan.size);
    return writeFixed(plan, opts);
  },
};

export const vhdDynamicFormat: OutputFormat = {
  id: 'vhd-dynamic',
  label: 'VHD, dynamic',
  extension: '.vhd',
  mime: 'application/octet-stream',
  plainDisk: false,
  usedFor: 'Hyper-V, Virtual PC, VirtualBox, AWS ImportSnapshot: only the 2 MiB blocks holding data are stored',
  checkSize: checkDynamic,
  qemuDriver: 'vpc',
  write(plan, opts) {
    checkDynamic(plan.size);
    return writeDynamic(plan, opts);
  },
};
