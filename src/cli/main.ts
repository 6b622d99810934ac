/**
 * solo5-virtio-mkimage: a drop-in for Solo5's shell tool of the same name.
 * A thin Node adapter around src/core: parse arguments, read the kernel,
 * plan the image, and write it with the core's `writeImage` into the file
 * sink (a temporary file next to IMAGE, renamed into place). Nothing else lives here.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { describeKernel } from '../core/kernel';
import { ImageError, isImageError } from '../core/errors';
import { formatBytes } from '../core/units';
import { FORMATS, requireFormat } from '../core/formats/index';
import { planImage, DEFAULT_LABEL, DEFAULT_TIMESTAMP, type BuiltImage } from '../core/image';
import { checkImageSize, parseSize, DEFAULT_SIZE } from '../core/size';
import { writeImage } from '../core/sink';
import { openFileSink } from './file-sink';
import { DEMO_KERNEL } from '../core/demo-kernel.generated';
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

Options (before IMAGE):
  -f, --format FORMAT  output format (default raw):
${formats}
  -s, --size SIZE      disk size, e.g. 64M, 1G, 10G (default 1G; whole GiB for tar)
      --label LABEL    FAT volume label (default ${DEFAULT_LABEL})
      --timestamp T    time stored in the image: seconds since 1970 or an ISO date
                       (default: $SOURCE_DATE_EPOCH, else 1980-01-01T00:00:00Z)
  -q, --quiet          print nothing but warnings and errors
  -d                   accepted for compatibility and ignored (no Docker needed)
  -h, --help           show this help
  -V, --version        show the version
      --demo           in place of UNIKERNEL: use the built-in demo kernel

Examples:
  ${PROG} disk.img app.virtio --hello=world
  ${PROG} -f tar app.tar.gz app.virtio     # then: gcloud storage cp, gcloud compute images create
  ${PROG} disk.img --demo Hello_Solo5 && qemu-system-x86_64 -drive file=disk.img,format=raw -nographic
`;
}

/** Parse argv (without node and script). Returns null when --help/--version was handled. */
export function parseArgs(argv: string[], out: (s: string) => void): CliOptions | null {
  const o: Partial<CliOptions> & { args: string[] } = { format: 'raw', quiet: false, args: [] };
  let i = 0;
  const value = (name: string, inline?: string): string => {
    if (inline !== undefined) return inline;
    if (i + 1 >= argv.length) throw new UsageError(`option ${name} needs a value`);
    return argv[++i];
  };
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const name = eq > 0 ? a.slice(0, eq) : a;
    const inline = eq > 0 ? a.slice(eq + 1) : undefined;
    switch (name) {
      case '-h':
      case '--help':
        out(help());
        return null;
      case '-V':
      case '--version':
        out(`${PROG} ${VERSION}\n`);
        return null;
      case '-f':
      case '--format':
        o.format = value(name, inline);
        break;
      case '-s':
      case '--size':
        o.size = value(name, inline);
        break;
      case '--label':
        o.label = value(name, inline);
        break;
      case '--timestamp':
        o.timestamp = value(name, inline);
        break;
      case '-q':
      case '--quiet':
        o.quiet = true;
        break;
      case '-d':
        process.stderr.write(
          `${PROG}: note: -d (build in Docker) is not needed and is ignored: this tool runs anywhere Node does.\n`,
        );
        break;
      default:
        // getopts style: -fraw, -s1G
        if (/^-[fs]./.test(a)) {
          if (a[1] === 'f') o.format = a.slice(2);
          else o.size = a.slice(2);
          break;
        }
        if (a === '--demo')
          throw new UsageError(
            '--demo goes in place of UNIKERNEL, after IMAGE: ' + `${PROG} IMAGE --demo [ARGUMENTS ...]`,
          );
        throw new UsageError(`unknown option ${a}`);
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

/** SOURCE_DATE_EPOCH, an ISO date or seconds → seconds since 1970. */
export function parseTimestamp(text: string | undefined, env: NodeJS.ProcessEnv): number {
  const src = text ?? env.SOURCE_DATE_EPOCH;
  if (src === undefined || src === '') return DEFAULT_TIMESTAMP;
  const what = text !== undefined ? '--timestamp' : 'SOURCE_DATE_EPOCH';
  if (/^\d+$/.test(src)) return Number(src);
  const ms = Date.parse(src);
  if (Number.isNaN(ms) || text === undefined) {
    throw new ImageError(
      'BAD_TIMESTAMP',
      `${what} "${src}" is not a time: give seconds since 1970 (e.g. 1700000000)${text !== undefined ? ' or an ISO date (e.g. 2024-01-31T12:00:00Z)' : ''}.`,
    );
  }
  return Math.floor(ms / 1000);
}

function readKernel(path: string): Uint8Array {
  if (path === '--demo') return DEMO_KERNEL;
  try {
    const st = statSync(path);
    if (st.isDirectory())
      throw new ImageError(
        'KERNEL_UNREADABLE',
        `The unikernel ${path} is a directory; give the .virtio file inside it.`,
      );
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.length);
  } catch (e) {
    if (isImageError(e)) throw e;
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
      process.stderr.write(
        `\r${PROG}: ${String(pct).padStart(3)}%  ${formatBytes(covered)} of ${formatBytes(total)}\x1b[K`,
      );
    },
    done() {
      if (shown) process.stderr.write('\r\x1b[K');
    },
  };
}

export async function main(argv: string[]): Promise<number> {
  const print = (s: string) => process.stdout.write(s);
  let opts: CliOptions | null;
  try {
    opts = parseArgs(argv, print);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(
        `${PROG}: ${e.message}\nUsage: ${PROG} [OPTIONS] [--] IMAGE UNIKERNEL [ARGUMENTS ...]  (try --help)\n`,
      );
      return EXIT_USAGE;
    }
    throw e;
  }
  if (!opts) return 0;

  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) =>
    controller.abort(new ImageError('ABORTED', `Interrupted by ${sig}; no image was written.`));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const format = requireFormat(opts.format);
    const size = checkImageSize(opts.size !== undefined ? parseSize(opts.size) : DEFAULT_SIZE, format);
    const timestamp = parseTimestamp(opts.timestamp, process.env);
    const kernel = readKernel(opts.kernel);
    const built: BuiltImage = planImage(kernel, { size, args: opts.args.join(' '), label: opts.label, timestamp });
    for (const line of platformWarnings(PROG, built.kernel, format)) process.stderr.write(`${line}\n`);

    const sink = openFileSink(opts.image);
    const progress = progressPrinter(!opts.quiet && process.stderr.isTTY === true);
    await writeImage(built.plan, format, sink, {
      signal: controller.signal,
      timestamp,
      seed: built.seed,
      fileName: basename(opts.image),
      onProgress: (p) => progress.update(p.covered, p.total),
    });
    progress.done();
    if (!opts.quiet) {
      const what = opts.kernel === '--demo' ? 'the demo kernel' : opts.kernel;
      process.stderr.write(
        `${PROG}: wrote ${opts.image} (${format.label}, ${formatBytes(size)} disk, FAT${built.fat.type}) from ${what}: ${describeKernel(built.kernel)}; ${deviceSummary(built.kernel)}; command line "${built.cmdline}"\n`,
      );
    }
    return 0;
  } catch (e) {
    if (isImageError(e)) {
      process.stderr.write(`${PROG}: error: ${e.message}\n`);
      return e.code === 'ABORTED' ? 130 : EXIT_FAIL;
    }
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC') {
      process.stderr.write(
        `${PROG}: error: the disk holding ${opts.image} is full; free some space or write elsewhere. No image was written.\n`,
      );
      return EXIT_FAIL;
    }
    process.stderr.write(`${PROG}: internal error (please report it): ${(e as Error).stack ?? e}\n`);
    return EXIT_FAIL;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
