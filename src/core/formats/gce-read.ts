/**
 * Reading a Google Compute Engine image: a gzipped tar holding the raw disk
 * (`disk.raw`), whoever wrote it (GNU tar `-S` in the gnu/oldgnu format, GNU
 * tar `--format=posix` sparse 1.0 and 0.1, a plain non-sparse member, ours).
 * A plain (not gzipped) tar is read the same way.
 *
 * gzip has no random access, so the archive is read once, front to back, at
 * open: the member named `disk.raw` (what GCE requires) is the disk, its
 * sparse map is its allocation table, and its data is kept in memory in
 * 64 KiB chunks, only those holding a non-zero byte (the data of a unikernel
 * disk is small). Bounded: at most GCE_READ.MAX_STORED bytes of member data
 * are read in the whole archive (each member's size field is checked before
 * its data is read), at most GCE_READ.MAX_KEPT bytes kept, and a sparse map
 * is parsed in one pass over its own bytes.
 */
import { Gunzip } from 'fflate';
import { latin1 } from '../bytes';
import { fail, ImageError, isImageError } from '../errors';
import { clipRead, hasMagic, mergeRuns } from './reader';
import { isZero } from '../plan';
import type { ByteSource, DiskExtent, DiskImage, ImageReader } from './reader';
import { formatBytes, GIB, KIB, MIB } from '../units';
import { GCE_DISK_NAME, gceFormat } from './gce';
import { terminalSafe } from '../terminal';
import {
  BLOCK,
  EXT_ISEXTENDED,
  HDR,
  headerChecksum,
  SPARSES_IN_EXTENSION,
  SPARSES_IN_HEADER,
  TYPE_GNU_SPARSE,
  type SparseEntry,
} from './tar';

export const GCE_READ = {
  /** Member data of the whole archive (zeros included) read at most: about 5 s of inflating. */
  MAX_STORED: GIB,
  /** Non-zero disk bytes kept in memory at most. */
  MAX_KEPT: 256 * MIB,
  /** Sparse map entries at most (GNU tar writes one per data run). */
  MAX_MAP_ENTRIES: 1 << 20,
  /** Size of a pax extended header or GNU long name we read. */
  MAX_META: MIB,
  /** Granularity of the in-memory disk. */
  CHUNK: 64 * KIB,
  /** Source reads. */
  READ: MIB,
  /** Compressed bytes given to the inflater at once: bounds its output per step (deflate expands ≤ ~1032×). */
  PUSH: 16 * KIB,
  GZIP_MAGIC: [0x1f, 0x8b],
} as const;

const R = GCE_READ;
const ID = gceFormat.id;

/** The decompressed archive as a byte stream: take exactly n bytes, front to back. */
class TarStream {
  private queue: Uint8Array[] = [];
  private queued = 0;
  private filePos = 0;
  private input: Uint8Array = new Uint8Array(0);
  private inputPos = 0;
  private done = false;
  /** Why the inflater stopped early, thrown when bytes past that point are needed. */
  private error?: ImageError;
  private readonly gunzip?: Gunzip;
  /** Bytes of the archive consumed so far. */
  pos = 0;

  constructor(
    private readonly source: ByteSource,
    gzip: boolean,
  ) {
    if (gzip) {
      this.gunzip = new Gunzip((chunk) => {
        if (chunk.length) {
          this.queue.push(chunk);
          this.queued += chunk.length;
        }
      });
    }
  }

  /** Decompress one more step; false at the end of the file. */
  private async step(): Promise<boolean> {
    if (this.done) return false;
    if (this.inputPos >= this.input.length) {
      if (this.filePos >= this.source.size) return this.finish();
      this.input = await this.source.read(this.filePos, R.READ);
      if (this.input.length === 0) return this.finish();
      this.filePos += this.input.length;
      this.inputPos = 0;
    }
    if (!this.gunzip) {
      this.queue.push(this.input.subarray(this.inputPos));
      this.queued += this.input.length - this.inputPos;
      this.inputPos = this.input.length;
      return true;
    }
    const piece = this.input.subarray(this.inputPos, this.inputPos + R.PUSH);
    this.inputPos += piece.length;
    try {
      this.gunzip.push(piece, false);
    } catch (e) {
      if (isImageError(e)) throw e;
      // Like gzip, ignore what follows the data we need (zero padding, trailing garbage):
      // the error only counts if more bytes are asked for.
      this.done = true;
      this.error = new ImageError(
        'IMAGE_CORRUPT',
        `tar.gz: the gzip data does not decompress (${(e as Error).message}): the file is damaged; download it again.`,
      );
      return this.queued > 0;
    }
    return true;
  }

  /** The end of the file: flush the inflater (a gzip stream cut short fails here). */
  private finish(): boolean {
    this.done = true;
    try {
      this.gunzip?.push(new Uint8Array(0), true);
    } catch (e) {
      fail(
        'IMAGE_TRUNCATED',
        `tar.gz: the gzip data ends early (${(e as Error).message}): the file is truncated; download it again.`,
      );
    }
    return this.queued > 0;
  }

  /** Give the next n bytes to `sink` in pieces (views, valid during the call). */
  async consume(n: number, what: string, sink: (b: Uint8Array) => void): Promise<void> {
    let left = n;
    while (left > 0) {
      while (this.queued === 0) {
        if (!(await this.step())) {
          if (this.error) throw this.error;
          fail(
            'IMAGE_TRUNCATED',
            `tar.gz: the archive ends in the middle of ${what} (at byte ${this.pos + (n - left)} of the tar): the file is truncated; download it again.`,
          );
        }
      }
      const head = this.queue[0];
      const take = Math.min(left, head.length);
      sink(head.subarray(0, take));
      if (take === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(take);
      this.queued -= take;
      left -= take;
    }
    this.pos += n;
  }

  async take(n: number, what: string): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let at = 0;
    await this.consume(n, what, (b) => {
      out.set(b, at);
      at += b.length;
    });
    return out;
  }

  /** At the end of the archive: does any byte follow? (false at the end of the file) */
  async atEnd(): Promise<boolean> {
    while (this.queued === 0) {
      if (!(await this.step())) {
        if (this.error) throw this.error;
        return true;
      }
    }
    return false;
  }
}

/** A tar number field: octal text (spaces and NULs around it) or GNU base-256. */
export function decodeTarNumber(b: Uint8Array, off: number, len: number, what: string): number {
  if (b[off] & 0x80) {
    if (b[off] !== 0x80)
      fail('IMAGE_CORRUPT', `tar.gz: the ${what} field is a negative base-256 number: the archive is damaged.`);
    let v = 0;
    for (let i = 1; i < len; i++) v = v * 256 + b[off + i];
    if (!Number.isSafeInteger(v))
      fail('IMAGE_TOO_LARGE', `tar.gz: the ${what} field is above 2^53: the archive is damaged.`);
    return v;
  }
  const s = latin1(b, off, len).trim();
  if (!/^[0-7]*$/.test(s))
    fail('IMAGE_CORRUPT', `tar.gz: the ${what} field "${s}" is not an octal number: the archive is damaged.`);
  return s ? parseInt(s, 8) : 0;
}

function field(b: Uint8Array, f: readonly [number, number], what: string): number {
  return decodeTarNumber(b, f[0], f[1], what);
}

function roundBlock(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

/** pax records "LEN key=value\n" → map. */
function parsePax(b: Uint8Array): Map<string, string> {
  const m = new Map<string, string>();
  let i = 0;
  while (i < b.length) {
    let j = i;
    while (j < b.length && b[j] !== 0x20) j++;
    const len = Number(latin1(b, i, j - i));
    if (!Number.isSafeInteger(len) || len <= j - i || i + len > b.length) {
      if (b[i] === 0) break; // zero padding
      fail('IMAGE_CORRUPT', 'tar.gz: a pax extended header record has a bad length: the archive is damaged.');
    }
    const rec = latin1(b, j + 1, i + len - j - 2);
    const eq = rec.indexOf('=');
    if (eq > 0) m.set(rec.slice(0, eq), rec.slice(eq + 1));
    i += len;
  }
  return m;
}

function checkMap(map: SparseEntry[], realsize: number, stored: number): void {
  if (map.length > R.MAX_MAP_ENTRIES) {
    fail(
      'IMAGE_TOO_LARGE',
      `tar.gz: the sparse map has ${map.length} entries, above the ${R.MAX_MAP_ENTRIES} this reader accepts.`,
    );
  }
  let end = 0;
  let sum = 0;
  for (const e of map) {
    if (
      !Number.isSafeInteger(e.offset) ||
      !Number.isSafeInteger(e.numbytes) ||
      e.offset < end ||
      e.offset + e.numbytes > realsize
    ) {
      fail(
        'IMAGE_CORRUPT',
        `tar.gz: the sparse map entry (offset ${e.offset}, ${e.numbytes} bytes) overlaps the previous one or ends past the file size ${realsize}: the archive is damaged.`,
      );
    }
    end = e.offset + e.numbytes;
    sum += e.numbytes;
  }
  if (sum !== stored) {
    fail(
      'IMAGE_CORRUPT',
      `tar.gz: the sparse map holds ${sum} bytes, but the member stores ${stored}: the archive is damaged.`,
    );
  }
}

/** A member's path without a leading "./" or "/": what GCE compares with `disk.raw`. */
function memberPath(h: Uint8Array, pax: Map<string, string>, longName: string | undefined): string {
  let path = pax.get('GNU.sparse.name') ?? pax.get('path') ?? longName;
  if (path === undefined) {
    const name = latin1(h, HDR.name[0], HDR.name[1]).replace(/\0.*$/s, '');
    // ustar's prefix field (bytes 345..499) when the magic says ustar; GNU's own header uses them otherwise.
    const ustar = latin1(h, 257, 6) === 'ustar\0';
    const prefix = ustar ? latin1(h, 345, 155).replace(/\0.*$/s, '') : '';
    path = prefix ? `${prefix}/${name}` : name;
  }
  return path.replace(/^(\.?\/)+/, '');
}

/**
 * A GNU sparse 1.0 map: decimal lines (the count, then offset and size per
 * entry) at the start of the member's data, padded to a block. Read a block
 * at a time, never past the member's data (`stored`), and a line longer than
 * any safe integer ends it: work is linear in the map's bytes.
 */
async function readSparse10Map(tar: TarStream, stored: number): Promise<{ map: SparseEntry[]; mapBytes: number }> {
  const nums: number[] = [];
  let line = '';
  let need = -1;
  let mapBytes = 0;
  const bad = (what: string) => fail('IMAGE_CORRUPT', `tar.gz: the sparse 1.0 map ${what}: the archive is damaged.`);
  while (need < 0 || nums.length < 1 + 2 * need) {
    if (mapBytes + BLOCK > stored) bad(`runs past the member's ${stored} bytes of data`);
    const blk = await tar.take(BLOCK, 'the sparse map');
    mapBytes += BLOCK;
    for (let i = 0; i < BLOCK && (need < 0 || nums.length < 1 + 2 * need); i++) {
      const c = blk[i];
      if (c === 0x0a) {
        if (line === '') bad('has an empty line');
        nums.push(Number(line));
        line = '';
        if (nums.length === 1) {
          need = nums[0];
          if (need > R.MAX_MAP_ENTRIES)
            bad(`count ${need} is above the ${R.MAX_MAP_ENTRIES} entries this reader accepts`);
        }
      } else if (c >= 0x30 && c <= 0x39 && line.length < MAX_DECIMAL) {
        line += String.fromCharCode(c);
      } else {
        bad(
          `has ${c >= 0x30 && c <= 0x39 ? 'a number longer than any disk offset' : `the byte ${c} where a digit or a line end belongs`}`,
        );
      }
    }
  }
  const map: SparseEntry[] = [];
  for (let i = 0; i < need; i++) map.push({ offset: nums[1 + 2 * i], numbytes: nums[2 + 2 * i] });
  return { map, mapBytes };
}

/** Digits of the largest safe integer (2^53 - 1). */
const MAX_DECIMAL = 16;

export async function openGce(source: ByteSource): Promise<DiskImage> {
  const head = await source.read(0, 2);
  const gzip = head[0] === R.GZIP_MAGIC[0] && head[1] === R.GZIP_MAGIC[1];
  const tar = new TarStream(source, gzip);
  let pax = new Map<string, string>();
  let longName: string | undefined;
  /** Member data (metadata, skipped members, the disk) read so far: the archive's budget, not a member's. */
  let spent = 0;
  const spend = (n: number, what: string) => {
    spent += n;
    if (spent > R.MAX_STORED) {
      fail(
        'IMAGE_TOO_LARGE',
        `tar.gz: ${what} brings the archive's data to ${formatBytes(spent)}, above the ${formatBytes(R.MAX_STORED)} this reader inflates; a GCE image holds one disk.raw of a few MiB of data (extract it with \`tar -xzf\` and open disk.raw instead).`,
      );
    }
  };
  /** The first file member that is not disk.raw, for the error when none is. */
  let other: string | undefined;
  const noDisk = () =>
    fail(
      'IMAGE_CORRUPT',
      other === undefined
        ? 'tar.gz: the archive holds no file: there is no disk in it.'
        : `tar.gz: the archive holds no ${GCE_DISK_NAME} (its first file is "${terminalSafe(other)}"), and ${GCE_DISK_NAME} is the disk in a GCE image; rename the disk to ${GCE_DISK_NAME} and archive it again.`,
    );
  for (;;) {
    if (await tar.atEnd()) noDisk();
    const h = await tar.take(BLOCK, 'a header');
    if (h.every((x) => x === 0)) noDisk();
    const sum = field(h, HDR.chksum, 'checksum');
    let signed = 0;
    for (let i = 0; i < BLOCK; i++)
      signed += i >= HDR.chksum[0] && i < HDR.chksum[0] + HDR.chksum[1] ? 0x20 : (h[i] << 24) >> 24;
    if (sum !== headerChecksum(h) && sum !== signed) {
      fail(
        'IMAGE_CHECKSUM',
        `tar.gz: the header checksum at byte ${tar.pos - BLOCK} of the tar does not match: the archive is damaged (or this is not a tar).`,
      );
    }
    const type = String.fromCharCode(h[HDR.typeflag[0]]);
    const size = field(h, HDR.size, 'size');
    if (type === 'L' || type === 'x' || type === 'g') {
      if (size > R.MAX_META)
        fail(
          'IMAGE_TOO_LARGE',
          `tar.gz: a ${type} header of ${formatBytes(size)} is above the ${formatBytes(R.MAX_META)} this reader accepts.`,
        );
      spend(roundBlock(size), 'an extended header');
      const data = await tar.take(roundBlock(size), 'an extended header');
      // A global header ('g') changes nothing we need.
      if (type === 'x') pax = parsePax(data.subarray(0, size));
      if (type === 'L') longName = latin1(data, 0, size).replace(/\0.*$/s, '');
      continue;
    }
    const isFile = type === '0' || type === '\0' || type === '7' || type === TYPE_GNU_SPARSE;
    const path = memberPath(h, pax, longName);
    if (!isFile || path !== GCE_DISK_NAME) {
      // Directories, links, other files: skip their data, counted against the archive's budget.
      if (isFile) other ??= path;
      let extended = type === TYPE_GNU_SPARSE && h[HDR.isextended[0]] !== 0;
      while (extended) {
        spend(BLOCK, 'the sparse map of a member before the disk');
        extended = (await tar.take(BLOCK, 'the sparse map'))[EXT_ISEXTENDED] !== 0;
      }
      const skip = isFile ? Number(pax.get('size') ?? size) : size;
      if (!Number.isSafeInteger(skip) || skip < 0)
        fail('IMAGE_CORRUPT', 'tar.gz: the pax size of a member is not a number: the archive is damaged.');
      spend(roundBlock(skip), `a member before ${GCE_DISK_NAME} ("${terminalSafe(path)}", ${formatBytes(skip)})`);
      await tar.consume(roundBlock(skip), 'a member', () => {});
      pax = new Map();
      longName = undefined;
      continue;
    }
    let stored = Number(pax.get('size') ?? size);
    if (!Number.isSafeInteger(stored) || stored < 0)
      fail('IMAGE_CORRUPT', 'tar.gz: the pax size of the disk member is not a number: the archive is damaged.');
    let realsize = stored;
    let map: SparseEntry[] = [{ offset: 0, numbytes: stored }];
    spend(stored, `the disk's ${formatBytes(stored)} of stored data`);
    if (type === TYPE_GNU_SPARSE) {
      realsize = field(h, HDR.realsize, 'realsize');
      map = [];
      const readEntries = (b: Uint8Array, at: number, count: number) => {
        for (let i = 0; i < count; i++) {
          const o = at + 24 * i;
          if (b[o] === 0) return;
          map.push({
            offset: decodeTarNumber(b, o, 12, 'sparse offset'),
            numbytes: decodeTarNumber(b, o + 12, 12, 'sparse size'),
          });
        }
      };
      readEntries(h, HDR.sparse[0], SPARSES_IN_HEADER);
      let extended = h[HDR.isextended[0]] !== 0;
      while (extended) {
        if (map.length > R.MAX_MAP_ENTRIES) break;
        spend(BLOCK, 'the sparse map');
        const x = await tar.take(BLOCK, 'the sparse map');
        readEntries(x, 0, SPARSES_IN_EXTENSION);
        extended = x[EXT_ISEXTENDED] !== 0;
      }
    } else if (pax.has('GNU.sparse.realsize') || pax.has('GNU.sparse.size') || pax.has('GNU.sparse.map')) {
      realsize = Number(pax.get('GNU.sparse.realsize') ?? pax.get('GNU.sparse.size'));
      map = [];
      if (pax.get('GNU.sparse.major') === '1') {
        const m = await readSparse10Map(tar, stored);
        map = m.map;
        stored -= m.mapBytes;
      } else {
        const nums = (pax.get('GNU.sparse.map') ?? '')
          .split(',')
          .filter((s) => s !== '')
          .map(Number);
        for (let i = 0; i + 1 < nums.length; i += 2) map.push({ offset: nums[i], numbytes: nums[i + 1] });
      }
    }
    if (!Number.isSafeInteger(realsize) || realsize <= 0) {
      fail('IMAGE_CORRUPT', `tar.gz: the disk's size ${realsize} is not a positive number: the archive is damaged.`);
    }
    checkMap(map, realsize, stored);
    return readDisk(tar, map, realsize, stored);
  }
}

async function readDisk(tar: TarStream, map: SparseEntry[], size: number, stored: number): Promise<DiskImage> {
  const C = R.CHUNK;
  const chunks = new Map<number, Uint8Array>();
  let entry = 0;
  let inEntry = 0;
  const put = (b: Uint8Array) => {
    let i = 0;
    while (i < b.length) {
      while (map[entry].numbytes === inEntry) {
        entry++;
        inEntry = 0;
      }
      const e = map[entry];
      const pos = e.offset + inEntry;
      const n = Math.min(b.length - i, e.numbytes - inEntry, C - (pos % C));
      const piece = b.subarray(i, i + n);
      if (!isZero(piece)) {
        const k = Math.floor(pos / C);
        let c = chunks.get(k);
        if (!c) {
          if ((chunks.size + 1) * C > R.MAX_KEPT) {
            fail(
              'IMAGE_TOO_LARGE',
              `tar.gz: the disk holds more than ${formatBytes(R.MAX_KEPT)} of non-zero data, more than this reader keeps in memory; extract disk.raw (\`tar -xzf\`) and open it instead.`,
            );
          }
          chunks.set(k, (c = new Uint8Array(C)));
        }
        c.set(piece, pos % C);
      }
      inEntry += n;
      i += n;
    }
  };
  await tar.consume(stored, 'the disk data', put);

  async function* runs(): AsyncGenerator<DiskExtent> {
    let pos = 0;
    for (const e of map) {
      if (e.numbytes === 0) continue;
      if (e.offset > pos) yield { offset: pos, length: e.offset - pos, allocated: false };
      yield { offset: e.offset, length: e.numbytes, allocated: true };
      pos = e.offset + e.numbytes;
    }
    if (pos < size) yield { offset: pos, length: size - pos, allocated: false };
  }
  return {
    formatId: ID,
    size,
    async read(offset: number, length: number): Promise<Uint8Array> {
      const n = clipRead(size, offset, length);
      const out = new Uint8Array(n);
      for (let at = 0; at < n;) {
        const pos = offset + at;
        const take = Math.min(n - at, C - (pos % C));
        const c = chunks.get(Math.floor(pos / C));
        if (c) out.set(c.subarray(pos % C, (pos % C) + take), at);
        at += take;
      }
      return out;
    },
    extents: () => mergeRuns(runs(), size),
  };
}

/** Our GCE tar.gz (gzip's 1F 8B), or a plain tar ("ustar" at 257), holding disk.raw. */
export const gceReader: ImageReader = {
  name: 'GCE tar.gz',
  recognise: (p) => hasMagic(p.head, 0, [0x1f, 0x8b]) || hasMagic(p.head, 257, 'ustar'),
  open: openGce,
};
