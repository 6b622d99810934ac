/**
 * Where each step of the boot walkthrough (src/core/disk/walkthrough.ts,
 * step ids) begins in our loader: the NASM label of its first instruction.
 * A stepper resolves the labels to addresses with the loader's listing; the
 * faithfulness test stops QEMU and the emulator at each and compares the
 * registers. The `partition` step has no code of its own (the BIOS does not
 * read the table; stage 1 does not either).
 */
export interface LoaderStep {
  /** Walkthrough step id. */
  step: string;
  /** The loader source and the label of the step's first instruction. */
  source: 'stage1.asm' | 'stage2.asm';
  label: string;
}

/** In the order the loader first reaches them. */
export const LOADER_STEPS: readonly LoaderStep[] = [
  { step: 'bios', source: 'stage1.asm', label: 's1_start' },
  { step: 'stage1', source: 'stage1.asm', label: 's1_main' },
  { step: 'params', source: 'stage2.asm', label: 'check_params' },
  { step: 'a20', source: 'stage2.asm', label: 'a20_enable' },
  { step: 'e820', source: 'stage2.asm', label: 'memory_map' },
  { step: 'mbi', source: 'stage2.asm', label: 'build_mbi' },
  { step: 'kernel', source: 'stage2.asm', label: 'load_kernel' },
  { step: 'pmode', source: 'stage2.asm', label: 'call32' },
  { step: 'segments', source: 'stage2.asm', label: 'process_chunk' },
  { step: 'jump', source: 'stage2.asm', label: 'enter_kernel' },
];
