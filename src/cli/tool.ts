/**
 * What the three bins (solo5-virtio-mkimage, unikernel-disk, solo5-virtio-run)
 * share, in one place: the version, the exit statuses, the messages on
 * stderr (`say`, which never fails a finished job), usage errors, signals
 * (every catchable one interrupts the job, its temporary files go, and the
 * status is 128 + the signal's number), the coded sentence for a failed
 * write, and `--timestamp`/SOURCE_DATE_EPOCH. Each bin is a `ToolSpec`:
 * parse the arguments, run the job; `runTool` does the rest the same way
 * for all three.
 */
import { terminalSafe } from '../core/terminal';
import { existsSync, readFileSync, writeSync, type Stats } from 'node:fs';
import { constants as os } from 'node:os';
import { ImageError, isImageError } from '../core/errors';
import { DEFAULT_TIMESTAMP } from '../core/image';
import { parseTimestamp } from '../core/timestamp';

declare const __VERSION__: string;
/** package.json's version, put in by the bundler (scripts/build-cli.mjs); `dev` when run from source. */
export const VERSION = typeof __VERSION__ === 'string' ? __VERSION__ : 'dev';

export const EXIT_OK = 0;
export const EXIT_FAIL = 1;
/** A bad option or a missing operand, as getopt-based tools exit. */
export const EXIT_USAGE = 2;

/** `PROG VERSION`, the answer to -V/--version. */
export function versionLine(prog: string): string {
  return `${prog} ${VERSION}\n`;
}

/** A bad command line: printed with the usage line, exit 2. */
export class UsageError extends Error {
  /** `usage`: the usage line to show, when not the tool's own (a unikernel-disk command's). */
  constructor(
    message: string,
    readonly usage?: string,
  ) {
    super(message);
  }
}

/**
 * Write `text` to a file descriptor (1 or 2) without ever throwing: a full
 * disk, a closed pipe or a closed descriptor must not turn a written image
 * into a failure, nor print a stack. Returns false when not all was written.
 * (process.stdout/stderr are not used: their errors arrive as events.)
 */
export function say(fd: number, text: string): boolean {
  const bytes = Buffer.from(text);
  let done = 0;
  let waits = 0;
  while (done < bytes.length) {
    try {
      done += writeSync(fd, bytes, done, bytes.length - done);
    } catch (e) {
      // A non-blocking descriptor that is full: wait a little, a few times.
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN' && waits++ < 200) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
        continue;
      }
      return false;
    }
  }
  return true;
}

/**
 * Signals that end a process and can be caught: while a job listens, each
 * interrupts it, its temporary files are removed, and the process exits with
 * 128 + the signal's number (SIGHUP 129, SIGINT 130, SIGPIPE 141, SIGTERM
 * 143...). SIGKILL and SIGSTOP cannot be caught; SIGUSR1 belongs to Node's
 * inspector, SIGPROF to V8's profiler; SIGABRT, SIGSEGV, SIGBUS, SIGILL and
 * SIGFPE mean a crash.
 */
export const EXIT_SIGNALS = (
  [
    'SIGHUP',
    'SIGINT',
    'SIGQUIT',
    'SIGTRAP',
    'SIGPIPE',
    'SIGALRM',
    'SIGTERM',
    'SIGUSR2',
    'SIGSTKFLT',
    'SIGXCPU',
    'SIGXFSZ',
    'SIGVTALRM',
    'SIGIO',
    'SIGPWR',
    'SIGSYS',
  ] as const
).filter((s) => s in os.signals);

/** The shell's status for a process ended by `sig`: 128 + its number. */
export function signalStatus(sig: NodeJS.Signals): number {
  return 128 + ((os.signals as Record<string, number>)[sig] ?? 0);
}

/**
 * One run of a bin: its output (`print`: the job's result on stdout;
 * `note`/`warn`: lines on stderr), its signals and its exit status.
 */
export class Job {
  private readonly controller = new AbortController();
  /** Aborted, with an ABORTED ImageError saying which signal, when a signal interrupts the job. */
  readonly signal: AbortSignal = this.controller.signal;
  /** The first signal caught. */
  caught: NodeJS.Signals | undefined;
  private reason = (sig: NodeJS.Signals) => `Interrupted by ${sig}.`;
  private listening = false;
  private printFailed = false;
  private readonly onInterrupts = new Set<(sig: NodeJS.Signals) => void>();
  private readonly tolerated = new Set<NodeJS.Signals>();
  private readonly cleanups = new Set<() => void>();

  constructor(
    readonly prog: string,
    private readonly usage: string,
  ) {}

  /** The job's result on standard output; a failure to write it fails the job (exit 1). */
  print(text: string): void {
    if (!say(1, text)) this.printFailed = true;
  }

  /** `PROG: text` on stderr, through `terminalSafe` (one line, whatever names it holds); never fails the job. */
  note(text: string): void {
    say(2, `${this.prog}: ${terminalSafe(text)}\n`);
  }

  warn(text: string): void {
    this.note(`warning: ${text}`);
  }

  /**
   * From now until the job ends, every signal of EXIT_SIGNALS interrupts it:
   * `signal` is aborted with `reason(sig)` (an ABORTED ImageError), the
   * job's reads and writes stop at their next check, their temporary files
   * are removed as the error unwinds, and the status is 128 + the signal's
   * number. A second signal, while the job is still unwinding, runs the
   * `atExit` cleanups and ends the process at once. Before this is called
   * a signal ends the process the default way (nothing to remove yet).
   */
  catchSignals(reason: (sig: NodeJS.Signals) => string): void {
    this.reason = reason;
    if (this.listening) return;
    this.listening = true;
    for (const s of EXIT_SIGNALS) process.on(s, this.onSignal);
  }

  /**
   * From now on `sig` interrupts nothing (it is still caught: once a
   * listener was added, removing it would make the signal fatal). For
   * SIGPIPE while a child's output is passed through: the reader going away
   * must not end the child.
   */
  tolerate(sig: NodeJS.Signals): void {
    this.tolerated.add(sig);
  }

  /** Also call `fn` on the first signal (to pass it on to a child); returns the function that stops that. */
  onInterrupt(fn: (sig: NodeJS.Signals) => void): () => void {
    this.onInterrupts.add(fn);
    return () => this.onInterrupts.delete(fn);
  }

  /** What to remove if a second signal ends the process before the job unwound; returns the function that forgets it. */
  atExit(fn: () => void): () => void {
    this.cleanups.add(fn);
    return () => this.cleanups.delete(fn);
  }

  private readonly onSignal = (sig: NodeJS.Signals) => {
    if (this.tolerated.has(sig)) return;
    if (this.caught) {
      for (const c of this.cleanups) {
        try {
          c();
        } catch {
          /* leave, whatever is left */
        }
      }
      say(2, `${this.prog}: error: ${terminalSafe(this.reason(this.caught))}\n`);
      process.exit(signalStatus(this.caught));
    }
    this.caught = sig;
    this.controller.abort(new ImageError('ABORTED', this.reason(sig)));
    for (const fn of this.onInterrupts) fn(sig);
  };

  /** Stop listening for signals (the job is over). */
  stop(): void {
    if (!this.listening) return;
    this.listening = false;
    for (const s of EXIT_SIGNALS) process.off(s, this.onSignal);
  }

  /** The status of a job that returned `status`: 1 when its output could not be written. */
  finish(status: number): number {
    if (this.printFailed && status === EXIT_OK) {
      this.note('error: could not write to standard output (closed, or its disk is full).');
      return EXIT_FAIL;
    }
    return status;
  }

  /**
   * Say why the job failed and return its status: 2 for a usage error, 128 +
   * the signal's number when a signal interrupted it, 141 (SIGPIPE's) when
   * standard output was closed by its reader, else 1. Anything but an
   * ImageError or a UsageError is a bug: said as one.
   */
  fail(e: unknown): number {
    if (e instanceof UsageError) {
      say(
        2,
        `${this.prog}: ${terminalSafe(e.message)}\nUsage: ${e.usage ?? `${this.prog} ${this.usage}`}  (try --help)\n`,
      );
      return EXIT_USAGE;
    }
    if (!isImageError(e)) {
      const lines = String((e as Error)?.stack ?? e).split('\n');
      say(
        2,
        lines
          .map((l, i) => `${i ? '    ' : `${this.prog}: internal error (please report it): `}${terminalSafe(l)}\n`)
          .join(''),
      );
      return EXIT_FAIL;
    }
    if (e.code === 'ABORTED' && this.caught) {
      // Whichever layer noticed the abort, the message is the signal's.
      this.note(`error: ${(this.signal.reason as Error).message}`);
      return signalStatus(this.caught);
    }
    this.note(`error: ${e.message}`);
    return e.code === 'OUTPUT_CLOSED' ? signalStatus('SIGPIPE') : EXIT_FAIL;
  }
}

/** A bin: how it reads its arguments and what it does. */
export interface ToolSpec<O> {
  prog: string;
  /** The usage line after the program's name, printed with a usage error. */
  usage: string;
  /** Options, or null when --help or --version was printed (through `out`). Throws UsageError. */
  parse(argv: string[], out: (text: string) => void): O | null;
  run(opts: O, job: Job): Promise<number>;
}

/** Run a bin over `argv` (without node and the script); resolves with the exit status. */
export async function runTool<O>(spec: ToolSpec<O>, argv: string[]): Promise<number> {
  const job = new Job(spec.prog, spec.usage);
  try {
    checkUtf8(argv);
    const opts = spec.parse(argv, (s) => job.print(s));
    return job.finish(opts === null ? EXIT_OK : await spec.run(opts, job));
  } catch (e) {
    return job.fail(e);
  } finally {
    job.stop();
  }
}

/** A bundle's entry point: run the bin, exit with its status (set, so that stdout drains first). */
export function startTool<O>(spec: ToolSpec<O>): void {
  runTool(spec, process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      say(2, `${spec.prog}: internal error (please report it): ${(e as Error)?.stack ?? e}\n`);
      process.exitCode = EXIT_FAIL;
    },
  );
}

/** The first argument that is not valid UTF-8, as Linux gave them to us (/proc/self/cmdline). */
function invalidUtf8(argv: string[]): { index: number; byte: number; at: number } | undefined {
  if (!argv.some((a) => a.includes('\ufffd'))) return undefined;
  let raw: Buffer[];
  try {
    const all = readFileSync('/proc/self/cmdline');
    const parts: Buffer[] = [];
    let from = 0;
    for (let k = 0; k < all.length; k++) {
      if (all[k] === 0) {
        parts.push(all.subarray(from, k));
        from = k + 1;
      }
    }
    raw = parts.slice(parts.length - argv.length);
  } catch {
    return undefined; // no /proc: Node's strings are all we have
  }
  const strict = new TextDecoder('utf-8', { fatal: true });
  for (let k = 0; k < argv.length; k++) {
    if (!argv[k].includes('\ufffd') || raw[k] === undefined) continue;
    if (raw[k].toString('utf8') !== argv[k]) return undefined; // not the same list: do not guess
    try {
      strict.decode(raw[k]);
    } catch {
      // Find the first bad byte for the message.
      for (let end = 1; end <= raw[k].length; end++) {
        try {
          strict.decode(raw[k].subarray(0, end), { stream: true });
        } catch {
          return { index: k, byte: raw[k][end - 1], at: end };
        }
      }
      return { index: k, byte: raw[k][raw[k].length - 1], at: raw[k].length };
    }
  }
  return undefined;
}

/** Throws ARGS_NOT_UTF8 for an argument that is not UTF-8 (Node would have turned its bad bytes into U+FFFD). */
function checkUtf8(argv: string[]): void {
  const bad = invalidUtf8(argv);
  if (bad) {
    throw new ImageError(
      'ARGS_NOT_UTF8',
      `Argument ${bad.index + 1} on the command line is not valid UTF-8 (byte 0x${bad.byte.toString(16).toUpperCase().padStart(2, '0')} at position ${bad.at}); file names and kernel arguments must be UTF-8 text: convert it (e.g. with iconv) or rename the file.`,
    );
  }
}

/** --timestamp, else SOURCE_DATE_EPOCH (whole seconds, as reproducible-builds.org defines it), else 1980. */
export function timestampFrom(text: string | undefined, env: NodeJS.ProcessEnv): number {
  if (text !== undefined) return parseTimestamp(text, '--timestamp');
  const epoch = env.SOURCE_DATE_EPOCH;
  if (epoch === undefined || epoch === '') return DEFAULT_TIMESTAMP;
  if (!/^\d+$/.test(epoch)) {
    throw new ImageError(
      'BAD_TIMESTAMP',
      `SOURCE_DATE_EPOCH ${JSON.stringify(epoch)} is not a time: it must be whole seconds since 1970, digits only (e.g. 1700000000), as reproducible-builds.org defines it.`,
    );
  }
  return parseTimestamp(epoch, 'SOURCE_DATE_EPOCH');
}

/** What a path that is not a regular file is, for messages: "a named pipe (FIFO)". */
export function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isBlockDevice()) return 'a block device (a disk)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Where an output goes, for the sentence of a failed system call on it. */
export interface OutputPlace {
  /** The output as the user named it ("disk.img"), or "standard output". */
  name: string;
  /** The directory a new file was to be created in (for a failed open). */
  dir?: string;
  /** What became of it, for a failure while writing: "Nothing was left behind." */
  outcome?: string;
}

/**
 * The one coded sentence for a failed system call on an output (open, write,
 * truncate, sync, rename), naming the file and the fix: ENOSPC and EDQUOT →
 * NO_SPACE, EFBIG → OUTPUT_TOO_LARGE, EIO → OUTPUT_IO_ERROR, anything else
 * (EACCES, EPERM, EROFS, ENOENT, ENOTDIR, ENAMETOOLONG, ...) →
 * OUTPUT_UNWRITABLE. ImageErrors and errors without an errno code are
 * returned as they are.
 */
export function outputError(e: unknown, out: OutputPlace): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (isImageError(e) || typeof code !== 'string' || !code.startsWith('E')) return e;
  const { name, dir } = out;
  const then = out.outcome ? ` ${out.outcome}` : '';
  const writing = `Writing ${name} failed`;
  switch (code) {
    case 'ENOSPC':
      return new ImageError(
        'NO_SPACE',
        `${writing}: the disk that holds it is full (ENOSPC); free some space or write it to another disk.${then}`,
      );
    case 'EDQUOT':
      return new ImageError(
        'NO_SPACE',
        `${writing}: your disk quota there is used up (EDQUOT); free some space or write it to another disk.${then}`,
      );
    case 'EFBIG':
      return new ImageError(
        'OUTPUT_TOO_LARGE',
        `${writing}: it cannot grow that large (EFBIG): the file size limit (ulimit -f) or the file system's largest file is smaller; raise the limit (ulimit -f unlimited) or write it to another file system.${then}`,
      );
    case 'EIO':
      return new ImageError(
        'OUTPUT_IO_ERROR',
        `${writing}: the disk that holds it reported an input/output error (EIO); check the disk (dmesg) and write it to another one.${then}`,
      );
    case 'ENOENT':
      return new ImageError(
        'OUTPUT_UNWRITABLE',
        dir !== undefined && !existsSync(dir)
          ? `Cannot write ${name}: the directory ${dir} does not exist; create it first.${then}`
          : `Cannot write ${name}: no file can be created in ${dir ?? 'its directory'} (a special file system?); choose another location.${then}`,
      );
    case 'EACCES':
    case 'EPERM':
      return new ImageError(
        'OUTPUT_UNWRITABLE',
        `Cannot write ${name}: no permission to create or write files in ${dir ?? 'its directory'} (${code}); choose another location.${then}`,
      );
    case 'EROFS':
      return new ImageError(
        'OUTPUT_UNWRITABLE',
        `Cannot write ${name}: ${dir ?? 'its directory'} is on a read-only file system (EROFS); choose another location.${then}`,
      );
    case 'ENOTDIR':
      return new ImageError(
        'OUTPUT_UNWRITABLE',
        `Cannot write ${name}: a part of the path before the file name is not a directory.${then}`,
      );
    case 'ENAMETOOLONG':
      return new ImageError(
        'OUTPUT_UNWRITABLE',
        `Cannot write ${name}: the name is too long for the file system (ENAMETOOLONG); choose a shorter one.${then}`,
      );
  }
  return new ImageError('OUTPUT_UNWRITABLE', `Cannot write ${name}: ${(e as Error).message}.${then}`);
}
