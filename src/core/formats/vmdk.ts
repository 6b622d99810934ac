/**
 * VMDK sparse extents with the descriptor embedded: `streamOptimized`
 * (ESXi/OVA, AWS ImportSnapshot) and `monolithicSparse` (Workstation,
 * Fusion, VirtualBox). Both use 64 KiB grains (128 sectors) and grain tables of
 * 512 entries (32 MiB each); all fields are little-endian, offsets in sectors.
 *
 * streamOptimized (version 3), written strictly front to back:
 *   header (gdOffset = "at end") | descriptor | pad to 64 KiB |
 *   per non-zero grain: marker {lba u64, size u32} + zlib-compressed grain, padded to a sector |
 *   after the grains of each grain table: GT marker + GT (4 sectors) |
 *   GD marker + GD | footer marker + footer (the header with the real gdOffset) | EOS marker.
 *   Grain tables without any grain are not written (GD entry 0 = unallocated).
 *
 * monolithicSparse (version 1): header | descriptor (20 sectors) | redundant GD |
 *   redundant GTs | GD | GTs | pad to a grain | the non-zero grains, uncompressed.
 *   All grain tables are preallocated as the format expects; empty ones are holes.
 */
import { zlibSync } from 'fflate';
import type { ImagePlan } from '../plan';
import { loadPlan } from '../plan';
import { derive32, u32le, u64le, utf8 } from '../bytes';
import { fail } from '../errors';
import { formatBytes, SECTOR } from '../units';
import type { FormatOptions, OutputFormat, OutputPart } from './types';
import { blockParts, lastCovers, nonZeroBlocks } from './blocks';

export const VMDK = {
  MAGIC: 0x564d444b, // "KDMV" read as a little-endian u32
  GRAIN_SECTORS: 128,
  GRAIN: 128 * SECTOR,
  GTES_PER_GT: 512,
  GT_SECTORS: (512 * 4) / SECTOR,
  /** VMware's limit for these sparse extents: 2 TiB minus one sector. */
  MAX_SIZE: 2 * 1024 ** 4 - SECTOR,
  GD_AT_END: 0xffff_ffff_ffff_ffff,
  FLAG_NL_DETECT: 1 << 0,
  FLAG_RGD: 1 << 1,
  FLAG_COMPRESSED: 1 << 16,
  FLAG_MARKERS: 1 << 17,
  COMPRESS_DEFLATE: 1,
  MARKER_EOS: 0,
  MARKER_GT: 1,
  MARKER_GD: 2,
  MARKER_FOOTER: 3,
  /** monolithicSparse descriptor area, in sectors (what VMware and qemu use). */
  SPARSE_DESCRIPTOR_SECTORS: 20,
  /** SparseExtentHeader field offsets (512 bytes, packed). */
  OFF: {
    magic: 0,
    version: 4,
    flags: 8,
    capacity: 12,
    grainSize: 20,
    descriptorOffset: 28,
    descriptorSize: 36,
    numGTEsPerGT: 44,
    rgdOffset: 48,
    gdOffset: 56,
    overHead: 64,
    uncleanShutdown: 72,
    singleEndLineChar: 73,
    nonEndLineChar: 74,
    doubleEndLineChar1: 75,
    doubleEndLineChar2: 76,
    compressAlgorithm: 77,
  },
  /** Marker: u64 value (LBA or sector count), u32 size, then u32 type for metadata markers. */
  MARKER: { value: 0, size: 8, type: 12 },
} as const;

export type VmdkKind = 'streamOptimized' | 'monolithicSparse';

/**
 * The descriptor names the extent file. QEMU ignores the name for an embedded
 * descriptor, but other readers (libvmdk, possibly VMware) open the extent by
 * that name, so a caller that knows the output file name passes it in
 * FormatOptions.fileName; "disk.vmdk" otherwise.
 */
export type VmdkOptions = FormatOptions;

export const DEFAULT_EXTENT_NAME = 'disk.vmdk';

/** The base name of a path, safe inside the descriptor's double quotes. */
export function extentName(opts: FormatOptions): string {
  const raw = opts.fileName;
  const base = raw ? (raw.split(/[\\/]/).pop() ?? '') : '';
  const clean = base.replace(/["\x00-\x1f\x7f]/g, '_');
  return clean || DEFAULT_EXTENT_NAME;
}

export interface VmdkHeaderFields {
  version: number;
  flags: number;
  capacitySectors: number;
  descriptorOffset: number;
  descriptorSize: number;
  rgdOffset: number;
  gdOffset: number;
  overHead: number;
  compress: number;
}

export function encodeVmdkHeader(h: VmdkHeaderFields): Uint8Array {
  const b = new Uint8Array(SECTOR);
  const O = VMDK.OFF;
  u32le(b, O.magic, VMDK.MAGIC);
  u32le(b, O.version, h.version);
  u32le(b, O.flags, h.flags);
  u64le(b, O.capacity, h.capacitySectors);
  u64le(b, O.grainSize, VMDK.GRAIN_SECTORS);
  u64le(b, O.descriptorOffset, h.descriptorOffset);
  u64le(b, O.descriptorSize, h.descriptorSize);
  u32le(b, O.numGTEsPerGT, VMDK.GTES_PER_GT);
  u64le(b, O.rgdOffset, h.rgdOffset);
  if (h.gdOffset === VMDK.GD_AT_END) b.fill(0xff, O.gdOffset, O.gdOffset + 8);
  else u64le(b, O.gdOffset, h.gdOffset);
  u64le(b, O.overHead, h.overHead);
  b[O.singleEndLineChar] = 0x0a;
  b[O.nonEndLineChar] = 0x20;
  b[O.doubleEndLineChar1] = 0x0d;
  b[O.doubleEndLineChar2] = 0x0a;
  b[O.compressAlgorithm] = h.compress & 0xff;
  b[O.compressAlgorithm + 1] = h.compress >>> 8;
  return b;
}

/** The text descriptor, padded with zeros to whole sectors (at least `minSectors`). */
export function encodeVmdkDescriptor(kind: VmdkKind, plan: ImagePlan, opts: FormatOptions, minSectors = 1): Uint8Array {
  const sectors = plan.size / SECTOR;
  const cid = derive32('vmdk-cid', opts.seed, plan.size).toString(16).padStart(8, '0');
  const cylinders = Math.min(16383, Math.floor(sectors / (16 * 63)));
  const text = [
    '# Disk DescriptorFile',
    'version=1',
    `CID=${cid}`,
    'parentCID=ffffffff',
    `createType="${kind}"`,
    '',
    '# Extent description',
    `RW ${sectors} SPARSE "${extentName(opts)}"`,
    '',
    '# The Disk Data Base',
    '#DDB',
    '',
    'ddb.virtualHWVersion = "4"',
    `ddb.geometry.cylinders = "${cylinders}"`,
    'ddb.geometry.heads = "16"',
    'ddb.geometry.sectors = "63"',
    'ddb.adapterType = "ide"',
    '',
  ].join('\n');
  const bytes = utf8(text);
  const out = new Uint8Array(Math.max(minSectors, Math.ceil(bytes.length / SECTOR)) * SECTOR);
  out.set(bytes);
  return out;
}

/** A metadata marker sector (GT, GD, footer, end of stream). */
export function encodeVmdkMarker(type: number, valueSectors: number): Uint8Array {
  const b = new Uint8Array(SECTOR);
  u64le(b, VMDK.MARKER.value, valueSectors);
  u32le(b, VMDK.MARKER.type, type);
  return b;
}

/** A compressed grain with its marker, padded to a whole sector. */
export function encodeVmdkGrain(lba: number, grain: Uint8Array): Uint8Array {
  const z = zlibSync(grain, { level: 6 });
  const out = new Uint8Array(Math.ceil((12 + z.length) / SECTOR) * SECTOR);
  u64le(out, VMDK.MARKER.value, lba);
  u32le(out, VMDK.MARKER.size, z.length);
  out.set(z, 12);
  return out;
}

function numGTs(size: number): number {
  return Math.ceil(Math.ceil(size / VMDK.GRAIN) / VMDK.GTES_PER_GT);
}

function checkSize(name: string, size: number): void {
  if (size > VMDK.MAX_SIZE) {
    fail(
      'SIZE_FORMAT_LIMIT',
      `${name}: the disk size ${formatBytes(size)} (${size} bytes) is above the VMDK sparse extent limit of 2 TiB minus 512 bytes; choose a smaller size, or use qcow2.`,
    );
  }
}

function checkSectorOffset(name: string, sector: number): number {
  if (sector > 0xffff_ffff) {
    fail(
      'SIZE_FORMAT_LIMIT',
      `${name}: the file would grow past 2 TiB, beyond what 32-bit grain table entries can address; choose a smaller disk or less data.`,
    );
  }
  return sector;
}

async function* writeStream(plan: ImagePlan, opts: FormatOptions): AsyncGenerator<OutputPart> {
  const name = 'vmdk';
  const gts = numGTs(plan.size);
  const descriptor = encodeVmdkDescriptor('streamOptimized', plan, opts);
  const overHead = VMDK.GRAIN_SECTORS; // header + descriptor fit in the first 64 KiB
  const header: VmdkHeaderFields = {
    version: 3,
    flags: VMDK.FLAG_NL_DETECT | VMDK.FLAG_COMPRESSED | VMDK.FLAG_MARKERS,
    capacitySectors: plan.size / SECTOR,
    descriptorOffset: 1,
    descriptorSize: descriptor.length / SECTOR,
    rgdOffset: 0,
    gdOffset: VMDK.GD_AT_END,
    overHead,
    compress: VMDK.COMPRESS_DEFLATE,
  };
  if (1 + header.descriptorSize > overHead) throw new Error('internal: VMDK descriptor larger than its area');
  yield { kind: 'data', bytes: encodeVmdkHeader(header), covered: 0 };
  yield { kind: 'data', bytes: descriptor, covered: 0 };
  yield { kind: 'hole', length: (overHead - 1 - header.descriptorSize) * SECTOR, covered: 0 };
  let pos = overHead; // in sectors
  const gd = new Uint8Array(Math.ceil((gts * 4) / SECTOR) * SECTOR);
  let gt: Uint8Array | undefined;
  let gtIndex = -1;
  function* flushGT(): Generator<OutputPart> {
    if (!gt) return;
    yield { kind: 'data', bytes: encodeVmdkMarker(VMDK.MARKER_GT, VMDK.GT_SECTORS), covered: 0 };
    pos += 1;
    u32le(gd, gtIndex * 4, checkSectorOffset(name, pos));
    yield { kind: 'data', bytes: gt, covered: 0 };
    pos += VMDK.GT_SECTORS;
    gt = undefined;
  }
  const grainBuf = new Uint8Array(VMDK.GRAIN);
  for (const g of nonZeroBlocks(plan, VMDK.GRAIN)) {
    const k = Math.floor(g / VMDK.GTES_PER_GT);
    if (k !== gtIndex) {
      yield* flushGT();
      gtIndex = k;
      gt = new Uint8Array(VMDK.GT_SECTORS * SECTOR);
    }
    await loadPlan(plan, g * VMDK.GRAIN, grainBuf);
    const bytes = encodeVmdkGrain(g * VMDK.GRAIN_SECTORS, grainBuf);
    u32le(gt!, (g % VMDK.GTES_PER_GT) * 4, checkSectorOffset(name, pos));
    pos += bytes.length / SECTOR;
    yield { kind: 'data', bytes, covered: Math.min(plan.size, (g + 1) * VMDK.GRAIN) };
  }
  yield* flushGT();
  yield { kind: 'data', bytes: encodeVmdkMarker(VMDK.MARKER_GD, gd.length / SECTOR), covered: plan.size };
  pos += 1;
  const gdOffset = checkSectorOffset(name, pos);
  yield { kind: 'data', bytes: gd, covered: plan.size };
  pos += gd.length / SECTOR;
  yield { kind: 'data', bytes: encodeVmdkMarker(VMDK.MARKER_FOOTER, 1), covered: plan.size };
  yield { kind: 'data', bytes: encodeVmdkHeader({ ...header, gdOffset }), covered: plan.size };
  yield { kind: 'data', bytes: encodeVmdkMarker(VMDK.MARKER_EOS, 0), covered: plan.size };
}

export interface VmdkSparseLayout {
  gts: number;
  gdSectors: number;
  rgdOffset: number;
  rgtStart: number;
  gdOffset: number;
  gtStart: number;
  overHead: number;
  grains: number[];
}

export function vmdkSparseLayout(plan: ImagePlan): VmdkSparseLayout {
  const gts = numGTs(plan.size);
  const gdSectors = Math.ceil((gts * 4) / SECTOR);
  const rgdOffset = 1 + VMDK.SPARSE_DESCRIPTOR_SECTORS;
  const rgtStart = rgdOffset + gdSectors;
  const gdOffset = rgtStart + gts * VMDK.GT_SECTORS;
  const gtStart = gdOffset + gdSectors;
  const metaEnd = gtStart + gts * VMDK.GT_SECTORS;
  const overHead = Math.ceil(metaEnd / VMDK.GRAIN_SECTORS) * VMDK.GRAIN_SECTORS;
  return { gts, gdSectors, rgdOffset, rgtStart, gdOffset, gtStart, overHead, grains: nonZeroBlocks(plan, VMDK.GRAIN) };
}

async function* writeSparse(plan: ImagePlan, opts: FormatOptions): AsyncGenerator<OutputPart> {
  const name = 'vmdk-sparse';
  const l = vmdkSparseLayout(plan);
  checkSectorOffset(name, l.overHead + l.grains.length * VMDK.GRAIN_SECTORS);
  yield {
    kind: 'data',
    bytes: encodeVmdkHeader({
      version: 1,
      flags: VMDK.FLAG_NL_DETECT | VMDK.FLAG_RGD,
      capacitySectors: plan.size / SECTOR,
      descriptorOffset: 1,
      descriptorSize: VMDK.SPARSE_DESCRIPTOR_SECTORS,
      rgdOffset: l.rgdOffset,
      gdOffset: l.gdOffset,
      overHead: l.overHead,
      compress: 0,
    }),
    covered: 0,
  };
  yield {
    kind: 'data',
    bytes: encodeVmdkDescriptor('monolithicSparse', plan, opts, VMDK.SPARSE_DESCRIPTOR_SECTORS),
    covered: 0,
  };
  // Grain tables: which ones hold entries, and the entries, for the grains in order.
  const tables = new Map<number, Uint8Array>();
  l.grains.forEach((g, i) => {
    const k = Math.floor(g / VMDK.GTES_PER_GT);
    let t = tables.get(k);
    if (!t) tables.set(k, (t = new Uint8Array(VMDK.GT_SECTORS * SECTOR)));
    u32le(t, (g % VMDK.GTES_PER_GT) * 4, l.overHead + i * VMDK.GRAIN_SECTORS);
  });
  // The redundant directory and its tables, then the primary ones: the file
  // is written in order, so they land at rgdOffset and gdOffset.
  for (const tablesStart of [l.rgtStart, l.gtStart]) {
    const dir = new Uint8Array(l.gdSectors * SECTOR);
    for (let k = 0; k < l.gts; k++) u32le(dir, k * 4, tablesStart + k * VMDK.GT_SECTORS);
    yield { kind: 'data', bytes: dir, covered: 0 };
    // Empty tables are runs of zeros: emit them as holes.
    let zeroRun = 0;
    for (let k = 0; k < l.gts; k++) {
      const t = tables.get(k);
      if (!t) {
        zeroRun += VMDK.GT_SECTORS * SECTOR;
        continue;
      }
      if (zeroRun) yield { kind: 'hole', length: zeroRun, covered: 0 };
      zeroRun = 0;
      yield { kind: 'data', bytes: t, covered: 0 };
    }
    if (zeroRun) yield { kind: 'hole', length: zeroRun, covered: 0 };
  }
  const pad = (l.overHead - (l.gtStart + l.gts * VMDK.GT_SECTORS)) * SECTOR;
  if (pad) yield { kind: 'hole', length: pad, covered: 0 };
  yield* blockParts(plan, l.grains, VMDK.GRAIN);
}

export const vmdkFormat: OutputFormat = {
  id: 'vmdk',
  label: 'VMDK, streamOptimized (ESXi, OVA, AWS)',
  extension: '.vmdk',
  mime: 'application/octet-stream',
  plainDisk: false,
  usedFor: 'VMware ESXi/vSphere and OVA, AWS ImportSnapshot: compressed grains, written as a stream',
  checkSize: (size) => checkSize('vmdk', size),
  qemuDriver: 'vmdk',
  write(plan, opts) {
    checkSize('vmdk', plan.size);
    return writeStream(plan, opts);
  },
};

export const vmdkSparseFormat: OutputFormat = {
  id: 'vmdk-sparse',
  label: 'VMDK, monolithicSparse (Workstation, Fusion, VirtualBox)',
  extension: '.vmdk',
  mime: 'application/octet-stream',
  plainDisk: false,
  usedFor: 'VMware Workstation/Fusion/Player, VirtualBox: one growable file, uncompressed',
  checkSize: (size) => checkSize('vmdk-sparse', size),
  qemuDriver: 'vmdk',
  write(plan, opts) {
    checkSize('vmdk-sparse', plan.size);
    return lastCovers(writeSparse(plan, opts), plan.size);
  },
};
