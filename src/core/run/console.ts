/**
 * The unikernel's exit status, read from its serial console.
 *
 * Solo5's virtio `platform_exit` writes 41 to port 0x501 for `solo5_exit(N)`
 * and `solo5_abort()` alike (QEMU's isa-debug-exit then ends with 83 whatever
 * N was), so the hypervisor's status cannot tell success from failure. The
 * console can: Solo5 prints one of these lines just before it exits (wording
 * from Solo5's `bindings/exit.c`, `abort.c` and `cpu_x86_64.c`):
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

/**
 * Watches text as it comes (in any chunks) and keeps the first thing
 * `classify` finds in a line. Lines end at `\n`; a `\r` before it is dropped.
 */
export class LineWatcher<T> {
  private partial = '';
  outcome: T | undefined;

  constructor(private readonly classify: (line: string) => T | undefined) {}

  /** Feed text; returns the outcome when this chunk announced the first one. */
  feed(text: string): T | undefined {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    // A line longer than this is not one we look for; do not hold on to it.
    if (this.partial.length > 4096) this.partial = '';
    let found: T | undefined;
    for (const raw of lines) {
      if (this.outcome !== undefined) break;
      const o = this.classify(raw.replace(/\r$/, ''));
      if (o !== undefined) this.outcome = found = o;
    }
    return found;
  }

  /** The text ended: a last line without a newline counts too. */
  end(): T | undefined {
    if (this.outcome === undefined && this.partial) this.outcome = this.classify(this.partial.replace(/\r$/, ''));
    this.partial = '';
    return this.outcome;
  }
}

/** The unikernel's console: the first exit, abort or boot error it announces. */
export class ConsoleWatcher extends LineWatcher<ConsoleOutcome> {
  constructor() {
    super(classifyLine);
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

/**
 * The status to exit with and, when it is not what the console said, one
 * sentence that explains it.
 */
export function exitStatus(outcome: ConsoleOutcome | undefined, end: HypervisorEnd): { status: number; note?: string } {
  if (outcome?.kind === 'exit') {
    const status = outcome.code & 0xff;
    if (status === 0 && outcome.code !== 0) {
      return {
        status: 1,
        note: `The unikernel exited with status ${outcome.code}, which a process status (0 to 255) would read as success; reporting 1.`,
      };
    }
    return { status };
  }
  if (outcome) return { status: ABORT_STATUS };
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
  if (end.status !== 0) {
    return {
      status: 1,
      note: `The hypervisor ended with status ${end.status} and the unikernel printed no exit line (solo5_exit, abort or trap): it failed to start or stopped without a word; reporting 1.`,
    };
  }
  return {
    status: 1,
    note: 'The unikernel stopped without an exit line (solo5_exit, abort or trap): a triple fault or a power-off ends QEMU with status 0, which tells nothing; reporting 1.',
  };
}
