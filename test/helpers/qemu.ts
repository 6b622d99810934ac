/**
 * QEMU boots for the boot tests: assemble demo-kernel variants with NASM,
 * build small boot disks, and run QEMU under TCG with the serial console
 * captured, isa-debug-exit, -no-reboot and a timeout; the firmware is
 * SeaBIOS (QEMU's default) or OVMF (Debian's ovmf package, q35): its plain
 * build, or its SMM build (the Secure Boot capable one, here with no keys).
 */
import { spawn, execFileSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  ftruncateSync,
  openSync,
  readFileSync,
  readSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { buildBootCode } from '../../src/core/boot/index';
import { STAGE2_LBA } from '../../src/core/boot/index';
import { crc32, rd32le } from '../../src/core/bytes';
import type { LoadPlan } from '../../src/core/load-plan';
import { inCI } from './tools';

const BOOT_SRC = resolve(__dirname, '../../src/boot');

/** Debian's ovmf package: the 4 MiB code flash and the template of its variable store. */
export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
/** The SMM build (what Proxmox runs on q35 with efitype=4m); with OVMF_VARS it enforces nothing. */
export const OVMF_SMM_CODE = '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd';

/** Whether OVMF is installed; like tools(), a missing one fails in CI instead of skipping. */
export function ovmf(): boolean {
  const ok = [OVMF_CODE, OVMF_VARS, OVMF_SMM_CODE].every((f) => existsSync(f));
  if (!ok && inCI) throw new Error(`OVMF missing in CI (${OVMF_CODE}): install the ovmf package in .ci/run`);
  return ok;
}

/** Assemble src/boot/demo-kernel.asm with -D defines into dir; returns the bytes. */
export function assembleDemo(dir: string, name: string, defines: Record<string, number | string> = {}): Uint8Array {
  return assemble('demo-kernel.asm', dir, name, defines);
}

/** Assemble one of src/boot's sources with -D defines into dir; returns the bytes. */
export function assemble(
  source: string,
  dir: string,
  name: string,
  defines: Record<string, number | string> = {},
): Uint8Array {
  const out = join(dir, name);
  const d = Object.entries(defines).map(([k, v]) => `-D${k}=${v}`);
  execFileSync('nasm', ['-f', 'bin', '-I', BOOT_SRC + '/', ...d, '-o', out, join(BOOT_SRC, source)]);
  return new Uint8Array(readFileSync(out));
}

/**
 * The a.out-kludge load plan of a Multiboot kernel, computed here on its own
 * (a second, independent reading of the header for tests).
 */
export function kludgePlan(k: Uint8Array): LoadPlan {
  for (let off = 0; off + 32 <= Math.min(k.length, 8192); off += 4) {
    if (rd32le(k, off) !== 0x1badb002) continue;
    const flags = rd32le(k, off + 4);
    if ((rd32le(k, off) + flags + rd32le(k, off + 8)) >>> 0 !== 0) continue;
    if (!(flags & 0x10000)) throw new Error('no a.out kludge');
    const [headerAddr, loadAddr, loadEnd, bssEnd, entry] = [12, 16, 20, 24, 28].map((o) => rd32le(k, off + o));
    const fileOffset = off - (headerAddr - loadAddr);
    const fileSize = loadEnd ? loadEnd - loadAddr : k.length - fileOffset;
    const memSize = Math.max(fileSize, bssEnd ? bssEnd - loadAddr : 0);
    return {
      source: 'aout-kludge',
      entry,
      segments: [{ fileOffset, fileSize, loadAddr, memSize }],
      start: loadAddr,
      end: loadAddr + memSize,
    };
  }
  throw new Error('no multiboot header');
}

/**
 * A minimal boot disk without FAT (the loader never reads FAT): MBR with
 * stage 1 and one active partition entry, stage 2 at LBA 1, the kernel at
 * LBA 2048. For tests of the loader alone.
 */
export function bareDisk(
  kernel: Uint8Array,
  args: string,
  load: LoadPlan = kludgePlan(kernel),
  kernelLba = 2048,
): Uint8Array {
  const { mbrCode, stage2 } = buildBootCode({
    kernelLba,
    kernelSize: kernel.length,
    kernelCrc32: crc32(kernel),
    load,
    cmdline: `unikernel.bin ${args}`,
  });
  const sectors = kernelLba + Math.ceil(kernel.length / 512) + 16;
  const disk = new Uint8Array(sectors * 512);
  disk.set(mbrCode, 0);
  const e = 0x1be;
  disk[e] = 0x80;
  disk[e + 4] = 0x0c;
  new DataView(disk.buffer).setUint32(e + 8, 2048, true);
  new DataView(disk.buffer).setUint32(e + 12, sectors - 2048, true);
  disk[510] = 0x55;
  disk[511] = 0xaa;
  disk.set(stage2, STAGE2_LBA * 512);
  disk.set(kernel, kernelLba * 512);
  return disk;
}

export type Controller = 'ide' | 'ahci' | 'nvme' | 'virtio-scsi' | 'virtio-blk';
export type Firmware = 'seabios' | 'ovmf' | 'ovmf-smm';

export interface BootOptions {
  /** SeaBIOS (default) or OVMF (UEFI; the machine defaults to q35; ovmf-smm: q35 with smm=on). */
  firmware?: Firmware;
  /** Attach isa-debug-exit (default true): without it only a power-off ends QEMU. */
  debugExit?: boolean;
  /** More QEMU arguments (devices, -global ...), after the boot disk's. */
  extra?: string[];
  /** A disk image file to boot from. */
  disk?: string;
  /** QEMU block format of `disk` (default raw): qcow2, vpc, vmdk, vdi... */
  diskFormat?: string;
  /** Or a kernel for `-kernel` (QEMU's own Multiboot loader). */
  kernel?: string;
  append?: string;
  controller?: Controller;
  machine?: 'pc' | 'q35';
  memory?: string;
  smp?: number;
  timeoutMs?: number;
  /** Allow resets (for the reboot test); default -no-reboot. */
  allowReboot?: boolean;
}

export interface BootResult {
  /** QEMU exit status (83 = the demo kernel's success), or null on timeout. */
  status: number | null;
  timedOut: boolean;
  serial: string;
  stderr: string;
  /** Milliseconds from spawn to the first serial line starting with "demo:". */
  firstKernelLineMs: number | null;
  totalMs: number;
  args: string[];
}

export function qemuArgs(o: BootOptions): string[] {
  const a = ['-accel', 'tcg', '-display', 'none', '-serial', 'stdio', '-monitor', 'none', '-nic', 'none'];
  if (o.debugExit !== false) a.push('-device', 'isa-debug-exit');
  a.push('-m', o.memory ?? '128M');
  if (!o.allowReboot) a.push('-no-reboot');
  if (o.smp) a.push('-smp', String(o.smp));
  const ctl = o.controller ?? 'ide';
  const smm = o.firmware === 'ovmf-smm';
  const uefi = o.firmware === 'ovmf' || smm;
  a.push('-machine', smm ? 'q35,smm=on' : (o.machine ?? (uefi || ctl === 'ahci' ? 'q35' : 'pc')));
  if (smm) a.push('-global', 'driver=cfi.pflash01,property=secure,value=on'); // only SMM may write the variables
  if (uefi) {
    // the variable store is written at boot: snapshot=on keeps the template as it is
    a.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${smm ? OVMF_SMM_CODE : OVMF_CODE}`);
    a.push('-drive', `if=pflash,format=raw,unit=1,snapshot=on,file=${OVMF_VARS}`);
  }
  if (o.kernel) {
    a.push('-kernel', o.kernel);
    if (o.append !== undefined) a.push('-append', o.append);
  }
  if (o.disk) {
    const drive = `file=${o.disk},format=${o.diskFormat ?? 'raw'},snapshot=on`;
    // with -kernel, QEMU's option ROM boots first; a bootindex would clash with it
    const bi = o.kernel ? '' : ',bootindex=0';
    switch (ctl) {
      case 'ide':
        a.push('-drive', `${drive},if=ide`);
        break;
      case 'ahci':
        a.push('-drive', `${drive},if=none,id=d0`, '-device', `ide-hd,drive=d0,bus=ide.0${bi}`);
        break;
      case 'nvme':
        a.push('-drive', `${drive},if=none,id=d0`, '-device', `nvme,drive=d0,serial=ukd0${bi}`);
        break;
      case 'virtio-scsi':
        a.push(
          '-device',
          'virtio-scsi-pci,id=scsi0',
          '-drive',
          `${drive},if=none,id=d0`,
          '-device',
          `scsi-hd,drive=d0,bus=scsi0.0${bi}`,
        );
        break;
      case 'virtio-blk':
        a.push('-drive', `${drive},if=none,id=d0`, '-device', `virtio-blk-pci,drive=d0${bi}`);
        break;
    }
  }
  if (o.extra) a.push(...o.extra);
  return a;
}

/** Boot and collect the serial console. Never rejects: look at the result. */
export function boot(o: BootOptions): Promise<BootResult> {
  const args = qemuArgs(o);
  const t0 = performance.now();
  return new Promise((done) => {
    const p = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let serial = '';
    let stderr = '';
    let first: number | null = null;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, o.timeoutMs ?? 60_000);
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (s: string) => {
      serial += s;
      if (first === null && /(^|\n)demo:/.test(serial)) first = performance.now() - t0;
    });
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (s: string) => (stderr += s));
    p.on('close', (code) => {
      clearTimeout(timer);
      done({
        status: timedOut ? null : code,
        timedOut,
        // OVMF's console adds terminal escapes (colours, modes); the text is what tests read
        serial: serial.replace(/\x1b\[[0-9;=?]*[A-Za-z]/g, '').replace(/\r\n/g, '\n'),
        stderr,
        firstKernelLineMs: first,
        totalMs: performance.now() - t0,
        args,
      });
    });
  });
}

/** Write bytes to a file and return the path. */
export function writeTo(path: string, bytes: Uint8Array): string {
  writeFileSync(path, bytes);
  return path;
}

/** Write an ImagePlan to a sparse raw file (pieces only; the rest stays a hole). */
export function writePlan(
  path: string,
  plan: { size: number; pieces: readonly { offset: number; bytes: Uint8Array }[] },
): string {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, plan.size);
    for (const p of plan.pieces) writeSync(fd, p.bytes, 0, p.bytes.length, p.offset);
  } finally {
    closeSync(fd);
  }
  return path;
}

/** Read `length` bytes at `offset` of a file. */
export function readAt(path: string, offset: number, length: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const b = new Uint8Array(length);
    readSync(fd, b, 0, length, offset);
    return b;
  } finally {
    closeSync(fd);
  }
}

/** Overwrite bytes at `offset` of a file, in place. */
export function patchAt(path: string, offset: number, bytes: Uint8Array): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}
