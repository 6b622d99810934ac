/**
 * The unikernel's exit status, read from its serial console.
 *
 * Solo5's virtio `platform_exit` writes 41 to port 0x501 for `solo5_exit(N)`
 * and `solo5_abort()` alike (QEMU's isa-debug-exit then ends with 83 whatever
 * N was), so the hypervisor's status cannot tell success from failure. The
 * console can: Solo5 prints one of these lines just before it exits (wording
 * from Solo5's `bindings/exit.c`, `abort.c` and `cpu_x86_64.c`).
 *
 * But the console also carries whatever the unikernel prints, its command
 * line included, so a line alone proves nothing. A line counts only when
 * QEMU then ended through the exit port (isa-debug-exit: status 2V+1 for a
 * value V written, 83 for Solo5's 41), and then the **last** such line
 * counts: the real exit prints its line after anything the unikernel printed
 * before. A line followed by a triple fault, a hang or an interruption sets
 * nothing. Our boot loader's `Boot error: ` counts only before it said
 * `Loading unikernel.bin... ok` (after that the kernel is running):
 *
 *   Solo5: solo5_exit(N) called            → N (as a process status: N mod 256, never 0 for N ≠ 0)
 *   Solo5: solo5_abort() called            → 255 (SOLO5_EXIT_ABORT, as solo5-hvt reports it)
 *   Solo5: ABORT: file:line: message       → 255 (PANIC, failed assertions, a missing device)
 *   Solo5: trap: type=#GP ec=... rip=...   → 255 (a CPU exception; "ABORT: ...: Fatal trap" follows)
 *
 * Our own programs say the same in their words: the demo kernel ends with
 * `demo: SUCCESS, ...` (0) or `demo: FAILURE` (1), or `demo: not started by a
 * Multiboot loader` (255); our boot loader's failures start `Boot error: `
 * (255, the kernel never started).
 */

export type ConsoleOutcome =
  { kind: 'exit'; code: number; line: string } | { kind: 'abort'; line: string } | { kind: 'boot-error'; line: string };

/** Process status for an abort: Solo5's SOLO5_EXIT_ABORT. */
export const ABORT_STATUS = 255;

const RULES: { re: RegExp; outcome: (m: RegExpMatchArray, line: string) => ConsoleOutcome }[] = [
  { re: /^Solo5: solo5_exit\((-?\d+)\) called/, outcome: (m, line) => ({ kind: 'exit', code: Number(m[1]), line }) },
  { re: /^Solo5: solo5_abort\(\) called/, outcome: (_m, line) => ({ kind: 'abort', line }) },
  { re: /^Solo5: ABORT: /, outcome: (_m, line) => ({ kind: 'abort', line }) },
  { re: /^Solo5: trap: /, outcome: (_m, line) => ({ kind: 'abort', line }) },
  { re: /^demo: SUCCESS\b/, outcome: (_m, line) => ({ kind: 'exit', code: 0, line }) },
  { re: /^demo: FAILURE\b/, outcome: (_m, line) => ({ kind: 'exit', code: 1, line }) },
  { re: /^demo: not started by a Multiboot loader/, outcome: (_m, line) => ({ kind: 'abort', line }) },
  { re: /^Boot error: /, outcome: (_m, line) => ({ kind: 'boot-error', line }) },
];

/** The outcome one console line announces, if any. `line` has no line ending. */
export function classifyLine(line: string): ConsoleOutcome | undefined {
  for (const r of RULES) {
    const m = r.re.exec(line);
    if (m) return r.outcome(m, line);
  }
  return undefined;
}

/**
 * QEMU's words when KVM cannot go on with the guest (wording from QEMU's
 * `kvm-all.c` and `target/i386/kvm`): QEMU then pauses the VM and waits for a
 * monitor command that nobody running us will send, so the run would hang.
 */
const HYPERVISOR_STOPS: readonly RegExp[] = [
  /^KVM internal error\b/,
  /^error: kvm run failed\b/,
  /^KVM: entry failed, hardware error\b/,
];

/** The line, when it says the hypervisor stopped the guest for good. */
export function hypervisorStop(line: string): string | undefined {
  return HYPERVISOR_STOPS.some((re) => re.test(line)) ? line : undefined;
}

/** Splits text that comes in any chunks into lines (ending at `\n`, a `\r` before it dropped). */
class Lines {
  private partial = '';

  /** The whole lines that `text` completes. */
  feed(text: string): string[] {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    // A line longer than this is not one we look for; do not hold on to it.
    if (this.partial.length > 4096) this.partial = '';
    return lines.map((l) => l.replace(/\r$/, ''));
  }

  /** The text ended: the last line, if it had no newline. */
  end(): string[] {
    const rest = this.partial;
    this.partial = '';
    return rest ? [rest.replace(/\r$/, '')] : [];
  }
}

/** Watches text as it comes (in any chunks) and keeps the first thing `classify` finds in a line. */
export class LineWatcher<T> {
  private readonly lines = new Lines();
  outcome: T | undefined;

  constructor(private readonly classify: (line: string) => T | undefined) {}

  /** Feed text; returns the outcome when this chunk announced the first one. */
  feed(text: string): T | undefined {
    return this.look(this.lines.feed(text));
  }

  /** The text ended: a last line without a newline counts too. */
  end(): T | undefined {
    this.look(this.lines.end());
    return this.outcome;
  }

  private look(lines: string[]): T | undefined {
    for (const line of lines) {
      if (this.outcome !== undefined) return undefined;
      const o = this.classify(line);
      if (o !== undefined) return (this.outcome = o);
    }
    return undefined;
  }
}

/** Our boot loader's line when it hands over to the kernel (src/boot/stage2.asm). */
export const LOADER_DONE = 'Loading unikernel.bin... ok';

/**
 * The unikernel's console: the last exit or abort line, and our boot
 * loader's error while the loader is still running (`bootLoader`: a disk
 * image boots through it; a kernel given to QEMU does not, so there a
 * `Boot error: ` line is the kernel's and means nothing).
 */
export class ConsoleWatcher {
  private readonly lines = new Lines();
  private last: ConsoleOutcome | undefined;
  private loading: boolean;

  constructor(opts: { bootLoader: boolean }) {
    this.loading = opts.bootLoader;
  }

  /** Feed text; returns the boot loader's error when this chunk printed it (the loader then halts for ever). */
  feed(text: string): ConsoleOutcome | undefined {
    return this.look(this.lines.feed(text));
  }

  /** The output ended: the outcome, from the last line that announced one. */
  end(): ConsoleOutcome | undefined {
    this.look(this.lines.end());
    return this.last;
  }

  private look(lines: string[]): ConsoleOutcome | undefined {
    let bootError: ConsoleOutcome | undefined;
    for (const line of lines) {
      if (this.last?.kind === 'boot-error') break; // the loader halted: nothing after it is the kernel's
      if (line === LOADER_DONE) this.loading = false;
      const o = classifyLine(line);
      if (!o) continue;
      if (o.kind === 'boot-error') {
        if (this.loading) this.last = bootError = o;
      } else this.last = o;
    }
    return bootError;
  }
}

/** How the hypervisor process ended. */
export interface HypervisorEnd {
  /** Exit status, or null when a signal ended it. */
  status: number | null;
  signal?: string | null;
  /** Signal number for `signal`, when known (128 + it is the shell's status). */
  signalNumber?: number;
  /** The user interrupted the run (Ctrl-C, SIGTERM to us) with this signal: the status is 128 + its number, as for a process it ended. */
  interrupted?: { signal: string; number: number };
  /** The hypervisor's line saying it stopped the guest for good (we then ended it). */
  stopped?: string;
}

/** Whether QEMU ended through isa-debug-exit: a value V written gives status 2V+1 (Solo5's 41: 83); V = 0 (status 1) looks like QEMU's own failure and is not counted. */
export function endedThroughExitPort(end: HypervisorEnd): boolean {
  return end.status !== null && end.status >= 3 && end.status % 2 === 1;
}

/**
 * The status to exit with and, when it is not what the console said, one
 * sentence that explains it. The console's line counts only when QEMU ended
 * through the exit port (or, for our boot loader's error, when we ended QEMU
 * after it): see the top of this file.
 */
export function exitStatus(outcome: ConsoleOutcome | undefined, end: HypervisorEnd): { status: number; note?: string } {
  if (outcome?.kind === 'boot-error') return { status: ABORT_STATUS };
  if (outcome && endedThroughExitPort(end)) {
    if (outcome.kind === 'abort') return { status: ABORT_STATUS };
    const status = outcome.code & 0xff;
    if (status === 0 && outcome.code !== 0) {
      return {
        status: 1,
        note: `The unikernel exited with status ${outcome.code}, which a process status (0 to 255) would read as success; reporting 1.`,
      };
    }
    return { status };
  }
  if (end.stopped) {
    return {
      status: 1,
      note: `The hypervisor stopped the guest ("${end.stopped}") and would have waited for ever, so it was ended; reporting 1. Under KVM this is often a kernel running code where there is no memory: run it with -H qemu to see the fault.`,
    };
  }
  if (end.interrupted) {
    return {
      status: 128 + end.interrupted.number,
      note: `Interrupted by ${end.interrupted.signal} before the unikernel exited.`,
    };
  }
  if (end.status === null) {
    return {
      status: 128 + (end.signalNumber ?? 1),
      note: `The hypervisor was killed by ${end.signal ?? 'a signal'} before the unikernel exited.`,
    };
  }
  if (endedThroughExitPort(end)) {
    return {
      status: 1,
      note: `The unikernel ended through the exit port (QEMU's status ${end.status}) without an exit line (solo5_exit, abort or trap) after its other output; reporting 1.`,
    };
  }
  if (end.status !== 0) {
    return {
      status: 1,
      note: `The hypervisor ended with status ${end.status} and the unikernel did not exit (no solo5_exit, abort or trap through the exit port): it failed to start or stopped without a word; reporting 1.`,
    };
  }
  return {
    status: 1,
    note: 'The unikernel stopped without exiting (no solo5_exit, abort or trap through the exit port): a triple fault or a power-off ends QEMU with status 0, which tells nothing; reporting 1.',
  };
}
