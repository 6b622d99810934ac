/**
 * An image is a plan before it is bytes: a virtual size and a sorted list of
 * data pieces at absolute offsets. Every byte not covered by a piece is zero.
 * Output formats walk the plan; none of them ever scans or allocates the zeros.
 */

/** Data at an absolute byte offset of the disk. `bytes` is never copied by the plan. */
export interface Piece {
  offset: number;
  bytes: Uint8Array;
}

/** An edit to a disk read back: overwrite bytes [offset, offset + bytes.length). */
export type Patch = Piece;

/**
 * What a region is, for the page's colours and explanations and for tests
 * (which never look at a region's name):
 *   mbr           LBA 0: boot loader stage 1, disk signature, partition table
 *   loader        boot loader stage 2 and its parameter block (LBA 1..); the
 *                 UEFI loader's file, \EFI\BOOT\BOOTX64.EFI, in the data area
 *   gap           unused sectors between the loader and the 1 MiB-aligned partition
 *   fat-reserved  the FAT volume's reserved sectors: boot sector with the BPB
 *                 (FAT32: also FSInfo and the boot record's backup)
 *   fat           one copy of the file allocation table
 *   root          the fixed FAT12/16 root directory (FAT32's root lies in the data area)
 *   data          the FAT data area: clusters, holding the files
 *   kernel        /unikernel.bin's bytes, inside the data area
 */
export const REGION_KINDS = ['mbr', 'loader', 'gap', 'fat-reserved', 'fat', 'root', 'data', 'kernel'] as const;
export type RegionKind = (typeof REGION_KINDS)[number];

/** A named part of the disk, for the layout picture and for tests. */
export interface Region {
  kind: RegionKind;
  /** For people; may change at any time, so nothing may depend on it. */
  name: string;
  start: number;
  length: number;
  /** A one-line explanation, shown by the page's layout picture. */
  note?: string;
}

export interface ImagePlan {
  /** Virtual disk size in bytes (a multiple of 512). */
  size: number;
  /** Sorted by offset, non-overlapping, none empty. */
  pieces: readonly Piece[];
  /** Layout for people: MBR, boot loader, FAT regions, the kernel. Sorted by start. */
  regions: readonly Region[];
}

export type Extent =
  { kind: 'data'; offset: number; bytes: Uint8Array } | { kind: 'zero'; offset: number; length: number };

/**
 * Sort and check pieces; adjacent or overlapping pieces are a bug in the
 * caller, so this throws a plain Error (not a user-facing ImageError).
 */
export function makePlan(size: number, pieces: Piece[], regions: Region[] = []): ImagePlan {
  const sorted = pieces.filter((p) => p.bytes.length > 0).sort((a, b) => a.offset - b.offset);
  let end = 0;
  for (const p of sorted) {
    if (!Number.isSafeInteger(p.offset) || p.offset < end) {
      throw new Error(`internal: plan piece at ${p.offset} overlaps the previous one ending at ${end}`);
    }
    end = p.offset + p.bytes.length;
  }
  if (end > size) throw new Error(`internal: plan piece ends at ${end}, past the disk size ${size}`);
  return { size, pieces: sorted, regions: [...regions].sort((a, b) => a.start - b.start) };
}

/** Walk the plan as alternating data and zero runs covering [0, size). */
export function* extents(plan: ImagePlan): Generator<Extent> {
  let pos = 0;
  for (const p of plan.pieces) {
    if (p.offset > pos) yield { kind: 'zero', offset: pos, length: p.offset - pos };
    yield { kind: 'data', offset: p.offset, bytes: p.bytes };
    pos = p.offset + p.bytes.length;
  }
  if (pos < plan.size) yield { kind: 'zero', offset: pos, length: plan.size - pos };
}

/** Total bytes of data pieces (what a sparse format has to store). */
export function dataBytes(plan: ImagePlan): number {
  let n = 0;
  for (const p of plan.pieces) n += p.bytes.length;
  return n;
}

/**
 * Copy plan bytes [offset, offset+out.length) into `out` (zeros where no piece
 * is). For formats that work block by block (qcow2 clusters, VHD blocks...).
 */
export function readPlan(plan: ImagePlan, offset: number, out: Uint8Array): void {
  out.fill(0);
  const end = offset + out.length;
  // Binary search for the first piece that ends after `offset`.
  const ps = plan.pieces;
  let lo = 0;
  let hi = ps.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ps[mid].offset + ps[mid].bytes.length <= offset) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < ps.length && ps[i].offset < end; i++) {
    const p = ps[i];
    const from = Math.max(offset, p.offset);
    const to = Math.min(end, p.offset + p.bytes.length);
    out.set(p.bytes.subarray(from - p.offset, to - p.offset), from - offset);
  }
}

/**
 * Which blocks of `blockSize` bytes hold any data. Returns sorted block
 * indexes; cost is proportional to the number of pieces, not the disk size.
 */
export function dataBlocks(plan: ImagePlan, blockSize: number): number[] {
  const out: number[] = [];
  for (const p of plan.pieces) {
    const first = Math.floor(p.offset / blockSize);
    const last = Math.floor((p.offset + p.bytes.length - 1) / blockSize);
    for (let b = Math.max(first, out.length ? out[out.length - 1] + 1 : 0); b <= last; b++) out.push(b);
  }
  return out;
}

/**
 * Does a block hold only zeros? Pieces can contain zero bytes (a FAT sector
 * that is mostly empty), and formats may choose to leave such blocks out.
 */
export function isZero(b: Uint8Array): boolean {
  // Check 4 bytes at a time where aligned.
  const n = b.length;
  let i = 0;
  if ((b.byteOffset & 3) === 0) {
    const w = new Uint32Array(b.buffer, b.byteOffset, n >>> 2);
    for (let j = 0; j < w.length; j++) if (w[j] !== 0) return false;
    i = w.length << 2;
  }
  for (; i < n; i++) if (b[i] !== 0) return false;
  return true;
}
