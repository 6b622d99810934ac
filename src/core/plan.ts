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
  /** Sorted by offset, non-overlapping, none empty. Empty when the data is `stored`. */
  pieces: readonly Piece[];
  /** Layout for people: MBR, boot loader, FAT regions, the kernel. Sorted by start. */
  regions: readonly Region[];
  /**
   * The data of a disk read back (convert, set-args), which the writers read
   * when they need it instead of the plan holding it: memory is the map of
   * where the data is, whatever the disk holds. Absent for a build.
   */
  stored?: StoredData;
}

/** Granularity of `StoredData.blocks`: a divisor of every writer's block (64 KiB clusters and grains, 1 and 2 MiB blocks). */
export const STORED_BLOCK = 64 * 1024;

/**
 * Where a disk read back holds data, found by one pass over it (`copyPlan`),
 * and how to read that data again while writing.
 */
export interface StoredData {
  /** Bit b (byte b >> 3, bit b & 7) set: bytes [b × STORED_BLOCK, (b + 1) × STORED_BLOCK) hold a non-zero byte. */
  readonly blocks: Uint8Array;
  /**
   * The runs of whole sectors holding a non-zero byte, as [start, end) byte
   * offsets in pairs, maximal and in order, when there are at most
   * MAX_SECTOR_RUNS of them; else null (a disk of scattered sectors: its
   * blocks are the map). What GNU tar's raw hole detection finds.
   */
  readonly sectorRuns: Float64Array | null;
  /** The disk's bytes [offset, offset + length), all of them (patches applied). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Identifiers' seed, from the data's bytes (`planSeed`). */
  readonly seed: number;
}

/** The most sector runs `StoredData` lists one by one (16 bytes each). */
export const MAX_SECTOR_RUNS = 1 << 16;

/** Runs of data ([start, end) pairs) of a stored plan: its sector runs, else its blocks, clipped to the disk. */
export function* storedRuns(plan: ImagePlan): Generator<[number, number]> {
  const st = plan.stored!;
  if (st.sectorRuns) {
    for (let i = 0; i < st.sectorRuns.length; i += 2) yield [st.sectorRuns[i], st.sectorRuns[i + 1]];
    return;
  }
  const bits = st.blocks;
  let start = -1;
  for (let byte = 0; byte < bits.length; byte++) {
    const v = bits[byte];
    if (v === 0 && start < 0) continue;
    if (v === 0xff && start >= 0) continue;
    for (let bit = 0; bit < 8; bit++) {
      const b = byte * 8 + bit;
      const set = (v >> bit) & 1;
      if (set && start < 0) start = b;
      else if (!set && start >= 0) {
        yield [start * STORED_BLOCK, Math.min(plan.size, b * STORED_BLOCK)];
        start = -1;
      }
    }
  }
  if (start >= 0) yield [start * STORED_BLOCK, plan.size];
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

/**
 * `plan` as a disk of `size` bytes (at least its own): zeros added at its end.
 * A stored plan keeps reading its disk, as zeros past that disk's end.
 */
export function growPlan(plan: ImagePlan, size: number): ImagePlan {
  if (size < plan.size) throw new Error(`internal: growPlan to ${size}, below the plan's ${plan.size}`);
  if (size === plan.size) return plan;
  const st = plan.stored;
  if (!st) return makePlan(size, [...plan.pieces], [...plan.regions]);
  const had = plan.size;
  const blocks = new Uint8Array(Math.ceil(Math.ceil(size / STORED_BLOCK) / 8));
  blocks.set(st.blocks.subarray(0, blocks.length));
  const stored: StoredData = {
    blocks,
    sectorRuns: st.sectorRuns,
    seed: st.seed,
    async read(offset, length) {
      if (offset + length <= had) return st.read(offset, length);
      const out = new Uint8Array(length);
      if (offset < had) out.set(await st.read(offset, had - offset));
      return out;
    },
  };
  return { size, pieces: plan.pieces, regions: plan.regions, stored };
}

/** Walk a plan in memory as alternating data and zero runs covering [0, size). */
export function* extents(plan: ImagePlan): Generator<Extent> {
  if (plan.stored) throw new Error('internal: extents() of a stored plan; use loadExtents()');
  let pos = 0;
  for (const p of plan.pieces) {
    if (p.offset > pos) yield { kind: 'zero', offset: pos, length: p.offset - pos };
    yield { kind: 'data', offset: p.offset, bytes: p.bytes };
    pos = p.offset + p.bytes.length;
  }
  if (pos < plan.size) yield { kind: 'zero', offset: pos, length: plan.size - pos };
}

/**
 * Walk any plan as alternating data and zero runs covering [0, size), data
 * in parts of at most `maxPart` bytes: views of the pieces, or reads of a
 * stored plan's runs (one part in memory at a time).
 */
export async function* loadExtents(plan: ImagePlan, maxPart: number): AsyncGenerator<Extent> {
  if (!plan.stored) {
    for (const x of extents(plan)) {
      if (x.kind === 'zero') yield x;
      else
        for (let i = 0; i < x.bytes.length; i += maxPart)
          yield { kind: 'data', offset: x.offset + i, bytes: x.bytes.subarray(i, i + maxPart) };
    }
    return;
  }
  let pos = 0;
  for (const [start, end] of storedRuns(plan)) {
    if (start > pos) yield { kind: 'zero', offset: pos, length: start - pos };
    for (let at = start; at < end; at += maxPart) {
      const n = Math.min(maxPart, end - at);
      yield { kind: 'data', offset: at, bytes: await readStored(plan, at, n) };
    }
    pos = end;
  }
  if (pos < plan.size) yield { kind: 'zero', offset: pos, length: plan.size - pos };
}

async function readStored(plan: ImagePlan, offset: number, length: number): Promise<Uint8Array> {
  const b = await plan.stored!.read(offset, length);
  if (b.length !== length) throw new Error(`internal: stored read at ${offset} gave ${b.length} of ${length} bytes`);
  return b;
}

/** `readPlan` for any plan: a stored plan's bytes are read from its disk. */
export async function loadPlan(plan: ImagePlan, offset: number, out: Uint8Array): Promise<void> {
  if (!plan.stored) {
    readPlan(plan, offset, out);
    return;
  }
  const n = Math.max(0, Math.min(out.length, plan.size - offset));
  out.fill(0);
  if (n > 0) out.set(await readStored(plan, offset, n));
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
  if (plan.stored) throw new Error('internal: readPlan() of a stored plan; use loadPlan()');
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
  if (plan.stored) {
    if (blockSize % STORED_BLOCK !== 0) throw new Error(`internal: block size ${blockSize} of a stored plan`);
    const bits = plan.stored.blocks;
    for (let byte = 0; byte < bits.length; byte++) {
      if (bits[byte] === 0) continue;
      for (let bit = 0; bit < 8; bit++) {
        if (!((bits[byte] >> bit) & 1)) continue;
        const b = Math.floor(((byte * 8 + bit) * STORED_BLOCK) / blockSize);
        if (out[out.length - 1] !== b) out.push(b);
      }
    }
    return out;
  }
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
