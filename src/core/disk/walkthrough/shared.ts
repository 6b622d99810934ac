/**
 * The walkthrough's steps every loader has (the BIOS loading LBA 0, the
 * partition table), the state they share (`Builder`), and `attempt`, which
 * turns a damaged structure into a note instead of a step.
 */
import { isImageError } from '../../errors';
import { decodeChs, MBR, PART_ENTRY, partitionTypeName } from '../../mbr';
import { hex, SECTOR } from '../../units';
import type { Bootloader, DiskContext } from '../bootloader';
import type { HexDump, WalkStep } from './types';
import { BOOT_ADDR, Dump, sectors } from './dump';
import { codeDump, disassemble, endsFlow, type Notes } from './code';
import type { CheckPoints } from './check';

export interface Builder {
  ctx: DiskContext;
  boot: Bootloader;
  notes: string[];
  /** Where "check it yourself" can stop: the steps fill it in as they learn it. */
  points: CheckPoints;
}

function chsText(b: Uint8Array, o: number): string {
  const { cylinder, head, sector } = decodeChs(b, o);
  return `cylinder ${cylinder}, head ${head}, sector ${sector} (old geometry addressing; LBA loaders ignore it)`;
}

/** An offset in LBA 0, as the captions write them (0x1F0). */
export const hex3 = (n: number) => '0x' + n.toString(16).toUpperCase().padStart(3, '0');

/** Bytes of LBA 0 decoded at most for its first instructions. */
const FIRST_CODE_BYTES = 16;

/**
 * LBA 0's first instructions, decoded: up to the first jump that does not
 * fall through (a boot sector jumps over its data; a short jump's `nop`, the
 * FAT convention, comes with it), or 16 bytes' worth.
 */
function firstInstructions(lba0: Uint8Array, notes: Notes): HexDump | null {
  const code = disassemble(lba0.subarray(0, FIRST_CODE_BYTES + 15), 0, BOOT_ADDR, 16, {
    until: (ins) => endsFlow(ins) || ins.eip + ins.length >= BOOT_ADDR + FIRST_CODE_BYTES,
  });
  if (code.length === 0) return null;
  const last = code[code.length - 1];
  const end = last.eip - BOOT_ADDR + last.length;
  if (endsFlow(last) && lba0[end] === 0x90) code.push(...disassemble(lba0, end, BOOT_ADDR + end, 16, { max: 1 }));
  const to = code.reduce((n, i) => n + i.length, 0) - 1;
  return codeDump(`LBA 0, bytes 0x000–${hex3(to)}: the first instructions the CPU runs`, 0, code, 16, notes);
}

/** Step: the BIOS reads LBA 0 to 0x7C00, checks 55 AA and jumps. */
export function biosStep(b: Builder, what: string, notes: Notes = []): WalkStep {
  const lba0 = b.ctx.lba0;
  let head = firstInstructions(lba0, notes);
  if (!head) {
    head = new Dump('LBA 0, bytes 0x000–0x00F: the first bytes the CPU runs', 0, BOOT_ADDR, lba0.slice(0, 16))
      .f(0, 16, 'Boot code', 'machine code this walkthrough cannot decode, run from 0x7C00')
      .done();
  }
  const tail = new Dump(
    'LBA 0, bytes 0x1F0–0x1FF: the end of the sector',
    0x1f0,
    BOOT_ADDR + 0x1f0,
    lba0.slice(0x1f0, 0x200),
  );
  const sig = lba0[MBR.signature] === 0x55 && lba0[MBR.signature + 1] === 0xaa;
  tail.f(
    MBR.signature - 0x1f0,
    2,
    'Boot signature',
    sig
      ? '55 AA, the number 0xAA55 (little-endian): the BIOS may start this disk'
      : 'not 55 AA: the BIOS will not start this disk',
  );
  const text = [
    'When the PC is switched on, its firmware (the BIOS: the program stored on the motherboard) tests the hardware and then looks for a disk to start from.',
    'It reads the disk\'s first sector, LBA 0, into memory at address `0x7C00`. (LBA, "logical block address", numbers the disk\'s 512-byte sectors from 0.)',
    "It only starts the sector if its last two bytes are `55 AA`, the boot signature, which BIOS manuals call `AA55h`: an x86 processor is little-endian, it stores a number's lowest byte first, so the bytes `55 AA` are the 16-bit number `0xAA55`, and `01 00 00 00` is the 32-bit number 1. Every number in the dumps below is stored this way.",
    "Then it jumps to `0x7C00` with the drive's number in the DL register (`0x80` for the first hard disk). The CPU is in 16-bit real mode, the mode every PC starts in. There an address is written segment:offset, two 16-bit numbers, and means segment × 16 + offset: `0000:7C00` and `07C0:0000` are the same byte (BIOSes differ in which they use), and only the first 1 MiB of memory can be reached.",
    what,
  ];
  if (!sig) b.notes.push('LBA 0 has no 55 AA signature: a BIOS would not start this disk.');
  return { id: 'bios', title: 'The BIOS loads LBA 0 to 0x7C00', text, dumps: [head, tail.done()] };
}

/** Step: the partition table at the end of LBA 0. */
export function partitionStep(b: Builder, text: string[]): WalkStep {
  const lba0 = b.ctx.lba0;
  const from = 0x1b0;
  const d = new Dump(
    'LBA 0, bytes 0x1B0–0x1FF: disk signature and partition table',
    from,
    BOOT_ADDR + from,
    lba0.slice(from, SECTOR),
  );
  d.u32(MBR.diskSignature - from, 'Disk signature', (v) => `${hex(v)} (an identifier operating systems use)`);
  d.f(MBR.diskSignature + 4 - from, 2, 'Reserved', 'usually zero');
  for (let i = 0; i < 4; i++) {
    const o = MBR.table + i * MBR.entrySize;
    const at = o - from;
    const n = i + 1;
    if (lba0[o + PART_ENTRY.type] === 0) {
      d.f(at, MBR.entrySize, `Entry ${n}`, 'empty (type 0): no partition');
      continue;
    }
    d.u8(at + PART_ENTRY.bootFlag, `Entry ${n}: boot flag`, (v) =>
      v === 0x80 ? '0x80: active, the partition to boot' : v === 0 ? '0x0: not active' : `${hex(v)}: not valid`,
    );
    d.f(at + PART_ENTRY.firstChs, 3, `Entry ${n}: first sector (CHS)`, chsText(lba0, o + PART_ENTRY.firstChs));
    d.u8(at + PART_ENTRY.type, `Entry ${n}: type`, (v) => `${hex(v)}: ${partitionTypeName(v)}`);
    d.f(at + PART_ENTRY.lastChs, 3, `Entry ${n}: last sector (CHS)`, chsText(lba0, o + PART_ENTRY.lastChs));
    d.u32(
      at + PART_ENTRY.startLba,
      `Entry ${n}: first sector (LBA)`,
      (v) => `LBA ${v} (byte offset ${hex(v * SECTOR)})`,
    );
    d.u32(at + PART_ENTRY.sectors, `Entry ${n}: sectors`, sectors);
  }
  d.f(MBR.signature - from, 2, 'Boot signature', '55 AA');
  const p = b.ctx.partition;
  const intro = p
    ? `The partition table has four 16-byte entries. Entry ${p.index + 1} is the ${partitionTypeName(p.type)} partition: it starts at LBA ${p.startLba} and is ${sectors(p.sectors)} long${p.active ? ', and it is marked active (boot flag `0x80`)' : ''}. It holds the FAT file system with the kernel file.`
    : 'The partition table has four 16-byte entries: for each, a boot flag, a type, the first sector and the number of sectors.';
  return { id: 'partition', title: 'The partition table', text: [intro, ...text], dumps: [d.done()] };
}

/** Run a step builder (or a read for one); a coded error (a damaged structure) becomes a note and the step is left out. */
export async function attempt<T = WalkStep | null>(
  b: Builder,
  what: string,
  f: () => Promise<T> | T,
): Promise<T | null> {
  try {
    return await f();
  } catch (e) {
    if (!isImageError(e)) throw e;
    b.notes.push(`${what} cannot be shown: ${e.message}`);
    return null;
  }
}
