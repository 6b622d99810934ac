/**
 * solo5-virtio-run's checks of the host, before anything starts: can KVM be
 * used, which hypervisor runs, is QEMU installed, do the -d disk files and
 * the -n network interfaces exist. Each refusal is one coded sentence with
 * the fix; each pass is a line for --dry-run.
 */
import { accessSync, closeSync, constants as fsConstants, existsSync, openSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ImageError, isImageError } from '../core/errors';
import type { Hypervisor } from '../core/run/command';
import { kindOf } from './tool';

/** Whether /dev/kvm opens read-write, and why (for the check's line). */
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

/** A -d disk: a file (or block device) we may read and write. */
export function checkDisk(path: string): void {
  try {
    const st = statSync(path);
    if (!st.isFile() && !st.isBlockDevice()) {
      throw new ImageError(
        'RUN_DISK_NOT_FOUND',
        `-d ${path} is ${kindOf(st)}, not a disk file or a block device; give a disk image file, e.g. one made with \`truncate -s 64M data.img\`.`,
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

/** A -n interface: Linux lists network interfaces in /sys/class/net; elsewhere the hypervisor finds out. */
export function checkNetif(name: string): string {
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
export function notATap(name: string): boolean {
  return existsSync(join('/sys/class/net', name)) && !existsSync(join('/sys/class/net', name, 'tun_flags'));
}
