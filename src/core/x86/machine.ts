/**
 * A model PC booting a disk image the way QEMU (`-machine pc`, SeaBIOS)
 * does: LBA 0 at 0000:7C00, DL = 80h, the registers SeaBIOS hands over,
 * then our interpreter until the kernel's first instruction (the first
 * instruction fetched at or above 1 MiB in protected mode), the loader's own
 * failure message, a halt, a fault, or an instruction limit.
 *
 * The interpreter runs synchronously in batches; an INT 13h read is the only
 * thing that waits (the BIOS model returns a promise, the run loop awaits it
 * and goes on). Inspectable for a stepping UI: `cpu` (registers, segments,
 * EFLAGS, CR0, GDTR), `memory`, `console`, `lastWrites`, `step()`,
 * `stepOver()`, `runUntil()`, `snapshot()`/`restore()`/`reset()`.
 */
import { decode, type Instruction } from './decode';
import { Cpu, hex, type Segment } from './cpu';
import { Memory } from './memory';
import { compile, type Run } from './fast';
import { Pc, lowMemoryTop, type Disk, type PcOptions } from './pc';
import { nextTask, SLICE_MS, type AbortSignalLike } from '../stream';

export interface MachineOptions {
  /** RAM in MiB, as QEMU's -m (default 128). */
  memoryMiB?: number;
  /** QEMU's isa-debug-exit device at 0x501 (default true, as our QEMU tests run). */
  debugExit?: boolean;
  /** A20 on at hand-over (default true, as SeaBIOS leaves it). */
  a20?: boolean;
  /** Stop after this many instructions (default 2 000 000 000). */
  maxInstructions?: number;
  /** Stop at the first instruction fetched at or above 1 MiB in protected mode (default true). */
  stopAtKernel?: boolean;
}

/** Why a run stopped. `message` is a sentence for people. */
export type StopReason =
  | { kind: 'kernel'; entry: number; message: string }
  | { kind: 'loader-error'; error: string; message: string }
  | { kind: 'halt'; message: string }
  | { kind: 'exit'; status: number; message: string }
  | { kind: 'fault'; vector: number; message: string }
  | { kind: 'reset'; message: string }
  | { kind: 'unsupported'; message: string }
  | { kind: 'limit'; message: string }
  | { kind: 'breakpoint'; address: number; message: string }
  | { kind: 'interrupted'; message: string };

/** Where `run`/`runUntil` stop besides the machine's own stops: an address, any of a set of addresses, or a test. */
export type Until = number | ReadonlySet<number> | ((m: Machine) => boolean);

/**
 * A long run in slices: between batches of instructions (at most every
 * SLICE_MS) the run lets the host's event loop go (a worker's messages, a
 * CLI's signals), reports progress, and stops with `interrupted` once
 * `signal` is aborted (the machine can go on from there).
 */
export interface RunOptions {
  signal?: AbortSignalLike;
  /** Instructions executed so far, at most every SLICE_MS. */
  onProgress?: (instructions: number) => void;
}

/** One executed instruction, for a trace or a stepper. */
export interface StepRecord {
  /** Linear address of the instruction. */
  address: number;
  instruction: Instruction;
  /** Memory written by it (CPU writes and, for INT 13h, the sectors read). */
  writes: { address: number; length: number }[];
}

/** Everything needed to go back to a point of the run (`snapshot()`/`restore()`). */
export interface MachineSnapshot {
  regs: Int32Array;
  eip: number;
  eflags: number;
  cr: [number, number, number, number];
  gdtr: { base: number; limit: number };
  idtr: { base: number; limit: number };
  seg: Segment[];
  pages: Map<number, Uint8Array>;
  a20: boolean;
  serial: number[];
  screen: number[];
  devices: string;
  instructions: number;
  stopped: StopReason | null;
}

interface CacheEntry {
  ins: Instruction;
  run: Run;
  gen: number;
  gen2: number;
}

const KERNEL_MIN = 0x100000;
/** SeaBIOS's hand-over (measured under QEMU): EAX = AA55h, EDX = 80h, ESP = 6F04h, IF on. */
const HANDOVER = { eax: 0xaa55, edx: 0x80, esp: 0x6f04, eflags: 0x202 };
const BATCH = 65536;

export class Machine {
  readonly cpu: Cpu;
  readonly memory: Memory;
  readonly pc: Pc;
  readonly options: Required<MachineOptions>;
  /** Instructions executed since the start. */
  instructions = 0;
  stopped: StopReason | null = null;
  /** Writes of the last `step()`. */
  lastWrites: { address: number; length: number }[] = [];
  private cache = new Map<number, CacheEntry>();
  private start!: MachineSnapshot;

  private constructor(disk: Disk, options: MachineOptions) {
    this.options = {
      memoryMiB: options.memoryMiB ?? 128,
      debugExit: options.debugExit ?? true,
      a20: options.a20 ?? true,
      maxInstructions: options.maxInstructions ?? 2_000_000_000,
      stopAtKernel: options.stopAtKernel ?? true,
    };
    const pcOptions: PcOptions = {
      memoryMiB: this.options.memoryMiB,
      debugExit: this.options.debugExit,
      a20: this.options.a20,
    };
    this.memory = new Memory(lowMemoryTop(pcOptions.memoryMiB));
    this.pc = new Pc(this.memory, disk, pcOptions);
    this.cpu = new Cpu(this.memory, this.pc);
    this.pc.cpu = this.cpu;
  }

  /** Power on: the BIOS reads LBA 0 to 0x7C00 and jumps there (it needs the 55AAh signature). */
  static async boot(disk: Disk, options: MachineOptions = {}): Promise<Machine> {
    const m = new Machine(disk, options);
    m.pc.initBda();
    const c = m.cpu;
    c.regs[0] = HANDOVER.eax;
    c.regs[2] = HANDOVER.edx;
    c.regs[4] = HANDOVER.esp;
    c.eflags = HANDOVER.eflags;
    c.eip = 0x7c00;
    if (disk.size < 512) m.stopped = { kind: 'unsupported', message: 'the disk is smaller than one sector' };
    else {
      const mbr = await disk.read(0, 512);
      m.memory.writeBytes(0x7c00, mbr);
      if (mbr[510] !== 0x55 || mbr[511] !== 0xaa)
        m.stopped = {
          kind: 'unsupported',
          message: 'LBA 0 has no boot signature (55 AA at byte 510): the BIOS would not boot this disk',
        };
    }
    m.start = m.snapshot();
    return m;
  }

  /**
   * A machine already in flat 32-bit protected mode (as a Multiboot loader
   * leaves it: CS = 08h, data 10h, base 0, 4 GiB, IF off) running `code`
   * loaded at `at`, with no disk. For instruction tests.
   */
  static protectedMode(code: Uint8Array, at: number, entry: number, options: MachineOptions = {}): Machine {
    const m = new Machine({ size: 0, read: async () => new Uint8Array(0) }, { stopAtKernel: false, ...options });
    m.pc.initBda();
    m.memory.writeBytes(at, code);
    const c = m.cpu;
    c.cr0 = 0x11;
    c.seg.forEach((s, i) => {
      Object.assign(s, {
        selector: i === 1 ? 0x08 : 0x10,
        base: 0,
        limit: 0xffffffff,
        big: true,
        access: i === 1 ? 0x9b : 0x93,
      });
    });
    c.eip = entry;
    c.eflags = 0x2;
    c.regs[4] = 0x90000;
    m.start = m.snapshot();
    return m;
  }

  /** COM1's output so far (Latin-1), which is what the loader prints. */
  get console(): string {
    return latin1(this.pc.serial);
  }
  /** INT 10h teletype output so far. */
  get screen(): string {
    return latin1(this.pc.screen);
  }
  /** Linear address of the next instruction. */
  get address(): number {
    return (this.cpu.seg[1].base + this.cpu.eip) >>> 0;
  }

  /** The instruction at CS:EIP, decoded (cached per linear address until its page is written). */
  current(): Instruction {
    return this.entry().ins;
  }

  private entry(): CacheEntry {
    const c = this.cpu;
    const lin = (c.seg[1].base + c.eip) >>> 0;
    const big = c.seg[1].big;
    const key = lin * 2 + (big ? 1 : 0);
    const mem = this.memory;
    const page = lin >>> 12;
    const hit = this.cache.get(key);
    if (
      hit &&
      hit.ins.eip === c.eip &&
      hit.gen === mem.gen[page] &&
      hit.gen2 === mem.gen[(lin + hit.ins.length - 1) >>> 12]
    )
      return hit;
    const bits = big ? 32 : 16;
    const ins = decode((i) => mem.read8(lin + i), c.eip, bits);
    const last = (lin + ins.length - 1) >>> 12;
    if (page < mem.codePage.length) mem.codePage[page] = 1;
    if (last < mem.codePage.length) mem.codePage[last] = 1;
    const e = { ins, run: compile(ins, bits), gen: mem.gen[page], gen2: mem.gen[last] };
    this.cache.set(key, e);
    return e;
  }

  /**
   * Run to a stop; `until` (an address, a set of them, or a test) adds a
   * breakpoint, not checked on the first instruction. With `options`, in
   * slices (RunOptions).
   */
  async run(until?: Until, options?: RunOptions): Promise<StopReason> {
    let first = true;
    let pause = Date.now();
    while (!this.stopped) {
      this.batch(until, first);
      first = false;
      const pending = this.cpu.pending;
      if (pending) {
        this.cpu.pending = null;
        await pending;
        this.checkStops();
      }
      if (options && !this.stopped && Date.now() - pause >= SLICE_MS) {
        options.onProgress?.(this.instructions);
        await nextTask();
        pause = Date.now();
        if (options.signal?.aborted) this.stopped = { kind: 'interrupted', message: 'the run was stopped' };
      }
    }
    return this.stopped;
  }

  /** `run(until)` that leaves the machine able to go on when the breakpoint is reached or the run interrupted. */
  async runUntil(until: Until, options?: RunOptions): Promise<StopReason> {
    const r = await this.run(until, options);
    if (r.kind === 'breakpoint' || r.kind === 'interrupted') this.stopped = null;
    return r;
  }

  private batch(until: Until | undefined, first: boolean): void {
    const c = this.cpu;
    const max = this.options.maxInstructions;
    for (let n = 0; n < BATCH; n++) {
      const lin = (c.seg[1].base + c.eip) >>> 0;
      if (lin >= KERNEL_MIN && c.cr0 & 1 && this.options.stopAtKernel) {
        this.stopped = {
          kind: 'kernel',
          entry: lin,
          message: `reached the kernel's first instruction at ${hex(lin)}`,
        };
        return;
      }
      if (until !== undefined && !(first && n === 0)) {
        if (typeof until === 'number' ? lin === until : typeof until === 'function' ? until(this) : until.has(lin)) {
          this.stopped = { kind: 'breakpoint', address: lin, message: `stopped at ${hex(lin)}` };
          return;
        }
      }
      if (this.instructions >= max) {
        this.stopped = { kind: 'limit', message: `stopped after the instruction limit (${max})` };
        return;
      }
      this.entry().run(c);
      this.instructions++;
      if (c.stop || this.pc.stop) {
        this.checkStops();
        return;
      }
      if (c.pending) return;
    }
  }

  private checkStops(): void {
    const c = this.cpu;
    const s = c.stop ?? this.pc.stop;
    if (!s) return;
    const text = this.console;
    const at = text.indexOf('Boot error: ');
    const error = at < 0 ? null : text.slice(at + 'Boot error: '.length).split(/\r?\n/)[0];
    if ((s.kind === 'halt' || s.kind === 'exit') && error !== null) {
      this.stopped = {
        kind: 'loader-error',
        error,
        message: `the loader stopped: Boot error: ${error}`,
      };
    } else if (s.kind === 'halt')
      this.stopped = {
        kind: 'halt',
        message: `halted at ${hex(this.address - 1)} with interrupts ${c.eflags & 0x200 ? 'on' : 'off'}`,
      };
    else if (s.kind === 'exit')
      this.stopped = {
        kind: 'exit',
        status: s.status,
        message: `isa-debug-exit: QEMU would exit with status ${s.status}`,
      };
    else if (s.kind === 'fault')
      this.stopped = {
        kind: 'fault',
        vector: s.vector,
        message: `exception ${s.vector} at ${hex(this.address)}: ${s.message}`,
      };
    else if (s.kind === 'reset') this.stopped = { kind: 'reset', message: 'the machine was reset' };
    else this.stopped = { kind: 'unsupported', message: s.message };
  }

  /** Execute one instruction (awaiting its disk read, if any). */
  async step(): Promise<StepRecord> {
    if (this.stopped) throw new Error(`internal: step() after the machine stopped (${this.stopped.kind})`);
    const address = this.address;
    const instruction = this.current();
    const mem = this.memory;
    mem.logging = true;
    mem.writes = [];
    try {
      this.batchOne();
      const pending = this.cpu.pending;
      if (pending) {
        this.cpu.pending = null;
        await pending;
        this.checkStops();
      }
    } finally {
      mem.logging = false;
    }
    this.lastWrites = mem.writes;
    return { address, instruction, writes: mem.writes };
  }

  private batchOne(): void {
    const c = this.cpu;
    const lin = this.address;
    if (lin >= KERNEL_MIN && c.cr0 & 1 && this.options.stopAtKernel) {
      this.stopped = { kind: 'kernel', entry: lin, message: `reached the kernel's first instruction at ${hex(lin)}` };
      return;
    }
    this.entry().run(c);
    this.instructions++;
    this.checkStops();
  }

  /** Step, but run a CALL, INT or REP instruction to its end (the next instruction after it). */
  async stepOver(options?: RunOptions): Promise<StopReason | StepRecord> {
    const ins = this.current();
    const over = ins.mnemonic === 'call' || ins.mnemonic === 'int' || ins.rep !== 0;
    if (!over) return this.step();
    const next = (this.address + ins.length) >>> 0;
    return this.runUntil(next, options);
  }

  snapshot(): MachineSnapshot {
    const c = this.cpu;
    return {
      regs: c.regs.slice(),
      eip: c.eip,
      eflags: c.eflags,
      cr: [c.cr0, c.cr2, c.cr3, c.cr4],
      gdtr: { ...c.gdtr },
      idtr: { ...c.idtr },
      seg: c.seg.map((s) => ({ ...s })),
      pages: this.memory.save(),
      a20: this.memory.a20,
      serial: [...this.pc.serial],
      screen: [...this.pc.screen],
      devices: this.pc.saveDevices(),
      instructions: this.instructions,
      stopped: this.stopped,
    };
  }

  restore(s: MachineSnapshot): void {
    const c = this.cpu;
    c.regs.set(s.regs);
    c.eip = s.eip;
    c.eflags = s.eflags;
    [c.cr0, c.cr2, c.cr3, c.cr4] = s.cr;
    c.gdtr = { ...s.gdtr };
    c.idtr = { ...s.idtr };
    s.seg.forEach((x, i) => Object.assign(c.seg[i], x));
    c.stop = null;
    c.pending = null;
    this.memory.restore(s.pages);
    this.memory.a20 = s.a20;
    this.pc.serial = [...s.serial];
    this.pc.screen = [...s.screen];
    this.pc.restoreDevices(s.devices);
    this.pc.stop = null;
    this.instructions = s.instructions;
    this.stopped = s.stopped;
    this.cache.clear();
  }

  /** Back to power-on (LBA 0 just loaded). */
  reset(): void {
    this.restore(this.start);
  }
}

function latin1(bytes: number[]): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.slice(i, i + 8192));
  return s;
}
