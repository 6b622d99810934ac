/**
 * The boot loader's parameter block: the engine's facts about the kernel
 * (where it lies on disk, its size and CRC, the load plan, the command line)
 * written into the generated stage 2 bytes at PARAMS_OFF, protected by its
 * own CRC-32. Stage 1 gets stage 2's LBA and length. Layout: src/boot/layout.inc
 * (mirrored into loader.generated.ts) and docs/boot-loader.md.
 */
import { crc32, rd16le, rd32le, rd64le, u16le, u32le, u64le, utf8 } from '../bytes';
import { FOUR_GIB, hex, PARTITION_LBA, SECTOR } from '../units';
import type { LoadSegment } from '../load-plan';
import type { BootCode, BootInput } from './types';
import { MAX_CMDLINE, STAGE2_LBA } from './types';
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

/**
 * The encoder's own assertions. Kernel inspection (checkLoadPlan) and the
 * image options (checkArgs) have already refused bad input with coded
 * errors; anything caught here is a bug in the caller, so it is a plain Error.
 */
function checkInput(input: BootInput): Uint8Array {
  const { load } = input;
  const cmdline = utf8(input.cmdline);
  const bug = (what: string): never => {
    throw new Error(`internal: boot parameter block: ${what}`);
  };
  if (cmdline.length > MAX_CMDLINE) bug(`command line of ${cmdline.length} bytes is above ${MAX_CMDLINE}`);
  if (cmdline.includes(0)) bug('command line contains a NUL byte');
  const u32 = (v: number) => Number.isInteger(v) && v >= 0 && v < FOUR_GIB;
  if (!u32(input.kernelSize) || input.kernelSize === 0) bug(`kernel size ${input.kernelSize}`);
  if (!Number.isSafeInteger(input.kernelLba) || input.kernelLba < PARTITION_LBA) {
    bug(`kernel LBA ${input.kernelLba} is not inside the partition (LBA ${PARTITION_LBA} and up)`);
  }
  if (!u32(input.kernelCrc32)) bug(`kernel CRC-32 ${input.kernelCrc32} is not a 32-bit value`);
  const segs = load.segments;
  if (segs.length === 0 || segs.length > MAX_SEGMENTS) bug(`${segs.length} segments (1 to ${MAX_SEGMENTS})`);
  for (const [i, s] of segs.entries()) {
    if (![s.fileOffset, s.fileSize, s.loadAddr, s.memSize].every((v) => Number.isInteger(v) && v >= 0)) {
      bug(`segment ${i + 1} has a negative or fractional field`);
    }
    if (s.fileOffset + s.fileSize > input.kernelSize) bug(`segment ${i + 1} reads past the end of the file`);
    if (s.memSize < s.fileSize) bug(`segment ${i + 1} is smaller in memory than in the file`);
    if (s.loadAddr < KERNEL_MIN_ADDR || s.loadAddr + s.memSize > FOUR_GIB) {
      bug(`segment ${i + 1} at ${hex(s.loadAddr)}+${hex(s.memSize)} is outside 1 MiB..4 GiB`);
    }
  }
  if (!u32(load.entry)) bug(`entry ${load.entry} is not a 32-bit address`);
  if (load.start < KERNEL_MIN_ADDR || load.end > FOUR_GIB || load.end < load.start) {
    bug(`load range ${hex(load.start)}..${hex(load.end)} is outside 1 MiB..4 GiB`);
  }
  return cmdline;
}

/** Stage 1 and stage 2 with the parameter block for this kernel and command line. */
export function buildBootCode(input: BootInput): BootCode {
  const cmdline = checkInput(input);
  const { load } = input;

  const stage2Bytes = CMDLINE_OFF + cmdline.length + 1;
  const sectors = Math.ceil(stage2Bytes / SECTOR);
  if (sectors > STAGE2_MAX_SECTORS || STAGE2_LBA + sectors > PARTITION_LBA) {
    // The assembler's budget keeps stage 2 code small enough for MAX_CMDLINE.
    throw new Error(
      `internal: stage 2 with the command line needs ${sectors} sectors; at most ${STAGE2_MAX_SECTORS} fit`,
    );
  }
  const stage2 = new Uint8Array(sectors * SECTOR);
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
  // One decoder: the report's, without the reasons.
  const r = reportBootParams(stage2);
  return r.problems.length === 0 ? r.params : null;
}

/** What the parameter block says, read leniently, with what is wrong with it (for inspect and verify). */
export interface ParamsReport {
  /** null when the magic is absent: stage 2 is not ours. */
  params: BootParams | null;
  version: number;
  storedCrc: number;
  computedCrc: number | null;
  /** One sentence per problem; empty when the block is sound. */
  problems: string[];
}

/** Read the block the way `readBootParams` does, but say why it is refused instead of returning null. */
export function reportBootParams(stage2: Uint8Array): ParamsReport {
  const p = PARAMS_OFF;
  const problems: string[] = [];
  const none: ParamsReport = { params: null, version: 0, storedCrc: 0, computedCrc: null, problems };
  if (stage2.length < CMDLINE_OFF + 1 || rd32le(stage2, p) !== PARAMS_MAGIC) return none;
  const version = rd16le(stage2, p + P_VERSION);
  const storedCrc = rd32le(stage2, p + P_CRC);
  if (version !== PARAMS_VERSION) {
    problems.push(`The parameter block is version ${version}; this tool reads version ${PARAMS_VERSION}.`);
    return { ...none, version, storedCrc };
  }
  if (rd16le(stage2, p + P_SIZE) !== PARAMS_SIZE) {
    problems.push(`The parameter block says it is ${rd16le(stage2, p + P_SIZE)} bytes long, not ${PARAMS_SIZE}.`);
  }
  const count = rd16le(stage2, p + P_SEG_COUNT);
  if (count === 0 || count > MAX_SEGMENTS)
    problems.push(`The parameter block lists ${count} segments (1 to ${MAX_SEGMENTS}).`);
  const len = rd16le(stage2, p + P_CMDLINE_LEN);
  if (CMDLINE_OFF + len + 1 > stage2.length) {
    problems.push(
      `The command line is ${len} bytes long, past the end of stage 2 (${stage2.length} bytes from the sector count in the MBR).`,
    );
    return { ...none, version, storedCrc, problems };
  }
  const computedCrc = paramsCrc(stage2, len);
  if (computedCrc !== storedCrc) {
    problems.push(
      `The parameter block's CRC-32 is ${hex(storedCrc)} but stage 2 and its command line give ${hex(computedCrc)}: the loader would refuse to boot ("damaged stage 2 or parameter block").`,
    );
  }
  if (stage2[CMDLINE_OFF + len] !== 0) problems.push('The command line is not followed by a NUL byte.');
  const segments: LoadSegment[] = [];
  for (let i = 0; i < Math.min(count, MAX_SEGMENTS); i++) {
    const o = p + P_SEGS + i * SEG_SIZE;
    segments.push({
      fileOffset: rd32le(stage2, o),
      fileSize: rd32le(stage2, o + 4),
      loadAddr: rd32le(stage2, o + 8),
      memSize: rd32le(stage2, o + 12),
    });
  }
  return {
    params: {
      flags: rd32le(stage2, p + P_FLAGS),
      kernelLba: rd64le(stage2, p + P_KERNEL_LBA),
      kernelSize: rd32le(stage2, p + P_KERNEL_SIZE),
      kernelCrc32: rd32le(stage2, p + P_KERNEL_CRC),
      entry: rd32le(stage2, p + P_ENTRY),
      loadStart: rd32le(stage2, p + P_LOAD_START),
      loadEnd: rd32le(stage2, p + P_LOAD_END),
      segments,
      cmdline: stage2.slice(CMDLINE_OFF, CMDLINE_OFF + len),
    },
    version,
    storedCrc,
    computedCrc,
    problems,
  };
}

/**
 * Stage 2 with another command line: the image's own loader code and block
 * are kept, the command line replaced, the length field and the CRC
 * rewritten. Returns whole sectors; the caller writes the new sector count
 * into stage 1's field (`STAGE1_FIELDS_OFF` + 4) when it changed.
 */
export function replaceCommandLine(stage2: Uint8Array, cmdline: Uint8Array): Uint8Array {
  if (cmdline.length > MAX_CMDLINE || cmdline.includes(0)) {
    throw new Error(`internal: command line of ${cmdline.length} bytes (checkArgs refuses it)`);
  }
  const sectors = Math.ceil((CMDLINE_OFF + cmdline.length + 1) / SECTOR);
  const out = new Uint8Array(sectors * SECTOR);
  out.set(stage2.subarray(0, CMDLINE_OFF), 0);
  out.set(cmdline, CMDLINE_OFF);
  u16le(out, PARAMS_OFF + P_CMDLINE_LEN, cmdline.length);
  u32le(out, PARAMS_OFF + P_CRC, paramsCrc(out, cmdline.length));
  return out;
}

/** Stage 1's pinned fields: where stage 2 is and how many sectors it has. */
export function readStage1Fields(mbr: Uint8Array): { stage2Lba: number; stage2Sectors: number } {
  return { stage2Lba: rd32le(mbr, STAGE1_FIELDS_OFF), stage2Sectors: rd16le(mbr, STAGE1_FIELDS_OFF + 4) };
}

/** LBA 0 with stage 1's sector count changed (everything else as it was). */
export function withStage2Sectors(mbr: Uint8Array, sectors: number): Uint8Array {
  const out = mbr.slice();
  u16le(out, STAGE1_FIELDS_OFF + 4, sectors);
  return out;
}
