/**
 * How a kernel file becomes memory: what the boot loader copies where, what it
 * zeroes, and where it jumps. Produced by kernel inspection (multiboot.ts),
 * consumed by the boot loader's parameter block (boot/).
 */
export interface LoadSegment {
  /** Byte offset in the kernel file. */
  fileOffset: number;
  /** Bytes copied from the file. */
  fileSize: number;
  /** Physical address the first byte goes to. */
  loadAddr: number;
  /** Bytes of memory the segment spans (>= fileSize); the rest is zeroed (bss). */
  memSize: number;
}

export interface LoadPlan {
  /** Where the plan came from. 'aout-kludge' is the Solo5 case (multiboot flag bit 16). */
  source: 'aout-kludge' | 'elf32' | 'elf64';
  /** 32-bit protected-mode entry point (multiboot entry_addr for the kludge). */
  entry: number;
  /** Sorted by loadAddr, non-overlapping. */
  segments: LoadSegment[];
  /** Lowest address written. */
  start: number;
  /** One past the highest address written or zeroed. */
  end: number;
}
