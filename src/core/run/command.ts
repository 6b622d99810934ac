/**
 * The hypervisor command line for a unikernel and its devices, as an argv
 * array (run as it is) and as one shell line (printed). Pure: the CLI decides
 * which hypervisor, checks the files and runs it.
 *
 * QEMU, as Solo5's own run script sets it up (facts from
 * `scripts/virtio-run/solo5-virtio-run.sh`, our code): `-nodefaults`,
 * `-machine acpi=off`, the console on COM1 to stdio, `-device isa-debug-exit`
 * (Solo5's platform_exit writes 41 to port 0x501), KVM with `-cpu host` or TCG
 * with `-cpu Westmere`, virtio devices at consecutive slots of bus 0 from slot
 * 2. Ours adds `-no-reboot` (a triple fault ends the run instead of booting
 * the kernel again, forever) and boots a disk image from IDE, which takes no
 * PCI slot and no manifest entry, read through `snapshot=on` so that the boot
 * never writes to the image.
 */
import { shellQuote } from '../shell';
import { hex } from '../units';
import type { Attachment } from './devices';

/**
 * `kvm`: QEMU with KVM; `qemu`: QEMU with TCG (software), as in Solo5's
 * script; `bhyve`: FreeBSD's hypervisor (the command is printed, not run).
 */
export type Hypervisor = 'kvm' | 'qemu' | 'bhyve';
export const HYPERVISORS: readonly Hypervisor[] = ['kvm', 'qemu', 'bhyve'];

export const QEMU_PROGRAM = 'qemu-system-x86_64';

/** What boots: a kernel file (Multiboot, `-kernel`) or a disk image built by us or solo5-virtio-mkimage. */
export type BootTarget =
  | { kind: 'kernel'; path: string; args: readonly string[] }
  /**
   * `driver`: QEMU's block driver name for the container (raw, qcow2, vpc,
   * vmdk, vdi). `uefi`: the image carries a UEFI loader firmware can start
   * (`\EFI\BOOT\BOOTX64.EFI`, a sound PE header): bhyve then boots it with
   * plain UEFI firmware, else through the CSM.
   */
  | { kind: 'image'; path: string; driver: string; uefi?: boolean };

export interface RunPlan {
  hv: Hypervisor;
  /** Guest memory in MiB. */
  memMiB: number;
  boot: BootTarget;
  attachments: readonly Attachment[];
  /** bhyve's VM name (a name for the VM in the kernel's tables). */
  vmName?: string;
  /** QEMU starts stopped, its gdb server listening on this port of the loopback interface only. */
  gdbPort?: number;
  /** The -d paths that are block devices (QEMU reads those with `host_device`, files with `file`). */
  blockDevices?: readonly string[];
}

/** A QEMU option value with its commas doubled (QEMU's escape for a literal comma). */
function optValue(s: string): string {
  return s.replace(/,/g, ',,');
}

/**
 * A file as QEMU's block layer must read it: the `file` protocol driver (or
 * `host_device` for a block device) named explicitly, with the path as its
 * `filename` option. QEMU then never reads a protocol out of the name: a
 * file named `nbd:127.0.0.1:5700` or `json:{...}` is that local file.
 * (A name given as `file=NAME` is parsed for protocols whatever its commas.)
 */
function fileNode(path: string, blockDevice: boolean): Record<string, unknown> {
  return { driver: blockDevice ? 'host_device' : 'file', filename: path };
}

/** QEMU argv, program first. */
export function qemuCommand(p: RunPlan): string[] {
  const a = [QEMU_PROGRAM];
  if (p.hv === 'kvm') a.push('-accel', 'kvm', '-cpu', 'host');
  else a.push('-accel', 'tcg', '-cpu', 'Westmere');
  a.push('-m', String(p.memMiB), '-nodefaults', '-machine', 'acpi=off', '-no-reboot');
  a.push('-display', 'none', '-serial', 'stdio');
  if (p.boot.kind === 'image') {
    // The format over a literal file node, with no backing file (a qcow2's or a VMDK's parent is never
    // opened), through QEMU's own json: syntax since -drive is the one that has snapshot=on.
    const node = { driver: p.boot.driver, backing: null, file: fileNode(p.boot.path, false) };
    a.push('-drive', `file=${optValue(`json:${JSON.stringify(node)}`)},if=ide,index=0,media=disk,snapshot=on`);
  }
  for (const d of p.attachments) {
    const addr = `addr=0x${d.slot.toString(16)},bus=pci.0`;
    if (d.kind === 'block') {
      const id = `blk${d.slot}`;
      const node = { 'node-name': id, driver: 'raw', file: fileNode(d.host, !!p.blockDevices?.includes(d.host)) };
      a.push('-blockdev', JSON.stringify(node));
      a.push('-device', `virtio-blk-pci,drive=${id},${addr}`);
    } else {
      const id = `net${d.slot}`;
      a.push('-netdev', `tap,id=${id},ifname=${optValue(d.host)},script=no,downscript=no`);
      a.push('-device', `virtio-net-pci,netdev=${id},${addr}`);
    }
  }
  a.push('-device', 'isa-debug-exit');
  if (p.gdbPort !== undefined) a.push('-S', '-gdb', `tcp:127.0.0.1:${p.gdbPort}`);
  if (p.boot.kind === 'kernel') {
    a.push('-kernel', p.boot.path);
    if (p.boot.args.length > 0) a.push('-append', p.boot.args.join(' '));
  }
  return a;
}

/** Where the BIOS starts a boot sector (the MBR's first instruction). */
export const BOOT_SECTOR_ADDR = 0x7c00;

/**
 * The gdb command that attaches to QEMU's gdb server on `port` and stops at
 * each of `breakpoints` (hardware breakpoints: they hold before the code is
 * in memory and across the switch to long mode), `symbols` the kernel file
 * when gdb can read it (ELF). As Solo5's docs do it for hvt's --gdb.
 */
export function gdbCommand(port: number, breakpoints: readonly number[], symbols?: string): string[] {
  const argv = ['gdb', '-ex', `target remote localhost:${port}`];
  for (const b of breakpoints) argv.push('-ex', `hbreak *${hex(b)}`);
  argv.push('-ex', 'continue');
  if (symbols !== undefined) argv.push(symbols);
  return argv;
}

/** Where FreeBSD's bhyve-firmware package installs bhyve's UEFI firmware (no CSM: it starts BOOTX64.EFI). */
export const BHYVE_UEFI_FIRMWARE = '/usr/local/share/uefi-firmware/BHYVE_UEFI.fd';
/**
 * The UEFI-CSM build, which boots an MBR disk's BIOS loader: for images
 * without a UEFI loader (the old tool's SYSLINUX images). FreeBSD's
 * uefi-edk2-bhyve-csm port; EDK2 has since dropped CSM, so newer systems may
 * lack it.
 */
export const BHYVE_CSM_FIRMWARE = '/usr/local/share/uefi-firmware/BHYVE_UEFI_CSM.fd';

/**
 * bhyve: the commands, one argv each, in order. A kernel is loaded with
 * grub-bhyve (Multiboot; its command line is fed on stdin, shown as a
 * printf pipe), a disk image from an AHCI disk (slot 2, no manifest entry)
 * by bhyve's UEFI firmware when it carries a UEFI loader (ours do), else by
 * the UEFI-CSM firmware through its BIOS loader; declared devices follow at
 * consecutive slots. The console goes to stdio.
 */
export function bhyveCommands(p: RunPlan): ShellCommand[] {
  const vm = p.vmName ?? 'solo5';
  const out: ShellCommand[] = [];
  const bhyve = ['bhyve', '-u', '-H', '-m', String(p.memMiB)];
  if (p.boot.kind === 'kernel') {
    // grub-bhyve passes what follows the file name; Solo5 skips the first word of it.
    const args = p.boot.args.join(' ');
    out.push({
      argv: ['grub-bhyve', '-M', String(p.memMiB), vm],
      stdinLines: [`multiboot ${p.boot.path} unikernel${args ? ' ' + args : ''}`, 'boot'],
    });
  } else {
    bhyve.push('-l', `bootrom,${p.boot.uefi ? BHYVE_UEFI_FIRMWARE : BHYVE_CSM_FIRMWARE}`);
  }
  bhyve.push('-s', '0:0,hostbridge', '-s', '1:0,lpc', '-l', 'com1,stdio');
  if (p.boot.kind === 'image') bhyve.push('-s', `2:0,ahci-hd,${p.boot.path}`);
  for (const d of p.attachments) {
    bhyve.push('-s', `${d.slot}:0,virtio-${d.kind === 'block' ? 'blk' : 'net'},${d.host}`);
  }
  bhyve.push(vm);
  out.push({ argv: bhyve });
  out.push({ argv: ['bhyvectl', '--destroy', `--vm=${vm}`] });
  return out;
}

export { shellQuote } from '../shell';

/** A command to show: its argv and, for a program that reads commands on stdin, those lines. */
export interface ShellCommand {
  argv: string[];
  stdinLines?: string[];
}

/** A command as one line a user can paste into a shell. */
export function shellLine(c: ShellCommand): string {
  const line = c.argv.map(shellQuote).join(' ');
  if (!c.stdinLines) return line;
  return `printf '%s\\n' ${c.stdinLines.map(shellQuote).join(' ')} | ${line}`;
}
