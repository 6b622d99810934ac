/**
 * The boot loader's parameter block: the engine's facts about the kernel
 * (where it lies on disk, its size and CRC, the load plan, the command line)
 * written into the generated stage 2 bytes at PARAMS_OFF, protected by its
 * own CRC-32. Stage 1 gets stage 2's LBA and length. Layout: src/boot/layout.inc
 * (mirrored into loader.generated.ts) and ARCHITECTURE.md, "Boot".
 */
import { crc32, rd16le, rd32le, rd64le, u16le, u32le, u64le, utf8 } from '../bytes';
import { fail, formatBytes, hex } from '../errors';
import type { LoadSegment } from '../load-plan';
import type { BootCode, BootInput } from './index';
import { MAX_CMDLINE, STAGE2_LBA } from './index';
import {
  CMDLINE_OFF,
  FLAG_DEBUG_EXIT,
  KERNEL_MIN_ADDR,
  MAX_SEGMENTS,
  PARAMS_MAGIC,
  PARAMS_OFF,
  PARAMS_SIZE,
  PARAMS_VERSION,
  P_CMDLINE_LEN,
  P_CRC,
  P_ENTRY,
  P_FLAGS,
  P_KERNEL_CRC,
  P_KERNEL_LBA,
  P_KERNEL_SIZE,
  P_LOAD_END,
  P_LOAD_START,
  P_SEGS,
  P_SEG_COUNT,
  P_SIZE,
  P_VERSION,
  SEG_SIZE,
  STAGE1_CODE,
  STAGE1_FIELDS_OFF,
  STAGE1_MAX,
  STAGE2_CODE,
  STAGE2_MAX_SECTORS,
} from './loader.generated';

const FOUR_GIB = 0x1_0000_0000;
/** The partition starts here; stage 2 must end before it. */
const PARTITION_LBA = 2048;

export interface BootParams {
  flags: number;
  kernelLba: number;
  kernelSize: number;
  kernelCrc32: number;
  entry: number;
  loadStart: number;
  loadEnd: number;
  segments: LoadSegment[];
  cmdline: Uint8Array;
}

function checkInput(input: BootInput): Uint8Array {
  const { load } = input;
  const cmdline = utf8(input.cmdline);
  if (cmdline.length > MAX_CMDLINE) {
    fail(
      'CMDLINE_TOO_LONG',
      `The command line is ${cmdline.length} bytes ("unikernel.bin " included); the boot loader passes at most ${MAX_CMDLINE}: shorten the arguments.`,
    );
  }
  if (cmdline.includes(0)) {
    fail(
      'CMDLINE_NUL',
      'The command line contains a NUL character, which would cut it short: remove it from the arguments.',
    );
  }
  if (!Number.isInteger(input.kernelSize) || input.kernelSize <= 0 || input.kernelSize >= FOUR_GIB) {
    fail(
      'KERNEL_SIZE',
      `The kernel file is ${input.kernelSize} bytes; the boot loader reads files of 1 byte up to 4 GiB: use a real kernel file.`,
    );
  }
  if (
    !Number.isInteger(input.kernelLba) ||
    input.kernelLba < PARTITION_LBA ||
    input.kernelLba > Number.MAX_SAFE_INTEGER
  ) {
    fail(
      'BOOT_KERNEL_LBA',
      `The kernel's first sector ${input.kernelLba} is not inside the partition (LBA ${PARTITION_LBA} and up): this is a bug in the image layout.`,
    );
  }
  if (!Number.isInteger(input.kernelCrc32) || input.kernelCrc32 < 0 || input.kernelCrc32 >= FOUR_GIB) {
    fail(
      'BOOT_KERNEL_CRC',
      `The kernel CRC-32 ${input.kernelCrc32} is not a 32-bit value: this is a bug in the caller.`,
    );
  }
  const segs = load.segments;
  if (segs.length === 0)
    fail('LOAD_NO_SEGMENTS', 'The kernel has nothing to load (no segments): use a Multiboot kernel with code in it.');
  if (segs.length > MAX_SEGMENTS) {
    fail(
      'LOAD_TOO_MANY_SEGMENTS',
      `The kernel has ${segs.length} loadable segments; the boot loader handles at most ${MAX_SEGMENTS}: link it with fewer PT_LOAD segments (or use the Multiboot a.out kludge).`,
    );
  }
  for (const [i, s] of segs.entries()) {
    const where = `segment ${i + 1} (load address ${hex(s.loadAddr)}, ${formatBytes(s.memSize)})`;
    if (![s.fileOffset, s.fileSize, s.loadAddr, s.memSize].every((v) => Number.isInteger(v) && v >= 0)) {
      fail('LOAD_SEGMENT', `Kernel ${where} has a negative or fractional field: this is a bug in kernel inspection.`);
    }
    if (s.fileOffset + s.fileSize > input.kernelSize) {
      fail(
        'LOAD_SEGMENT',
        `Kernel ${where} reads file bytes up to ${s.fileOffset + s.fileSize}, past the end of the ${input.kernelSize}-byte file: the kernel file is truncated.`,
      );
    }
    if (s.memSize < s.fileSize) {
      fail(
        'LOAD_SEGMENT',
        `Kernel ${where} is smaller in memory than in the file (${s.fileSize} bytes): the kernel's headers are inconsistent.`,
      );
    }
    if (s.loadAddr < KERNEL_MIN_ADDR) {
      fail(
        'LOAD_BELOW_1MIB',
        `Kernel ${where} loads below 1 MiB (${hex(KERNEL_MIN_ADDR)}), where the BIOS and the boot loader live: link the kernel at 1 MiB or above, as Solo5 does.`,
      );
    }
    if (s.loadAddr + s.memSize > FOUR_GIB) {
      fail(
        'LOAD_ABOVE_4GIB',
        `Kernel ${where} ends above 4 GiB, which a 32-bit Multiboot loader cannot reach: link the kernel lower.`,
      );
    }
  }
  if (!Number.isInteger(load.entry) || load.entry < 0 || load.entry >= FOUR_GIB) {
    fail(
      'LOAD_ENTRY',
      `The kernel's 32-bit entry point ${load.entry} is not a 32-bit address: the kernel's Multiboot header is damaged.`,
    );
  }
  if (load.start < KERNEL_MIN_ADDR || load.end > FOUR_GIB || load.end < load.start) {
    fail(
      'LOAD_RANGE',
      `The kernel occupies ${hex(load.start)}..${hex(load.end)}; the boot loader needs it within 1 MiB..4 GiB: link the kernel at 1 MiB or above.`,
    );
  }
  return cmdline;
}

/** Stage 1 and stage 2 with the parameter block for this kernel and command line. */
export function buildBootCode(input: BootInput): BootCode {
  const cmdline = checkInput(input);
  const { load } = input;

  const stage2Bytes = CMDLINE_OFF + cmdline.length + 1;
  const sectors = Math.ceil(stage2Bytes / 512);
  if (sectors > STAGE2_MAX_SECTORS || STAGE2_LBA + sectors > PARTITION_LBA) {
    fail(
      'BOOT_STAGE2_SIZE',
      `Stage 2 with the command line needs ${sectors} sectors; at most ${STAGE2_MAX_SECTORS} fit: shorten the command line.`,
    );
  }
  const stage2 = new Uint8Array(sectors * 512);
  stage2.set(STAGE2_CODE, 0);
  stage2.set(cmdline, CMDLINE_OFF); // the NUL after it is already 0

  const p = PARAMS_OFF;
  u32le(stage2, p, PARAMS_MAGIC);
  u16le(stage2, p + P_VERSION, PARAMS_VERSION);
  u16le(stage2, p + P_SIZE, PARAMS_SIZE);
  u32le(stage2, p + P_FLAGS, FLAG_DEBUG_EXIT);
  u64le(stage2, p + P_KERNEL_LBA, input.kernelLba);
  u32le(stage2, p + P_KERNEL_SIZE, input.kernelSize);
  u32le(stage2, p + P_KERNEL_CRC, input.kernelCrc32 >>> 0);
  u32le(stage2, p + P_ENTRY, load.entry);
  u32le(stage2, p + P_LOAD_START, load.start);
  // one past the end, capped so that a kernel ending at exactly 4 GiB still encodes
  u32le(stage2, p + P_LOAD_END, Math.min(load.end, FOUR_GIB - 1));
  u16le(stage2, p + P_SEG_COUNT, load.segments.length);
  u16le(stage2, p + P_CMDLINE_LEN, cmdline.length);
  load.segments.forEach((s, i) => {
    const o = p + P_SEGS + i * SEG_SIZE;
    u32le(stage2, o, s.fileOffset);
    u32le(stage2, o + 4, s.fileSize);
    u32le(stage2, o + 8, s.loadAddr);
    u32le(stage2, o + 12, s.memSize);
  });
  u32le(stage2, p + P_CRC, paramsCrc(stage2, cmdline.length));

  const mbrCode = new Uint8Array(STAGE1_MAX);
  mbrCode.set(STAGE1_CODE, 0);
  u32le(mbrCode, STAGE1_FIELDS_OFF, STAGE2_LBA);
  u16le(mbrCode, STAGE1_FIELDS_OFF + 4, sectors);
  return { mbrCode, stage2 };
}

/**
 * The CRC the loader checks: one run over stage 2 from the flags field (after
 * the CRC itself) through the rest of the block, the loader code and the
 * command line up to its NUL.
 */
function paramsCrc(stage2: Uint8Array, cmdlineLen: number): number {
  return crc32(stage2.subarray(PARAMS_OFF + P_FLAGS, CMDLINE_OFF + cmdlineLen + 1));
}

/**
 * Read a parameter block back (tests, and to tell which kernel an image
 * was built for). Returns null when the magic, version or CRC do not match.
 */
export function readBootParams(stage2: Uint8Array): BootParams | null {
  const p = PARAMS_OFF;
  if (stage2.length < CMDLINE_OFF + 1) return null;
  if (rd32le(stage2, p) !== PARAMS_MAGIC || rd16le(stage2, p + P_VERSION) !== PARAMS_VERSION) return null;
  if (rd16le(stage2, p + P_SIZE) !== PARAMS_SIZE) return null;
  const count = rd16le(stage2, p + P_SEG_COUNT);
  const len = rd16le(stage2, p + P_CMDLINE_LEN);
  if (count > MAX_SEGMENTS || CMDLINE_OFF + len + 1 > stage2.length) return null;
  if (paramsCrc(stage2, len) !== rd32le(stage2, p + P_CRC)) return null;
  const segments: LoadSegment[] = [];
  for (let i = 0; i < count; i++) {
    const o = p + P_SEGS + i * SEG_SIZE;
    segments.push({
      fileOffset: rd32le(stage2, o),
      fileSize: rd32le(stage2, o + 4),
      loadAddr: rd32le(stage2, o + 8),
      memSize: rd32le(stage2, o + 12),
    });
  }
  return {
    flags: rd32le(stage2, p + P_FLAGS),
    kernelLba: rd64le(stage2, p + P_KERNEL_LBA),
    kernelSize: rd32le(stage2, p + P_KERNEL_SIZE),
    kernelCrc32: rd32le(stage2, p + P_KERNEL_CRC),
    entry: rd32le(stage2, p + P_ENTRY),
    loadStart: rd32le(stage2, p + P_LOAD_START),
    loadEnd: rd32le(stage2, p + P_LOAD_END),
    segments,
    cmdline: stage2.slice(CMDLINE_OFF, CMDLINE_OFF + len),
  };
}
