/**
 * Our loader run under the emulator, as a stepper drives it and a trace
 * reads it: a `Machine` plus what the walkthrough knows (the step each
 * instruction belongs to: the furthest step reached, as the loader passes
 * them in order), the writes of the last command (memory logged during runs
 * too, coarsened when large), and the view a page draws after each command
 * (plain data: registers, the changed ones, the mode, the disassembly around
 * EIP, the memory written and hex views of it, the console, and at the
 * kernel's entry the Multiboot hand-over). Runs go in slices (RunOptions),
 * so a worker stays responsive and a CLI sees its signals.
 */
import { Machine, type MachineOptions, type RunOptions, type StopReason } from './machine';
import { STAGE2_ADDR } from '../boot/loader.generated';
import type { Disk } from './pc';
import { coarsen, mergeWrites, type WriteRecord } from './memory';
import { disassembleAround, labelBefore, STEP_ADDRESSES, type DisasmLine, type StepAddress } from './listing';
import { kernelMemoryLayout, lowMemoryLayout, regionsTouched, type LayoutInput, type MemoryRegion } from './layout';
import {
  cpuMode,
  decodeFlags,
  multibootHandoff,
  registers,
  segments,
  type CpuMode,
  type FlagState,
  type HandoffRow,
  type Registers,
  type SegmentState,
} from './state';

/** Instructions a run may execute before it stops with `limit`: far more than the loader needs for a 1 GiB kernel. */
export const TRACE_MAX_INSTRUCTIONS = 50_000_000;
/** Hex views of written memory in one view, and bytes in each. */
const DUMPS = 4;
const DUMP_BYTES = 64;
/** Console characters a view carries (its end). */
const CONSOLE_TAIL = 16384;

export type StepCommand = 'step' | 'over' | 'next-step' | 'kernel' | 'reset';

/** A step passed: its id, where, and how many instructions had run when it was first reached. */
export interface StepPassed extends StepAddress {
  instruction: number;
}

/** Memory around a write, for a hex view. */
export interface MemoryDump {
  /** First byte shown (16-byte aligned). */
  address: number;
  bytes: Uint8Array;
  /** Which of the bytes were written: [offset in `bytes`, length]. */
  written: [number, number][];
  /** The region holding the first written byte. */
  region: string;
  /** Bytes written in this range altogether (may be more than shown). */
  writtenBytes: number;
}

/** What a stepper draws, after every command. Plain data. */
export interface StepperView {
  instructions: number;
  /** Linear address of the next instruction. */
  address: number;
  /** The stop the machine cannot go past (kernel, loader-error, halt, fault, ...), or null. */
  stop: StopReason | null;
  /** The last command was stopped before its end (Escape, a new command). */
  interrupted: boolean;
  registers: Registers;
  segments: SegmentState[];
  flags: FlagState[];
  mode: CpuMode;
  /** Register names (`eax`, `cs`, `eflags`, `cr0`) and flag names (`ZF`) the last command changed. */
  changed: string[];
  /** The disassembly around the next instruction, and which line it is. */
  disasm: DisasmLine[];
  current: number;
  /** The loader label at or before the next instruction (null outside this build's loader). */
  where: { label: string; offset: number } | null;
  /** The walkthrough step the loader is in (the furthest reached), or null. */
  step: string | null;
  passed: StepPassed[];
  /** Memory the last command wrote (sorted, merged; coarse when `writesCoarse`). */
  writes: WriteRecord[];
  writesCoarse: boolean;
  /** Ids of the layout regions those writes touch. */
  touched: string[];
  dumps: MemoryDump[];
  /** The end of what the loader printed on COM1, and its whole length. */
  console: string;
  consoleLength: number;
  /** At the kernel's entry: the Multiboot machine state, row by row. */
  handoff: HandoffRow[] | null;
}

/**
 * How much of the image's loader is this build's code, so that its labels
 * and steps apply: all of it, stage 1 only (stage 2 another build's, or
 * damaged), or none.
 */
export type LoaderKnown = 'all' | 'stage1' | 'none';

/** What does not change during a session: the memory map and the steps. */
export interface StepperInfo {
  memoryMiB: number;
  known: LoaderKnown;
  steps: readonly StepAddress[];
  low: MemoryRegion[];
  kernel: MemoryRegion[];
}

export interface LoaderRunOptions extends MachineOptions {
  /** How much of the loader is this build's (listing.ts `isOurStage1`, `isThisLoader`). */
  known: LoaderKnown;
  layout?: LayoutInput;
}

export class LoaderRun {
  readonly info: StepperInfo;
  private passed: StepPassed[] = [];
  private furthest = -1;
  private writes: WriteRecord[] = [];
  private coarse = false;
  private interrupted = false;
  private before: { regs: Registers; flags: FlagState[] } | null = null;
  private readonly stepAt = new Map<number, number>();

  private constructor(
    readonly machine: Machine,
    options: LoaderRunOptions,
  ) {
    const steps = STEP_ADDRESSES.filter(
      (s) => options.known === 'all' || (options.known === 'stage1' && s.address < STAGE2_ADDR),
    );
    steps.forEach((s, i) => this.stepAt.set(s.address, i));
    this.info = {
      memoryMiB: machine.options.memoryMiB,
      known: options.known,
      steps,
      low: lowMemoryLayout(options.layout),
      kernel: kernelMemoryLayout(options.layout),
    };
    this.notice();
  }

  static async boot(disk: Disk, options: LoaderRunOptions): Promise<LoaderRun> {
    const m = await Machine.boot(disk, { maxInstructions: TRACE_MAX_INSTRUCTIONS, ...options });
    return new LoaderRun(m, options);
  }

  /** Record the step at the current address, if it is one not reached before. */
  private notice(): void {
    const i = this.stepAt.get(this.machine.address);
    if (i !== undefined && i > this.furthest) {
      this.furthest = i;
      this.passed.push({ ...this.info.steps[i], instruction: this.machine.instructions });
    }
  }

  /** Steps passed so far, in order. */
  get stepsPassed(): readonly StepPassed[] {
    return this.passed;
  }

  /**
   * Run until `target` (an address set) or a stop, stopping at every step
   * address on the way to note it. Memory writes are logged.
   */
  private async runTo(target: ReadonlySet<number> | null, options?: RunOptions): Promise<StopReason | null> {
    const m = this.machine;
    const stops = new Set<number>([...this.stepAt.keys(), ...(target ?? [])]);
    for (;;) {
      const r = await m.runUntil(stops, options);
      this.notice();
      if (r.kind === 'interrupted') {
        this.interrupted = true;
        return null;
      }
      if (r.kind !== 'breakpoint') return r;
      if (target?.has(m.address)) return null;
    }
  }

  /** Run one command; `options` slices the long ones (a signal interrupts them, leaving the machine where it was). */
  async command(cmd: StepCommand, options?: RunOptions): Promise<void> {
    const m = this.machine;
    this.before = { regs: registers(m), flags: decodeFlags(m.cpu.eflags) };
    this.interrupted = false;
    if (cmd === 'reset') {
      m.reset();
      this.passed = [];
      this.furthest = -1;
      this.writes = [];
      this.coarse = false;
      this.before = null;
      this.notice();
      return;
    }
    if (m.stopped) return;
    const mem = m.memory;
    mem.writes = [];
    mem.coarsened = false;
    mem.logging = true;
    try {
      if (cmd === 'step') {
        const rec = await m.step();
        this.writes = rec.writes;
      } else if (cmd === 'over') {
        const ins = m.current();
        if (ins.mnemonic === 'call' || ins.mnemonic === 'int' || ins.rep !== 0)
          await this.runTo(new Set([(m.address + ins.length) >>> 0]), options);
        else await m.step();
      } else if (cmd === 'next-step') {
        const later = this.info.steps.slice(this.furthest + 1).map((s) => s.address);
        await this.runTo(later.length ? new Set(later) : null, options);
      } else await this.runTo(null, options);
    } finally {
      mem.logging = false;
    }
    if (cmd !== 'step') this.writes = mem.writes;
    this.coarse = mem.coarsened;
    m.lastWrites = this.writes;
    this.notice();
  }

  /** Run to the kernel's entry or another stop (a trace). */
  async run(options?: RunOptions): Promise<StopReason | null> {
    const m = this.machine;
    const r = await this.runTo(null, options);
    return r ?? (this.interrupted ? null : m.stopped);
  }

  /** This build's labels apply at `address` (stage 1's below stage 2, stage 2's from it). */
  private knownAt(address: number): boolean {
    const k = this.info.known;
    return k === 'all' || (k === 'stage1' && address < STAGE2_ADDR);
  }

  /** Bytes at `address` (a memory window a page asks for), at most 4 KiB. */
  read(address: number, length: number): Uint8Array {
    return this.machine.memory.readBytes(address >>> 0, Math.max(0, Math.min(4096, length)));
  }

  view(): StepperView {
    const m = this.machine;
    const c = m.cpu;
    const regs = registers(m);
    const flags = decodeFlags(c.eflags);
    const changed: string[] = [];
    if (this.before) {
      for (const k of Object.keys(regs) as (keyof Registers)[]) if (regs[k] !== this.before.regs[k]) changed.push(k);
      flags.forEach((f, i) => f.set !== this.before!.flags[i].set && changed.push(f.name));
    }
    const merged = coarsen(this.writes, 512);
    const total = (ws: readonly WriteRecord[]) => ws.reduce((n, w) => n + w.length, 0);
    const coarse = this.coarse || total(merged) > total(mergeWrites(this.writes));
    const regions = [...this.info.low, ...this.info.kernel];
    const read = (a: number) => m.memory.read8(a);
    const known = this.knownAt(m.address);
    const dis = disassembleAround(read, m.address, c.seg[1].base >>> 0, c.bits, known);
    const text = m.console;
    return {
      instructions: m.instructions,
      address: m.address,
      stop: m.stopped,
      interrupted: this.interrupted,
      registers: regs,
      segments: segments(m),
      flags,
      mode: cpuMode(m),
      changed,
      disasm: dis.lines,
      current: dis.current,
      where: known ? labelBefore(m.address) : null,
      step: this.furthest >= 0 ? this.info.steps[this.furthest].step : null,
      passed: [...this.passed],
      writes: merged,
      writesCoarse: coarse,
      touched: regionsTouched(regions, merged),
      dumps: dumpsOf(m, merged, regions),
      console: text.length > CONSOLE_TAIL ? text.slice(-CONSOLE_TAIL) : text,
      consoleLength: text.length,
      handoff: m.stopped?.kind === 'kernel' ? multibootHandoff(m) : null,
    };
  }
}

/** Hex views of the first few written ranges: 16-byte aligned, up to DUMP_BYTES each. */
function dumpsOf(m: Machine, writes: readonly WriteRecord[], regions: readonly MemoryRegion[]): MemoryDump[] {
  const out: MemoryDump[] = [];
  for (const w of writes.slice(0, DUMPS)) {
    const start = Math.floor(w.address / 16) * 16;
    const end = Math.min(start + DUMP_BYTES, Math.ceil((w.address + w.length) / 16) * 16);
    const bytes = m.memory.readBytes(start, end - start);
    const written: [number, number][] = [];
    for (const x of writes) {
      const a = Math.max(x.address, start);
      const b = Math.min(x.address + x.length, end);
      if (b > a) written.push([a - start, b - a]);
    }
    const r = regions.find((r) => w.address >= r.start && w.address < r.end);
    out.push({ address: start, bytes, written, region: r?.name ?? 'Memory', writtenBytes: w.length });
  }
  return out;
}
