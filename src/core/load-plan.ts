/**
 * How a kernel file becomes memory: what the boot loader copies where, what it
 * zeroes, and where it jumps. Produced by kernel inspection (multiboot.ts),
 * consumed by the boot loader's parameter block (boot/).
 */
import { fail } from './errors';
import { FOUR_GIB, hex, MIN_LOAD_ADDR } from './units';

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

/**
 * The rules every load plan must meet, whichever header it came from (the
 * Multiboot a.out kludge or ELF program headers): checked once, by kernel
 * inspection, so that what the page shows as fine is what the build accepts.
 * The boot loader's parameter block only asserts them again.
 */
export function checkLoadPlan(plan: LoadPlan, maxSegments: number, what = 'kernel'): void {
  const from = plan.source === 'aout-kludge' ? 'Multiboot address fields (load_addr..bss_end_addr)' : 'PT_LOAD segment';
  if (plan.segments.length > maxSegments) {
    fail(
      'LOAD_TOO_MANY_SEGMENTS',
      `The ${what} has ${plan.segments.length} loadable segments; the boot loader handles at most ${maxSegments}: link it with fewer PT_LOAD segments (or use the Multiboot a.out kludge, as Solo5 does).`,
    );
  }
  for (const s of plan.segments) {
    const range = `${hex(s.loadAddr)}..${hex(s.loadAddr + s.memSize)}`;
    if (s.loadAddr < MIN_LOAD_ADDR) {
      fail(
        'LOAD_BELOW_1MIB',
        `The ${what}'s ${from} load it at ${range}, below 1 MiB (${hex(MIN_LOAD_ADDR)}), where the BIOS and the boot loader live. Link the kernel at 1 MiB or above, as Solo5 does (0x100000).`,
      );
    }
    if (s.loadAddr + s.memSize > FOUR_GIB) {
      fail(
        'LOAD_ABOVE_4GIB',
        `The ${what}'s ${from} reach ${range}, above 4 GiB (${hex(FOUR_GIB)}), which a 32-bit Multiboot loader cannot reach. Link the kernel lower (Solo5 links at 0x100000).`,
      );
    }
  }
  const holder = plan.segments.find((s) => plan.entry >= s.loadAddr && plan.entry < s.loadAddr + s.fileSize);
  if (!holder) {
    const loaded = plan.segments.map((s) => `${hex(s.loadAddr)}..${hex(s.loadAddr + s.fileSize)}`).join(', ');
    fail(
      'LOAD_ENTRY_OUTSIDE',
      `The ${what}'s entry point ${hex(plan.entry)} is not inside the bytes loaded from the file (${loaded}): it would jump into zeroed memory or nothing at all. The headers are wrong; rebuild the kernel.`,
    );
  }
}
