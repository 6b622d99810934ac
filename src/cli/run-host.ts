/**
 * solo5-virtio-run's checks of the host, before anything starts: can KVM be
 * used, which hypervisor runs, is QEMU installed, do the -d disk files and
 * the -n network interfaces exist. Each refusal is one coded sentence with
 * the fix; each pass is a line for --dry-run.
 */
import { accessSync, closeSync, constants as fsConstants, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { delimiter, join } from 'node:path';
import { ImageError, isImageError } from '../core/errors';
import type { Hypervisor } from '../core/run/command';
import { kindOf } from './tool';

/**
 * The KVM device. The tests name a stand-in in UKD_TEST_KVM_DEVICE (this
 * machine may have no KVM): the check is the same, it opens the file
 * read-write, only the path differs.
 */
function kvmDevice(): string {
  return process.env.UKD_TEST_KVM_DEVICE || '/dev/kvm';
}

/** Whether /dev/kvm opens read-write, and why (for the check's line). */
function canOpenKvm(): { ok: boolean; why: string } {
  const dev = kvmDevice();
  try {
    closeSync(openSync(dev, 'r+'));
    return { ok: true, why: `${dev} can be opened` };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return {
      ok: false,
      why:
        code === 'ENOENT'
          ? `${dev} does not exist`
          : code === 'EACCES' || code === 'EPERM'
            ? `${dev} cannot be opened (permission denied; join the kvm group)`
            : `${dev} cannot be opened (${code ?? (e as Error).message})`,
    };
  }
}

const HV_NAMES: Record<Hypervisor, string> = {
  kvm: 'QEMU with KVM',
  qemu: 'QEMU with TCG (software)',
  bhyve: 'bhyve (the commands are printed, not run)',
};

/** The hypervisor -H asks for (checked: KVM must open), else KVM where it opens and TCG otherwise; with the check's line. */
export function chooseHypervisor(asked: Hypervisor | undefined): { hv: Hypervisor; check: string } {
  const kvm = canOpenKvm();
  if (asked === undefined) {
    const hv = kvm.ok ? 'kvm' : 'qemu';
    return { hv, check: `hypervisor: ${HV_NAMES[hv]} (${kvm.why})` };
  }
  if (asked === 'kvm' && !kvm.ok) {
    throw new ImageError(
      'RUN_NO_KVM',
      `-H kvm asks for KVM, but ${kvm.why}; use -H qemu to run without KVM (slower), or fix the access to /dev/kvm.`,
    );
  }
  return { hv: asked, check: `hypervisor: ${HV_NAMES[asked]} (-H ${asked})` };
}

/**
 * How QEMU is started so that it ends with us, even when we are killed with
 * SIGKILL (which we cannot catch): util-linux's `setpriv --pdeathsig TERM`
 * sets the parent-death signal and execs QEMU, which stays our child with
 * its own pid. Without setpriv (or one older than util-linux 2.33), QEMU is
 * started directly and only the signals we can catch end it.
 */
export function deathSignalLauncher(): { launcher?: string[]; check: string } {
  const setpriv = findProgram('setpriv');
  if (setpriv) {
    const help = spawnSync(setpriv, ['--help'], { encoding: 'utf8', timeout: 5000 });
    if (help.status === 0 && help.stdout.includes('--pdeathsig')) {
      return {
        launcher: [setpriv, '--pdeathsig', 'TERM', '--'],
        check: `QEMU ends with this run, even on SIGKILL (started through ${setpriv} --pdeathsig TERM)`,
      };
    }
  }
  return {
    check:
      'QEMU ends with this run on a signal it can catch; a SIGKILL would leave it running (no setpriv with --pdeathsig here: util-linux 2.33 or later has it)',
  };
}

/** The executable `name` in PATH, if there is one. */
export function findProgram(name: string): string | undefined {
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

/** A -d disk: a file (or block device) we may read and write; true for a block device. */
export function checkDisk(path: string): boolean {
  try {
    const st = statSync(path);
    if (!st.isFile() && !st.isBlockDevice()) {
      throw new ImageError(
        'RUN_DISK_NOT_FOUND',
        `-d ${path} is ${kindOf(st)}, not a disk file or a block device; give a disk image file, e.g. one made with \`truncate -s 64M data.img\`.`,
      );
    }
    accessSync(path, fsConstants.R_OK | fsConstants.W_OK);
    return st.isBlockDevice();
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

/** How to make a tap interface NAME that QEMU can attach, as shell commands. */
export function tapCommands(name: string): string {
  return `\`ip tuntap add dev ${name} mode tap && ip link set ${name} up\``;
}

/**
 * A -n interface, before QEMU starts: it must exist and be a tap interface
 * (Linux lists interfaces in /sys/class/net, a tap has tun_flags there);
 * one that is down is said (QEMU attaches it, but nothing passes). Returns
 * the check's line and, for one that is down, the warning. Elsewhere (no
 * /sys/class/net) the hypervisor finds out.
 */
export function checkNetif(name: string): { check: string; warning?: string } {
  if (!existsSync('/sys/class/net')) return { check: `tap interface ${name}: not checked (no /sys/class/net)` };
  const dir = join('/sys/class/net', name);
  if (name.includes('/') || name === '.' || name === '..' || !existsSync(dir)) {
    throw new ImageError(
      'RUN_NETIF_NOT_FOUND',
      `-n ${name}: there is no network interface ${name} on this host; create the tap interface first: ${tapCommands(name)} (as root, or add \`user $USER\` to the first to let you attach it).`,
    );
  }
  if (!existsSync(join(dir, 'tun_flags'))) {
    throw new ImageError(
      'RUN_NETIF_NOT_TAP',
      `-n ${name} is a network interface but not a tap interface, which QEMU's \`-netdev tap\` needs; create a tap interface (e.g. ${tapCommands('tap0')}) and give its name.`,
    );
  }
  let flags = NaN;
  try {
    flags = Number(readFileSync(join(dir, 'flags'), 'latin1').trim());
  } catch {
    /* not said: not checked */
  }
  // IFF_UP, the administrative state that `ip link set NAME up` sets.
  if (Number.isInteger(flags) && (flags & 1) === 0) {
    return {
      check: `tap interface ${name} exists (down)`,
      warning: `-n ${name}: the tap interface is down, so no packet will pass; bring it up: \`ip link set ${name} up\`.`,
    };
  }
  return { check: `tap interface ${name} exists` };
}
