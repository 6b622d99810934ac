/**
 * The reader contract: how an image file is read back as the virtual disk
 * inside it. A `ByteSource` is random access over a file that may be far
 * larger than memory (a `File.slice` in the page, a file descriptor in
 * Node); a `DiskImage` is the disk inside a container, read the same way;
 * an `ImageReader` (one per container, listed in `READERS` in index.ts
 * beside the writers) says how to recognise its container and opens it.
 * Decoders read only the structures and the bytes asked for: a 100 GiB
 * image is never loaded.
 *
 * What every decoder shares is here too: exact reads from the source with a
 * clear error when the file ends early, and `blockDisk()`, a DiskImage over
 * a container that maps fixed-size blocks of the disk (qcow2 clusters, VHD
 * and VDI blocks, VMDK grains) to places in the file. Memory: the decoder's
 * own tables plus one decoded (decompressed) block.
 */
import { inflateSync } from 'fflate';
import { fail, isImageError } from '../errors';
import { formatBytes, hex, MIB } from '../units';
import type { FormatId } from './types';

/** Random-access bytes: an image file as it is on disk. */
export interface ByteSource {
  /** Length in bytes. */
  readonly size: number;
  /** Bytes [offset, offset + length), clipped to the end of the source. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Optional: the file's data and holes in order, covering [0, size): a run
   * with `data: false` reads as zeros without being stored (a sparse file's
   * hole), so a raw disk's copy skips it. Offered by a source that can tell
   * cheaply (the CLI's file); absent, the whole file counts as data.
   */
  extents?(): AsyncIterable<SourceExtent>;
}

/** A run of a source: data, or a hole that reads as zeros. */
export interface SourceExtent {
  offset: number;
  length: number;
  data: boolean;
}

/** A run of the virtual disk: stored data, or a run that reads as zeros without being stored. */
export interface DiskExtent {
  offset: number;
  length: number;
  /** false: unallocated in the container (reads as zeros). */
  allocated: boolean;
}

/** The virtual disk inside an image file, whatever its container. */
export interface DiskImage {
  /** The format the file is in, as in FORMATS: set from the reader's own descriptor. */
  readonly formatId: FormatId;
  /** Virtual disk size in bytes. */
  readonly size: number;
  /** Disk bytes [offset, offset + length), zeros where nothing is stored. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Allocated and unallocated runs covering [0, size), in order. */
  extents(): AsyncIterable<DiskExtent>;
  /**
   * Optional: where bytes [offset, offset + length) are stored, piece by
   * piece in order: `file` is the file offset of a piece stored as it is,
   * null for a piece that reads as zeros without being stored; undefined
   * (the whole answer) when some piece is stored transformed (compressed).
   * Lets a copy see that many table entries share one stored block, and read
   * it once.
   */
  where?(offset: number, length: number): Promise<StoredPiece[] | undefined>;
}

/** A piece of the disk and where the file holds it (null: nowhere, it reads as zeros). */
export interface StoredPiece {
  file: number | null;
  length: number;
}

/** What recognising a container may look at: the file's size, its first KiB and its last 512 bytes. */
export interface ContainerProbe {
  readonly size: number;
  /** The first min(HEAD, size) bytes. */
  readonly head: Uint8Array;
  /** The last min(512, size) bytes (a VHD's footer). */
  readonly tail: Uint8Array;
}

/** One container the tools read back: how to recognise it, and how to open it. */
export interface ImageReader {
  /** For people and tests: "qcow2", "VHD". */
  readonly name: string;
  /** Whether these bytes are this container (its magic numbers; never the file name). */
  recognise(probe: ContainerProbe): boolean;
  /** The disk inside; coded errors for what is damaged or not supported. */
  open(source: ByteSource): Promise<DiskImage>;
}

/** Whether `b` holds `magic` at `at` (a string is compared as Latin-1 bytes). */
export function hasMagic(b: Uint8Array, at: number, magic: string | readonly number[]): boolean {
  const m = typeof magic === 'string' ? [...magic].map((c) => c.charCodeAt(0)) : magic;
  if (b.length < at + m.length) return false;
  for (let i = 0; i < m.length; i++) if (b[at + i] !== m[i]) return false;
  return true;
}

/**
 * Bytes [offset, offset + length) of the source, all of them: a file that
 * ends earlier is truncated (IMAGE_TRUNCATED names `what` and where).
 */
export async function readExact(source: ByteSource, offset: number, length: number, what: string): Promise<Uint8Array> {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > source.size) {
    fail(
      'IMAGE_TRUNCATED',
      `${what} at offset ${hex(offset)} (${formatBytes(length)}) ends past the end of the file (${formatBytes(source.size)}, ${source.size} bytes): the file is truncated or damaged; copy or download it again.`,
    );
  }
  const b = await source.read(offset, length);
  if (b.length < length) {
    fail(
      'IMAGE_READ_ERROR',
      `${what}: reading ${length} bytes at offset ${hex(offset)} returned only ${b.length}: the file changed or shrank while it was being read; open it again.`,
    );
  }
  return b;
}

/** Where a block of the disk is. */
export type BlockLoc =
  /** Not stored (unallocated, or marked as zeros): reads as zeros. */
  | { kind: 'zero' }
  /** Stored as it is at this file offset. */
  | { kind: 'data'; offset: number }
  /** Stored transformed (compressed): `decode` gives the whole block, once (it is cached). */
  | { kind: 'decoded'; decode: () => Promise<Uint8Array> };

export interface BlockTable {
  /** Bytes per block (a power of two; the last block may extend past the disk's end). */
  blockSize: number;
  /** Where block `index` is; reads tables as needed. */
  locate(index: number): Promise<BlockLoc>;
  /**
   * Allocated and unallocated runs from the container's tables, in order,
   * covering [0, size) (adjacent runs of the same kind are merged by blockDisk).
   */
  runs(): AsyncIterable<DiskExtent>;
}

/** Merge adjacent runs of the same kind, clip to [0, size), and check they cover it in order. */
export async function* mergeRuns(runs: AsyncIterable<DiskExtent>, size: number): AsyncGenerator<DiskExtent> {
  let cur: DiskExtent | undefined;
  let pos = 0;
  for await (const r of runs) {
    if (r.offset !== pos) throw new Error(`internal: extent at ${r.offset}, expected ${pos}`);
    pos = r.offset + r.length;
    const length = Math.min(r.length, size - r.offset);
    if (length <= 0) continue;
    if (cur && cur.allocated === r.allocated) cur.length += length;
    else {
      if (cur) yield cur;
      cur = { offset: r.offset, length, allocated: r.allocated };
    }
    if (pos >= size) break;
  }
  if (pos < size) throw new Error(`internal: extents end at ${pos}, before the disk size ${size}`);
  if (cur) yield cur;
}

/**
 * Runs of `count` blocks from `start`, merged while `allocated(i)` stays the
 * same: one run per change, not one per block (a 2 TiB disk has a million
 * 2 MiB blocks).
 */
export function* blockRuns(
  start: number,
  count: number,
  blockSize: number,
  allocated: (i: number) => boolean,
): Generator<DiskExtent> {
  let from = 0;
  for (let i = 1; i <= count; i++) {
    if (i === count || allocated(i) !== allocated(from)) {
      yield { offset: start + from * blockSize, length: (i - from) * blockSize, allocated: allocated(from) };
      from = i;
    }
  }
}

/** Clip a read request to the disk, as ByteSource.read clips to the file. */
export function clipRead(size: number, offset: number, length: number): number {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new Error(`internal: disk read at ${offset} of ${length} bytes`);
  }
  return Math.max(0, Math.min(length, size - offset));
}

/** Largest single read of stored blocks (contiguous blocks are read together up to this). */
const MAX_RUN = 4 * MIB;

/** A DiskImage over a block table. */
export function blockDisk(formatId: FormatId, size: number, source: ByteSource, table: BlockTable): DiskImage {
  const bs = table.blockSize;
  let cachedIndex = -1;
  let cached: Uint8Array | undefined;
  return {
    formatId,
    size,
    async read(offset: number, length: number): Promise<Uint8Array> {
      const n = clipRead(size, offset, length);
      const out = new Uint8Array(n);
      // Blocks stored one after the other in the file are read with one call.
      let run: { file: number; at: number; length: number; first: number } | undefined;
      const flush = async () => {
        if (!run) return;
        const r = run;
        run = undefined;
        out.set(await readExact(source, r.file, r.length, `${formatId}: block ${r.first} of the disk`), r.at);
      };
      let done = 0;
      while (done < n) {
        const pos = offset + done;
        const index = Math.floor(pos / bs);
        const inBlock = pos - index * bs;
        const take = Math.min(n - done, bs - inBlock);
        const loc = await table.locate(index);
        if (loc.kind === 'data') {
          const file = loc.offset + inBlock;
          if (run && run.file + run.length === file && run.length < MAX_RUN) run.length += take;
          else {
            await flush();
            run = { file, at: done, length: take, first: index };
          }
        } else {
          await flush();
          if (loc.kind === 'decoded') {
            if (cachedIndex !== index || !cached) {
              cached = undefined;
              cached = await loc.decode();
              cachedIndex = index;
            }
            out.set(cached.subarray(inBlock, inBlock + take), done);
          }
        }
        done += take;
      }
      await flush();
      return out;
    },
    extents(): AsyncIterable<DiskExtent> {
      return mergeRuns(table.runs(), size);
    },
    async where(offset: number, length: number): Promise<StoredPiece[] | undefined> {
      const n = clipRead(size, offset, length);
      const out: StoredPiece[] = [];
      for (let done = 0; done < n;) {
        const pos = offset + done;
        const index = Math.floor(pos / bs);
        const inBlock = pos - index * bs;
        const take = Math.min(n - done, bs - inBlock);
        const loc = await table.locate(index);
        if (loc.kind === 'decoded') return undefined;
        out.push({ file: loc.kind === 'data' ? loc.offset + inBlock : null, length: take });
        done += take;
      }
      return out;
    },
  };
}

/**
 * Raw deflate data (no zlib or gzip wrapper) of one block, which must fill
 * it: qcow2 compressed clusters, VMDK grains (after their 2-byte zlib
 * header). The output buffer is fixed, so hostile data cannot make it grow.
 */
export function inflateBlock(z: Uint8Array, size: number, what: string): Uint8Array {
  let out: Uint8Array;
  try {
    out = inflateSync(z, { out: new Uint8Array(size) });
  } catch (e) {
    if (isImageError(e)) throw e;
    fail(
      'IMAGE_CORRUPT',
      `${what}: the compressed data does not decompress (${(e as Error).message}): the image is damaged.`,
    );
  }
  if (out.length !== size) {
    fail(
      'IMAGE_CORRUPT',
      `${what}: the compressed data decompresses to ${out.length} bytes, not the block size ${size}: the image is damaged.`,
    );
  }
  return out;
}
