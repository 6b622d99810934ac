/**
 * The FAT boot sector (BIOS parameter block, BPB) and FAT32's FSInfo sector:
 * field offsets, pure encoders, and the one decoder of the BPB (`decodeBpb`,
 * which reads what other tools write too, for read.ts).
 *
 *   0    jump over the BPB, OEM name
 *   11   BPB common to all FAT types (BPB)
 *   36   FAT32 only: its BPB extension (BPB32), then the extended BPB at 64
 *   36   FAT12/16: the extended BPB (EBPB): drive, serial, label, type name
 *   62 / 90  boot code (ours only halts), up to the 55 AA signature at 510
 *
 * Facts from Microsoft's "FAT: General Overview of On-Disk Format" (fatgen103).
 */
import { ascii, charText, rd16le, rd32le, u16le, u32le } from '../bytes';
import { fail } from '../errors';
import { CHS_HEADS, CHS_SECTORS_PER_TRACK } from '../mbr';
import { formatBytes, SECTOR } from '../units';
import type { FatType } from './layout';

/** Fields every FAT boot sector has, from byte 0. */
export const BPB = {
  jump: 0, // 3 bytes: EB xx 90, a short jump over the BPB to the boot code
  oemName: 3, // 8 bytes
  bytesPerSector: 11, // u16
  sectorsPerCluster: 13, // u8
  reservedSectors: 14, // u16
  numFats: 16, // u8
  rootEntries: 17, // u16; 0 on FAT32
  totalSectors16: 19, // u16; 0 when the count needs totalSectors32
  media: 21, // u8
  fatSectors16: 22, // u16; 0 on FAT32
  sectorsPerTrack: 24, // u16, CHS geometry
  heads: 26, // u16
  hiddenSectors: 28, // u32: the volume's LBA on its disk
  totalSectors32: 32, // u32
  signature: 510, // 55 AA
} as const;

/** Lengths of the boot sector's text fields (space-padded ASCII). */
export const TEXT_LENGTH = { oemName: 8, volumeLabel: 11, fsType: 8 } as const;

/** FAT32's extension of the BPB. */
export const BPB32 = {
  fatSectors32: 36, // u32
  extFlags: 40, // u16; 0: the FATs are mirrored
  fsVersion: 42, // u16; 0.0
  rootCluster: 44, // u32
  fsInfoSector: 48, // u16
  backupBootSector: 50, // u16
  // 52..63 reserved, zero
} as const;

/** The extended BPB, relative to EBPB_AT[type]. */
export const EBPB = {
  driveNumber: 0, // u8; 0x80, the first hard disk
  // 1: reserved
  bootSignature: 2, // u8; 0x29: the three fields below are valid
  volumeId: 3, // u32, the serial
  volumeLabel: 7, // 11 bytes
  fsType: 18, // 8 bytes, "FAT12   "...; informational only
  size: 26,
} as const;

/** Where the extended BPB starts: after the common BPB, or after FAT32's extension. */
export const EBPB_AT: Record<FatType, number> = { 12: 36, 16: 36, 32: 64 };

/** FAT32's FSInfo sector: free-space hints. */
export const FSINFO = {
  leadSignature: 0, // u32
  structSignature: 484, // u32
  freeCount: 488, // u32; free clusters
  nextFree: 492, // u32; where to look for a free cluster
  trailSignature: 508, // u32
} as const;

export const FSINFO_LEAD = 0x41615252; // "RRaA"
export const FSINFO_STRUCT = 0x61417272; // "rrAa"
export const FSINFO_TRAIL = 0xaa550000;
/** FSInfo's value for "not known" (free count, next free). */
export const FSINFO_UNKNOWN = 0xffffffff;

/** Media descriptor of a fixed disk, in the BPB and in FAT entry 0. */
export const MEDIA_FIXED = 0xf8;
/** The OEM name we write. */
export const OEM_NAME = 'U5IMAGE';
/** The boot sector's label field when the volume has none. */
export const NO_LABEL = 'NO NAME';

const JMP_SHORT = 0xeb;
const NOP = 0x90;
const DRIVE_HARD_DISK = 0x80;
const EXT_BOOT_SIGNATURE = 0x29;
const SIGNATURE = [0x55, 0xaa];
const PAD = 0x20;
/** cli; hlt; jmp $-1: what this sector does if a BIOS or chain loader ever runs it. */
const HALT_CODE = [0xfa, 0xf4, 0xeb, 0xfd];
/** The 16-bit total-sectors field holds counts below this (FAT12/16 only). */
const TOTAL16_LIMIT = 0x10000;
/** Sectors of FAT32's boot record: boot sector, FSInfo and a sector holding only the signature. */
export const FAT32_BOOT_RECORD_SECTORS = 3;

/** Offset of the boot code: right after the extended BPB. */
export function bootCodeOffset(type: FatType): number {
  return EBPB_AT[type] + EBPB.size;
}

/** The BPB fields the encoder writes as they are; the reader's `FatBpb` (below) has the same ones. */
type BpbFields =
  | 'oemName'
  | 'sectorsPerCluster'
  | 'reservedSectors'
  | 'numFats'
  | 'rootEntries'
  | 'totalSectors'
  | 'media'
  | 'fatSectors'
  | 'hiddenSectors';

/** What the encoder takes: the layout's BPB fields (rootEntries is 0 on FAT32; fatSectors is one FAT's). */
export interface BootSector extends Pick<FatBpb, BpbFields> {
  /** From the layout; decides which BPB fields are used. */
  type: FatType;
  volumeId: number;
  /** Up to 11 characters, stored space-padded. */
  volumeLabel: string;
  /** FAT32 only. */
  fat32?: Pick<FatBpb, 'rootCluster' | 'fsInfoSector' | 'backupBootSector'>;
}

/**
 * One 512-byte boot sector. Not a boot sector of its own: the MBR's loader
 * starts the kernel. If a BIOS or chain loader ever runs this code, it halts
 * quietly.
 */
export function encodeBootSector(f: BootSector): Uint8Array {
  const b = new Uint8Array(SECTOR);
  const code = bootCodeOffset(f.type);
  const small = f.type !== 32 && f.totalSectors < TOTAL16_LIMIT;
  // The jump's displacement counts from the end of its two bytes.
  b.set([JMP_SHORT, code - 2, NOP], BPB.jump);
  ascii(b, BPB.oemName, f.oemName, TEXT_LENGTH.oemName, PAD);
  u16le(b, BPB.bytesPerSector, SECTOR);
  b[BPB.sectorsPerCluster] = f.sectorsPerCluster;
  u16le(b, BPB.reservedSectors, f.reservedSectors);
  b[BPB.numFats] = f.numFats;
  u16le(b, BPB.rootEntries, f.rootEntries);
  u16le(b, BPB.totalSectors16, small ? f.totalSectors : 0);
  b[BPB.media] = f.media;
  u16le(b, BPB.fatSectors16, f.type === 32 ? 0 : f.fatSectors);
  u16le(b, BPB.sectorsPerTrack, CHS_SECTORS_PER_TRACK);
  u16le(b, BPB.heads, CHS_HEADS);
  u32le(b, BPB.hiddenSectors, f.hiddenSectors);
  u32le(b, BPB.totalSectors32, small ? 0 : f.totalSectors);
  if (f.type === 32) {
    if (!f.fat32) throw new Error('internal: a FAT32 boot sector needs its root cluster, FSInfo and backup sectors');
    u32le(b, BPB32.fatSectors32, f.fatSectors);
    u16le(b, BPB32.extFlags, 0);
    u16le(b, BPB32.fsVersion, 0);
    u32le(b, BPB32.rootCluster, f.fat32.rootCluster);
    u16le(b, BPB32.fsInfoSector, f.fat32.fsInfoSector);
    u16le(b, BPB32.backupBootSector, f.fat32.backupBootSector);
  }
  const ext = EBPB_AT[f.type];
  b[ext + EBPB.driveNumber] = DRIVE_HARD_DISK;
  b[ext + EBPB.bootSignature] = EXT_BOOT_SIGNATURE;
  u32le(b, ext + EBPB.volumeId, f.volumeId);
  ascii(b, ext + EBPB.volumeLabel, f.volumeLabel, TEXT_LENGTH.volumeLabel, PAD);
  ascii(b, ext + EBPB.fsType, `FAT${f.type}`, TEXT_LENGTH.fsType, PAD);
  b.set(HALT_CODE, code);
  b.set(SIGNATURE, BPB.signature);
  return b;
}

/** FAT32's FSInfo sector. `nextFree` is FSINFO_UNKNOWN when nothing is free. */
export function encodeFsInfo(f: { freeClusters: number; nextFree: number }): Uint8Array {
  const b = new Uint8Array(SECTOR);
  u32le(b, FSINFO.leadSignature, FSINFO_LEAD);
  u32le(b, FSINFO.structSignature, FSINFO_STRUCT);
  u32le(b, FSINFO.freeCount, f.freeClusters);
  u32le(b, FSINFO.nextFree, f.nextFree);
  u32le(b, FSINFO.trailSignature, FSINFO_TRAIL);
  return b;
}

/** A sector that is zero except for the 55 AA signature (the third sector of FAT32's boot record). */
export function encodeSignatureSector(): Uint8Array {
  const b = new Uint8Array(SECTOR);
  b.set(SIGNATURE, BPB.signature);
  return b;
}

/** Sector sizes a FAT volume may declare. */
const SECTOR_SIZES = [SECTOR, 2 * SECTOR, 4 * SECTOR, 8 * SECTOR];

export interface FatBpb {
  oemName: string;
  bytesPerSector: number;
  sectorsPerCluster: number;
  reservedSectors: number;
  numFats: number;
  rootEntries: number;
  totalSectors: number;
  media: number;
  fatSectors: number;
  hiddenSectors: number;
  /** FAT32: first cluster of the root directory. */
  rootCluster: number;
  /** FAT32: FSInfo and backup boot sector numbers (0 when absent). */
  fsInfoSector: number;
  backupBootSector: number;
  /** FAT32 ext flags bit 7: only one FAT is active (then the low bits name it). */
  mirrorDisabled: boolean;
  activeFat: number;
}

/** Decode and check a boot sector; `volumeBytes` is the partition's length. */
export function decodeBpb(bs: Uint8Array, volumeBytes: number): FatBpb {
  const not = (why: string): never =>
    fail('FAT_NOT_FAT', `The partition does not hold a FAT file system: its first sector ${why}.`);
  if (bs.length < SECTOR) not(`is ${bs.length} bytes long`);
  if (bs[BPB.signature] !== SIGNATURE[0] || bs[BPB.signature + 1] !== SIGNATURE[1])
    not('lacks the 55 AA signature at offset 510');
  const bytesPerSector = rd16le(bs, BPB.bytesPerSector);
  if (!SECTOR_SIZES.includes(bytesPerSector)) {
    not(`says ${bytesPerSector} bytes per sector (FAT allows ${SECTOR_SIZES.join(', ')})`);
  }
  const spc = bs[BPB.sectorsPerCluster];
  if (spc === 0 || (spc & (spc - 1)) !== 0) not(`says ${spc} sectors per cluster (a power of two from 1 to 128)`);
  const bad = (field: string, value: number, why: string): never =>
    fail(
      'FAT_BAD_BPB',
      `The FAT boot sector's ${field} is ${value}, ${why}; the volume is damaged (fsck.fat may repair it).`,
    );
  const reservedSectors = rd16le(bs, BPB.reservedSectors);
  if (reservedSectors === 0) bad('reserved sector count', 0, 'but the boot sector itself is reserved');
  const numFats = bs[BPB.numFats];
  if (numFats === 0 || numFats > 4) bad('FAT count', numFats, 'outside 1..4');
  const rootEntries = rd16le(bs, BPB.rootEntries);
  const total16 = rd16le(bs, BPB.totalSectors16);
  const totalSectors = total16 || rd32le(bs, BPB.totalSectors32);
  if (totalSectors === 0) bad('total sector count', 0, 'so the volume is empty');
  if (totalSectors * bytesPerSector > volumeBytes) {
    bad(
      'total sector count',
      totalSectors,
      `${formatBytes(totalSectors * bytesPerSector)}, larger than its partition of ${formatBytes(volumeBytes)}`,
    );
  }
  const fat16 = rd16le(bs, BPB.fatSectors16);
  const fat32 = fat16 === 0;
  const fatSectors = fat16 || rd32le(bs, BPB32.fatSectors32);
  if (fatSectors === 0) bad('sectors per FAT', 0, 'so there is no FAT');
  if (fat32 && rootEntries !== 0) bad('root entry count', rootEntries, 'but FAT32 keeps its root in clusters (0)');
  const extFlags = fat32 ? rd16le(bs, BPB32.extFlags) : 0;
  return {
    oemName: charText(bs.subarray(BPB.oemName, BPB.oemName + TEXT_LENGTH.oemName)).trimEnd(),
    bytesPerSector,
    sectorsPerCluster: spc,
    reservedSectors,
    numFats,
    rootEntries,
    totalSectors,
    media: bs[BPB.media],
    fatSectors,
    hiddenSectors: rd32le(bs, BPB.hiddenSectors),
    rootCluster: fat32 ? rd32le(bs, BPB32.rootCluster) : 0,
    fsInfoSector: fat32 ? rd16le(bs, BPB32.fsInfoSector) : 0,
    backupBootSector: fat32 ? rd16le(bs, BPB32.backupBootSector) : 0,
    mirrorDisabled: (extFlags & 0x80) !== 0,
    activeFat: extFlags & 0x0f,
  };
}
