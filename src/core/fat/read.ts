/**
 * FAT12/16/32 reader: the BPB, FSInfo, directories (with VFAT long names)
 * and files by their cluster chains, read on demand from a disk; never the
 * whole volume. Everything read is untrusted: impossible BPB values, chains
 * that leave the volume, loop or end early, and trees too big to follow are
 * coded errors, and every walk is bounded.
 *
 * Facts from Microsoft's "FAT: General Overview of On-Disk Format"
 * (fatgen103): the type follows from the cluster count alone, the BPB and
 * FSInfo offsets, end-of-chain and bad-cluster marks, long-name entries and
 * their checksum. The writer and the field tables are beside it in this folder.
 */
import { charText, rd16le, rd32le } from '../bytes';
import { fail } from '../errors';
import { lfnChecksum } from './dir';
import type { FatType } from './layout';
import {
  BPB,
  decodeBpb,
  EBPB,
  EBPB_AT,
  FSINFO,
  FSINFO_LEAD,
  FSINFO_STRUCT,
  FSINFO_TRAIL,
  NO_LABEL,
  TEXT_LENGTH,
  type FatBpb,
} from './boot-sector';
import { ATTR, CASE, DIRENT, LFN } from './dir';
import { MIN_CLUSTERS } from './layout';
import { formatBytes, GIB, hex, MIB, SECTOR } from '../units';
import { terminalSafe } from '../terminal';

/** Sector sizes a BPB may declare (fatgen103). */

/**
 * What the writer's tables (src/core/fat/) do not name, because only a
 * reader meets it: the directory attribute, a deleted entry, the 0x05 escape
 * for a name that starts with 0xE5, and the extended-BPB signatures.
 */
const ATTR_DIR = 0x10;
const DELETED = 0xe5;
const E5_ESCAPE = 0x05;
/** The low six attribute bits; a long-name entry has ATTR.longName there. */
const ATTR_MASK = 0x3f;
/** Order byte of a long-name entry: sequence number (1..20) in the low 5 bits. */
const LFN_ORDER_MASK = 0x1f;
const LFN_MAX_ENTRIES = 20;
/** Extended boot signatures: 0x29 (serial, label and type follow), 0x28 (the serial only). */
const EXT_SIG_FULL = 0x29;
const EXT_SIG_SERIAL = 0x28;
/** FAT12 below MIN_CLUSTERS[16] clusters, FAT16 below MIN_CLUSTERS[32] (fatgen103). */
const FAT12_MAX = MIN_CLUSTERS[16];
const FAT16_MAX = MIN_CLUSTERS[32];
/** FAT32 entries are 28 bits; 0x0FFFFFF7 and up are marks, so clusters 2..0x0FFFFFF6. */
const FAT32_MAX_CLUSTERS = 0x0ffffff5;

/** Bounds for walking untrusted trees. */
export const FAT_LIMITS = {
  /** A directory holds at most 65536 entries (2 MiB), by the specification. */
  dirBytes: 2 * MIB,
  /** Entries listed over the whole tree, and how deep. */
  treeEntries: 10000,
  /**
   * Directory bytes read while listing the whole tree: directories may share
   * clusters (a hostile chain), so the entry count alone does not bound the
   * reading. Our volumes' directories take a few KiB.
   */
  treeBytes: 16 * MIB,
  treeDepth: 16,
  /** The FAT sectors kept in memory at once. */
  cacheSectors: 1024,
} as const;

/** Directory bytes a walk may still read (FAT_LIMITS.treeBytes at its start). */
export interface DirBudget {
  bytes: number;
}

/** Anything with random-access reads: a DiskImage, or a test's array. */
export interface Readable {
  read(offset: number, length: number): Promise<Uint8Array>;
}

export interface FsInfo {
  valid: boolean;
  /** 0xFFFFFFFF: unknown. */
  freeCount: number;
  nextFree: number;
}

export interface FatEntry {
  /** The long name if there is a valid one, else the short name as shown (case flags applied). */
  name: string;
  /** "UNIKER~1.BIN". */
  shortName: string;
  /** "/boot/syslinux/syslinux.cfg". */
  path: string;
  attr: number;
  isDir: boolean;
  firstCluster: number;
  size: number;
  /** Absolute byte offset (in the disk) of the 32-byte short entry. */
  entryOffset: number;
}

function shortText(raw: Uint8Array, ntCase = 0): string {
  const n = Uint8Array.from(raw.subarray(0, 11));
  if (n[0] === E5_ESCAPE) n[0] = DELETED;
  let base = charText(n.subarray(0, 8)).trimEnd();
  let ext = charText(n.subarray(8, 11)).trimEnd();
  if (ntCase & CASE.lowerBase) base = base.toLowerCase();
  if (ntCase & CASE.lowerExt) ext = ext.toLowerCase();
  return ext ? `${base}.${ext}` : base;
}

/** A FAT volume on a disk, read on demand. */
export class FatReader {
  readonly type: FatType;
  readonly clusterCount: number;
  readonly clusterBytes: number;
  /** Volume-relative sectors. */
  readonly fatStart: number;
  readonly rootDirStart: number;
  readonly rootDirSectors: number;
  readonly dataStart: number;
  /** The cluster count says another type than the layout (a FAT32 layout with fewer than 65525 clusters). */
  readonly countMismatch: boolean;
  private readonly cache = new Map<number, Uint8Array>();

  private constructor(
    private readonly disk: Readable,
    /** Absolute byte offset of the volume on the disk. */
    readonly offset: number,
    readonly bpb: FatBpb,
    readonly bootSector: Uint8Array,
    readonly label: string,
    readonly serial: number | undefined,
    readonly fsTypeText: string,
  ) {
    const b = bpb;
    this.rootDirSectors = Math.ceil((b.rootEntries * DIRENT.size) / b.bytesPerSector);
    this.fatStart = b.reservedSectors;
    this.rootDirStart = b.reservedSectors + b.numFats * b.fatSectors;
    this.dataStart = this.rootDirStart + this.rootDirSectors;
    this.clusterBytes = b.sectorsPerCluster * b.bytesPerSector;
    const bad = (field: string, value: number, why: string): never =>
      fail(
        'FAT_BAD_BPB',
        `The FAT boot sector's ${field} is ${value}, ${why}; the volume is damaged (fsck.fat may repair it).`,
      );
    if (this.dataStart >= b.totalSectors) {
      bad('sectors per FAT', b.fatSectors, `which leaves no data area in a volume of ${b.totalSectors} sectors`);
    }
    this.clusterCount = Math.floor((b.totalSectors - this.dataStart) / b.sectorsPerCluster);
    const isFat32 = b.rootEntries === 0 && rd16le(bootSector, BPB.fatSectors16) === 0;
    // A FAT32 layout is read as FAT32 whatever its cluster count (as Linux does; verify
    // notes the count); a FAT12/16 layout cannot address 65525 clusters or more.
    const byCount: FatType = this.clusterCount < FAT12_MAX ? 12 : this.clusterCount < FAT16_MAX ? 16 : 32;
    this.type = isFat32 ? 32 : byCount;
    this.countMismatch = byCount !== this.type;
    if (!isFat32 && byCount === 32) {
      bad('cluster count', this.clusterCount, 'too many for a FAT12/16 layout (at most 65524)');
    }
    if (this.clusterCount > FAT32_MAX_CLUSTERS) {
      bad('cluster count', this.clusterCount, `more than FAT32's 28-bit entries address (${FAT32_MAX_CLUSTERS})`);
    }
    const fatBytesNeeded = Math.ceil(((this.clusterCount + 2) * this.type) / 8);
    if (b.fatSectors * b.bytesPerSector < fatBytesNeeded) {
      bad('sectors per FAT', b.fatSectors, `too few for ${this.clusterCount} clusters of FAT${this.type}`);
    }
    if (this.type === 32 && !this.validCluster(b.rootCluster)) {
      bad('root directory cluster', b.rootCluster, `outside 2..${this.clusterCount + 1}`);
    }
  }

  /** Read the boot sector at `offset` (absolute) of a volume `length` bytes long. */
  static async open(disk: Readable, offset: number, length: number): Promise<FatReader> {
    const bs = await disk.read(offset, SECTOR);
    const bpb = decodeBpb(bs, length);
    const full = bpb.bytesPerSector > SECTOR ? await disk.read(offset, bpb.bytesPerSector) : bs;
    const ext = bpb.rootEntries === 0 && rd16le(bs, BPB.fatSectors16) === 0 ? EBPB_AT[32] : EBPB_AT[16];
    const hasExt = bs[ext + EBPB.bootSignature] === EXT_SIG_FULL || bs[ext + EBPB.bootSignature] === EXT_SIG_SERIAL;
    const serial = hasExt ? rd32le(bs, ext + EBPB.volumeId) : undefined;
    const fsType =
      bs[ext + EBPB.bootSignature] === EXT_SIG_FULL
        ? charText(bs.subarray(ext + EBPB.fsType, ext + EBPB.fsType + TEXT_LENGTH.fsType)).trim()
        : '';
    const bootLabel =
      bs[ext + EBPB.bootSignature] === EXT_SIG_FULL
        ? charText(bs.subarray(ext + EBPB.volumeLabel, ext + EBPB.volumeLabel + TEXT_LENGTH.volumeLabel)).trimEnd()
        : '';
    const r = new FatReader(disk, offset, bpb, full, bootLabel === NO_LABEL ? '' : bootLabel, serial, fsType);
    return r;
  }

  validCluster(c: number): boolean {
    return c >= 2 && c <= this.clusterCount + 1;
  }

  /** Absolute byte offset of cluster `c` on the disk. */
  clusterOffset(c: number): number {
    return this.offset + (this.dataStart + (c - 2) * this.bpb.sectorsPerCluster) * this.bpb.bytesPerSector;
  }

  /** Absolute byte offset of FAT copy `copy`. */
  fatOffset(copy: number): number {
    return this.offset + (this.fatStart + copy * this.bpb.fatSectors) * this.bpb.bytesPerSector;
  }

  /** The FAT copy that is read: 0, or the active one when mirroring is off (FAT32). */
  get readFat(): number {
    return this.type === 32 && this.bpb.mirrorDisabled && this.bpb.activeFat < this.bpb.numFats
      ? this.bpb.activeFat
      : 0;
  }

  /** End-of-chain marks start here. */
  get eocMin(): number {
    return this.type === 32 ? 0x0ffffff8 : this.type === 16 ? 0xfff8 : 0xff8;
  }

  get badMark(): number {
    return this.eocMin - 1;
  }

  private async fatBytes(byteOff: number, len: number): Promise<Uint8Array> {
    const bps = this.bpb.bytesPerSector;
    const out = new Uint8Array(len);
    for (let i = 0; i < len;) {
      const at = byteOff + i;
      const s = Math.floor(at / bps);
      let sec = this.cache.get(s);
      if (!sec) {
        if (this.cache.size >= FAT_LIMITS.cacheSectors) this.cache.clear();
        sec = await this.disk.read(this.fatOffset(this.readFat) + s * bps, bps);
        this.cache.set(s, sec);
      }
      const from = at - s * bps;
      const n = Math.min(len - i, bps - from);
      out.set(sec.subarray(from, from + n), i);
      i += n;
    }
    return out;
  }

  /** The FAT entry of cluster `n` (28 bits on FAT32). */
  async entry(n: number): Promise<number> {
    if (this.type === 32) return rd32le(await this.fatBytes(n * 4, 4), 0) & 0x0fffffff;
    if (this.type === 16) return rd16le(await this.fatBytes(n * 2, 2), 0);
    const v = rd16le(await this.fatBytes((n * 3) >> 1, 2), 0);
    return n & 1 ? v >> 4 : v & 0xfff;
  }

  /**
   * The clusters of a chain from `first`, at most `max` of them (the rest is
   * not followed). Refuses a chain that leaves the volume, meets a free or bad
   * cluster, or loops. `what` names the file for messages.
   */
  async chain(first: number, max: number, what: string): Promise<number[]> {
    const out: number[] = [];
    const seen = new Set<number>();
    let c = first;
    for (;;) {
      if (!this.validCluster(c)) {
        fail(
          'FAT_BAD_CLUSTER',
          `The cluster chain of ${what} ${out.length ? `goes from cluster ${out[out.length - 1]} to` : 'starts at'} ${c === 0 ? 'a free entry (0)' : `cluster ${c}`}, outside the volume's clusters 2..${this.clusterCount + 1}; the FAT is damaged (fsck.fat may repair it).`,
        );
      }
      if (seen.has(c)) {
        fail(
          'FAT_CHAIN_LOOP',
          `The cluster chain of ${what} runs back into cluster ${c}; the FAT is damaged (fsck.fat may repair it).`,
        );
      }
      seen.add(c);
      out.push(c);
      if (out.length >= max) return out;
      const next = await this.entry(c);
      if (next >= this.eocMin) return out;
      if (next === this.badMark) {
        fail(
          'FAT_BAD_CLUSTER',
          `The cluster chain of ${what} reaches cluster ${c}, marked bad (${hex(next)}); the volume is damaged.`,
        );
      }
      c = next;
    }
  }

  /** Read a chain's clusters (contiguous runs in one read each) into one buffer of `size` bytes. */
  private async readClusters(clusters: number[], size: number): Promise<Uint8Array> {
    const out = new Uint8Array(size);
    let pos = 0;
    for (let i = 0; i < clusters.length && pos < size;) {
      let j = i + 1;
      while (j < clusters.length && clusters[j] === clusters[j - 1] + 1) j++;
      const n = Math.min((j - i) * this.clusterBytes, size - pos);
      out.set(await this.disk.read(this.clusterOffset(clusters[i]), n), pos);
      pos += n;
      i = j;
    }
    return out;
  }

  /** A file's bytes; refuses (coded) chains shorter than its size, and files above `limit`. */
  async readFile(e: FatEntry, limit = GIB): Promise<Uint8Array> {
    if (e.size > limit) {
      fail(
        'FILE_TOO_BIG_TO_READ',
        `The file ${terminalSafe(e.path)} is ${formatBytes(e.size)}; files above ${formatBytes(limit)} are not read into memory.`,
      );
    }
    if (e.size === 0) return new Uint8Array(0);
    const need = Math.ceil(e.size / this.clusterBytes);
    const clusters = await this.chain(e.firstCluster, need, e.path);
    if (clusters.length < need) {
      fail(
        'FAT_CHAIN_SHORT',
        `The file ${terminalSafe(e.path)} is ${e.size} bytes (${need} clusters) but its cluster chain ends after ${clusters.length}; the FAT is damaged (fsck.fat may repair it).`,
      );
    }
    return this.readClusters(clusters, e.size);
  }

  /** A directory's clusters (FAT32 root, or any subdirectory). */
  async dirClusters(first: number, what: string, budget?: DirBudget): Promise<number[]> {
    const max = Math.max(1, Math.floor(FAT_LIMITS.dirBytes / this.clusterBytes));
    const left = budget ? Math.floor(budget.bytes / this.clusterBytes) : Infinity;
    const clusters = await this.chain(first, Math.min(max, left) + 1, what);
    if (budget && clusters.length > left) {
      fail(
        'FAT_TREE_TOO_BIG',
        `The FAT volume's directories take more than ${formatBytes(FAT_LIMITS.treeBytes)} to read (at ${terminalSafe(what)}): their cluster chains are shared or far longer than a unikernel disk's, so the tree is not read further.`,
      );
    }
    if (budget) budget.bytes -= clusters.length * this.clusterBytes;
    if (clusters.length > max) {
      fail(
        'FAT_TREE_TOO_BIG',
        `The directory ${what} is longer than ${formatBytes(FAT_LIMITS.dirBytes)} (65536 entries), the most FAT allows; the FAT is damaged.`,
      );
    }
    return clusters;
  }

  /** The raw bytes of a directory, and the absolute disk offset of each of its 32-byte slots. */
  private async dirBytes(
    dir: FatEntry | null,
    budget?: DirBudget,
  ): Promise<{ bytes: Uint8Array; slotOffset: (i: number) => number }> {
    const bps = this.bpb.bytesPerSector;
    if (!dir && this.type !== 32) {
      const start = this.offset + this.rootDirStart * bps;
      const bytes = await this.disk.read(start, this.rootDirSectors * bps);
      return { bytes, slotOffset: (i) => start + i * DIRENT.size };
    }
    const first = dir ? dir.firstCluster : this.bpb.rootCluster;
    const clusters = await this.dirClusters(first, dir ? dir.path : 'the root directory', budget);
    const bytes = await this.readClusters(clusters, clusters.length * this.clusterBytes);
    const per = this.clusterBytes / DIRENT.size;
    return {
      bytes,
      slotOffset: (i) => this.clusterOffset(clusters[Math.floor(i / per)]) + (i % per) * DIRENT.size,
    };
  }

  /** Entries of a directory (null: the root), without `.`, `..`, the volume label and deleted entries. */
  async readDir(dir: FatEntry | null, budget?: DirBudget): Promise<FatEntry[]> {
    const { bytes, slotOffset } = await this.dirBytes(dir, budget);
    const parent = dir ? dir.path : '';
    const out: FatEntry[] = [];
    let lfn: { units: number[]; checksum: number; next: number } | null = null;
    for (let i = 0; i * DIRENT.size + DIRENT.size <= bytes.length; i++) {
      const e = bytes.subarray(i * DIRENT.size, (i + 1) * DIRENT.size);
      if (e[0] === 0) break;
      if (e[0] === DELETED) {
        lfn = null;
        continue;
      }
      const attr = e[DIRENT.attr];
      if ((attr & ATTR_MASK) === ATTR.longName) {
        const order = e[LFN.order] & LFN_ORDER_MASK;
        const units = LFN.units.map((s) => rd16le(e, s));
        if (e[LFN.order] & LFN.LAST) {
          lfn = order >= 1 && order <= LFN_MAX_ENTRIES ? { units: [], checksum: e[LFN.checksum], next: order } : null;
        }
        if (lfn && lfn.next === order && lfn.checksum === e[LFN.checksum]) {
          lfn.units = [...units, ...lfn.units];
          lfn.next = order - 1;
        } else lfn = null;
        continue;
      }
      const long = lfn && lfn.next === 0 && lfn.checksum === lfnChecksum(e.subarray(0, 11)) ? lfn.units : null;
      lfn = null;
      if (attr & ATTR.volumeId) continue;
      const short = shortText(e, e[DIRENT.ntCase]);
      if (short === '.' || short === '..') continue;
      let name = short;
      if (long) {
        const end = long.indexOf(0);
        name = String.fromCharCode(...(end >= 0 ? long.slice(0, end) : long));
      }
      const hi = this.type === 32 ? rd16le(e, DIRENT.clusterHigh) : 0;
      out.push({
        name,
        shortName: shortText(e),
        path: `${parent}/${name}`,
        attr,
        isDir: (attr & ATTR_DIR) !== 0,
        firstCluster: (hi << 16) + rd16le(e, DIRENT.clusterLow),
        size: rd32le(e, DIRENT.fileSize),
        entryOffset: slotOffset(i),
      });
    }
    return out;
  }

  /** The volume label from the root directory's label entry, else the boot sector's. */
  async volumeLabel(): Promise<string> {
    const { bytes } = await this.dirBytes(null);
    for (let i = 0; i * DIRENT.size < bytes.length; i++) {
      const e = bytes.subarray(i * DIRENT.size, (i + 1) * DIRENT.size);
      if (e[0] === 0) break;
      if (e[0] !== DELETED && (e[DIRENT.attr] & ATTR_MASK) !== ATTR.longName && e[DIRENT.attr] & ATTR.volumeId) {
        return charText(e.subarray(0, 11)).trimEnd();
      }
    }
    return this.label;
  }

  /** Every file and directory, breadth first, bounded in count, depth and directory bytes read. */
  async list(): Promise<FatEntry[]> {
    const budget: DirBudget = { bytes: FAT_LIMITS.treeBytes };
    const out: FatEntry[] = [];
    const seenDirs = new Set<number>();
    let level: (FatEntry | null)[] = [null];
    for (let depth = 0; level.length; depth++) {
      const next: FatEntry[] = [];
      for (const d of level) {
        for (const e of await this.readDir(d, budget)) {
          out.push(e);
          if (out.length > FAT_LIMITS.treeEntries) {
            fail(
              'FAT_TREE_TOO_BIG',
              `The FAT volume holds more than ${FAT_LIMITS.treeEntries} files and directories; a unikernel disk has a handful, so this is not read further.`,
            );
          }
          if (e.isDir && e.firstCluster !== 0 && !seenDirs.has(e.firstCluster)) {
            seenDirs.add(e.firstCluster);
            if (depth + 1 < FAT_LIMITS.treeDepth) next.push(e);
          }
        }
      }
      level = next;
    }
    return out;
  }

  /** Find a path ("/boot/syslinux/syslinux.cfg"), case-insensitively as FAT does, by long or short name. */
  async find(path: string): Promise<FatEntry | undefined> {
    const parts = path.split('/').filter(Boolean);
    let dir: FatEntry | null = null;
    for (let i = 0; i < parts.length; i++) {
      const want = parts[i].toUpperCase();
      const hit: FatEntry | undefined = (await this.readDir(dir)).find(
        (e) => e.name.toUpperCase() === want || e.shortName.toUpperCase() === want,
      );
      if (!hit) return undefined;
      if (i === parts.length - 1) return hit;
      if (!hit.isDir) return undefined;
      dir = hit;
    }
    return undefined;
  }

  /** FAT32's FSInfo sector, when there is one. */
  async fsInfo(): Promise<FsInfo | undefined> {
    const s = this.bpb.fsInfoSector;
    if (this.type !== 32 || s === 0 || s === 0xffff || s >= this.bpb.reservedSectors) return undefined;
    const b = await this.disk.read(this.offset + s * this.bpb.bytesPerSector, SECTOR);
    return {
      valid:
        rd32le(b, FSINFO.leadSignature) === FSINFO_LEAD &&
        rd32le(b, FSINFO.structSignature) === FSINFO_STRUCT &&
        rd32le(b, FSINFO.trailSignature) === FSINFO_TRAIL,
      freeCount: rd32le(b, FSINFO.freeCount),
      nextFree: rd32le(b, FSINFO.nextFree),
    };
  }

  /**
   * Walk one FAT copy in chunks of at most 1 MiB (bounded memory): `visit`
   * gets each chunk's bytes and the byte offset of the chunk in the FAT.
   */
  async scanFat(copy: number, visit: (bytes: Uint8Array, at: number) => void): Promise<void> {
    const total = Math.ceil(((this.clusterCount + 2) * this.type) / 8);
    const step = MIB - (MIB % 12); // whole entries of every width in each chunk
    for (let at = 0; at < total; at += step)
      visit(await this.disk.read(this.fatOffset(copy) + at, Math.min(step, total - at)), at);
  }

  /** Entries of clusters 2..count+1 that are free, counted over the whole FAT in 1 MiB chunks. */
  async countFree(): Promise<number> {
    let free = 0;
    await this.scanFat(this.readFat, (b, at) => {
      if (this.type === 32) {
        for (let o = 0; o + 4 <= b.length; o += 4) {
          const n = (at + o) / 4;
          if (n >= 2 && n < this.clusterCount + 2 && (rd32le(b, o) & 0x0fffffff) === 0) free++;
        }
      } else if (this.type === 16) {
        for (let o = 0; o + 2 <= b.length; o += 2) {
          const n = (at + o) / 2;
          if (n >= 2 && n < this.clusterCount + 2 && rd16le(b, o) === 0) free++;
        }
      } else {
        // FAT12 is at most 6 KiB: one chunk.
        for (let n = 2; n < this.clusterCount + 2; n++) {
          const o = (n * 3) >> 1;
          const v = b[o] | (b[o + 1] << 8);
          if ((n & 1 ? v >> 4 : v & 0xfff) === 0) free++;
        }
      }
    });
    return free;
  }
}

/** Decode text files (configuration) as UTF-8, without TextDecoder (not in the core's lib). */
export function utf8Decode(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length;) {
    const c = b[i];
    let cp = 0xfffd;
    let n = 1;
    if (c < 0x80) cp = c;
    else if (c >= 0xc2 && c < 0xe0 && i + 1 < b.length && (b[i + 1] & 0xc0) === 0x80) {
      cp = ((c & 0x1f) << 6) | (b[i + 1] & 0x3f);
      n = 2;
    } else if (c >= 0xe0 && c < 0xf0 && i + 2 < b.length && (b[i + 1] & 0xc0) === 0x80 && (b[i + 2] & 0xc0) === 0x80) {
      cp = ((c & 0x0f) << 12) | ((b[i + 1] & 0x3f) << 6) | (b[i + 2] & 0x3f);
      n = 3;
    } else if (
      c >= 0xf0 &&
      c < 0xf5 &&
      i + 3 < b.length &&
      (b[i + 1] & 0xc0) === 0x80 &&
      (b[i + 2] & 0xc0) === 0x80 &&
      (b[i + 3] & 0xc0) === 0x80
    ) {
      cp = ((c & 0x07) << 18) | ((b[i + 1] & 0x3f) << 12) | ((b[i + 2] & 0x3f) << 6) | (b[i + 3] & 0x3f);
      n = 4;
    }
    s += String.fromCodePoint(cp);
    i += n;
  }
  return s;
}
