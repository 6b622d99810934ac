/**
 * The boot walkthrough as data: numbered steps from power-on to the kernel's
 * first instruction, each with the exact bytes involved cut into labelled
 * fields. The core fills it from a disk (index.ts); the page only draws
 * it, so the same steps can be printed, tested and read by other tools.
 * Plain data: it crosses postMessage.
 */
import type { BootloaderKind } from '../bootloader';

/** One labelled run of bytes inside a dump. */
export interface HexField {
  /** Offset of the field's first byte within the dump's `bytes`. */
  start: number;
  length: number;
  /** What the field is ("Jump to the code", "Partition 1: type"). */
  label: string;
  /** What its bytes mean here, decoded ("0x0C: FAT32 with LBA", "LBA 2048"). */
  value: string;
}

/** Bytes read from the disk (or from memory the loader builds), shown as hex with fields marked. */
export interface HexDump {
  /** What these bytes are ("LBA 0: the master boot record, last 66 bytes"). */
  caption: string;
  /** Where they are: a byte offset on the virtual disk, or null for bytes the loader builds in memory. */
  diskOffset: number | null;
  /** The address the loader puts them at, when that is the point (0x7C00), else null. */
  memoryAddress: number | null;
  bytes: Uint8Array;
  /** Fields in order of `start`, not overlapping; bytes outside every field are shown plain. */
  fields: HexField[];
}

export interface WalkStep {
  /** Stable id for links and tests ("bios", "stage1", "params", "a20", "e820", ...). */
  id: string;
  /** Short heading ("The BIOS loads LBA 0"). */
  title: string;
  /** Plain explanation a student can follow, one string per paragraph; `code` in backticks. */
  text: string[];
  dumps: HexDump[];
}

export interface Walkthrough {
  loader: BootloaderKind;
  /** The kernel's command line as the loader will pass it, when known. */
  cmdline: string | null;
  /** Numbered in order, from power-on to the kernel's first instruction. */
  steps: WalkStep[];
  /** The same disk under a UEFI firmware (efi.ts): empty when it has no `\EFI\BOOT\BOOTX64.EFI`. */
  uefi: WalkStep[];
  /** Why some steps could not be shown (a damaged parameter block, no loader), for people. */
  notes: string[];
}
