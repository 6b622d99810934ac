/**
 * solo5-virtio-run: a drop-in for Solo5's script of the same name that knows
 * the unikernel's manifest. A thin Node adapter around src/core/run: parse
 * the options (run-args.ts), find out what UNIKERNEL is, a kernel or a disk
 * image with the kernel inside (run-target.ts), match -d/-n to the declared
 * devices, check the host (run-host.ts), then print the hypervisor command
 * and (for QEMU) run it with the console passed through (run-qemu.ts), and
 * exit with the unikernel's own status read from that console. What the
 * three bins share (messages, exit statuses, signals) is in tool.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ImageError } from '../core/errors';
import { describeKernel, type KernelInfo } from '../core/kernel';
import { hex } from '../core/units';
import { describeAttachment, FIRST_FREE_SLOT, matchDevices, type Attachment } from '../core/run/devices';
import {
  bhyveCommands,
  BHYVE_CSM_FIRMWARE,
  BHYVE_UEFI_FIRMWARE,
  BOOT_SECTOR_ADDR,
  gdbCommand,
  QEMU_PROGRAM,
  qemuCommand,
  shellLine,
  type Hypervisor,
  type RunPlan,
  type ShellCommand,
} from '../core/run/command';
import { parseMem, parseRunArgs, PROG, USAGE, type RunOptions } from './run-args';
import { checkDisk, checkNetif, chooseHypervisor, deathSignalLauncher, findProgram } from './run-host';
import {
  demoTarget,
  describeTarget,
  identify,
  qemuDriver,
  unpackDisk,
  UNPACKED_FORMAT,
  type Target,
} from './run-target';
import { runQemu, type QemuResult } from './run-qemu';
import { outputError, say, type Job, type ToolSpec } from './tool';
import { terminalSafe } from '../core/terminal';

function kindPhrase(info: KernelInfo): string {
  if (!info.solo5Manifest) return 'no Solo5 manifest: devices are attached in the order given, disks first';
  if (info.devices.length === 0) return 'the manifest declares no devices';
  return `the manifest declares ${info.devices.map((d) => `\`${d.name}\` (${d.kind})`).join(', ')}`;
}

/** The run `opts` ask for; the files it makes (a copy of the demo kernel, an unpacked disk) are removed at the end. */
async function runUnikernel(opts: RunOptions, job: Job): Promise<number> {
  const closers: (() => void)[] = [];
  let tempDir: string | undefined;
  const removeTemp = () => {
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  };
  const temp = () => {
    try {
      return (tempDir ??= mkdtempSync(join(tmpdir(), 'solo5-virtio-run-')));
    } catch (e) {
      throw outputError(e, {
        name: `a temporary directory in ${tmpdir()} (set TMPDIR to use another)`,
        dir: tmpdir(),
      });
    }
  };
  job.atExit(removeTemp);
  job.catchSignals((sig) => `Interrupted by ${sig}; nothing was run.`);
  try {
    return await plannedRun(opts, job, temp, (c) => closers.push(c));
  } finally {
    for (const c of closers) c();
    removeTemp();
  }
}

async function plannedRun(
  opts: RunOptions,
  job: Job,
  temp: () => string,
  keep: (close: () => void) => void,
): Promise<number> {
  const checks: string[] = [];
  /** Said before the run (stderr, even with -q) and in --dry-run. */
  const warnings: string[] = [];
  const memMiB = parseMem(opts.mem);

  const target: Target = opts.unikernel === '--demo' ? demoTarget(temp()) : await identify(opts.unikernel, job, keep);
  checks.push(
    opts.unikernel === '--demo'
      ? `unikernel: the built-in demo kernel (a temporary copy at ${target.path}, removed at the end): ${describeKernel(target.info)}`
      : describeTarget(target),
  );
  checks.push(kindPhrase(target.info));
  if (target.kind === 'image' && opts.args.length > 0) {
    throw new ImageError(
      'RUN_IMAGE_ARGS',
      `${target.path} is a disk image, whose kernel arguments are fixed inside it; drop the arguments (${opts.args.join(' ')}), or rebuild the image with them: \`solo5-virtio-mkimage IMAGE KERNEL ${opts.args.join(' ')}\`.`,
    );
  }

  const { hv, check } = chooseHypervisor(opts.hv as Hypervisor | undefined);
  checks.push(check);
  const printOnly = hv === 'bhyve';

  // The devices: by kind and manifest order; then the host side of each.
  const bhyveImage = printOnly && target.kind === 'image';
  const attachments: Attachment[] = matchDevices(
    target.info.solo5Manifest ? target.info.devices : undefined,
    opts.disks,
    opts.netifs,
    bhyveImage ? FIRST_FREE_SLOT + 1 : FIRST_FREE_SLOT,
  );
  const blockDevices: string[] = [];
  for (const a of attachments) {
    if (a.kind === 'block') {
      if (checkDisk(a.host)) blockDevices.push(a.host);
      checks.push(describeAttachment(a));
    } else {
      const tap = printOnly ? { check: `tap interface ${a.host}: not checked (a bhyve host's)` } : checkNetif(a.host);
      checks.push(`${describeAttachment(a)}; ${tap.check}`);
      if (tap.warning) warnings.push(tap.warning);
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
    plan = {
      hv,
      memMiB,
      attachments,
      boot: { kind: 'image', path: target.path, driver: qemuDriver(UNPACKED_FORMAT), uefi: target.uefi },
    };
    checks.push(
      target.uefi
        ? `firmware: bhyve's UEFI firmware (${BHYVE_UEFI_FIRMWARE}) starts the image's UEFI loader`
        : `firmware: the image has no UEFI loader, so the UEFI-CSM firmware (${BHYVE_CSM_FIRMWARE}, FreeBSD's uefi-edk2-bhyve-csm; EDK2 has since dropped CSM) starts its BIOS loader`,
    );
  } else if (target.format.qemuDriver) {
    plan = { hv, memMiB, attachments, boot: { kind: 'image', path: target.path, driver: target.format.qemuDriver } };
    checks.push(`boot disk: ${target.path} on IDE (no PCI slot, no manifest entry), snapshot=on (never written)`);
  } else {
    // QEMU cannot read this container (a tar.gz): the same disk, unpacked to a temporary sparse file.
    const raw = opts.dryRun ? join(temp(), 'disk.raw') : await unpackDisk(target.disk, temp(), target.path, job);
    plan = { hv, memMiB, attachments, boot: { kind: 'image', path: raw, driver: qemuDriver(UNPACKED_FORMAT) } };
    checks.push(
      `boot disk: QEMU cannot read ${target.format.label}; the disk inside is unpacked to ${raw} (removed at the end) and boots from IDE`,
    );
  }
  plan.blockDevices = blockDevices;
  plan.gdbPort = opts.gdbPort;
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
  const death: { launcher?: string[]; check?: string } = printOnly ? {} : deathSignalLauncher();
  if (death.check) checks.push(death.check);
  const gdb = opts.gdbPort !== undefined ? gdbLines(opts.gdbPort, target) : [];

  if (opts.dryRun || printOnly) {
    if (opts.dryRun) {
      for (const c of checks) job.print(`# ${terminalSafe(c)}\n`);
      for (const w of warnings) job.print(`# warning: ${terminalSafe(w)}\n`);
    } else for (const w of warnings) job.warn(w);
    for (const c of commands) job.print(terminalSafe(shellLine(c)) + '\n');
    if (opts.dryRun) for (const g of gdb) job.print(`# ${terminalSafe(g)}\n`);
    return 0;
  }
  for (const w of warnings) job.warn(w);
  if (opts.gdbPort !== undefined) await checkPortFree(opts.gdbPort);
  const start = (argv: string[]) => {
    if (!opts.quiet) say(2, `+ ${terminalSafe(shellLine({ argv }))}\n`);
    // The way to attach gdb is printed even with -q: without it the run waits for ever.
    for (const g of gdb) job.note(g);
    // A signal that came while we got ready: nothing was started yet.
    if (job.signal.aborted) throw job.signal.reason;
    return runQemu(argv, job, {
      bootLoader: target.kind === 'image',
      holdStderr: hv === 'kvm',
      launcher: death.launcher,
    });
  };
  if (!opts.quiet) for (const a of attachments) job.note(describeAttachment(a));
  let result = await start(commands[0].argv);
  if (hv === 'kvm' && result.failedAtStart && kvmFailed(result)) {
    const f = result.failedAtStart;
    const what = `QEMU with KVM ${f.how} before the unikernel printed anything${f.lastLine ? ` (QEMU said: "${f.lastLine}")` : ''}`;
    if (opts.hv === 'kvm') {
      say(2, result.held);
      throw new ImageError(
        'RUN_KVM_FAILED',
        `${what}; this host's KVM cannot run it (often a nested-virtualisation host whose KVM lacks what QEMU asks for): run it without KVM, with -H qemu (TCG, slower).`,
      );
    }
    // KVM was our choice, not the user's: say so once and run it again with TCG.
    job.warn(`${what}; running it again with TCG (software, slower); -H qemu skips KVM.`);
    result = await start(qemuCommand({ ...plan, hv: 'qemu' }));
  }
  say(2, result.held);
  if (result.note) job.note(result.note);
  return result.status;
}

/**
 * A failure at start that is KVM's: QEMU crashed (the measured case: an
 * assertion and SIGABRT after "failed to set MSR"), said something about
 * KVM, or stopped the guest; not one that TCG would meet the same way (a tap
 * interface QEMU cannot open, a file it may not lock).
 */
function kvmFailed(r: QemuResult): boolean {
  const f = r.failedAtStart!;
  return f.crashed || f.how.startsWith('stopped') || /kvm/i.test(r.held);
}

/** The lines that say how to attach gdb: where QEMU waits, the command, what the breakpoints are. */
function gdbLines(port: number, target: Target): string[] {
  const entry = target.info.load.entry;
  const image = target.kind === 'image';
  const symbols = target.kind === 'kernel' && target.info.format !== 'binary' ? target.path : undefined;
  const argv = gdbCommand(port, image ? [BOOT_SECTOR_ADDR, entry] : [entry], symbols);
  return [
    `QEMU is stopped before its first instruction, its gdb server on localhost:${port} (this host only); attach from another terminal:`,
    `  ${shellLine({ argv })}`,
    image
      ? `${hex(BOOT_SECTOR_ADDR)} is the boot sector's first instruction, ${hex(entry)} the kernel's entry (32-bit, as Multiboot starts it); each \`continue\` runs on to the next, then to the end (for the kernel's symbols: \`unikernel-disk extract ${target.path} app.virtio\`, and give gdb app.virtio).`
      : `${hex(entry)} is the kernel's entry (32-bit, as Multiboot starts it); \`continue\` again runs it to the end.`,
  ];
}

/** The gdb port is free on localhost (QEMU would fail at start, with less to say). */
async function checkPortFree(port: number): Promise<void> {
  const net: typeof import('node:net') = require('node:net');
  const problem = await new Promise<string | undefined>((resolve) => {
    const server = net.createServer();
    server.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(undefined)));
  });
  if (problem) {
    throw new ImageError(
      'RUN_GDB_PORT',
      problem === 'EADDRINUSE'
        ? `--gdb-port ${port}: the port is in use on localhost (another QEMU under gdb?); give another one, e.g. --gdb-port=${port === 65535 ? 1234 : port + 1}.`
        : `--gdb-port ${port}: QEMU could not listen there (${problem}); give another port, e.g. --gdb-port=${port < 1024 ? 1234 : port + 1}.`,
    );
  }
}

/** solo5-virtio-run, for tool.ts's `runTool`. */
export const run: ToolSpec<RunOptions> = { prog: PROG, usage: USAGE, parse: parseRunArgs, run: runUnikernel };
