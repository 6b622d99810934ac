/**
 * Master Boot Record: boot code (0-439), disk signature (440), four
 * partition entries (446), signature 0x55AA (510). We write one partition.
 */
import { u32le } from './bytes';

export const MBR = {
  codeSize: 440,
  diskSignature: 0x1b8,
  table: 0x1be,
  entrySize: 16,
  signature: 0x1fe,
} as const;

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
  const b = new Uint8Array(512);
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
