/**
 * FAT directory entries: 32-byte short (8.3) entries, the volume label entry,
 * long-name entries with their short-name checksum, and the DOS date/time
 * words they carry. Field offsets from fatgen103.
 */
import { ascii, u16le, u32le } from '../bytes';
import { fail } from '../errors';
import { SECTOR } from '../units';

/** A short (8.3) directory entry. */
export const DIRENT = {
  size: 32,
  name: 0, // 11 bytes: 8 of base, 3 of extension, space-padded
  attr: 11,
  ntCase: 12, // NT case flags (CASE below)
  createTenths: 13, // left zero
  createTime: 14,
  createDate: 16,
  accessDate: 18,
  clusterHigh: 20, // high 16 bits of the first cluster (FAT32)
  writeTime: 22,
  writeDate: 24,
  clusterLow: 26,
  fileSize: 28,
} as const;

/** A long-name entry: 13 UTF-16 units spread over three runs of the 32 bytes. */
export const LFN = {
  order: 0, // sequence number, LAST marks the entry that comes first on disk
  attr: 11, // always ATTR.longName
  checksum: 13, // lfnChecksum() of the short name
  /** Offsets of the 13 UTF-16 units (bytes 1-10, 14-25, 28-31). */
  units: [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30],
  unitsPerEntry: 13,
  LAST: 0x40,
} as const;

export const ATTR = { volumeId: 0x08, directory: 0x10, archive: 0x20, longName: 0x0f } as const;
/** NT case flags in a short entry: base / extension shown in lower case. */
export const CASE = { lowerBase: 0x08, lowerExt: 0x10 } as const;

/** Bytes of a short name, and of the volume label. */
const SHORT_NAME_LENGTH = 11;
const BASE_LENGTH = 8;
const EXT_LENGTH = 3;
const PAD = 0x20;

/** 1980-01-01T00:00:00Z, the earliest time FAT can store. */
export const FAT_EPOCH = 315532800;
/** 2107-12-31T23:59:58Z, the latest time FAT can store (two-second resolution). */
export const FAT_LAST_TIME = 4354819198;

export interface DosDateTime {
  date: number;
  time: number;
}

/** DOS date and time words for a Unix time (UTC), clamped to 1980..2107. */
export function dosDateTime(unixSeconds: number): DosDateTime {
  const d = new Date(Math.max(FAT_EPOCH, Math.min(unixSeconds, FAT_LAST_TIME)) * 1000);
  const date = ((d.getUTCFullYear() - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate();
  const time = (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1);
  return { date, time };
}

const SHORT_OK = /^[A-Z0-9!#$%&'()@^_`{}~-]+$/;

export interface NameEntries {
  /** The 11 bytes of the short name. */
  short: Uint8Array;
  caseFlags: number;
  /** Set when the name needs long-name entries. */
  long?: string;
}

/** Short name, NT case flags, and whether a long-name entry is needed. */
export function shortName(name: string, taken: Set<string>): NameEntries {
  const dot = name.lastIndexOf('.');
  const base = dot > 0 ? name.slice(0, dot) : name;
  const ext = dot > 0 ? name.slice(dot + 1) : '';
  const fits =
    base.length <= BASE_LENGTH &&
    ext.length <= EXT_LENGTH &&
    SHORT_OK.test(base.toUpperCase()) &&
    (ext === '' || SHORT_OK.test(ext.toUpperCase()));
  const oneCase = (s: string) => s === s.toLowerCase() || s === s.toUpperCase();
  const short = new Uint8Array(SHORT_NAME_LENGTH).fill(PAD);
  if (fits && oneCase(base) && oneCase(ext)) {
    ascii(short, 0, base.toUpperCase(), BASE_LENGTH, PAD);
    ascii(short, BASE_LENGTH, ext.toUpperCase(), EXT_LENGTH, PAD);
    const flags = (base !== base.toUpperCase() ? CASE.lowerBase : 0) | (ext !== ext.toUpperCase() ? CASE.lowerExt : 0);
    taken.add(String.fromCharCode(...short));
    return { short, caseFlags: flags };
  }
  const clean = (s: string) => s.toUpperCase().replace(/[^A-Z0-9!#$%&'()@^_`{}~-]/g, '_');
  const b = clean(base.replace(/[ .]/g, ''));
  const e = clean(ext.replace(/ /g, '')).slice(0, EXT_LENGTH);
  for (let n = 1; n < 1000000; n++) {
    const tail = `~${n}`;
    ascii(short, 0, b.slice(0, BASE_LENGTH - tail.length) + tail, BASE_LENGTH, PAD);
    ascii(short, BASE_LENGTH, e, EXT_LENGTH, PAD);
    const key = String.fromCharCode(...short);
    if (!taken.has(key)) {
      taken.add(key);
      return { short, caseFlags: 0, long: name };
    }
  }
  throw new Error('internal: no free short name');
}

/** A short name as people write it: "UNIKER~1.BIN", "README". */
export function displayShortName(short: Uint8Array): string {
  const text = String.fromCharCode(...short);
  const ext = text.slice(BASE_LENGTH).trimEnd();
  return text.slice(0, BASE_LENGTH).trimEnd() + (ext.trim() ? '.' + ext : '');
}

/** Checksum of an 11-byte short name, stored in each of its long-name entries. */
export function lfnChecksum(short: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < SHORT_NAME_LENGTH; i++) sum = (((sum & 1) << 7) + (sum >> 1) + short[i]) & 0xff;
  return sum;
}

/** Long-name entries for `name`, in on-disk order (last part first). */
export function lfnEntries(name: string, checksum: number): Uint8Array[] {
  const n = LFN.unitsPerEntry;
  const units: number[] = [];
  for (let i = 0; i < name.length; i++) units.push(name.charCodeAt(i));
  units.push(0); // always NUL-terminated (even when the name fills its last entry exactly)...
  while (units.length % n) units.push(0xffff); // ...then padded with FFFF to whole entries
  const count = units.length / n;
  const out: Uint8Array[] = [];
  for (let k = count; k >= 1; k--) {
    const e = new Uint8Array(DIRENT.size);
    e[LFN.order] = k | (k === count ? LFN.LAST : 0);
    e[LFN.attr] = ATTR.longName;
    e[LFN.checksum] = checksum;
    for (let j = 0; j < n; j++) u16le(e, LFN.units[j], units[(k - 1) * n + j]);
    out.push(e);
  }
  return out;
}

export interface ShortEntry {
  /** 11 bytes. */
  name: Uint8Array;
  attr: number;
  caseFlags: number;
  firstCluster: number;
  size: number;
  /** Creation, last access (date only) and last write all get this time. */
  when: DosDateTime;
}

export function encodeShortEntry(f: ShortEntry): Uint8Array {
  const e = new Uint8Array(DIRENT.size);
  e.set(f.name, DIRENT.name);
  e[DIRENT.attr] = f.attr;
  e[DIRENT.ntCase] = f.caseFlags;
  u16le(e, DIRENT.createTime, f.when.time);
  u16le(e, DIRENT.createDate, f.when.date);
  u16le(e, DIRENT.accessDate, f.when.date);
  u16le(e, DIRENT.clusterHigh, f.firstCluster >>> 16);
  u16le(e, DIRENT.writeTime, f.when.time);
  u16le(e, DIRENT.writeDate, f.when.date);
  u16le(e, DIRENT.clusterLow, f.firstCluster & 0xffff);
  u32le(e, DIRENT.fileSize, f.size);
  return e;
}

/** The root directory's volume label entry; `label` as normaliseLabel() returns it. */
export function encodeVolumeLabelEntry(label: string, when: DosDateTime): Uint8Array {
  const name = new Uint8Array(SHORT_NAME_LENGTH);
  ascii(name, 0, label, SHORT_NAME_LENGTH, PAD);
  return encodeShortEntry({ name, attr: ATTR.volumeId, caseFlags: 0, firstCluster: 0, size: 0, when });
}

/**
 * The "." and ".." entries a subdirectory starts with (fatgen103, "FAT
 * Directory Structure"): "." names the directory's own first cluster, ".."
 * its parent's, 0 when the parent is the root (on FAT32 too).
 */
export function encodeDotEntries(own: number, parent: number, when: DosDateTime): Uint8Array[] {
  return ['.', '..'].map((dots, i) => {
    const name = new Uint8Array(SHORT_NAME_LENGTH).fill(PAD);
    ascii(name, 0, dots, SHORT_NAME_LENGTH, PAD);
    return encodeShortEntry({
      name,
      attr: ATTR.directory,
      caseFlags: 0,
      firstCluster: i ? parent : own,
      size: 0,
      when,
    });
  });
}

/** Entries back to back, zero-padded to whole sectors (at least one). */
export function encodeDirectory(entries: readonly Uint8Array[]): Uint8Array {
  const dir = new Uint8Array(Math.ceil((entries.length * DIRENT.size) / SECTOR) * SECTOR || SECTOR);
  entries.forEach((e, i) => dir.set(e, i * DIRENT.size));
  return dir;
}

/** The label as stored: upper case, 11 bytes, characters a short name allows (and space). */
export function normaliseLabel(label: string): string {
  const l = label.toUpperCase();
  if (l.length > SHORT_NAME_LENGTH || !/^[A-Z0-9 !#$%&'()@^_`{}~-]*$/.test(l)) {
    fail(
      'FAT_BAD_LABEL',
      `The volume label "${label}" must be at most 11 characters of A-Z, 0-9, space and !#$%&'()@^_\`{}~-.`,
    );
  }
  return l.trimEnd();
}
