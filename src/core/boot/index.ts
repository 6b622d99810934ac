/**
 * The boot loader slot. The image engine calls `buildBootCode()` once the FAT
 * layout is known (so the kernel's LBA is known) and places:
 *   - `mbrCode` at bytes 0..439 of LBA 0 (the disk signature and partition
 *     table that follow are the engine's);
 *   - `stage2` at `STAGE2_LBA`, in the gap before the partition at LBA 2048.
 * See ARCHITECTURE.md, "Boot".
 */
import type { LoadPlan } from '../load-plan';

export interface BootInput {
  /** Absolute LBA (512-byte sectors) of the first byte of /unikernel.bin; the file is contiguous. */
  kernelLba: number;
  /** Size of /unikernel.bin in bytes. */
  kernelSize: number;
  /** CRC-32 (zlib) of the whole kernel file, checked by the loader before it jumps. */
  kernelCrc32: number;
  /** Segments, bss and entry, from kernel inspection. */
  load: LoadPlan;
  /** The Multiboot command line as the kernel receives it: "unikernel.bin <args>". */
  cmdline: string;
}

export interface BootCode {
  /** At most 440 bytes. */
  mbrCode: Uint8Array;
  /** A whole number of 512-byte sectors, written at STAGE2_LBA. */
  stage2: Uint8Array;
}

/** First sector of stage 2; it must end before the partition (LBA 2048). */
export const STAGE2_LBA = 1;
/** Longest command line (bytes, including "unikernel.bin ") the loader passes. */
export const MAX_CMDLINE = 8191;

export { buildBootCode } from './params';
