/**
 * What the destinations' next commands share: names for images, VMs and
 * devices, the PCI slots the declared devices get, the disks made for declared
 * block devices, and QEMU's driver for a format.
 */
import { findFormat } from '../formats/index';
import { shellQuote } from '../shell';
import type { Solo5Device } from '../solo5';
import type { NextStep } from './types';

/** The devices' names in backticks: "`a`", "`a` and `b`", "`a`, `b` and `c`". */
export function names(devs: readonly Solo5Device[]): string {
  const q = devs.map((d) => `\`${d.name}\``);
  return q.length <= 2 ? q.join(' and ') : `${q.slice(0, -1).join(', ')} and ${q[q.length - 1]}`;
}

/**
 * A name for the image or VM made from a file: lower case letters, digits and
 * dashes, starting with a letter, at most 63 (GCE's rule, the strictest of the
 * destinations). The file's extension is dropped: `my disk.tar.gz` -> `my-disk`.
 */
export function imageName(fileName: string): string {
  let s = fileName
    .replace(/\.tar\.gz$/i, '')
    .replace(/\.[a-z0-9]{1,6}$/i, '')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (!/^[a-z]/.test(s)) s = 'unikernel-' + s;
  return s.slice(0, 63).replace(/-+$/, '');
}

/** A QEMU/libvirt id for a device: its name when that is a valid id, else kind + manifest position. */
export function deviceId(dev: Solo5Device, i: number): string {
  return /^[A-Za-z][A-Za-z0-9_.-]*$/.test(dev.name) ? dev.name : `${dev.kind}${i + 1}`;
}

/** First PCI slot for the declared devices: well clear of QEMU's own (host bridge, ISA/IDE, VGA, default NIC). */
export const FIRST_PCI_SLOT = 0x10;

/** The PCI slot of the declared device at manifest position `i`. */
export function slot(i: number): string {
  return `0x${(FIRST_PCI_SLOT + i).toString(16)}`;
}

/** The disk file made for a declared block device, quoted for the shell. */
export function diskFile(dev: Solo5Device): string {
  return shellQuote(`${dev.name}.img`);
}

/** The step that makes a disk for each declared block device (none when there are none). */
export function createDisks(blocks: readonly Solo5Device[]): NextStep[] {
  return blocks.length
    ? [
        {
          what: `make a disk for each declared block device (${names(blocks)})`,
          command: blocks.map((b) => `qemu-img create -f raw ${diskFile(b)} 1G`).join('\n'),
        },
      ]
    : [];
}

/** QEMU's `-drive format=` for an output format, when QEMU reads it: the format's descriptor says. */
export function qemuDriver(formatId: string): string | undefined {
  return findFormat(formatId)?.qemuDriver;
}

/** Debian's OVMF in one file (the `ovmf` package), for QEMU's `-bios`. */
export const OVMF_FD = '/usr/share/ovmf/OVMF.fd';

/** virt-install's UEFI firmware with Secure Boot off (libvirt's `<os firmware='efi'>` and its secure-boot feature). */
export const LIBVIRT_UEFI = 'uefi,firmware.feature0.name=secure-boot,firmware.feature0.enabled=no';

/** bhyve's first PCI slot for the declared devices: after the host bridge (0), LPC (1) and the boot disk (2). */
export const BHYVE_FIRST_SLOT = 3;

/** A next step for booting with UEFI instead of the destination's default BIOS: optional, and said so. */
export function uefiStep(what: string, command: string): NextStep {
  return { what: `optional, to boot with UEFI instead of BIOS: ${what}`, command };
}
