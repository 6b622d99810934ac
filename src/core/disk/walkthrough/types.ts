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
  /**
   * Machine code, run in this mode: every byte is in a field and every field
   * is one instruction, its label the instruction in Intel syntax as ndisasm
   * prints it (our decoder's text), its value what it does; `memoryAddress`
   * is where the first one runs. Null for data.
   */
  code: 16 | 32 | null;
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

/** Where the dumps' disk offsets can be checked: the image's file, or a raw copy of its disk. */
export interface WalkSource {
  /** The image's format, for people ("qcow2"). */
  format: string;
  /** The file's bytes are not the disk's (qcow2, VMDK, VDI, dynamic VHD, tar.gz): offsets are the virtual disk's. */
  container: boolean;
  /** The raw disk file the `xxd` commands read: the image itself, or the copy `prepare` makes. */
  rawFile: string;
  /** The command that makes `rawFile` from the image, or null when the image is raw already. */
  prepare: string | null;
  /** The file QEMU boots and its `-drive format=`: the image when QEMU reads it as it is, else the raw copy. */
  qemu: { file: string; format: string };
  /** What the offsets are, for people, one string per paragraph; `code` in backticks. */
  text: string[];
}

/** One line of the "check it yourself" session: a shell command or a gdb command, and what it shows. */
export interface CheckLine {
  prompt: '$' | '(gdb)';
  command: string;
  /** What it does or shows, tied to the walkthrough's steps; `code` in backticks. */
  note: string;
}

/** "Check it yourself with QEMU and gdb": a session that stops the emulated PC where the steps say. */
export interface CheckYourself {
  text: string[];
  lines: CheckLine[];
}

/** A specification or source the explanations rest on. */
export interface Reference {
  /** Its name and the part that matters ("Multiboot Specification version 0.6.96"). */
  name: string;
  /** What the walkthrough takes from it. */
  about: string;
  url: string | null;
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
  /** What the disk offsets are and how to read the same bytes with `xxd`. */
  source: WalkSource;
  check: CheckYourself;
  references: Reference[];
}
