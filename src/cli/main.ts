/**
 * solo5-virtio-mkimage: a drop-in for Solo5's shell tool of the same name.
 * A thin Node adapter around src/core: parse arguments, read the kernel,
 * plan the image, and write it with the core's `writeImage` into the file
 * sink (a temporary file next to IMAGE, renamed into place). Nothing else lives here.
 */
import {
  closeSync,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  writeSync,
  constants,
  type Stats,
} from 'node:fs';
import { constants as os } from 'node:os';
import { basename } from 'node:path';
import { checkKernelSize, describeKernel } from '../core/kernel';
import { ImageError, isImageError } from '../core/errors';
import { formatBytes } from '../core/units';
import { FORMATS, requireFormat } from '../core/formats/index';
import { planImage, DEFAULT_LABEL, DEFAULT_TIMESTAMP, type BuiltImage } from '../core/image';
import { checkImageSize, parseSize, DEFAULT_SIZE } from '../core/size';
import { parseTimestamp } from '../core/timestamp';
import { writeImage, type Sink } from '../core/sink';
import { openFileSink, resolveOutput, type OutputTarget } from './file-sink';
import { openStdoutSink } from './stdout-sink';
import { deviceSummary, platformWarnings } from './report';

declare const __VERSION__: string;
const VERSION = typeof __VERSION__ === 'string' ? __VERSION__ : 'dev';
const PROG = 'solo5-virtio-mkimage';

/** Exit status for a usage error (bad option), as getopts-based tools do. */
const EXIT_USAGE = 2;
const EXIT_FAIL = 1;

export interface CliOptions {
  format: string;
  size?: string;
  label?: string;
  timestamp?: string;
  quiet: boolean;
  image: string;
  kernel: string;
  args: string[];
}

class UsageError extends Error {}

function help(): string {
  const formats = FORMATS.map((f) => `      ${f.id.padEnd(12)} ${f.label}`).join('\n');
  return `Usage: ${PROG} [OPTIONS] [--] IMAGE UNIKERNEL [ARGUMENTS ...]
       ${PROG} [OPTIONS] [--] IMAGE --demo [ARGUMENTS ...]

Build a bootable disk image IMAGE from the Solo5 virtio unikernel UNIKERNEL.
The disk has one active FAT partition holding the kernel and our own BIOS
boot loader, which starts it with ARGUMENTS (joined with single spaces and
passed verbatim, even those that look like options). Same inputs, same bytes.

IMAGE - writes the image to standard output (a pipe or a redirection).
Options may be clustered (-qf tar); long options take values as --size 1G or
--size=1G.

Options (before IMAGE):
  -f, --format FORMAT  output format (default raw):
${formats}
  -s, --size SIZE      disk size, e.g. 64M, 1G, 10G (default 1G; whole GiB for tar)
      --label LABEL    FAT volume label (default ${DEFAULT_LABEL})
      --timestamp T    time stored in the image: seconds since 1970 or an ISO date
                       (2024-01-31, 2024-01-31T12:00:00Z; UTC unless a zone is
                       given), 1980-01-01 to 2107-12-31 (what FAT can store)
                       (default: $SOURCE_DATE_EPOCH, else 1980-01-01T00:00:00Z)
  -q, --quiet          print nothing but warnings and errors
  -d                   accepted for compatibility and ignored (no Docker needed)
  -h, --help           show this help
  -V, --version        show the version
      --demo           in place of UNIKERNEL: use the built-in demo kernel

Examples:
  ${PROG} disk.img app.virtio --hello=world
  ${PROG} -f tar app.tar.gz app.virtio     # then: gcloud storage cp, gcloud compute images create
  ${PROG} disk.img --demo Hello_Solo5 && solo5-virtio-run disk.img
      # or QEMU itself, set to exit when the unikernel does:
      qemu-system-x86_64 -nographic -no-reboot -device isa-debug-exit -drive file=disk.img,format=raw,if=ide
`;
}

/** Options that take a value, by short and long name. */
const VALUE_OPTIONS: Record<string, 'format' | 'size' | 'label' | 'timestamp'> = {
  f: 'format',
  s: 'size',
  '--format': 'format',
  '--size': 'size',
  '--label': 'label',
  '--timestamp': 'timestamp',
};
/** Options without a value. */
const FLAGS = new Set(['q', 'd', 'h', 'V', '--quiet', '--help', '--version']);

/**
 * Parse argv (without node and script) as getopt(3) and getopt_long do:
 * short options cluster (-qf tar, -qftar, -s1G), a value is the rest of the
 * cluster or the next argument; long options take `--name value` or
 * `--name=value`, and only options with a value accept `=`. Options end at
 * `--` or at the first operand (IMAGE, which may be `-`). Returns null when
 * --help/--version was handled (after `out` wrote it).
 */
export function parseArgs(argv: string[], out: (s: string) => void): CliOptions | null {
  const o: Partial<CliOptions> & { args: string[] } = { format: 'raw', quiet: false, args: [] };
  let i = 0;
  const flag = (name: string): boolean => {
    switch (name) {
      case 'h':
      case '--help':
        out(help());
        return false;
      case 'V':
      case '--version':
        out(`${PROG} ${VERSION}\n`);
        return false;
      case 'q':
      case '--quiet':
        o.quiet = true;
        return true;
      case 'd':
        say(
          2,
          `${PROG}: note: -d (build in Docker) is not needed and is ignored: this tool runs anywhere Node does.\n`,
        );
        return true;
    }
    throw new Error(`internal: flag ${name}`);
  };
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(0, eq) : a;
      const key = VALUE_OPTIONS[name];
      if (key) {
        if (eq > 0) o[key] = a.slice(eq + 1);
        else if (i + 1 < argv.length) o[key] = argv[++i];
        else throw new UsageError(`option ${name} needs a value`);
        continue;
      }
      if (FLAGS.has(name)) {
        if (eq > 0) throw new UsageError(`option ${name} takes no value (remove "${a.slice(eq)}")`);
        if (!flag(name)) return null;
        continue;
      }
      if (name === '--demo') {
        throw new UsageError(`--demo goes in place of UNIKERNEL, after IMAGE: ${PROG} IMAGE --demo [ARGUMENTS ...]`);
      }
      throw new UsageError(`unknown option ${name}`);
    }
    // A cluster of short options: -q, -qd, -qf tar, -qftar, -s1G.
    for (let j = 1; j < a.length; j++) {
      const c = a[j];
      const key = VALUE_OPTIONS[c];
      if (key) {
        if (j + 1 < a.length) o[key] = a.slice(j + 1);
        else if (i + 1 < argv.length) o[key] = argv[++i];
        else throw new UsageError(`option -${c} needs a value`);
        break;
      }
      if (!FLAGS.has(c)) throw new UsageError(`unknown option -${c}${a.length > 2 ? ` (in ${a})` : ''}`);
      if (!flag(c)) return null;
    }
  }
  const rest = argv.slice(i);
  if (rest.length < 2)
    throw new UsageError(rest.length === 0 ? 'IMAGE and UNIKERNEL are missing' : 'UNIKERNEL is missing');
  o.image = rest[0];
  o.kernel = rest[1];
  o.args = rest.slice(2);
  return o as CliOptions;
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

/** Every argument that is not valid UTF-8, as Linux gave them to us (/proc/self/cmdline). */
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

/** What a path is, for messages. */
function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

interface KernelFile {
  bytes?: Uint8Array;
  /** Device and inode, to refuse writing the image over the kernel. */
  stat?: Stats;
}

/**
 * Look at the kernel without reading it: a regular file no larger than any
 * kernel. Devices (/dev/zero), FIFOs, sockets and directories are refused
 * here, since reading them may never end.
 */
function statKernel(path: string): KernelFile {
  if (path === '--demo') {
    // Decoded (from base64) only when asked for: not on every run's start-up.
    const demo: typeof import('../core/demo-kernel.generated') = require('../core/demo-kernel.generated');
    return { bytes: demo.DEMO_KERNEL };
  }
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new ImageError(
        'KERNEL_NOT_FOUND',
        `The unikernel file ${path} does not exist; check the path (the build usually writes dist/<name>.virtio).`,
      );
    if (code === 'EACCES')
      throw new ImageError(
        'KERNEL_UNREADABLE',
        `The unikernel file ${path} cannot be read (permission denied); check its permissions.`,
      );
    throw new ImageError('KERNEL_UNREADABLE', `The unikernel file ${path} cannot be read: ${(e as Error).message}.`);
  }
  if (st.isDirectory()) {
    throw new ImageError('KERNEL_NOT_A_FILE', `The unikernel ${path} is a directory; give the .virtio file inside it.`);
  }
  if (!st.isFile()) {
    throw new ImageError(
      'KERNEL_NOT_A_FILE',
      `The unikernel ${path} is ${kindOf(st)}, not a file, so it cannot be a kernel (reading it might never end); give the .virtio file your build produced.`,
    );
  }
  checkKernelSize(st.size, `unikernel ${path}`);
  return { stat: st };
}

/**
 * Read the kernel checked by statKernel: opened without blocking (a FIFO
 * swapped in meanwhile would otherwise wait for a writer), checked again on
 * the open descriptor, then read up to the size seen.
 */
function readKernel(path: string, seen: Stats): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw new ImageError('KERNEL_UNREADABLE', `The unikernel file ${path} cannot be read: ${(e as Error).message}.`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.ino !== seen.ino || st.dev !== seen.dev) {
      throw new ImageError(
        'KERNEL_NOT_A_FILE',
        `The unikernel ${path} changed while it was being opened; give a file nothing else is writing.`,
      );
    }
    checkKernelSize(st.size, `unikernel ${path}`);
    const bytes = new Uint8Array(st.size);
    let done = 0;
    while (done < bytes.length) {
      const n = readSync(fd, bytes, done, bytes.length - done, done);
      if (n === 0) break; // it shrank: inspection judges what is there
      done += n;
    }
    return done === bytes.length ? bytes : bytes.subarray(0, done);
  } catch (e) {
    if (isImageError(e)) throw e;
    throw new ImageError('KERNEL_UNREADABLE', `The unikernel file ${path} cannot be read: ${(e as Error).message}.`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Signals that end the process and can be caught: each removes the
 * temporary file before the process exits with 128 + the signal's number
 * (SIGHUP 129, SIGINT 130, SIGPIPE 141, SIGTERM 143...). SIGKILL and SIGSTOP
 * cannot be caught; SIGUSR1 belongs to Node's inspector, SIGPROF to V8's
 * profiler; SIGABRT, SIGSEGV, SIGBUS, SIGILL and SIGFPE mean a crash.
 */
const CLEANUP_SIGNALS = (
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

/** A progress line on a TTY: shown only when the work takes a while. */
function progressPrinter(enabled: boolean) {
  const start = Date.now();
  let last = 0;
  let shown = false;
  return {
    update(covered: number, total: number) {
      if (!enabled) return;
      const now = Date.now();
      if (now - start < 300 || now - last < 100) return;
      last = now;
      shown = true;
      const pct = total ? Math.floor((covered / total) * 100) : 0;
      say(2, `\r${PROG}: ${String(pct).padStart(3)}%  ${formatBytes(covered)} of ${formatBytes(total)}\x1b[K`);
    },
    done() {
      if (shown) say(2, '\r\x1b[K');
    },
  };
}

export async function main(argv: string[]): Promise<number> {
  let helpFailed = false;
  const print = (s: string) => {
    if (!say(1, s)) helpFailed = true;
  };
  let opts: CliOptions | null;
  try {
    const bad = invalidUtf8(argv);
    if (bad) {
      throw new ImageError(
        'ARGS_NOT_UTF8',
        `Argument ${bad.index + 1} on the command line is not valid UTF-8 (byte 0x${bad.byte.toString(16).toUpperCase().padStart(2, '0')} at position ${bad.at}); file names and kernel arguments must be UTF-8 text: convert it (e.g. with iconv) or rename the file.`,
      );
    }
    opts = parseArgs(argv, print);
  } catch (e) {
    if (e instanceof UsageError) {
      say(2, `${PROG}: ${e.message}\nUsage: ${PROG} [OPTIONS] [--] IMAGE UNIKERNEL [ARGUMENTS ...]  (try --help)\n`);
      return EXIT_USAGE;
    }
    if (isImageError(e)) {
      say(2, `${PROG}: error: ${e.message}\n`);
      return EXIT_FAIL;
    }
    throw e;
  }
  if (!opts) {
    if (helpFailed) {
      say(2, `${PROG}: error: could not write to standard output (closed, or its disk is full).\n`);
      return EXIT_FAIL;
    }
    return 0;
  }

  const toStdout = opts.image === '-';
  const controller = new AbortController();
  let caught: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    caught ??= sig;
    controller.abort(
      new ImageError(
        'ABORTED',
        toStdout
          ? `Interrupted by ${sig}; the image on standard output is incomplete.`
          : `Interrupted by ${sig}; no image was written.`,
      ),
    );
  };
  const signalExit = () => 128 + (os.signals[caught ?? 'SIGINT'] ?? 2);
  let listening = false;
  try {
    const format = requireFormat(opts.format);
    const size = checkImageSize(opts.size !== undefined ? parseSize(opts.size) : DEFAULT_SIZE, format);
    const timestamp = timestampFrom(opts.timestamp, process.env);
    const kernelFile = statKernel(opts.kernel);
    let target: OutputTarget | undefined;
    if (!toStdout) {
      target = resolveOutput(opts.image);
      const k = kernelFile.stat;
      if (k && target.existing && target.existing.dev === k.dev && target.existing.ino === k.ino) {
        throw new ImageError(
          'OUTPUT_IS_KERNEL',
          `IMAGE ${opts.image} and UNIKERNEL ${opts.kernel} are the same file${target.path !== opts.image ? ` (${target.path})` : ''}; writing the image would destroy the kernel. Give the image another name.`,
        );
      }
    }
    // Until here nothing was created: a signal ends the process the default
    // way. Reading the kernel is synchronous, so it must stay interruptible.
    const kernel = kernelFile.bytes ?? readKernel(opts.kernel, kernelFile.stat!);
    const built: BuiltImage = planImage(kernel, {
      size,
      args: opts.args.join(' '),
      label: opts.label,
      timestamp,
      sizeStep: format.sizeStep,
    });
    for (const line of platformWarnings(PROG, built.kernel, format)) say(2, `${line}\n`);

    for (const s of CLEANUP_SIGNALS) process.on(s, onSignal);
    listening = true;
    // node:tty loads Node's stream stack: only when a terminal matters (start-up time).
    const tty: typeof import('node:tty') | undefined = toStdout || !opts.quiet ? require('node:tty') : undefined;
    const sink: Sink<void> = target ? openFileSink(target) : openStdoutSink(tty!.isatty(1));
    const progress = progressPrinter(!opts.quiet && !toStdout && tty!.isatty(2));
    await writeImage(built.plan, format, sink, {
      signal: controller.signal,
      timestamp,
      seed: built.seed,
      // Standard output has no name: formats that record one use their default.
      fileName: toStdout ? '' : basename(target!.path),
      onProgress: (p) => progress.update(p.covered, p.total),
    });
    progress.done();
    if (!opts.quiet) {
      const what = opts.kernel === '--demo' ? 'the demo kernel' : opts.kernel;
      const where = toStdout ? 'standard output' : opts.image;
      // The image is in place: whatever happens to stderr now, the answer is 0.
      say(
        2,
        `${PROG}: wrote ${where} (${format.label}, ${formatBytes(size)} disk, FAT${built.fat.type}) from ${what}: ${describeKernel(built.kernel)}; ${deviceSummary(built.kernel)}; command line "${built.cmdline}"\n`,
      );
    }
    return 0;
  } catch (e) {
    if (isImageError(e)) {
      say(2, `${PROG}: error: ${e.message}\n`);
      if (e.code === 'ABORTED') return signalExit();
      if (e.code === 'OUTPUT_CLOSED') return 128 + os.signals.SIGPIPE;
      return EXIT_FAIL;
    }
    const code = (e as NodeJS.ErrnoException).code;
    const where = toStdout ? 'standard output' : opts.image;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      say(
        2,
        `${PROG}: error: the disk holding ${where} is full${code === 'EDQUOT' ? ' (disk quota)' : ''}; free some space or write elsewhere. ${toStdout ? 'The image on standard output is incomplete.' : 'No image was written.'}\n`,
      );
      return EXIT_FAIL;
    }
    if (code === 'EFBIG') {
      say(
        2,
        `${PROG}: error: ${where} cannot grow that large (the file system's limit, or ulimit -f); write it elsewhere or raise the limit. ${toStdout ? 'The image on standard output is incomplete.' : 'No image was written.'}\n`,
      );
      return EXIT_FAIL;
    }
    if (code === 'EIO') {
      say(2, `${PROG}: error: the disk holding ${where} reported an input/output error; no image was written.\n`);
      return EXIT_FAIL;
    }
    say(2, `${PROG}: internal error (please report it): ${(e as Error).stack ?? e}\n`);
    return EXIT_FAIL;
  } finally {
    if (listening) for (const s of CLEANUP_SIGNALS) process.off(s, onSignal);
  }
}
