/**
 * solo5-virtio-mkimage: a drop-in for Solo5's shell tool of the same name.
 * A thin Node adapter around src/core: parse arguments, read the kernel,
 * plan the image, and write it with the core's `writeImage` into the file
 * sink (a temporary file next to IMAGE, renamed into place). What the three
 * bins share (messages, exit statuses, signals) is in tool.ts.
 */
import { closeSync, fstatSync, openSync, readSync, statSync, constants, type Stats } from 'node:fs';
import { basename } from 'node:path';
import { checkKernelSize, describeKernel } from '../core/kernel';
import { MB_SEARCH } from '../core/multiboot';
import { shellQuote } from '../core/shell';
import { whatIsThis } from '../core/formats/open';
import { ImageError, isImageError } from '../core/errors';
import { formatBytes, SECTOR } from '../core/units';
import { FORMATS } from '../core/formats/index';
import { checkBuild, planBuild } from '../core/build';
import { DEFAULT_LABEL } from '../core/image';
import { parseSize, DEFAULT_SIZE } from '../core/size';
import { writeImage, type Sink } from '../core/sink';
import { openFileSink, resolveOutput, type OutputTarget } from './file-sink';
import { openStdoutSink } from './stdout-sink';
import { deviceSummary, platformWarnings } from './report';
import { kindOf, say, timestampFrom, UsageError, versionLine, type Job, type ToolSpec } from './tool';
import { terminalSafe } from '../core/terminal';

const PROG = 'solo5-virtio-mkimage';
const USAGE = '[OPTIONS] [--] IMAGE UNIKERNEL [ARGUMENTS ...]';
/** The first format listed is the default (as in the page). */
const DEFAULT_FORMAT = FORMATS[0];

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

function help(): string {
  const formats = FORMATS.map((f) => `      ${f.id.padEnd(12)} ${f.label}`).join('\n');
  return `Usage: ${PROG} ${USAGE}
       ${PROG} [OPTIONS] [--] IMAGE --demo [ARGUMENTS ...]

Build a bootable disk image IMAGE from the Solo5 virtio unikernel UNIKERNEL.
The disk has one active FAT partition holding the kernel and our own boot
loaders, one for BIOS and one for UEFI (\\EFI\\BOOT\\BOOTX64.EFI), which start
it with ARGUMENTS (joined with single spaces and passed verbatim, even those
that look like options). Same inputs, same bytes.

IMAGE - writes the image to standard output (a pipe or a redirection).
Options may be clustered (-qf tar); long options take values as --size 1G or
--size=1G.

Options (before IMAGE):
  -f, --format FORMAT  output format (default ${DEFAULT_FORMAT.id}):
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
  const o: Partial<CliOptions> & { args: string[] } = { format: DEFAULT_FORMAT.id, quiet: false, args: [] };
  let i = 0;
  const flag = (name: string): boolean => {
    switch (name) {
      case 'h':
      case '--help':
        out(help());
        return false;
      case 'V':
      case '--version':
        out(versionLine(PROG));
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
 * A file that is no kernel but something we recognise (a disk image of ours
 * or another's, an archive: the core's `whatIsThis` on its first and last
 * bytes) is named for what it is, with the way to its kernel.
 */
function refuseNonKernel(size: number, head: Uint8Array, tail: Uint8Array, path: string): void {
  const kind = whatIsThis({ size, head, tail });
  if (!kind || kind.kind === 'kernel') return;
  const build = 'give the .virtio file your unikernel build produced';
  throw new ImageError(
    'NOT_A_KERNEL',
    kind.kind === 'image'
      ? `The unikernel ${path} is ${kind.what}, not a kernel: ${build}, or look inside the image with \`unikernel-disk inspect ${shellQuote(path)}\` (\`unikernel-disk extract ${shellQuote(path)} app.virtio\` gets its kernel).`
      : `The unikernel ${path} is ${kind.what}, not a kernel: ${build} (if it is inside this file, extract it first).`,
  );
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
    const part = (start: number, end: number) => {
      const b = new Uint8Array(Math.max(0, end - start));
      return b.subarray(0, readSync(fd, b, 0, b.length, start));
    };
    // A disk image or an archive given as the kernel is named from its ends, before its size is judged.
    refuseNonKernel(st.size, part(0, Math.min(st.size, MB_SEARCH)), part(Math.max(0, st.size - SECTOR), st.size), path);
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

/** Build the image that `opts` ask for. */
async function build(opts: CliOptions, job: Job): Promise<number> {
  const toStdout = opts.image === '-';
  // The format and the size are checked before the kernel is read, then again by planBuild.
  const { format, size } = checkBuild({
    formatId: opts.format,
    size: opts.size !== undefined ? parseSize(opts.size) : DEFAULT_SIZE,
  });
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
  const built = planBuild(kernel, {
    formatId: format.id,
    size,
    args: opts.args.join(' '),
    label: opts.label,
    timestamp,
  });
  for (const line of platformWarnings(PROG, built.kernel, format)) say(2, `${terminalSafe(line)}\n`);

  job.catchSignals((sig) =>
    toStdout
      ? `Interrupted by ${sig}; the image on standard output is incomplete.`
      : `Interrupted by ${sig}; no image was written.`,
  );
  // node:tty loads Node's stream stack: only when a terminal matters (start-up time).
  const tty: typeof import('node:tty') | undefined = toStdout || !opts.quiet ? require('node:tty') : undefined;
  const sink: Sink<void> = target ? openFileSink(target) : openStdoutSink(tty!.isatty(1));
  job.atExit(() => sink.abort(undefined));
  const progress = progressPrinter(!opts.quiet && !toStdout && tty!.isatty(2));
  await writeImage(built.plan, format, sink, {
    signal: job.signal,
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
    job.note(
      `wrote ${where} (${format.label}, ${formatBytes(size)} disk, FAT${built.fat.type}) from ${what}: ${describeKernel(built.kernel)}; ${deviceSummary(built.kernel)}; command line "${built.cmdline}"`,
    );
  }
  return 0;
}

/** solo5-virtio-mkimage, for tool.ts's `runTool`. */
export const mkimage: ToolSpec<CliOptions> = { prog: PROG, usage: USAGE, parse: parseArgs, run: build };
