/**
 * The boot loader slot's contract with the image engine: what the engine
 * gives (`BootInput`), what it gets back (`BootCode`), and the two limits both
 * sides use. Its own module so that index.ts (the slot's front door) and
 * params.ts (the encoder) both import it and neither imports the other.
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
/** Longest command line (bytes, including "unikernel.bin ") the loaders pass (src/boot/layout.inc). */
export { MAX_CMDLINE } from './loader.generated';

/**
 * Where every image carries the UEFI loader (`EFI_LOADER`): the removable-media
 * path \EFI\BOOT\BOOTX64.EFI of the FAT partition (UEFI 3.5.1.1), which
 * firmware starts without a boot entry.
 */
export const EFI_BOOT_DIR: readonly string[] = ['EFI', 'BOOT'];
export const EFI_BOOT_NAME = 'BOOTX64.EFI';
