/**
 * solo5-virtio-run: a drop-in for Solo5's script of the same name that knows
 * the unikernel's manifest. A thin Node adapter around src/core/run: parse
 * the options, find out what UNIKERNEL is (a kernel, or a disk image with the
 * kernel inside), match -d/-n to the declared devices, check the host, then
 * print the hypervisor command and (for QEMU) run it with the console passed
 * through, and exit with the unikernel's own status read from that console.
 */
import { spawn } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants as fsConstants,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { basename, delimiter, join } from 'node:path';
import { ImageError, isImageError } from '../core/errors';
import { describeKernel, inspectKernel, type KernelInfo } from '../core/kernel';
import { findFormat, type OutputFormat } from '../core/formats/index';
import { rawFormat } from '../core/formats/raw';
import { openDisk } from '../core/formats/open';
import type { DiskImage } from '../core/formats/reader';
import { readImage } from '../core/disk/open-image';
import { isElf } from '../core/elf';
import { formatBytes, MIB, SECTOR } from '../core/units';
import { DEMO_KERNEL } from '../core/demo-kernel.generated';
import { describeAttachment, FIRST_FREE_SLOT, matchDevices, type Attachment } from '../core/run/devices';
import {
  bhyveCommands,
  HYPERVISORS,
  QEMU_PROGRAM,
  qemuCommand,
  shellLine,
  type Hypervisor,
  type RunPlan,
  type ShellCommand,
} from '../core/run/command';
import { ConsoleWatcher, exitStatus, hypervisorStop, LineWatcher, type HypervisorEnd } from '../core/run/console';
import { openImageFile } from './source';
import { extractKernel } from '../core/disk/kernel-file';

declare const __VERSION__: string;
const VERSION = typeof __VERSION__ === 'string' ? __VERSION__ : 'dev';
const PROG = 'solo5-virtio-run';

const EXIT_USAGE = 2;
const EXIT_FAIL = 1;
/** Solo5's script default. */
const DEFAULT_MEM_MIB = 128;
/** After the console announced the end, how long QEMU may take to exit before it is stopped. */
const EXIT_GRACE_MS = 5000;
/** A kernel file larger than this is not a unikernel (and is not read into memory). */
const MAX_KERNEL_BYTES = 256 * MIB;

export interface RunOptions {
  disks: string[];
  netifs: string[];
  mem?: string;
  quiet: boolean;
  hv?: string;
  dryRun: boolean;
  unikernel: string;
  args: string[];
}

class UsageError extends Error {}

function help(): string {
  return `Usage: ${PROG} [OPTIONS] UNIKERNEL [--] [ARGUMENTS ...]

Run the Solo5 virtio unikernel UNIKERNEL, or a disk image built from one
(raw, qcow2, VHD, VMDK, VDI or GCE tar.gz, recognised by its content), with
the devices its manifest declares. The console goes to stdout; the exit status
is the unikernel's own (solo5_exit(N) gives N, an abort or a fatal trap 255).

Options:
  -d DISK     attach the disk file DISK as the next declared block device (repeatable)
  -n NETIF    attach the tap interface NETIF as the next declared network device (repeatable)
  -m MEM      guest memory in MiB (default ${DEFAULT_MEM_MIB}; 512M and 1G are read too)
  -H HV       hypervisor: kvm (QEMU with KVM), qemu (QEMU with TCG, no KVM),
              bhyve (print the commands, run nothing); default: kvm where
              /dev/kvm can be opened, qemu otherwise
  -q          quiet: do not print the hypervisor command and the devices
      --dry-run  print the checks and the command, run nothing
  -h, --help     show this help
  -V, --version  show the version
  --demo      in place of UNIKERNEL: the built-in demo kernel

Devices go to the manifest's entries by kind and order: the n-th declared
block device gets the n-th -d, the n-th network device the n-th -n, and they
sit at consecutive PCI slots in manifest order. A declared device without a
-d/-n, or a -d/-n with no declared device left, stops before anything starts
(Solo5 would abort). A disk image boots from IDE, so it takes no manifest
entry; its arguments are the ones built into it.

Examples:
  ${PROG} app.virtio --ipv4=10.0.0.2/24
  ${PROG} -d data.img -n tap0 app.virtio
  ${PROG} -n tap0 disk.qcow2            # the image you are about to upload
  ${PROG} --dry-run -H bhyve -d data.img app.virtio
`;
}

/** Parse argv (without node and script). Returns null when --help/--version was handled. */
export function parseRunArgs(argv: string[], out: (s: string) => void): RunOptions | null {
  const o: RunOptions = { disks: [], netifs: [], quiet: false, dryRun: false, unikernel: '', args: [] };
  let i = 0;
  const value = (name: string, attached: string): string => {
    if (attached !== '') return attached;
    if (i + 1 >= argv.length) throw new UsageError(`option ${name} needs a value`);
    return argv[++i];
  };
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-' || a === '--demo') break;
    if (a === '-h' || a === '--help') {
      out(help());
      return null;
    }
    if (a === '-V' || a === '--version') {
      out(`${PROG} ${VERSION}\n`);
      return null;
    }
    if (a === '--dry-run') {
      o.dryRun = true;
      continue;
    }
    if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`);
    // getopt style: -q, -d DISK, -dDISK
    const name = a.slice(0, 2);
    const attached = a.slice(2);
    switch (name) {
      case '-d':
        o.disks.push(value(name, attached));
        break;
      case '-n':
        o.netifs.push(value(name, attached));
        break;
      case '-m':
        o.mem = value(name, attached);
        break;
      case '-H':
        o.hv = value(name, attached);
        break;
      case '-q':
        if (attached !== '') throw new UsageError(`unknown option ${a}`);
        o.quiet = true;
        break;
      default:
        throw new UsageError(`unknown option ${a}`);
    }
  }
  if (i >= argv.length) throw new UsageError('UNIKERNEL is missing');
  o.unikernel = argv[i];
  const rest = argv.slice(i + 1);
  o.args = rest[0] === '--' ? rest.slice(1) : rest;
  if (o.hv !== undefined && !(HYPERVISORS as readonly string[]).includes(o.hv)) {
    throw new UsageError(`unknown hypervisor -H ${o.hv}; choose one of: ${HYPERVISORS.join(', ')}`);
  }
  return o;
}

/** "-m 256", "256M", "1G" → MiB. */
export function parseMem(text: string | undefined): number {
  if (text === undefined) return DEFAULT_MEM_MIB;
  const m = /^(\d+)\s*(M|MB|MiB|G|GB|GiB)?$/i.exec(text.trim());
  const mib = m ? Number(m[1]) * (m[2] && m[2][0].toUpperCase() === 'G' ? 1024 : 1) : NaN;
  if (!Number.isSafeInteger(mib) || mib < 2 || mib > 1024 * 1024) {
    throw new ImageError(
      'RUN_MEM_MALFORMED',
      `-m ${text} is not a memory size from 2 MiB to 1 TiB; give MiB as a number (e.g. -m 128, as Solo5's script) or with M or G (-m 512M, -m 1G).`,
    );
  }
  return mib;
}

/** What UNIKERNEL turned out to be. */
type Target =
  | { kind: 'kernel'; path: string; info: KernelInfo }
  | { kind: 'image'; path: string; format: OutputFormat; disk: DiskImage; info: KernelInfo; where: string };

function readSmallFile(path: string): Uint8Array {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new ImageError('KERNEL_NOT_FOUND', `The unikernel file ${path} does not exist; check the path.`);
    throw new ImageError('KERNEL_UNREADABLE', `The unikernel file ${path} cannot be read: ${(e as Error).message}.`);
  }
  if (st.isDirectory())
    throw new ImageError(
      'KERNEL_UNREADABLE',
      `The unikernel ${path} is a directory; give the .virtio file or the disk image inside it.`,
    );
  if (st.size > MAX_KERNEL_BYTES) throw new Error('internal: readSmallFile on a large file');
  const b = readFileSync(path);
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

/** Is it a kernel (ELF, or a Multiboot binary) or a disk image? Decided by content. */
async function identify(path: string, keep: (close: () => void) => void): Promise<Target> {
  let size: number;
  try {
    const st = statSync(path);
    if (st.isDirectory()) {
      throw new ImageError(
        'KERNEL_UNREADABLE',
        `The unikernel ${path} is a directory; give the .virtio file or the disk image inside it.`,
      );
    }
    size = st.size;
  } catch (e) {
    if (isImageError(e)) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new ImageError('KERNEL_NOT_FOUND', `The unikernel file ${path} does not exist; check the path.`);
    throw new ImageError('KERNEL_UNREADABLE', `The unikernel file ${path} cannot be read: ${(e as Error).message}.`);
  }
  const asKernel = (): Target => ({
    kind: 'kernel',
    path,
    info: inspectKernel(readSmallFile(path), `unikernel ${path}`),
  });
  const opened = openImageFile(path);
  keep(opened.close);
  const head = await opened.source.read(0, Math.min(size, 8192));
  if (isElf(head)) {
    if (size > MAX_KERNEL_BYTES) {
      throw new ImageError(
        'RUN_NOT_BOOTABLE',
        `${path} is an ELF file of ${size} bytes, far more than a unikernel; give the .virtio file your build produced.`,
      );
    }
    return asKernel();
  }
  // A container (qcow2, VHD, ...) is a disk image whatever it holds; a file
  // that is no container is a raw disk only if it has an MBR boot signature,
  // else it may be a Multiboot kernel that is not ELF.
  let disk: DiskImage | undefined;
  try {
    disk = await openDisk(opened.source);
  } catch (e) {
    if (!isImageError(e) || size > MAX_KERNEL_BYTES) throw e;
    try {
      return asKernel();
    } catch {
      throw e;
    }
  }
  const format = findFormat(disk.formatId);
  if (!format) throw new Error(`internal: openDisk returned the unknown format id ${disk.formatId}`);
  const mbrSigned = head.length >= SECTOR && head[SECTOR - 2] === 0x55 && head[SECTOR - 1] === 0xaa;
  if (format.id !== rawFormat.id || mbrSigned) {
    const { path: inside, bytes } = await extractKernel(await readImage(disk));
    const where = `the kernel ${inside ?? 'its boot loader names'}`;
    return {
      kind: 'image',
      path,
      format,
      disk,
      info: inspectKernel(bytes, `kernel ${inside ?? ''} in ${path}`),
      where,
    };
  }
  if (size <= MAX_KERNEL_BYTES) {
    try {
      return asKernel();
    } catch (e) {
      if (!isImageError(e) || e.code !== 'NOT_A_KERNEL') throw e;
    }
  }
  throw new ImageError(
    'RUN_NOT_BOOTABLE',
    `${path} is neither a kernel (no ELF header, no Multiboot header in its first 8192 bytes) nor a disk image (no container header, no MBR boot signature 55 AA at byte 510); give the .virtio file or an image built by solo5-virtio-mkimage.`,
  );
}

function canOpenKvm(): { ok: boolean; why: string } {
  try {
    closeSync(openSync('/dev/kvm', 'r+'));
    return { ok: true, why: '/dev/kvm can be opened' };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return {
      ok: false,
      why:
        code === 'ENOENT'
          ? '/dev/kvm does not exist'
          : code === 'EACCES' || code === 'EPERM'
            ? '/dev/kvm cannot be opened (permission denied; join the kvm group)'
            : `/dev/kvm cannot be opened (${code ?? (e as Error).message})`,
    };
  }
}

function findProgram(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, fsConstants.X_OK);
      if (statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

function checkDisk(path: string): void {
  try {
    const st = statSync(path);
    if (!st.isFile() && !st.isBlockDevice()) {
      throw new ImageError(
        'RUN_DISK_NOT_FOUND',
        `-d ${path} is not a disk file (a directory?); give a disk image file, e.g. one made with \`truncate -s 64M data.img\`.`,
      );
    }
    accessSync(path, fsConstants.R_OK | fsConstants.W_OK);
  } catch (e) {
    if (isImageError(e)) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new ImageError(
      'RUN_DISK_NOT_FOUND',
      code === 'ENOENT'
        ? `-d ${path} does not exist; create the disk first (e.g. \`truncate -s 64M ${path}\`) or check the path.`
        : `-d ${path} cannot be opened for reading and writing (${code ?? (e as Error).message}); check its permissions.`,
    );
  }
}

/** Linux lists network interfaces in /sys/class/net; elsewhere the hypervisor finds out. */
function checkNetif(name: string): string {
  if (!existsSync('/sys/class/net')) return `tap interface ${name}: not checked (no /sys/class/net)`;
  if (name.includes('/') || !existsSync(join('/sys/class/net', name))) {
    throw new ImageError(
      'RUN_NETIF_NOT_FOUND',
      `-n ${name}: there is no network interface ${name} on this host; create the tap interface first (e.g. \`ip tuntap add dev ${name} mode tap && ip link set ${name} up\`).`,
    );
  }
  return existsSync(join('/sys/class/net', name, 'tun_flags'))
    ? `tap interface ${name} exists`
    : `interface ${name} exists`;
}

/** A tap interface has tun_flags in /sys; anything else QEMU's `-netdev tap` refuses. */
function notATap(name: string): boolean {
  return existsSync(join('/sys/class/net', name)) && !existsSync(join('/sys/class/net', name, 'tun_flags'));
}

/** GCE's tar.gz holds the disk inside a compressed archive, which QEMU cannot read: unpack it to a sparse temporary file. */
async function unpackToTemp(disk: DiskImage, dir: string): Promise<string> {
  const out = join(dir, 'disk.raw');
  const fd = openSync(out, 'w', 0o600);
  try {
    const CHUNK = 1 << 20;
    for await (const ext of disk.extents()) {
      if (!ext.allocated) continue;
      for (let off = ext.offset; off < ext.offset + ext.length; off += CHUNK) {
        const n = Math.min(CHUNK, ext.offset + ext.length - off);
        const b = await disk.read(off, n);
        let done = 0;
        while (done < b.length) done += writeSync(fd, b, done, b.length - done, off + done);
      }
    }
  } finally {
    closeSync(fd);
  }
  truncateSync(out, disk.size);
  return out;
}

function kindPhrase(info: KernelInfo): string {
  if (!info.solo5Manifest) return 'no Solo5 manifest: devices are attached in the order given, disks first';
  if (info.devices.length === 0) return 'the manifest declares no devices';
  return `the manifest declares ${info.devices.map((d) => `\`${d.name}\` (${d.kind})`).join(', ')}`;
}

function signalNumber(sig: string | null): number | undefined {
  if (!sig) return undefined;
  return (osConstants.signals as Record<string, number>)[sig];
}

export async function runMain(argv: string[]): Promise<number> {
  const stdout = (s: string) => process.stdout.write(s);
  const stderr = (s: string) => process.stderr.write(s);
  let opts: RunOptions | null;
  try {
    opts = parseRunArgs(argv, stdout);
  } catch (e) {
    if (e instanceof UsageError) {
      stderr(`${PROG}: ${e.message}\nUsage: ${PROG} [OPTIONS] UNIKERNEL [--] [ARGUMENTS ...]  (try --help)\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
  if (!opts) return 0;

  const cleanups: (() => void)[] = [];
  let tempDir: string | undefined;
  const temp = () => (tempDir ??= mkdtempSync(join(tmpdir(), 'solo5-virtio-run-')));
  // Interrupted before QEMU runs (while a tar.gz is unpacked, say): remove what was made, then stop.
  const early = () => {
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', early);
  process.once('SIGTERM', early);
  try {
    const checks: string[] = [];
    /** Said before the run (stderr, even with -q) and in --dry-run. */
    const warnings: string[] = [];
    const memMiB = parseMem(opts.mem);

    let target: Target;
    if (opts.unikernel === '--demo') {
      const path = join(temp(), 'demo.virtio');
      writeFileSync(path, DEMO_KERNEL);
      target = { kind: 'kernel', path, info: inspectKernel(DEMO_KERNEL, 'demo kernel') };
      checks.push(
        `unikernel: the built-in demo kernel (a temporary copy at ${path}, removed at the end): ${describeKernel(target.info)}`,
      );
    } else {
      target = await identify(opts.unikernel, (c) => cleanups.push(c));
      checks.push(
        target.kind === 'kernel'
          ? `unikernel: ${target.path}: ${describeKernel(target.info)}`
          : `unikernel: ${target.path} is a disk image (${target.format.label}, ${formatBytes(target.disk.size)} disk); ${target.where}: ${describeKernel(target.info)}`,
      );
    }
    checks.push(kindPhrase(target.info));
    if (target.kind === 'image' && opts.args.length > 0) {
      throw new ImageError(
        'RUN_IMAGE_ARGS',
        `${target.path} is a disk image, whose kernel arguments are fixed inside it; drop the arguments (${opts.args.join(' ')}), or rebuild the image with them: \`solo5-virtio-mkimage IMAGE KERNEL ${opts.args.join(' ')}\`.`,
      );
    }

    // The hypervisor.
    let hv: Hypervisor;
    const kvm = canOpenKvm();
    if (opts.hv === undefined) {
      hv = kvm.ok ? 'kvm' : 'qemu';
      checks.push(`hypervisor: ${hv === 'kvm' ? 'QEMU with KVM' : 'QEMU with TCG (software)'} (${kvm.why})`);
    } else {
      hv = opts.hv as Hypervisor;
      if (hv === 'kvm' && !kvm.ok) {
        throw new ImageError(
          'RUN_NO_KVM',
          `-H kvm asks for KVM, but ${kvm.why}; use -H qemu to run without KVM (slower), or fix the access to /dev/kvm.`,
        );
      }
      checks.push(
        `hypervisor: ${hv === 'kvm' ? 'QEMU with KVM' : hv === 'qemu' ? 'QEMU with TCG (software)' : 'bhyve (the commands are printed, not run)'} (-H ${hv})`,
      );
    }
    const printOnly = hv === 'bhyve';

    // The devices: by kind and manifest order; then the host side of each.
    const bhyveImage = printOnly && target.kind === 'image';
    const attachments: Attachment[] = matchDevices(
      target.info.solo5Manifest ? target.info.devices : undefined,
      opts.disks,
      opts.netifs,
      bhyveImage ? FIRST_FREE_SLOT + 1 : FIRST_FREE_SLOT,
    );
    for (const a of attachments) {
      if (a.kind === 'block') {
        checkDisk(a.host);
        checks.push(describeAttachment(a));
      } else {
        const note = printOnly ? `tap interface ${a.host}: not checked (a bhyve host's)` : checkNetif(a.host);
        checks.push(`${describeAttachment(a)}; ${note}`);
        if (!printOnly && notATap(a.host))
          warnings.push(
            `-n ${a.host} is a network interface but not a tap interface, which QEMU's \`-netdev tap\` needs; create one (\`ip tuntap add dev tap0 mode tap\`) and give its name.`,
          );
      }
    }

    // The boot target as the hypervisor reads it.
    let plan: RunPlan;
    if (target.kind === 'kernel') {
      plan = { hv, memMiB, attachments, boot: { kind: 'kernel', path: target.path, args: opts.args } };
      if (/\s/.test(target.path)) {
        warnings.push(
          `the kernel path "${target.path}" has a space: QEMU puts the path first on the kernel's command line and Solo5 skips only its first word, so the rest of the path would reach the unikernel as arguments; move the file to a path without spaces.`,
        );
      }
    } else if (printOnly) {
      if (!target.format.plainDisk) {
        throw new ImageError(
          'RUN_IMAGE_UNSUPPORTED',
          `bhyve reads raw disks only and ${target.path} is ${target.format.label}; convert it (\`qemu-img convert -O raw ${target.path} disk.img\`) or build a raw image (\`solo5-virtio-mkimage -f raw\`).`,
        );
      }
      plan = { hv, memMiB, attachments, boot: { kind: 'image', path: target.path, driver: 'raw' } };
    } else if (target.format.qemuDriver) {
      plan = { hv, memMiB, attachments, boot: { kind: 'image', path: target.path, driver: target.format.qemuDriver } };
      checks.push(`boot disk: ${target.path} on IDE (no PCI slot, no manifest entry), snapshot=on (never written)`);
    } else {
      // QEMU cannot read a tar.gz: the same disk, unpacked to a temporary sparse file.
      const raw = opts.dryRun ? join(temp(), 'disk.raw') : await unpackToTemp(target.disk, temp());
      plan = { hv, memMiB, attachments, boot: { kind: 'image', path: raw, driver: 'raw' } };
      checks.push(
        `boot disk: QEMU cannot read ${target.format.label}; the disk inside is unpacked to ${raw} (removed at the end) and boots from IDE`,
      );
    }
    plan.vmName =
      `solo5-${basename(opts.unikernel === '--demo' ? 'demo' : target.path).replace(/[^A-Za-z0-9_-]/g, '_')}`.slice(
        0,
        31,
      );

    const commands: ShellCommand[] = printOnly ? bhyveCommands(plan) : [{ argv: qemuCommand(plan) }];
    if (!printOnly) {
      const qemu = findProgram(QEMU_PROGRAM);
      if (!qemu) {
        if (!opts.dryRun) {
          throw new ImageError(
            'RUN_NO_HYPERVISOR',
            `${QEMU_PROGRAM} is not installed (not found in PATH); install QEMU (Debian/Ubuntu: \`apt-get install qemu-system-x86\`).`,
          );
        }
        checks.push(`${QEMU_PROGRAM}: not found in PATH (needed to run)`);
      } else checks.push(`${QEMU_PROGRAM}: ${qemu}`);
    }

    if (opts.dryRun || printOnly) {
      if (opts.dryRun) {
        for (const c of checks) stdout(`# ${c}\n`);
        for (const w of warnings) stdout(`# warning: ${w}\n`);
      } else for (const w of warnings) stderr(`${PROG}: warning: ${w}\n`);
      for (const c of commands) stdout(shellLine(c) + '\n');
      return 0;
    }
    for (const w of warnings) stderr(`${PROG}: warning: ${w}\n`);
    process.off('SIGINT', early);
    process.off('SIGTERM', early);
    if (!opts.quiet) {
      for (const a of attachments) stderr(`${PROG}: ${describeAttachment(a)}\n`);
      stderr(`+ ${shellLine(commands[0])}\n`);
    }
    return await runQemu(commands[0].argv, stderr);
  } catch (e) {
    if (isImageError(e)) {
      stderr(`${PROG}: error: ${e.message}\n`);
      return EXIT_FAIL;
    }
    throw e;
  } finally {
    process.off('SIGINT', early);
    process.off('SIGTERM', early);
    for (const c of cleanups) c();
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  }
}

/** How long QEMU may go on printing (its register dump) after saying it stopped the guest. */
const STOP_GRACE_MS = 500;

/** Run QEMU with the console passed through; resolve with the unikernel's status. */
function runQemu(argv: string[], stderr: (s: string) => void): Promise<number> {
  return new Promise((resolve) => {
    const watcher = new ConsoleWatcher();
    const stops = new LineWatcher(hypervisorStop);
    const child = spawn(argv[0], argv.slice(1), { stdio: ['inherit', 'pipe', 'pipe'] });
    let interrupted = false;
    let grace: NodeJS.Timeout | undefined;
    let stopped: string | undefined;
    const onSignal = (sig: NodeJS.Signals) => {
      interrupted = true;
      // From a terminal QEMU got the signal too; from `kill` only we did.
      child.kill(sig === 'SIGINT' ? 'SIGTERM' : sig);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('SIGHUP', onSignal);
    // A reader that went away (`| head`) must not end the run: the status still comes from the console.
    const ignore = () => {};
    process.stdout.on('error', ignore);
    process.stderr.on('error', ignore);
    child.stdout.on('data', (b: Buffer) => {
      if (process.stdout.writable) process.stdout.write(b);
      if (watcher.feed(b.toString('latin1')) && !grace) {
        grace = setTimeout(() => child.kill('SIGTERM'), EXIT_GRACE_MS);
        grace.unref();
      }
    });
    child.stderr.on('data', (b: Buffer) => {
      const text = b.toString('latin1');
      // Once we end QEMU ourselves, its "terminating on signal" line is ours to explain, not its.
      if (process.stderr.writable && !(stopped && /terminating on signal/.test(text))) process.stderr.write(b);
      const line = stops.feed(text);
      if (line && !stopped && !interrupted) {
        // KVM gave up and QEMU paused the VM, waiting for a monitor nobody opens: end it.
        stopped = line;
        if (!grace) {
          grace = setTimeout(() => child.kill('SIGTERM'), STOP_GRACE_MS);
          grace.unref();
        }
      }
    });
    let finished = false;
    const finish = (end: HypervisorEnd) => {
      if (finished) return;
      finished = true;
      if (grace) clearTimeout(grace);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('SIGHUP', onSignal);
      process.stdout.off('error', ignore);
      process.stderr.off('error', ignore);
      const { status, note } = exitStatus(watcher.end(), end);
      if (note) stderr(`${PROG}: ${note}\n`);
      resolve(status);
    };
    child.on('error', (e) => {
      stderr(`${PROG}: error: ${argv[0]} could not be started: ${e.message}.\n`);
      finish({ status: 127 });
    });
    child.on('close', (code, signal) => {
      finish({ status: code, signal, signalNumber: signalNumber(signal), interrupted, stopped });
    });
  });
}
