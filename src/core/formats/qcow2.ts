/**
 * qcow2 version 3 (QEMU, OpenStack, Proxmox), written in one pass.
 *
 * The plan is known in advance, so the whole layout is computed first and the
 * file is produced front to back, never seeking:
 *
 *   cluster 0            header (104 bytes, v3, no extensions)
 *   L1 table             one 8-byte entry per 512 MiB of disk
 *   refcount table       one 8-byte entry per refcount block
 *   refcount blocks      16-bit refcounts (order 4), 32768 clusters each
 *   L2 tables            only those that map at least one data cluster
 *   data clusters        the non-zero 64 KiB clusters of the disk, in disk order
 *
 * Every cluster of the file is used exactly once, so every refcount is 1 and
 * every L1/L2 entry carries the COPIED flag (bit 63), as `qemu-img check`
 * expects. Zero clusters are simply left unallocated. No compression, no
 * snapshots, no backing file. All fields are big-endian.
 */
import type { ImagePlan } from '../plan';
import { u32be, u64be } from '../bytes';
import { fail } from '../errors';
import { formatBytes } from '../units';
import { blockParts, lastCovers, nonZeroBlocks } from './blocks';
import type { FormatOptions, OutputFormat, OutputPart } from './types';

export const QCOW2 = {
  MAGIC: 0x514649fb, // "QFI\xfb"
  VERSION: 3,
  CLUSTER_BITS: 16,
  CLUSTER: 1 << 16,
  REFCOUNT_ORDER: 4, // 16-bit refcounts
  HEADER_LENGTH: 104,
  /** Entries of an L2 table: 8 bytes each in one cluster. */
  L2_ENTRIES: (1 << 16) / 8,
  /** Refcounts in one refcount block: 2 bytes each in one cluster. */
  REFCOUNTS_PER_BLOCK: (1 << 16) / 2,
  /** Bit 63 of L1/L2 entries: the cluster's refcount is exactly 1. */
  COPIED_HI: 0x8000_0000,
  /** QEMU refuses L1 tables above 32 MiB: 4 Mi entries × 512 MiB = 2 PiB. */
  MAX_SIZE: 2 ** 51,
  /** Header field offsets. */
  OFF: {
    magic: 0,
    version: 4,
    backingFileOffset: 8,
    backingFileSize: 16,
    clusterBits: 20,
    size: 24,
    cryptMethod: 32,
    l1Size: 36,
    l1TableOffset: 40,
    refcountTableOffset: 48,
    refcountTableClusters: 56,
    nbSnapshots: 60,
    snapshotsOffset: 64,
    incompatibleFeatures: 72,
    compatibleFeatures: 80,
    autoclearFeatures: 88,
    refcountOrder: 96,
    headerLength: 100,
  },
} as const;

const C = QCOW2.CLUSTER;

/** Where everything goes, in clusters of the output file. */
export interface Qcow2Layout {
  size: number;
  /** Guest cluster indexes holding non-zero data, sorted. */
  dataClusters: number[];
  l1Entries: number;
  l1Start: number;
  l1Clusters: number;
  rtStart: number;
  rtClusters: number;
  rbStart: number;
  rbCount: number;
  /** L1 indexes that get an L2 table, sorted; the i-th table is at cluster l2Start + i. */
  l2Indexes: number[];
  l2Start: number;
  dataStart: number;
  /** Clusters in the file (its length is totalClusters × 64 KiB). */
  totalClusters: number;
}

export function qcow2Layout(plan: ImagePlan): Qcow2Layout {
  const dataClusters = nonZeroBlocks(plan, C);
  const l1Entries = Math.max(1, Math.ceil(plan.size / (QCOW2.L2_ENTRIES * C)));
  const l1Clusters = Math.ceil((l1Entries * 8) / C);
  const l2Indexes: number[] = [];
  for (const c of dataClusters) {
    const i = Math.floor(c / QCOW2.L2_ENTRIES);
    if (l2Indexes[l2Indexes.length - 1] !== i) l2Indexes.push(i);
  }
  // The refcount blocks must count themselves and the table that points at
  // them: iterate to the (quickly reached) fixed point.
  const fixed = 1 + l1Clusters + l2Indexes.length + dataClusters.length;
  let rbCount = 1;
  let rtClusters = 1;
  for (;;) {
    const total = fixed + rtClusters + rbCount;
    const rb = Math.ceil(total / QCOW2.REFCOUNTS_PER_BLOCK);
    const rt = Math.ceil((rb * 8) / C);
    if (rb <= rbCount && rt <= rtClusters) break;
    rbCount = Math.max(rb, rbCount);
    rtClusters = Math.max(rt, rtClusters);
  }
  const l1Start = 1;
  const rtStart = l1Start + l1Clusters;
  const rbStart = rtStart + rtClusters;
  const l2Start = rbStart + rbCount;
  const dataStart = l2Start + l2Indexes.length;
  return {
    size: plan.size,
    dataClusters,
    l1Entries,
    l1Start,
    l1Clusters,
    rtStart,
    rtClusters,
    rbStart,
    rbCount,
    l2Indexes,
    l2Start,
    dataStart,
    totalClusters: dataStart + dataClusters.length,
  };
}

/** An 8-byte big-endian table entry: a file offset with the COPIED flag. */
function entryCopied(b: Uint8Array, off: number, fileOffset: number): void {
  u64be(b, off, fileOffset);
  b[off] |= 0x80;
}

/** The header cluster. */
export function encodeQcow2Header(l: Qcow2Layout): Uint8Array {
  const h = new Uint8Array(C);
  const O = QCOW2.OFF;
  u32be(h, O.magic, QCOW2.MAGIC);
  u32be(h, O.version, QCOW2.VERSION);
  u32be(h, O.clusterBits, QCOW2.CLUSTER_BITS);
  u64be(h, O.size, l.size);
  u32be(h, O.l1Size, l.l1Entries);
  u64be(h, O.l1TableOffset, l.l1Start * C);
  u64be(h, O.refcountTableOffset, l.rtStart * C);
  u32be(h, O.refcountTableClusters, l.rtClusters);
  u32be(h, O.refcountOrder, QCOW2.REFCOUNT_ORDER);
  u32be(h, O.headerLength, QCOW2.HEADER_LENGTH);
  // Bytes 104.. stay zero: a header extension of type 0 ends the (empty) list.
  return h;
}

export function encodeQcow2L1(l: Qcow2Layout): Uint8Array {
  const t = new Uint8Array(l.l1Clusters * C);
  l.l2Indexes.forEach((i, n) => entryCopied(t, i * 8, (l.l2Start + n) * C));
  return t;
}

export function encodeQcow2RefcountTable(l: Qcow2Layout): Uint8Array {
  const t = new Uint8Array(l.rtClusters * C);
  for (let k = 0; k < l.rbCount; k++) u64be(t, k * 8, (l.rbStart + k) * C);
  return t;
}

/** Refcount block k: refcount 1 for every file cluster it covers below totalClusters. */
export function encodeQcow2RefcountBlock(l: Qcow2Layout, k: number): Uint8Array {
  const b = new Uint8Array(C);
  const first = k * QCOW2.REFCOUNTS_PER_BLOCK;
  const n = Math.min(QCOW2.REFCOUNTS_PER_BLOCK, l.totalClusters - first);
  for (let i = 0; i < n; i++) b[i * 2 + 1] = 1;
  return b;
}

/**
 * The n-th L2 table. `firstData` is the position in dataClusters of its first
 * cluster; returns the table and the position after its last one.
 */
export function encodeQcow2L2(l: Qcow2Layout, n: number, firstData: number): { table: Uint8Array; next: number } {
  const t = new Uint8Array(C);
  const l1i = l.l2Indexes[n];
  let d = firstData;
  while (d < l.dataClusters.length && Math.floor(l.dataClusters[d] / QCOW2.L2_ENTRIES) === l1i) {
    entryCopied(t, (l.dataClusters[d] % QCOW2.L2_ENTRIES) * 8, (l.dataStart + d) * C);
    d++;
  }
  return { table: t, next: d };
}

function checkSize(size: number): void {
  if (size > QCOW2.MAX_SIZE) {
    fail(
      'SIZE_FORMAT_LIMIT',
      `qcow2: the disk size ${formatBytes(size)} is above the qcow2 limit of ${formatBytes(QCOW2.MAX_SIZE)}; choose a smaller size.`,
    );
  }
}

function write(plan: ImagePlan, opts: FormatOptions): AsyncIterable<OutputPart> {
  checkSize(plan.size);
  return lastCovers(parts(plan, opts), plan.size);
}

async function* parts(plan: ImagePlan, _opts: FormatOptions): AsyncGenerator<OutputPart> {
  const l = qcow2Layout(plan);
  yield { kind: 'data', bytes: encodeQcow2Header(l), covered: 0 };
  yield { kind: 'data', bytes: encodeQcow2L1(l), covered: 0 };
  yield { kind: 'data', bytes: encodeQcow2RefcountTable(l), covered: 0 };
  for (let k = 0; k < l.rbCount; k++) yield { kind: 'data', bytes: encodeQcow2RefcountBlock(l, k), covered: 0 };
  let d = 0;
  for (let n = 0; n < l.l2Indexes.length; n++) {
    const { table, next } = encodeQcow2L2(l, n, d);
    d = next;
    yield { kind: 'data', bytes: table, covered: 0 };
  }
  yield* blockParts(plan, l.dataClusters, C);
}

export const qcow2Format: OutputFormat = {
  id: 'qcow2',
  label: 'qcow2 (QEMU, OpenStack, Proxmox)',
  extension: '.qcow2',
  mime: 'application/octet-stream',
  plainDisk: false,
  usedFor: 'QEMU/KVM, OpenStack Glance, Proxmox: sparse, only the data clusters are stored',
  checkSize,
  qemuDriver: 'qcow2',
  write,
};
