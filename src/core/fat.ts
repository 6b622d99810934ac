/**
 * FAT12/16/32 formatter that produces plan pieces instead of a volume-sized
 * buffer: boot sector(s), FSInfo, the used head of each FAT, the root
 * directory and the files' data (referenced, not copied). Everything else is
 * zero. Files are allocated contiguously, in order, right after the root
 * directory, so a boot loader needs only a file's first sector and size.
 *
 * Facts from Microsoft's "FAT: General Overview of On-Disk Format" (fatgen103):
 * the FAT type follows from the cluster count alone (< 4085 FAT12, < 65525
 * FAT16, else FAT32), the recommended sectors-per-cluster tables, the BPB and
 * FSInfo layouts, long-name entries and their short-name checksum.
 */
import { ascii, u16le, u32le } from './bytes';
import { fail } from './errors';
import { formatBytes } from './units';
import type { Piece, Region } from './plan';
import { PART_TYPE } from './mbr';

const SECTOR = 512;
const DIRENT = 32;
const ATTR_VOLUME_ID = 0x08;
const ATTR_ARCHIVE = 0x20;
const ATTR_LFN = 0x0f;
/** NT case flags in byte 12 of a short entry: base / extension shown in lower case. */
const CASE_LOWER_BASE = 0x08;
const CASE_LOWER_EXT = 0x10;
const MEDIA = 0xf8;
const NUM_FATS = 2;
const ROOT_ENTRIES_12_16 = 512;
const FAT32_RESERVED = 32;
const FAT32_FSINFO = 1;
const FAT32_BACKUP_BOOT = 6;
const MAX_FILE_SIZE = 0xffffffff;

export type FatType = 12 | 16 | 32;

export interface FatFile {
  /** Name as users see it, e.g. "unikernel.bin"; long names get a long-name entry. */
  name: string;
  bytes: Uint8Array;
}

export interface FatOptions {
  /** Volume size in 512-byte sectors. */
  sectors: number;
  /** LBA of the volume on its disk (BPB hidden sectors). */
  hiddenSectors: number;
  /** Up to 11 characters; upper-cased. Empty for none. */
  label: string;
  serial: number;
  /** Seconds since 1970-01-01 UTC, for every timestamp. */
  timestamp: number;
  files: FatFile[];
  /** Force a FAT type (tests); normally chosen from the size. */
  type?: FatType;
}

export interface FatFileLocation {
  name: string;
  shortName: string;
  firstCluster: number;
  clusters: number;
  /** Byte offset of the file's data from the start of the volume. */
  offset: number;
  size: number;
}

export interface FatLayout {
  type: FatType;
  sectorsPerCluster: number;
  reservedSectors: number;
  fatSectors: number;
  rootDirSectors: number;
  /** First sector of cluster 2, relative to the volume. */
  dataStart: number;
  clusterCount: number;
}

export interface FatVolume extends FatLayout {
  partitionType: number;
  /** Offsets relative to the start of the volume. */
  pieces: Piece[];
  regions: Region[];
  files: FatFileLocation[];
  freeClusters: number;
}

/** fatgen103's recommended cluster sizes, by volume size in sectors. */
const FAT32_SPC: [number, number][] = [
  [532480, 1],
  [16777216, 8],
  [33554432, 16],
  [67108864, 32],
  [Infinity, 64],
];
const FAT16_SPC: [number, number][] = [
  [32680, 2],
  [262144, 4],
  [524288, 8],
  [1048576, 16],
  [2097152, 32],
  [4194304, 64],
];
/** Volumes from 512 MiB on are FAT32 (Microsoft's default); below 8400 sectors FAT12. */
const FAT32_FROM = 1048576;
const FAT12_BELOW = 8400;

function pick(table: [number, number][], sectors: number): number {
  for (const [limit, spc] of table) if (sectors <= limit) return spc;
  return table[table.length - 1][1];
}

function typeForCount(n: number): FatType {
  return n < 4085 ? 12 : n < 65525 ? 16 : 32;
}

/**
 * Compute a layout for `sectors` with the given type and cluster size:
 * reserved sectors are padded so that the data area starts on a cluster
 * boundary (relative to the volume, which itself starts 1 MiB-aligned).
 */
function layoutFor(sectors: number, type: FatType, spc: number): FatLayout {
  const rootDirSectors = type === 32 ? 0 : (ROOT_ENTRIES_12_16 * DIRENT) / SECTOR;
  const baseReserved = type === 32 ? FAT32_RESERVED : 1;
  const entryBits = type;
  let fatSectors = 1;
  for (let iter = 0; iter < 64; iter++) {
    const unpadded = baseReserved + NUM_FATS * fatSectors + rootDirSectors;
    const reserved = baseReserved + ((spc - (unpadded % spc)) % spc);
    const dataStart = reserved + NUM_FATS * fatSectors + rootDirSectors;
    const clusters = Math.max(0, Math.floor((sectors - dataStart) / spc));
    const need = Math.ceil(((clusters + 2) * entryBits) / 8 / SECTOR);
    if (need <= fatSectors) {
      return {
        type,
        sectorsPerCluster: spc,
        reservedSectors: reserved,
        fatSectors,
        rootDirSectors,
        dataStart,
        clusterCount: clusters,
      };
    }
    fatSectors = need;
  }
  throw new Error('internal: FAT layout did not converge');
}

/** Choose type and cluster size for a volume of `sectors`, per fatgen103. */
export function chooseLayout(sectors: number, forced?: FatType): FatLayout {
  let type: FatType = forced ?? (sectors >= FAT32_FROM ? 32 : sectors < FAT12_BELOW ? 12 : 16);
  let spc = type === 32 ? pick(FAT32_SPC, sectors) : type === 16 ? pick(FAT16_SPC, sectors) : 1;
  for (;;) {
    const l = layoutFor(sectors, type, spc);
    const actual = typeForCount(l.clusterCount);
    if (actual === type) return l;
    // Too many clusters for the type: bigger clusters. Too few: forced types fail, auto drops a type.
    if ((type === 12 && actual > 12) || (type === 16 && actual === 32)) {
      if (spc >= 128) break;
      spc *= 2;
      continue;
    }
    if (forced !== undefined) break;
    if (type === 32) {
      type = 16;
      spc = pick(FAT16_SPC, sectors);
    } else if (type === 16) {
      type = 12;
      spc = 1;
    } else break;
  }
  fail(
    'FAT_NO_LAYOUT',
    `A FAT${forced ?? ''} volume of ${formatBytes(sectors * SECTOR)} (${sectors} sectors) cannot be laid out with a valid cluster count; choose another size.`,
  );
}

/** DOS date and time words for a Unix time (UTC), clamped to 1980..2107. */
export function dosDateTime(unixSeconds: number): { date: number; time: number } {
  const d = new Date(Math.max(315532800, Math.min(unixSeconds, 4354819198)) * 1000);
  const date = ((d.getUTCFullYear() - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate();
  const time = (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1);
  return { date, time };
}

const SHORT_OK = /^[A-Z0-9!#$%&'()@^_`{}~-]+$/;

interface NameEntries {
  short: Uint8Array; // 11 bytes
  caseFlags: number;
  long?: string;
}

/** Short name, NT case flags, and whether a long-name entry is needed. */
export function shortName(name: string, taken: Set<string>): NameEntries {
  const dot = name.lastIndexOf('.');
  const base = dot > 0 ? name.slice(0, dot) : name;
  const ext = dot > 0 ? name.slice(dot + 1) : '';
  const fits =
    base.length <= 8 &&
    ext.length <= 3 &&
    SHORT_OK.test(base.toUpperCase()) &&
    (ext === '' || SHORT_OK.test(ext.toUpperCase()));
  const oneCase = (s: string) => s === s.toLowerCase() || s === s.toUpperCase();
  const short = new Uint8Array(11).fill(0x20);
  if (fits && oneCase(base) && oneCase(ext)) {
    ascii(short, 0, base.toUpperCase(), 8, 0x20);
    ascii(short, 8, ext.toUpperCase(), 3, 0x20);
    const flags =
      (base !== base.toUpperCase() ? CASE_LOWER_BASE : 0) | (ext !== ext.toUpperCase() ? CASE_LOWER_EXT : 0);
    taken.add(String.fromCharCode(...short));
    return { short, caseFlags: flags };
  }
  const clean = (s: string) => s.toUpperCase().replace(/[^A-Z0-9!#$%&'()@^_`{}~-]/g, '_');
  const b = clean(base.replace(/[ .]/g, ''));
  const e = clean(ext.replace(/ /g, '')).slice(0, 3);
  for (let n = 1; n < 1000000; n++) {
    const tail = `~${n}`;
    ascii(short, 0, b.slice(0, 8 - tail.length) + tail, 8, 0x20);
    ascii(short, 8, e, 3, 0x20);
    const key = String.fromCharCode(...short);
    if (!taken.has(key)) {
      taken.add(key);
      return { short, caseFlags: 0, long: name };
    }
  }
  throw new Error('internal: no free short name');
}

/** Checksum of an 11-byte short name, stored in each of its long-name entries. */
export function lfnChecksum(short: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = (((sum & 1) << 7) + (sum >> 1) + short[i]) & 0xff;
  return sum;
}

/** Long-name entries for `name`, in on-disk order (last part first). */
function lfnEntries(name: string, checksum: number): Uint8Array[] {
  const units: number[] = [];
  for (let i = 0; i < name.length; i++) units.push(name.charCodeAt(i));
  units.push(0);
  while (units.length % 13) units.push(0xffff);
  const count = units.length / 13;
  const out: Uint8Array[] = [];
  const slots = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
  for (let k = count; k >= 1; k--) {
    const e = new Uint8Array(DIRENT);
    e[0] = k | (k === count ? 0x40 : 0);
    e[11] = ATTR_LFN;
    e[13] = checksum;
    for (let j = 0; j < 13; j++) u16le(e, slots[j], units[(k - 1) * 13 + j]);
    out.push(e);
  }
  return out;
}

function shortEntry(
  short: Uint8Array,
  attr: number,
  caseFlags: number,
  cluster: number,
  size: number,
  when: { date: number; time: number },
): Uint8Array {
  const e = new Uint8Array(DIRENT);
  e.set(short, 0);
  e[11] = attr;
  e[12] = caseFlags;
  u16le(e, 14, when.time);
  u16le(e, 16, when.date);
  u16le(e, 18, when.date);
  u16le(e, 20, cluster >>> 16);
  u16le(e, 22, when.time);
  u16le(e, 24, when.date);
  u16le(e, 26, cluster & 0xffff);
  u32le(e, 28, size);
  return e;
}

/** The label as stored: upper case, 11 bytes, characters a short name allows (and space). */
export function normaliseLabel(label: string): string {
  const l = label.toUpperCase();
  if (l.length > 11 || !/^[A-Z0-9 !#$%&'()@^_`{}~-]*$/.test(l)) {
    fail(
      'FAT_BAD_LABEL',
      `The volume label "${label}" must be at most 11 characters of A-Z, 0-9, space and !#$%&'()@^_\`{}~-.`,
    );
  }
  return l.trimEnd();
}

/** Set FAT entry `n` to `v` in a FAT image buffer of the given type. */
function setFat(fat: Uint8Array, type: FatType, n: number, v: number): void {
  if (type === 32) u32le(fat, n * 4, v);
  else if (type === 16) u16le(fat, n * 2, v);
  else {
    const o = (n * 3) >> 1;
    if (n & 1) {
      fat[o] = (fat[o] & 0x0f) | ((v << 4) & 0xf0);
      fat[o + 1] = (v >> 4) & 0xff;
    } else {
      fat[o] = v & 0xff;
      fat[o + 1] = (fat[o + 1] & 0xf0) | ((v >> 8) & 0x0f);
    }
  }
}

/** How many clusters `files` need on a volume with this layout (excluding the FAT32 root). */
export function clustersNeeded(files: { size: number }[], clusterBytes: number): number {
  let n = 0;
  for (const f of files) n += Math.ceil(f.size / clusterBytes);
  return n;
}

/** Format a FAT volume holding `files`. */
export function formatFat(opts: FatOptions): FatVolume {
  const l = chooseLayout(opts.sectors, opts.type);
  const { type, sectorsPerCluster: spc } = l;
  const clusterBytes = spc * SECTOR;
  const eoc = type === 32 ? 0x0fffffff : type === 16 ? 0xffff : 0xfff;
  const label = normaliseLabel(opts.label);
  const when = dosDateTime(opts.timestamp);

  for (const f of opts.files) {
    if (f.bytes.length > MAX_FILE_SIZE) {
      fail(
        'FAT_FILE_TOO_BIG',
        `The file ${f.name} is ${formatBytes(f.bytes.length)}; FAT files are at most 4 GiB - 1 byte.`,
      );
    }
  }
  const rootClusters = type === 32 ? 1 : 0;
  const need =
    rootClusters +
    clustersNeeded(
      opts.files.map((f) => ({ size: f.bytes.length })),
      clusterBytes,
    );
  if (need > l.clusterCount) {
    fail(
      'FAT_FULL',
      `The files need ${need} clusters of ${formatBytes(clusterBytes)} (${formatBytes(need * clusterBytes)}) but the FAT${type} volume of ${formatBytes(opts.sectors * SECTOR)} has ${l.clusterCount}; choose a larger disk size.`,
    );
  }

  // Allocate: FAT32 root at cluster 2, then the files in order.
  let next = 2 + rootClusters;
  const taken = new Set<string>();
  const files: FatFileLocation[] = [];
  const entries: Uint8Array[] = [];
  if (label) {
    const s = new Uint8Array(11);
    ascii(s, 0, label, 11, 0x20);
    entries.push(shortEntry(s, ATTR_VOLUME_ID, 0, 0, 0, when));
  }
  for (const f of opts.files) {
    const n = shortName(f.name, taken);
    const clusters = Math.ceil(f.bytes.length / clusterBytes);
    const first = clusters ? next : 0;
    next += clusters;
    if (n.long) entries.push(...lfnEntries(n.long, lfnChecksum(n.short)));
    entries.push(shortEntry(n.short, ATTR_ARCHIVE, n.caseFlags, first, f.bytes.length, when));
    const shortText = String.fromCharCode(...n.short);
    files.push({
      name: f.name,
      shortName:
        shortText.slice(0, 8).trimEnd() + (shortText.slice(8).trim() ? '.' + shortText.slice(8).trimEnd() : ''),
      firstCluster: first,
      clusters,
      offset: (l.dataStart + (first - 2) * spc) * SECTOR,
      size: f.bytes.length,
    });
  }
  const rootCapacity = type === 32 ? clusterBytes / DIRENT : ROOT_ENTRIES_12_16;
  if (entries.length > rootCapacity) {
    fail(
      'FAT_ROOT_FULL',
      `The root directory holds ${rootCapacity} entries here but ${entries.length} are needed; use fewer or shorter file names.`,
    );
  }
  const usedClusters = next - 2;
  const freeClusters = l.clusterCount - usedClusters;

  // FAT: only the head that has non-zero entries.
  const fatHeadBytes = Math.ceil((next * type) / 8);
  const fat = new Uint8Array(Math.ceil(fatHeadBytes / SECTOR) * SECTOR);
  setFat(fat, type, 0, type === 32 ? 0x0fffff00 | MEDIA : type === 16 ? 0xff00 | MEDIA : 0xf00 | MEDIA);
  setFat(fat, type, 1, eoc);
  if (type === 32) setFat(fat, type, 2, eoc);
  for (const f of files) {
    for (let i = 0; i < f.clusters; i++)
      setFat(fat, type, f.firstCluster + i, i === f.clusters - 1 ? eoc : f.firstCluster + i + 1);
  }

  // Boot sector.
  const bs = new Uint8Array(SECTOR);
  const bootCodeAt = type === 32 ? 0x5a : 0x3e;
  bs.set([0xeb, bootCodeAt - 2, 0x90], 0);
  ascii(bs, 3, 'U5IMAGE', 8, 0x20);
  u16le(bs, 11, SECTOR);
  bs[13] = spc;
  u16le(bs, 14, l.reservedSectors);
  bs[16] = NUM_FATS;
  u16le(bs, 17, type === 32 ? 0 : ROOT_ENTRIES_12_16);
  u16le(bs, 19, type !== 32 && opts.sectors < 0x10000 ? opts.sectors : 0);
  bs[21] = MEDIA;
  u16le(bs, 22, type === 32 ? 0 : l.fatSectors);
  u16le(bs, 24, 63);
  u16le(bs, 26, 255);
  u32le(bs, 28, opts.hiddenSectors);
  u32le(bs, 32, type !== 32 && opts.sectors < 0x10000 ? 0 : opts.sectors);
  let ext = 36;
  if (type === 32) {
    u32le(bs, 36, l.fatSectors);
    u16le(bs, 40, 0); // mirror FATs
    u16le(bs, 42, 0); // version 0.0
    u32le(bs, 44, 2); // root cluster
    u16le(bs, 48, FAT32_FSINFO);
    u16le(bs, 50, FAT32_BACKUP_BOOT);
    ext = 64;
  }
  bs[ext] = 0x80; // drive number
  bs[ext + 2] = 0x29; // extended boot signature
  u32le(bs, ext + 3, opts.serial);
  ascii(bs, ext + 7, label || 'NO NAME', 11, 0x20);
  ascii(bs, ext + 18, `FAT${type}`, 8, 0x20);
  // Not a boot sector of its own: the MBR's loader starts the kernel. If a
  // BIOS or chain loader ever runs this code, it halts quietly (cli; hlt; jmp).
  bs.set([0xfa, 0xf4, 0xeb, 0xfd], bootCodeAt);
  bs[510] = 0x55;
  bs[511] = 0xaa;

  const pieces: Piece[] = [];
  const at = (sector: number) => sector * SECTOR;
  if (type === 32) {
    const fsinfo = new Uint8Array(SECTOR);
    u32le(fsinfo, 0, 0x41615252);
    u32le(fsinfo, 484, 0x61417272);
    u32le(fsinfo, 488, freeClusters);
    u32le(fsinfo, 492, freeClusters > 0 ? next : 0xffffffff);
    u32le(fsinfo, 508, 0xaa550000);
    // Sectors 0-2 are the boot record (sector 2 carries only the signature, as
    // some tools expect); 6-8 are its backup.
    const third = new Uint8Array(SECTOR);
    third[510] = 0x55;
    third[511] = 0xaa;
    const record = new Uint8Array(3 * SECTOR);
    record.set(bs, 0);
    record.set(fsinfo, SECTOR);
    record.set(third, 2 * SECTOR);
    pieces.push({ offset: at(0), bytes: record });
    pieces.push({ offset: at(FAT32_BACKUP_BOOT), bytes: record.slice() });
  } else {
    pieces.push({ offset: 0, bytes: bs });
  }
  for (let i = 0; i < NUM_FATS; i++)
    pieces.push({ offset: at(l.reservedSectors + i * l.fatSectors), bytes: i === 0 ? fat : fat.slice() });
  const dir = new Uint8Array(Math.ceil((entries.length * DIRENT) / SECTOR) * SECTOR || SECTOR);
  entries.forEach((e, i) => dir.set(e, i * DIRENT));
  const rootOffset = type === 32 ? at(l.dataStart) : at(l.reservedSectors + NUM_FATS * l.fatSectors);
  pieces.push({ offset: rootOffset, bytes: dir });
  opts.files.forEach((f, i) => {
    if (f.bytes.length) pieces.push({ offset: files[i].offset, bytes: f.bytes });
  });

  const regions: Region[] = [
    {
      name: type === 32 ? 'Reserved sectors' : 'Boot sector',
      start: 0,
      length: at(l.reservedSectors),
      note:
        type === 32
          ? 'FAT32 boot record, FSInfo and their backups (reserved sectors)'
          : 'Boot sector with the BIOS parameter block',
    },
    {
      name: 'FAT 1',
      start: at(l.reservedSectors),
      length: at(l.fatSectors),
      note: `File allocation table: one ${type}-bit entry per cluster`,
    },
    {
      name: 'FAT 2',
      start: at(l.reservedSectors + l.fatSectors),
      length: at(l.fatSectors),
      note: 'Second copy of the FAT',
    },
  ];
  if (type !== 32)
    regions.push({
      name: 'Root directory',
      start: rootOffset,
      length: at(l.rootDirSectors),
      note: `${ROOT_ENTRIES_12_16} directory entries`,
    });
  regions.push({
    name: 'Data',
    start: at(l.dataStart),
    length: at(opts.sectors - l.dataStart),
    note: `${l.clusterCount} clusters of ${formatBytes(clusterBytes)}`,
  });

  return {
    ...l,
    partitionType: type === 32 ? PART_TYPE.fat32lba : type === 16 ? PART_TYPE.fat16lba : PART_TYPE.fat12,
    pieces,
    regions,
    files,
    freeClusters,
  };
}
