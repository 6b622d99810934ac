/**
 * Master Boot Record: boot code (0-439), disk signature (440), four
 * partition entries (446), signature 0x55AA (510). We write one partition;
 * `decodeMbr` reads any table back and `checkMbr` says what is wrong with it.
 */
import { rd32le, u32le } from './bytes';
import { fail } from './errors';
import { hex, SECTOR } from './units';

export const MBR = {
  codeSize: 440,
  diskSignature: 0x1b8,
  table: 0x1be,
  entrySize: 16,
  signature: 0x1fe,
} as const;

/** Byte offsets inside one 16-byte partition entry. */
export const PART_ENTRY = { bootFlag: 0, firstChs: 1, type: 4, lastChs: 5, startLba: 8, sectors: 12 } as const;

/** Partition type bytes by FAT variant. */
export const PART_TYPE = { fat12: 0x01, fat16lba: 0x0e, fat32lba: 0x0c } as const;

/** CHS geometry used for the legacy fields (here and in the FAT BPB): 255 heads, 63 sectors per track. */
export const CHS_HEADS = 255;
export const CHS_SECTORS_PER_TRACK = 63;

/** Encode an LBA as the 3 CHS bytes; 0xFE 0xFF 0xFF beyond cylinder 1023. */
export function chs(lba: number): [number, number, number] {
  const cyl = Math.floor(lba / (CHS_HEADS * CHS_SECTORS_PER_TRACK));
  if (cyl > 1023) return [0xfe, 0xff, 0xff];
  const head = Math.floor(lba / CHS_SECTORS_PER_TRACK) % CHS_HEADS;
  const sector = (lba % CHS_SECTORS_PER_TRACK) + 1;
  return [head, (sector & 0x3f) | ((cyl >> 2) & 0xc0), cyl & 0xff];
}

/** Decode the 3 CHS bytes (head; sector in bits 0-5 and cylinder bits 8-9; cylinder bits 0-7): the inverse of `chs`. */
export function decodeChs(b: Uint8Array, off: number): { cylinder: number; head: number; sector: number } {
  return {
    cylinder: ((b[off + 1] & 0xc0) << 2) | b[off + 2],
    head: b[off],
    sector: b[off + 1] & 0x3f,
  };
}

export interface PartitionEntry {
  active: boolean;
  type: number;
  startLba: number;
  sectors: number;
}

export interface MbrInput {
  /** Boot code, at most 440 bytes (the rest of the area stays zero). */
  code: Uint8Array;
  diskSignature: number;
  partitions: PartitionEntry[];
}

export function encodeMbr(input: MbrInput): Uint8Array {
  if (input.code.length > MBR.codeSize)
    throw new Error(`internal: MBR code is ${input.code.length} bytes, more than ${MBR.codeSize}`);
  if (input.partitions.length > 4) throw new Error('internal: an MBR holds at most 4 partitions');
  const b = new Uint8Array(SECTOR);
  b.set(input.code, 0);
  u32le(b, MBR.diskSignature, input.diskSignature);
  input.partitions.forEach((p, i) => {
    const o = MBR.table + i * MBR.entrySize;
    b[o] = p.active ? 0x80 : 0x00;
    b.set(chs(p.startLba), o + 1);
    b[o + 4] = p.type;
    b.set(chs(p.startLba + p.sectors - 1), o + 5);
    u32le(b, o + 8, p.startLba);
    u32le(b, o + 12, p.sectors);
  });
  b[MBR.signature] = 0x55;
  b[MBR.signature + 1] = 0xaa;
  return b;
}

/** Partition type 0xEE: a protective MBR in front of a GPT (UEFI spec, "Protective MBR"). */
export const PART_TYPE_GPT_PROTECTIVE = 0xee;
/** Boot flag values: inactive, active. Anything else means the sector is not a partition table. */
const BOOT_INACTIVE = 0x00;
const BOOT_ACTIVE = 0x80;

/** Names of the partition types a unikernel disk meets, for people. */
const TYPE_NAMES: Record<number, string> = {
  0x01: 'FAT12',
  0x04: 'FAT16 (<32 MiB)',
  0x06: 'FAT16',
  0x0b: 'FAT32 (CHS)',
  0x0c: 'FAT32 (LBA)',
  0x0e: 'FAT16 (LBA)',
  0x83: 'Linux',
  0xef: 'EFI system partition',
  [PART_TYPE_GPT_PROTECTIVE]: 'GPT protective',
};

/** "FAT32 (LBA)", or "type 0x42" for types without a name here. */
export function partitionTypeName(type: number): string {
  return TYPE_NAMES[type] ?? `type ${hex(type)}`;
}

/** Partition types that hold a FAT volume. */
export const FAT_PART_TYPES: readonly number[] = [0x01, 0x04, 0x06, 0x0b, 0x0c, 0x0e, 0xef];

export interface DecodedPartition extends PartitionEntry {
  /** Slot 0..3 in the table. */
  index: number;
}

export interface DecodedMbr {
  /** Bytes 0..439. */
  code: Uint8Array;
  diskSignature: number;
  /** The non-empty entries (type ≠ 0), in slot order. */
  partitions: DecodedPartition[];
  /** One entry of type 0xEE: the disk is GPT; its real partitions are elsewhere. */
  gpt: boolean;
}

/**
 * Decode LBA 0. Refuses (coded) a sector without the 55 AA signature and a
 * table whose boot flags are not 0x00/0x80 (then LBA 0 is something else,
 * such as a FAT boot sector of a disk without partitions). Entries are taken
 * as written; `checkMbr` says what is wrong with them for a disk size.
 */
export function decodeMbr(sector: Uint8Array): DecodedMbr {
  if (sector.length < SECTOR) {
    fail(
      'DISK_EMPTY',
      `The image holds ${sector.length} bytes, less than one ${SECTOR}-byte sector; it is not a disk.`,
    );
  }
  if (sector[MBR.signature] !== 0x55 || sector[MBR.signature + 1] !== 0xaa) {
    fail(
      'MBR_NO_SIGNATURE',
      `LBA 0 ends with ${hex(sector[MBR.signature])} ${hex(sector[MBR.signature + 1])} at offset ${hex(MBR.signature)}, not 0x55 0xAA: the disk has no MBR partition table (an empty or damaged disk, or not a disk image).`,
    );
  }
  const partitions: DecodedPartition[] = [];
  for (let i = 0; i < 4; i++) {
    const o = MBR.table + i * MBR.entrySize;
    const flag = sector[o];
    if (flag !== BOOT_INACTIVE && flag !== BOOT_ACTIVE) {
      fail(
        'MBR_BAD_TABLE',
        `Partition entry ${i + 1} of LBA 0 has boot flag ${hex(flag)} (only 0x00 and 0x80 are valid): LBA 0 is not a partition table.`,
      );
    }
    const type = sector[o + 4];
    if (type === 0) continue;
    partitions.push({
      index: i,
      active: flag === BOOT_ACTIVE,
      type,
      startLba: rd32le(sector, o + 8),
      sectors: rd32le(sector, o + 12),
    });
  }
  return {
    code: sector.slice(0, MBR.codeSize),
    diskSignature: rd32le(sector, MBR.diskSignature),
    partitions,
    gpt: partitions.some((p) => p.type === PART_TYPE_GPT_PROTECTIVE),
  };
}

/** What is wrong with a decoded table on a disk of `diskSectors`: one sentence per problem. */
export function checkMbr(mbr: DecodedMbr, diskSectors: number): string[] {
  const out: string[] = [];
  const real = mbr.partitions.filter((p) => p.type !== PART_TYPE_GPT_PROTECTIVE);
  for (const p of real) {
    const n = p.index + 1;
    if (p.startLba === 0) out.push(`Partition ${n} starts at LBA 0, over the partition table itself.`);
    if (p.sectors === 0) out.push(`Partition ${n} has 0 sectors.`);
    if (p.startLba + p.sectors > diskSectors) {
      out.push(`Partition ${n} ends at LBA ${p.startLba + p.sectors}, past the end of the ${diskSectors}-sector disk.`);
    }
  }
  const sorted = [...real].sort((a, b) => a.startLba - b.startLba);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1];
    const b = sorted[i];
    if (b.startLba < a.startLba + a.sectors) out.push(`Partitions ${a.index + 1} and ${b.index + 1} overlap.`);
  }
  const active = real.filter((p) => p.active);
  if (real.length && active.length === 0) {
    out.push('No partition is marked active; some BIOSes and MBR boot codes then refuse to boot the disk.');
  }
  if (active.length > 1) {
    out.push(
      `${active.length} partitions are marked active; MBR boot codes that look for one refuse ("Multiple active partitions").`,
    );
  }
  return out;
}
