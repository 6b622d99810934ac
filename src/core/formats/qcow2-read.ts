/**
 * Reading qcow2 (versions 2 and 3), whoever wrote it: QEMU's `qemu-img`
 * (with `-c` compressed clusters, `compat=0.10` version 2, extended L2
 * entries with subclusters), OpenStack, ours. Only the active disk state is
 * read (snapshots are ignored). Refused with a clear error: a backing file
 * (the image holds only changes), encryption, an external data file, zstd.
 *
 * Memory: the L1 table (at most 32 MiB, QEMU's limit), a few L2 tables and
 * one decompressed cluster.
 */
import { latin1, rd32be, rd64be } from '../bytes';
import { fail } from '../errors';
import { blockDisk, blockRuns, inflateBlock, readExact, type BlockLoc, type ImageReader } from './reader';
import type { ByteSource, DiskExtent, DiskImage } from './reader';
import { isZero } from '../plan';
import { formatBytes, hex, MIB, SECTOR } from '../units';
import { QCOW2, qcow2Format } from './qcow2';
import { terminalSafe } from '../terminal';

/** What the readers accept beyond what we write (QCOW2 holds what we write). */
export const QCOW2_READ = {
  VERSIONS: [2, 3],
  MIN_CLUSTER_BITS: 9,
  MAX_CLUSTER_BITS: 21,
  /** Version 2 headers end here; version 3 ones say their length (at least 104). */
  V2_HEADER_LENGTH: 72,
  /** QEMU's own limit on the L1 table. */
  MAX_L1_BYTES: 32 * MIB,
  MAX_BACKING_NAME: 1023,
  /** Optional header field of version 3 (when header_length > 104): 0 zlib, 1 zstd. */
  COMPRESSION_TYPE_OFF: 104,
  /** Incompatible feature bits. */
  INCOMPAT_DIRTY: 1,
  INCOMPAT_CORRUPT: 2,
  INCOMPAT_DATA_FILE: 4,
  INCOMPAT_COMPRESSION: 8,
  INCOMPAT_EXTL2: 16,
  /** Bits 9..55 of an L1 / standard L2 entry: the host offset. */
  OFFSET_MASK_HI: 0x00ff_ffff,
  /** L2 entry bit 62 (in the high word): compressed cluster. */
  COMPRESSED_HI: 0x4000_0000,
  /** L2 entry bit 0: the cluster reads as zeros (version 3). */
  ZERO_LO: 1,
  L2_CACHE: 4,
  /** Extended L2 entries: subclusters per cluster, and the smallest cluster (16 KiB) QEMU allows with them. */
  SUBCLUSTERS: 32,
  MIN_EXTL2_CLUSTER_BITS: 14,
} as const;

const R = QCOW2_READ;
const ID = qcow2Format.id;

export async function openQcow2(source: ByteSource): Promise<DiskImage> {
  const O = QCOW2.OFF;
  const h = await readExact(source, 0, Math.min(source.size, 512), 'qcow2: the header');
  if (h.length < R.V2_HEADER_LENGTH) {
    fail(
      'IMAGE_TRUNCATED',
      `qcow2: the file is ${h.length} bytes, shorter than a qcow2 header (72 bytes): it is truncated; copy it again.`,
    );
  }
  const version = rd32be(h, O.version);
  if (!(R.VERSIONS as readonly number[]).includes(version)) {
    fail(
      'IMAGE_UNSUPPORTED',
      `qcow2: version ${version} is not read here (versions 2 and 3 are); convert it with \`qemu-img convert -O qcow2\`.`,
    );
  }
  const backingOffset = rd64be(h, O.backingFileOffset);
  if (backingOffset !== 0) {
    const len = Math.min(rd32be(h, O.backingFileSize), R.MAX_BACKING_NAME);
    let name = '';
    if (backingOffset + len <= source.size) name = latin1(await source.read(backingOffset, len), 0, len);
    fail(
      'IMAGE_BACKING_FILE',
      `qcow2: the image has a backing file${name ? ` ("${terminalSafe(name)}")` : ''}, so it holds only the changes made on top of that file; flatten it first (\`qemu-img convert -O qcow2 IMAGE FLAT.qcow2\`, next to its backing file) and open the result.`,
    );
  }
  const clusterBits = rd32be(h, O.clusterBits);
  if (clusterBits < R.MIN_CLUSTER_BITS || clusterBits > R.MAX_CLUSTER_BITS) {
    fail(
      'IMAGE_CORRUPT',
      `qcow2: cluster_bits is ${clusterBits}, outside ${R.MIN_CLUSTER_BITS}..${R.MAX_CLUSTER_BITS}: the header is damaged.`,
    );
  }
  const crypt = rd32be(h, O.cryptMethod);
  if (crypt !== 0) {
    fail(
      'IMAGE_ENCRYPTED',
      `qcow2: the image is encrypted (crypt_method ${crypt}); decrypt it with qemu-img convert (giving the secret) and open the result.`,
    );
  }
  let headerLength: number = R.V2_HEADER_LENGTH;
  let extL2 = false;
  if (version >= 3) {
    headerLength = rd32be(h, O.headerLength);
    if (headerLength < QCOW2.HEADER_LENGTH || headerLength % 8 !== 0 || headerLength > 2 ** clusterBits) {
      fail(
        'IMAGE_CORRUPT',
        `qcow2: header_length is ${headerLength}, not a multiple of 8 from ${QCOW2.HEADER_LENGTH} to the cluster size: the header is damaged.`,
      );
    }
    const incHi = rd32be(h, O.incompatibleFeatures);
    const incLo = rd32be(h, O.incompatibleFeatures + 4);
    if (incLo & R.INCOMPAT_DATA_FILE) {
      fail(
        'IMAGE_UNSUPPORTED',
        'qcow2: the disk data lives in an external data file, which cannot be opened from here; convert it with `qemu-img convert -O qcow2` and open the result.',
      );
    }
    if (incLo & R.INCOMPAT_COMPRESSION) {
      const type = headerLength > R.COMPRESSION_TYPE_OFF ? h[R.COMPRESSION_TYPE_OFF] : 0;
      if (type !== 0) {
        fail(
          'IMAGE_UNSUPPORTED',
          `qcow2: compression type ${type} (zstd) is not read here, only deflate; convert it with \`qemu-img convert -O qcow2\` and open the result.`,
        );
      }
    }
    extL2 = (incLo & R.INCOMPAT_EXTL2) !== 0;
    const known = R.INCOMPAT_DIRTY | R.INCOMPAT_CORRUPT | R.INCOMPAT_COMPRESSION | R.INCOMPAT_EXTL2;
    if (incHi !== 0 || (incLo & ~known) !== 0) {
      fail(
        'IMAGE_UNSUPPORTED',
        `qcow2: incompatible feature bits ${hex(incHi * 0x1_0000_0000 + (incLo >>> 0))} are not known here; convert it with \`qemu-img convert -O qcow2\` and open the result.`,
      );
    }
  }
  const size = rd64be(h, O.size);
  if (!Number.isSafeInteger(size) || size > QCOW2.MAX_SIZE) {
    fail(
      'IMAGE_TOO_LARGE',
      // Past 2^53 a Number is not exact: the field's own 64 bits in hex.
      `qcow2: the virtual size ${
        Number.isSafeInteger(size)
          ? `${size} bytes`
          : `0x${rd32be(h, O.size).toString(16).toUpperCase()}${rd32be(h, O.size + 4)
              .toString(16)
              .toUpperCase()
              .padStart(8, '0')} bytes (${formatBytes(size)})`
      } is above ${formatBytes(QCOW2.MAX_SIZE)}, the most this reader addresses.`,
    );
  }
  const cluster = 2 ** clusterBits;
  if (extL2 && clusterBits < R.MIN_EXTL2_CLUSTER_BITS) {
    fail(
      'IMAGE_CORRUPT',
      `qcow2: extended L2 entries with cluster_bits ${clusterBits}, below ${R.MIN_EXTL2_CLUSTER_BITS} (subclusters under 512 bytes): the header is damaged.`,
    );
  }
  // Extended L2 entries: 16 bytes, 32 subclusters per cluster with their own allocation and zero bits.
  const entryBytes = extL2 ? 16 : 8;
  const subs = extL2 ? R.SUBCLUSTERS : 1;
  const sub = cluster / subs;
  const l2Entries = cluster / entryBytes;
  const l1Size = rd32be(h, O.l1Size);
  const l1Offset = rd64be(h, O.l1TableOffset);
  const l1Needed = Math.ceil(size / (cluster * l2Entries));
  if (l1Size * 8 > R.MAX_L1_BYTES) {
    fail(
      'IMAGE_TOO_LARGE',
      `qcow2: the L1 table has ${l1Size} entries (${formatBytes(l1Size * 8)}), above the 32 MiB QEMU allows: the header is damaged.`,
    );
  }
  if (l1Size < l1Needed) {
    fail(
      'IMAGE_CORRUPT',
      `qcow2: the L1 table has ${l1Size} entries, fewer than the ${l1Needed} a ${formatBytes(size)} disk needs: the header is damaged.`,
    );
  }
  if (l1Needed > 0 && (l1Offset % cluster !== 0 || l1Offset === 0)) {
    fail(
      'IMAGE_CORRUPT',
      `qcow2: the L1 table offset ${hex(l1Offset)} is not a non-zero multiple of the cluster size (${cluster}): the header is damaged.`,
    );
  }
  const l1 = l1Needed > 0 ? await readExact(source, l1Offset, l1Needed * 8, 'qcow2: the L1 table') : new Uint8Array(0);

  // Every L2 table lives in the file, once: more tables than the file can hold means
  // L1 entries share or overlap tables, and walking them would read the same bytes without end.
  let l2Count = 0;
  for (let i = 0; i < l1Needed; i++)
    if (rd32be(l1, i * 8) & R.OFFSET_MASK_HI || rd32be(l1, i * 8 + 4) & ~0x1ff) l2Count++;
  if (l2Count * cluster > source.size) {
    fail(
      'IMAGE_CORRUPT',
      `qcow2: the L1 table points at ${l2Count} L2 tables (${formatBytes(l2Count * cluster)}), more than the ${formatBytes(source.size)} file holds: entries share tables; the image is damaged.`,
    );
  }

  const l2Cache = new Map<number, Uint8Array>();
  async function l2Table(i: number): Promise<Uint8Array | undefined> {
    const hi = rd32be(l1, i * 8);
    const lo = rd32be(l1, i * 8 + 4);
    const off = (hi & R.OFFSET_MASK_HI) * 0x1_0000_0000 + ((lo & ~0x1ff) >>> 0);
    if (off === 0) return undefined;
    if (off % cluster !== 0) {
      fail(
        'IMAGE_CORRUPT',
        `qcow2: L1 entry ${i} points at ${hex(off)}, not a multiple of the cluster size (${cluster}): the image is damaged.`,
      );
    }
    let t = l2Cache.get(off);
    if (t) return t;
    t = await readExact(source, off, cluster, `qcow2: the L2 table of L1 entry ${i}`);
    if (l2Cache.size >= R.L2_CACHE) l2Cache.delete(l2Cache.keys().next().value as number);
    l2Cache.set(off, t);
    return t;
  }

  // Compressed cluster descriptor: host offset in bits 0..x-1, extra sectors in x..61.
  const x = 62 - (clusterBits - 8);
  // The last cluster inflated, so that its subclusters do not inflate it again.
  let inflated: { offset: number; data: Uint8Array } | undefined;

  function decodeCompressed(c: number, s: number, hi: number, lo: number): BlockLoc {
    // Split at bit x without going through a 62-bit number (not exact as a double).
    const hiBits = x - 32;
    const offset = (hi & (2 ** hiBits - 1)) * 0x1_0000_0000 + lo;
    const sectors = ((hi & 0x3fff_ffff) >>> hiBits) + 1;
    const length = Math.min(sectors * SECTOR - (offset % SECTOR), source.size - offset);
    return {
      kind: 'decoded',
      decode: async () => {
        if (inflated?.offset !== offset) {
          if (offset >= source.size || length <= 0) {
            fail(
              'IMAGE_TRUNCATED',
              `qcow2: compressed cluster ${c} at ${hex(offset)} lies past the end of the file (${formatBytes(source.size)}): the file is truncated; copy it again.`,
            );
          }
          inflated = undefined;
          const z = await readExact(source, offset, length, `qcow2: compressed cluster ${c}`);
          inflated = { offset, data: inflateBlock(z, cluster, `qcow2: compressed cluster ${c} at ${hex(offset)}`) };
        }
        return inflated.data.subarray(s * sub, (s + 1) * sub);
      },
    };
  }

  /** Host offset of a standard L2 entry, checked. */
  function hostOffset(c: number, hi: number, lo: number): number {
    const off = (hi & R.OFFSET_MASK_HI) * 0x1_0000_0000 + ((lo & ~0x1ff) >>> 0);
    if (off % cluster !== 0) {
      fail(
        'IMAGE_CORRUPT',
        `qcow2: the L2 entry of cluster ${c} points at ${hex(off)}, not a multiple of the cluster size (${cluster}): the image is damaged.`,
      );
    }
    return off;
  }

  /** Whether subcluster s of the entry at e is stored (compressed or at a host offset, not marked zero). */
  function stored(t: Uint8Array, e: number, s: number): boolean {
    const hi = rd32be(t, e);
    const lo = rd32be(t, e + 4);
    if (hi & R.COMPRESSED_HI) return true;
    if (extL2) return ((rd32be(t, e + 12) >>> s) & 1) === 1 && ((rd32be(t, e + 8) >>> s) & 1) === 0;
    const off = (hi & R.OFFSET_MASK_HI) * 0x1_0000_0000 + ((lo & ~0x1ff) >>> 0);
    return off !== 0 && !(version >= 3 && lo & R.ZERO_LO);
  }

  async function locate(index: number): Promise<BlockLoc> {
    const c = Math.floor(index / subs);
    const s = index % subs;
    const t = await l2Table(Math.floor(c / l2Entries));
    if (!t) return { kind: 'zero' };
    const e = (c % l2Entries) * entryBytes;
    const hi = rd32be(t, e);
    const lo = rd32be(t, e + 4);
    if (hi & R.COMPRESSED_HI) return decodeCompressed(c, s, hi, lo);
    if (!stored(t, e, s)) return { kind: 'zero' };
    const off = hostOffset(c, hi, lo);
    if (off === 0) {
      fail(
        'IMAGE_CORRUPT',
        `qcow2: subcluster ${s} of cluster ${c} is marked allocated but has no host offset: the image is damaged.`,
      );
    }
    return { kind: 'data', offset: off + s * sub };
  }

  async function* runs(): AsyncGenerator<DiskExtent> {
    const span = cluster * l2Entries;
    for (let i = 0; i < l1Needed; i++) {
      const t = await l2Table(i);
      if (!t || isZero(t)) {
        yield { offset: i * span, length: span, allocated: false };
        continue;
      }
      yield* blockRuns(i * span, l2Entries * subs, sub, (b) => stored(t, Math.floor(b / subs) * entryBytes, b % subs));
    }
  }

  return blockDisk(ID, size, source, { blockSize: sub, locate, runs });
}

export const qcow2Reader: ImageReader = {
  name: 'qcow2',
  recognise: (p) => p.head.length >= 4 && rd32be(p.head, 0) === QCOW2.MAGIC,
  open: openQcow2,
};
