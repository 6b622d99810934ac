/**
 * GNU ("oldgnu") sparse tar, just enough to hold one sparse file: the
 * `disk.raw` of a Google Compute Engine image. Pure functions from plain
 * objects to header bytes, plus a writer that walks an ImagePlan.
 *
 * Layout of an oldgnu sparse member (the one GNU tar writes with
 * `--sparse --format=gnu` or `oldgnu`):
 *
 *   header block (512)   typeflag 'S', magic "ustar  \0", size = bytes stored,
 *                        realsize = apparent file size, the first 4 map entries,
 *                        isextended = 1 when more entries follow
 *   extension blocks     21 map entries each, isextended on all but the last
 *   data                 the mapped regions back to back, padded to 512
 *
 * Each map entry is (offset, numbytes) in the file. When the file ends in a
 * hole, GNU tar ends the map with (realsize, 0) so that the extractor
 * truncates the file to its full size; we do the same.
 *
 * Numbers are octal text with a NUL terminator; values that do not fit in the
 * field's octal digits (>= 8^11 for the 12-byte fields, that is 8 GiB) use
 * GNU's base-256 form: first byte 0x80, the rest big-endian binary.
 */
import { ascii, utf8 } from '../bytes';
import { isZero, storedRuns, type ImagePlan } from '../plan';

export const BLOCK = 512;
/** GNU tar's default record: 20 blocks. Archives are padded to a whole record. */
export const RECORD = 20 * BLOCK;
/** Bytes of a stored plan's data read at once. */
const STORED_PART = 1024 * 1024;

/** Offsets and sizes of the fields we write (POSIX ustar + GNU oldgnu extras). */
export const HDR = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 8], // "ustar  \0": oldgnu magic (6) and version (2) together
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  atime: [345, 12],
  ctime: [357, 12],
  offset: [369, 12],
  longnames: [381, 4],
  /** 4 sparse entries of (offset[12], numbytes[12]). */
  sparse: [386, 96],
  isextended: [482, 1],
  realsize: [483, 12],
} as const satisfies Record<string, readonly [number, number]>;

/** Map entries in the main header and in each extension block. */
export const SPARSES_IN_HEADER = 4;
export const SPARSES_IN_EXTENSION = 21;
/** In an extension block: 21 entries then the isextended flag. */
export const EXT_ISEXTENDED = SPARSES_IN_EXTENSION * 24;

export const OLDGNU_MAGIC = 'ustar  \0';
export const TYPE_GNU_SPARSE = 'S';

export interface SparseEntry {
  offset: number;
  numbytes: number;
}

/** The plain object a sparse member header is encoded from. */
export interface SparseHeader {
  name: string;
  /** Permission bits, e.g. 0o644. */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Seconds since 1970 UTC. */
  mtime: number;
  /** Apparent size of the file once extracted. */
  realsize: number;
  /** Sorted, non-overlapping regions that hold data; the rest of the file is zeros. */
  map: readonly SparseEntry[];
}

/**
 * Write a non-negative integer into a numeric field: octal digits filling
 * `len - 1` bytes plus a NUL, as GNU tar does, or base-256 when it does not fit.
 */
export function encodeNumber(b: Uint8Array, off: number, len: number, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0)
    throw new Error(`internal: tar number ${v} is not a non-negative safe integer`);
  if (v < 8 ** (len - 1)) {
    const s = v.toString(8).padStart(len - 1, '0');
    ascii(b, off, s, len - 1);
    b[off + len - 1] = 0;
    return;
  }
  // Base-256: 0x80 marker, then big-endian two's complement (positive here).
  let x = v;
  for (let i = len - 1; i >= 1; i--) {
    b[off + i] = x % 256;
    x = Math.floor(x / 256);
  }
  b[off] = 0x80;
}

/** Bytes stored in the archive for a map: the sum of its regions. */
export function storedSize(map: readonly SparseEntry[]): number {
  let n = 0;
  for (const e of map) n += e.numbytes;
  return n;
}

function put(b: Uint8Array, field: readonly [number, number], s: string): void {
  const bytes = utf8(s);
  if (bytes.length > field[1]) throw new Error(`internal: tar field value "${s}" is longer than ${field[1]} bytes`);
  b.set(bytes, field[0]);
}

function num(b: Uint8Array, field: readonly [number, number], v: number): void {
  encodeNumber(b, field[0], field[1], v);
}

/** The header checksum: the sum of all bytes with the checksum field read as spaces. */
export function headerChecksum(block: Uint8Array): number {
  let sum = 0;
  const [cs, cl] = HDR.chksum;
  for (let i = 0; i < BLOCK; i++) sum += i >= cs && i < cs + cl ? 0x20 : block[i];
  return sum;
}

/**
 * Encode the header block and the extension blocks of a sparse member.
 * Returns 512 * (1 + extension count) bytes.
 */
export function encodeSparseHeader(h: SparseHeader): Uint8Array {
  const extra = Math.max(0, Math.ceil((h.map.length - SPARSES_IN_HEADER) / SPARSES_IN_EXTENSION));
  const out = new Uint8Array(BLOCK * (1 + extra));
  const b = out.subarray(0, BLOCK);
  put(b, HDR.name, h.name);
  num(b, HDR.mode, h.mode);
  num(b, HDR.uid, h.uid);
  num(b, HDR.gid, h.gid);
  num(b, HDR.size, storedSize(h.map));
  num(b, HDR.mtime, h.mtime);
  put(b, HDR.typeflag, TYPE_GNU_SPARSE);
  put(b, HDR.magic, OLDGNU_MAGIC);
  put(b, HDR.uname, h.uname);
  put(b, HDR.gname, h.gname);
  num(b, HDR.realsize, h.realsize);
  const writeEntry = (blk: Uint8Array, at: number, e: SparseEntry) => {
    encodeNumber(blk, at, 12, e.offset);
    encodeNumber(blk, at + 12, 12, e.numbytes);
  };
  for (let i = 0; i < Math.min(SPARSES_IN_HEADER, h.map.length); i++) writeEntry(b, HDR.sparse[0] + 24 * i, h.map[i]);
  if (extra > 0) b[HDR.isextended[0]] = 1;
  for (let x = 0; x < extra; x++) {
    const blk = out.subarray(BLOCK * (1 + x), BLOCK * (2 + x));
    const first = SPARSES_IN_HEADER + x * SPARSES_IN_EXTENSION;
    const last = Math.min(h.map.length, first + SPARSES_IN_EXTENSION);
    for (let i = first; i < last; i++) writeEntry(blk, 24 * (i - first), h.map[i]);
    if (x < extra - 1) blk[EXT_ISEXTENDED] = 1;
  }
  // Checksum last: six octal digits, NUL, space (GNU tar's layout).
  const sum = headerChecksum(b);
  ascii(b, HDR.chksum[0], sum.toString(8).padStart(6, '0'), 6);
  b[HDR.chksum[0] + 6] = 0;
  b[HDR.chksum[0] + 7] = 0x20;
  return out;
}

/**
 * The sparse map of a plan, as GNU tar's block scan (`--hole-detection=raw`)
 * makes it for the raw disk: every 512-byte sector holding a non-zero byte is
 * data, runs of such sectors are merged, and all-zero sectors are holes, even
 * inside a piece (a kernel's zero padding is neither stored nor compressed).
 * Then (size, 0) when the disk ends in a hole. Only the pieces' bytes are
 * read; the zeros between them are never looked at.
 */
export function sparseMap(plan: ImagePlan): SparseEntry[] {
  const map: SparseEntry[] = [];
  if (plan.stored) {
    // Already the runs of non-zero sectors (or, for a disk of scattered sectors, of blocks).
    let end = 0;
    for (const [start, stop] of storedRuns(plan)) {
      map.push({ offset: start, numbytes: stop - start });
      end = stop;
    }
    if (end < plan.size || map.length === 0) map.push({ offset: plan.size, numbytes: 0 });
    return map;
  }
  let end = 0; // end of the last data run
  const addSector = (s: number) => {
    const last = map[map.length - 1];
    if (last && s <= end) {
      // The same sector again (two pieces share it) or the next one.
      end = Math.max(end, s + BLOCK);
      last.numbytes = end - last.offset;
    } else {
      map.push({ offset: s, numbytes: BLOCK });
      end = s + BLOCK;
    }
  };
  for (const p of plan.pieces) {
    const pEnd = p.offset + p.bytes.length;
    for (let s = Math.floor(p.offset / BLOCK) * BLOCK; s < pEnd; s += BLOCK) {
      if (s + BLOCK <= end) continue; // already data (shared with the previous piece)
      const from = Math.max(s, p.offset) - p.offset;
      const to = Math.min(s + BLOCK, pEnd) - p.offset;
      if (!isZero(p.bytes.subarray(from, to))) addSector(s);
    }
  }
  if (end < plan.size || map.length === 0) map.push({ offset: plan.size, numbytes: 0 });
  return map;
}

export interface SparseTarOptions {
  name: string;
  mtime: number;
  mode?: number;
  /** Owner name written in the header; uid and gid are 0. */
  owner?: string;
}

/** A piece of the archive, and how far into the disk it brings the writer. */
export interface TarChunk {
  bytes: Uint8Array;
  covered: number;
}

/**
 * The whole uncompressed archive for one sparse member holding the plan, as
 * chunks in order: header blocks, the mapped data (views of the plan's pieces
 * and of one shared zero buffer, never copies), padding, the two zero blocks
 * that end an archive, and zeros up to a whole 10240-byte record.
 */
export async function* sparseTar(plan: ImagePlan, opts: SparseTarOptions): AsyncGenerator<TarChunk> {
  const map = sparseMap(plan);
  const owner = opts.owner ?? 'root';
  const header = encodeSparseHeader({
    name: opts.name,
    mode: opts.mode ?? 0o644,
    uid: 0,
    gid: 0,
    uname: owner,
    gname: owner,
    mtime: opts.mtime,
    realsize: plan.size,
    map,
  });
  yield { bytes: header, covered: 0 };
  let written = header.length;

  // Zeros inside a data run are under a sector (between two pieces that share
  // one, or the unused part of a piece's first or last sector); the
  // buffer also serves the padding and the end-of-archive blocks.
  const zeros = new Uint8Array(RECORD);
  const zeroRun = function* (n: number, covered: number): Generator<TarChunk> {
    for (let left = n; left > 0; left -= zeros.length)
      yield { bytes: zeros.subarray(0, Math.min(left, zeros.length)), covered };
  };

  const pieces = plan.pieces;
  let pi = 0;
  for (const e of map) {
    if (plan.stored) {
      // The map is the stored runs: read them, a part at a time.
      for (let pos = e.offset; pos < e.offset + e.numbytes; pos += STORED_PART) {
        const n = Math.min(STORED_PART, e.offset + e.numbytes - pos);
        yield { bytes: await plan.stored.read(pos, n), covered: pos + n };
      }
      written += e.numbytes;
      continue;
    }
    let pos = e.offset;
    const stop = e.offset + e.numbytes;
    while (pos < stop) {
      // Skip pieces that end before pos (none do, as regions cover them in order).
      while (pi < pieces.length && pieces[pi].offset + pieces[pi].bytes.length <= pos) pi++;
      const p = pi < pieces.length ? pieces[pi] : undefined;
      if (!p || p.offset >= stop) {
        yield* zeroRun(stop - pos, stop);
        pos = stop;
      } else if (p.offset > pos) {
        yield* zeroRun(p.offset - pos, p.offset);
        pos = p.offset;
      } else {
        const to = Math.min(stop, p.offset + p.bytes.length);
        yield { bytes: p.bytes.subarray(pos - p.offset, to - p.offset), covered: to };
        pos = to;
      }
    }
    written += e.numbytes;
  }
  const pad = (BLOCK - (written % BLOCK)) % BLOCK;
  written += pad + 2 * BLOCK;
  const tail = pad + 2 * BLOCK + ((RECORD - (written % RECORD)) % RECORD);
  yield* zeroRun(tail, plan.size);
}
