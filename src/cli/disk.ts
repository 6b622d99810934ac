/**
 * unikernel-disk: read an image back, check it, change its arguments,
 * take its kernel out, convert it. A thin Node adapter around
 * src/core/disk (an image opened once, then inspect, verify, set-args,
 * extract; copyPlan for convert) and
 * the same writers and file sink as solo5-virtio-mkimage: every file it
 * writes goes to a temporary file next to the target, renamed at the end.
 * What the three bins share (messages, exit statuses, signals) is in tool.ts.
 */
import { FORMATS, findFormat, requireFormat, type OutputFormat } from '../core/formats/index';
import { abortSink } from '../core/sink';
import { formatBytes, hex, SECTOR } from '../core/units';
import { openDisk } from '../core/formats/open';
import type { DiskImage } from '../core/formats/reader';
import { abortableSource } from '../core/disk/abortable';
import { readImage, type OpenedImage } from '../core/disk/open-image';
import { inspectImage, type Inspection } from '../core/disk/inspect';
import { describeUefi } from '../core/disk/describe-uefi';
import { verifyImage } from '../core/disk/verify';
import { extractKernel } from '../core/disk/kernel-file';
import { setArgsPlan } from '../core/disk/set-args';
import { copyPlan } from '../core/disk/copy';
import { statSync, type Stats } from 'node:fs';
import { ImageError, isImageError } from '../core/errors';
import { growPlan, type ImagePlan } from '../core/plan';
import { checkImageSize, parseSize, sizeText } from '../core/size';
import { writeDiskPlan } from '../core/disk/rewrite';
import { openImageFile } from './source';
import { runTrace, TRACE_COMMAND, traceOptions } from './trace';
import { openFileSink, resolveOutput, type OutputTarget } from './file-sink';
import { openStdoutSink } from './stdout-sink';
import { writeDiskFile } from './disk-file';
import { EXIT_FAIL, timestampFrom, UsageError, versionLine, type Job, type ToolSpec } from './tool';
import { terminalSafe } from '../core/terminal';

const PROG = 'unikernel-disk';
const USAGE = 'COMMAND ...';

interface Command {
  usage: string;
  summary: string;
  help: string;
  /** Positional arguments: at least, at most (Infinity: the rest are ARGUMENTS). */
  args: [number, number];
  /** Options that take a value. */
  valued: string[];
  /** Flags. */
  flags: string[];
}

const TS_HELP = `      --timestamp T    time stored in container headers (tar mtime...): seconds since 1970
                       or an ISO date (default: $SOURCE_DATE_EPOCH, else 1980-01-01T00:00:00Z)`;

const COMMANDS: Record<string, Command> = {
  inspect: {
    usage: 'inspect [--json] IMAGE',
    summary: 'what is inside: partitions, file system, boot loader, command line, kernel',
    help: `Read IMAGE (any format below, detected by its content) and describe it:
the partition table, the FAT file system and its files, the boot loader
(unikernel-disk, SYSLINUX, GRUB or none) with the command line the kernel
gets, and the kernel (size, SHA-256, what kernel inspection says).

Options:
      --json           print the structure as JSON`,
    args: [1, 1],
    valued: [],
    flags: ['--json'],
  },
  verify: {
    usage: 'verify IMAGE',
    summary: 'check CRCs, the FAT and the partition table; exit 1 if anything is off',
    help: `Check everything that can be checked: the boot loader's parameter block and
its CRC, the kernel's CRC against it, the FAT (copies agree, chains, sizes,
FSInfo), the partition table, the SYSLINUX configuration and the kernel.
One line per problem; exits 1 if any is an error, else prints "ok" and exits 0
(warnings, such as the old tool's 0 hidden sectors, boot anyway).`,
    args: [1, 1],
    valued: [],
    flags: [],
  },
  'set-args': {
    usage: 'set-args [OPTIONS] IMAGE [ARGUMENTS ...]',
    summary: 'give the kernel new arguments, in place, in the format the image is in',
    help: `Replace the kernel's arguments with ARGUMENTS (joined with single spaces,
passed verbatim, even those that look like options; none: no arguments).
Images made by this project: the command line in the boot loader's parameter
block and its CRC. Images made by Solo5's old solo5-virtio-mkimage (SYSLINUX):
the APPEND line in syslinux.cfg, inside the FAT. IMAGE is rewritten in its own
format through a temporary file, so a failure leaves it as it was.

Options (before IMAGE):
${TS_HELP}
  -q, --quiet          print nothing but errors`,
    args: [1, Infinity],
    valued: ['--timestamp'],
    flags: ['-q', '--quiet'],
  },
  extract: {
    usage: 'extract IMAGE OUT',
    summary: 'write the kernel inside IMAGE to OUT, byte for byte',
    help: `Write the kernel the boot loader starts to OUT, byte for byte (through a
temporary file next to OUT). OUT - writes it to standard output (a pipe or a
redirection, never a terminal). OUT is never IMAGE itself.`,
    args: [2, 2],
    valued: [],
    flags: [],
  },
  convert: {
    usage: 'convert -f FORMAT [OPTIONS] IN OUT',
    summary: 'write IN again in another format (same disk bytes)',
    help: `Read IN (any format, detected by content) and write its disk to OUT in FORMAT,
through the same writers as a build: the disk's non-zero data is kept, zeros
become holes, and the same input gives the same file. OUT - writes it to
standard output (a pipe or a redirection). OUT is never IN itself.

Options:
  -f, --format FORMAT  output format:
${FORMATS.map((f) => `      ${f.id.padEnd(12)} ${f.label}`).join('\n')}
  -s, --size SIZE      the disk's size in OUT, e.g. 2G, when FORMAT needs another
                       one (GCE: whole GiB; Azure's VHD: whole MiB); the disk
                       grows with zeros at its end, it is never cut
${TS_HELP}`,
    args: [2, 2],
    valued: ['-f', '--format', '-s', '--size', '--timestamp'],
    flags: [],
  },
  trace: TRACE_COMMAND,
};

function mainHelp(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`);
  return `Usage: ${PROG} COMMAND [OPTIONS] ...

Read a unikernel disk image back (raw, GCE tar.gz, qcow2, VHD, VMDK, VDI),
check it, change its kernel arguments or convert it. Images made by this
project and by Solo5's old solo5-virtio-mkimage (SYSLINUX) are understood.

Commands:
${lines.join('\n')}

  ${PROG} COMMAND --help   shows a command's options
  ${PROG} --version

Examples:
  ${PROG} inspect disk.img
  ${PROG} set-args disk.qcow2 --ipv4=10.0.0.2/24 --ipv4-gateway=10.0.0.1
  ${PROG} convert -f vmdk disk.img disk.vmdk
`;
}

/** The usage line of a command, shown with its usage errors. */
function commandUsage(name: string): string {
  return `${PROG} ${COMMANDS[name].usage}`;
}

function commandHelp(name: string): string {
  const c = COMMANDS[name];
  return `Usage: ${PROG} ${c.usage}\n\n${c.help}\n`;
}

interface Parsed {
  command: string;
  options: Map<string, string | true>;
  positional: string[];
}

/** Parse argv; null when help or the version was printed. */
export function parseDiskArgs(argv: string[], out: (s: string) => void): Parsed | null {
  if (argv.length === 0) throw new UsageError('a COMMAND is missing');
  const [first, ...rest] = argv;
  if (first === '-h' || first === '--help' || first === 'help') {
    out(mainHelp());
    return null;
  }
  if (first === '-V' || first === '--version') {
    out(versionLine(PROG));
    return null;
  }
  const c = COMMANDS[first];
  if (!c) throw new UsageError(`unknown command "${first}"; the commands are ${Object.keys(COMMANDS).join(', ')}`);
  const options = new Map<string, string | true>();
  let i = 0;
  for (; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    if (a === '-h' || a === '--help') {
      out(commandHelp(first));
      return null;
    }
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (c.valued.includes(name)) {
      if (eq > 0) options.set(name, a.slice(eq + 1));
      else if (i + 1 < rest.length) options.set(name, rest[++i]);
      else throw new UsageError(`option ${name} needs a value`, commandUsage(first));
    } else if (/^-[fs]./.test(a) && c.valued.includes(a.slice(0, 2))) {
      options.set(a.slice(0, 2), a.slice(2));
    } else if (c.flags.includes(name) && eq < 0) {
      options.set(name, true);
    } else throw new UsageError(`unknown option ${a} for ${first}`, commandUsage(first));
  }
  let positional = rest.slice(i);
  // inspect --json may also come after IMAGE.
  if (first === 'inspect' && positional.includes('--json')) {
    options.set('--json', true);
    positional = positional.filter((p) => p !== '--json');
  }
  const [min, max] = c.args;
  if (positional.length < min) {
    const names = c.usage
      .replace(/\[[^\]]*\]/g, '')
      .trim()
      .split(/\s+/)
      .slice(1);
    throw new UsageError(
      `${names.slice(positional.length, min).join(' and ')} ${min - positional.length > 1 ? 'are' : 'is'} missing`,
      commandUsage(first),
    );
  }
  if (positional.length > max)
    throw new UsageError(`too many arguments: ${positional.slice(max).join(' ')}`, commandUsage(first));
  return { command: first, options, positional };
}

/** Open IMAGE, give its disk (whose reads stop at a signal) to `read`, close the file again. */
async function withDisk<T>(path: string, job: Job, read: (disk: DiskImage) => Promise<T>): Promise<T> {
  const f = openImageFile(path);
  try {
    return await read(await openDisk(abortableSource(f.source, job.signal)));
  } finally {
    f.close();
  }
}

/** The same, opened once as an image (core/disk/open-image.ts), for the commands that read it as ours or the old tool's. */
function withImage<T>(path: string, job: Job, read: (img: OpenedImage) => Promise<T>): Promise<T> {
  return withDisk(path, job, async (disk) => read(await readImage(disk)));
}

function describe(i: Inspection, path: string): string {
  const lines: string[] = [];
  const fmt = findFormat(i.format);
  lines.push(`${path}: ${fmt ? fmt.label : i.format}, ${formatBytes(i.size)} disk (${i.size} bytes)`);
  if (i.partitionTable === 'none') lines.push('Partition table: none');
  else {
    lines.push(`Partition table: ${i.partitionTable.toUpperCase()}, disk signature ${hex(i.diskSignature ?? 0)}`);
    for (const p of i.partitions) {
      lines.push(
        `  ${p.index}  ${p.active ? 'active  ' : 'inactive'}  LBA ${p.start} + ${p.sectors} sectors (${formatBytes(p.sectors * SECTOR)})  ${p.typeName} (${hex(p.type)})`,
      );
    }
  }
  const fs = i.filesystem;
  if (!fs) lines.push('File system: none found');
  else {
    lines.push(
      `File system: ${fs.type}${fs.partition ? ` in partition ${fs.partition}` : ' at LBA 0'}, label "${fs.label}"${fs.serial !== null ? `, serial ${hex(fs.serial)}` : ''}, ${fs.clusters} clusters of ${formatBytes(fs.clusterBytes)}`,
    );
    for (const f of fs.files) lines.push(`  ${f.dir ? `${f.path}/` : f.path}${f.dir ? '' : `  ${f.size} bytes`}`);
  }
  const b = i.bootloader;
  const what: Record<string, string> = {
    'unikernel-disk': `unikernel-disk (this project's loader), parameter block version ${b.version}${b.stage2 ? `, stage 2 at LBA ${b.stage2.lba} (${b.stage2.sectors} sectors)` : ''}`,
    syslinux: `SYSLINUX (Solo5's old solo5-virtio-mkimage), ${b.config}, label "${b.label}"${b.options?.length ? `, mboot options ${b.options.join(' ')}` : ''}`,
    grub: `GRUB${b.config ? `, ${b.config}` : ''}`,
    none: 'none that this tool knows',
  };
  lines.push(`Boot loader: ${what[b.kind]}`);
  if (b.params) {
    const q = b.params;
    lines.push(
      `  parameter block: kernel at LBA ${q.kernelLba}, ${q.kernelSize} bytes, CRC-32 ${hex(q.kernelCrc32)}; loads ${hex(q.loadStart)}..${hex(q.loadEnd)} in ${q.segments.length} segment${q.segments.length === 1 ? '' : 's'}, entry ${hex(q.entry)}; ${q.problems.length ? `DAMAGED: ${q.problems[0]}` : 'CRC ok'}`,
    );
  }
  lines.push(`UEFI loader: ${describeUefi(i.uefi)}`);
  lines.push(`Command line: ${b.cmdline === null ? '(unknown)' : `"${b.cmdline}"`}`);
  const k = i.kernel;
  if (!k) lines.push('Kernel: none found');
  else {
    lines.push(
      `Kernel: ${k.path ?? '(no file name)'}${k.lba !== null ? ` at LBA ${k.lba}` : ''}, ${k.size} bytes, sha256 ${k.sha256}`,
    );
    lines.push(`  ${k.inspection.ok ? k.inspection.description : `not bootable: ${k.inspection.message}`}`);
    if (k.inspection.ok && k.inspection.devices.length) {
      lines.push(`  devices: ${k.inspection.devices.map((d) => `${d.name} (${d.kind})`).join(', ')}`);
    }
  }
  for (const n of i.notes) lines.push(`Note: ${n}`);
  // Every line holds names read from the image: shown escaped, one line each.
  return lines.map(terminalSafe).join('\n') + '\n';
}

/** The commands that write an OUT (which may be `-`, standard output). */
const OUTPUT_COMMANDS = new Set(['extract', 'convert']);
/** Bytes written to the output at once by extract. */
const SLICE = 1 << 20;

/**
 * Where extract and convert write: `-` (standard output), or a file that is
 * not the image being read, compared by device and inode (so a hard link or
 * a symbolic link to it is refused too), as solo5-virtio-mkimage refuses to
 * write over its kernel.
 */
function outputTarget(out: string, image: string, what: string, example: string): OutputTarget | '-' {
  if (out === '-') return out;
  const target = resolveOutput(out);
  let input: Stats | undefined;
  try {
    input = statSync(image);
  } catch {
    /* reading it says why */
  }
  if (input && target.existing && target.existing.dev === input.dev && target.existing.ino === input.ino) {
    throw new ImageError(
      'OUTPUT_IS_INPUT',
      `OUT ${out} and IMAGE ${image} are the same file${target.path !== out ? ` (${target.path})` : ''}; writing ${what} there would destroy the image it is read from. Give OUT another name, or - for standard output (\`${example}\`).`,
    );
  }
  return target;
}

/** Whether standard output is a terminal (node:tty loads Node's streams: only when writing there). */
function isTerminal(): boolean {
  const tty: typeof import('node:tty') = require('node:tty');
  return tty.isatty(1);
}

/** The sentence for OUT - on a terminal. */
function terminalHint(what: string, example: string): string {
  return `Standard output is a terminal, and ${what} is binary: redirect it (\`${example}\`) or pipe it to a program.`;
}

/** `plan` as a disk of `size` bytes: zeros added at its end; a size below the disk's is refused (convert never cuts). */
function grown(plan: ImagePlan, size: number, text: string, image: string, format: OutputFormat): ImagePlan {
  if (size < plan.size) {
    const step = format.sizeStep ?? SECTOR;
    throw new ImageError(
      'SIZE_BELOW_DISK',
      `--size ${text} (${formatBytes(size)}) is smaller than the disk in ${image} (${formatBytes(plan.size)}, ${plan.size} bytes), and convert never cuts a disk; give --size ${sizeText(Math.ceil(plan.size / step) * step)} or more, or leave it out to keep the disk's size.`,
    );
  }
  return growPlan(plan, size);
}

/**
 * set-args writes the disk back in its format and at its size: an image whose
 * size its format's writer refuses (another tool's GCE tar.gz of 1.5 GiB) is
 * refused before anything is read, with convert's --size as the way out.
 */
function keepsItsSize(size: number, format: OutputFormat, image: string): void {
  try {
    checkImageSize(size, format);
  } catch (e) {
    if (!isImageError(e)) throw e;
    throw new ImageError(
      e.code,
      `${e.message} set-args keeps the disk's size, so convert it first with a size the format takes (\`${PROG} convert -f ${format.id} --size SIZE ${image} NEW\`) and set the arguments of NEW.`,
    );
  }
}

async function run(p: Parsed, job: Job): Promise<number> {
  const quiet = p.options.has('-q') || p.options.has('--quiet');
  const timestamp = () => {
    const t = p.options.get('--timestamp');
    return timestampFrom(typeof t === 'string' ? t : undefined, process.env);
  };
  const [image, out] = p.positional;
  job.catchSignals((sig) =>
    out === '-' && OUTPUT_COMMANDS.has(p.command)
      ? `Interrupted by ${sig}; what went to standard output is incomplete.`
      : `Interrupted by ${sig}; nothing was changed.`,
  );
  switch (p.command) {
    case 'inspect': {
      const i = await withImage(image, job, inspectImage);
      job.print(p.options.has('--json') ? JSON.stringify(i, null, 2) + '\n' : describe(i, image));
      return 0;
    }
    case 'verify': {
      const problems = await withImage(image, job, verifyImage);
      for (const x of problems)
        job.print(
          terminalSafe(`${image}: ${x.severity === 'warning' ? 'warning: ' : ''}${x.area}: ${x.message}`) + '\n',
        );
      if (problems.some((x) => x.severity === 'error')) return EXIT_FAIL;
      job.print(`${terminalSafe(image)}: ok\n`);
      return 0;
    }
    case 'set-args': {
      const ts = timestamp();
      // The plan's data is read from the image while it is written: the image stays open until then.
      const r = await withImage(image, job, async (img) => {
        const format = requireFormat(img.disk.formatId);
        keepsItsSize(img.disk.size, format, image);
        const r = await setArgsPlan(img, p.positional.slice(1).join(' '), { signal: job.signal });
        // In its own format; the file sink keeps the replaced file's permissions and owner.
        await writeDiskFile(r.plan, format, image, job, ts);
        return r;
      });
      if (!quiet) job.note(`${image}: command line was "${r.before}", now "${r.after}"`);
      return 0;
    }
    case 'extract': {
      const example = `${PROG} extract ${image} - > app.virtio`;
      const target = outputTarget(out, image, 'the kernel', example);
      const k = await withImage(image, job, extractKernel);
      const sink =
        target === '-' ? openStdoutSink(isTerminal(), terminalHint('a kernel', example)) : openFileSink(target);
      try {
        // In slices, so that a signal stops a slow pipe between two.
        for (let at = 0; at < k.bytes.length; at += SLICE) {
          if (job.signal.aborted) throw job.signal.reason;
          await sink.write(at, k.bytes.subarray(at, at + SLICE));
        }
        await sink.close(k.bytes.length);
      } catch (e) {
        await abortSink(sink, e);
        throw e;
      }
      return 0;
    }
    case 'convert': {
      const f = p.options.get('-f') ?? p.options.get('--format');
      if (typeof f !== 'string') throw new UsageError('-f FORMAT is missing', commandUsage('convert'));
      const format = requireFormat(f);
      const sizeOpt = p.options.get('-s') ?? p.options.get('--size');
      const size = typeof sizeOpt === 'string' ? parseSize(sizeOpt) : undefined;
      const ts = timestamp();
      const example = `${PROG} convert -f ${format.id} ${image} - > disk${format.extension}`;
      const target = outputTarget(out, image, 'the converted image', example);
      // A container operation: any disk converts (a data disk too), so it needs no partition table or loader.
      // The plan's data is read from the image while it is written: the image stays open until then.
      await withDisk(image, job, async (disk) => {
        const read = await copyPlan(disk, [], { signal: job.signal });
        const plan = size === undefined ? read : grown(read, size, sizeOpt as string, image, format);
        if (target === '-') {
          await writeDiskPlan(plan, format, openStdoutSink(isTerminal(), terminalHint('a disk image', example)), {
            fileName: '',
            timestamp: ts,
            signal: job.signal,
          });
        } else await writeDiskFile(plan, format, target, job, ts);
      });
      return 0;
    }
    case 'trace': {
      const o = traceOptions(p.options, p.positional.slice(1));
      return withImage(image, job, (img) => runTrace(img, image, o, job));
    }
  }
  throw new Error(`internal: command ${p.command}`);
}

/** unikernel-disk, for tool.ts's `runTool`. */
export const disk: ToolSpec<Parsed> = { prog: PROG, usage: USAGE, parse: parseDiskArgs, run };
