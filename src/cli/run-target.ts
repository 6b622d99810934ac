/**
 * What solo5-virtio-run's UNIKERNEL is, decided by content: a kernel (ELF,
 * or a Multiboot binary) or a disk image with the kernel inside (its
 * manifest read from that kernel); and, for an image QEMU cannot read, its
 * disk unpacked to a raw temporary file. Every read stops at a signal.
 */
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageError, isImageError } from '../core/errors';
import { describeKernel, inspectKernel, type KernelInfo } from '../core/kernel';
import { findFormat, type OutputFormat } from '../core/formats/index';
import { rawFormat } from '../core/formats/raw';
import { openDisk } from '../core/formats/open';
import { abortableSource } from '../core/disk/abortable';
import { extractKernel } from '../core/disk/kernel-file';
import { readEfiLoader } from '../core/disk/efi-loader';
import { copyPlan } from '../core/disk/copy';
import { readImage } from '../core/disk/open-image';
import type { DiskImage } from '../core/formats/reader';
import { isElf } from '../core/elf';
import { formatBytes, MIB, SECTOR } from '../core/units';
import { openImageFile } from './source';
import { writeDiskFile } from './disk-file';
import { kindOf, outputError, type Job } from './tool';

/** What UNIKERNEL turned out to be. */
export type Target =
  | { kind: 'kernel'; path: string; info: KernelInfo }
  | {
      kind: 'image';
      path: string;
      format: OutputFormat;
      disk: DiskImage;
      info: KernelInfo;
      where: string;
      /** It carries a UEFI loader firmware can start (`\EFI\BOOT\BOOTX64.EFI`, a sound PE header). */
      uefi: boolean;
    };

/** A kernel file larger than this is not a unikernel (and is not read into memory). */
const MAX_KERNEL_BYTES = 256 * MIB;
/** Where a Multiboot header may be, and so how much of the file decides what it is. */
const HEAD_BYTES = 8192;

/** The `unikernel:` line of the checks. */
export function describeTarget(t: Target): string {
  return t.kind === 'kernel'
    ? `unikernel: ${t.path}: ${describeKernel(t.info)}`
    : `unikernel: ${t.path} is a disk image (${t.format.label}, ${formatBytes(t.disk.size)} disk); ${t.where}: ${describeKernel(t.info)}`;
}

/** The built-in demo kernel, as a file in `dir` (QEMU reads a kernel from a file). */
export function demoTarget(dir: string): Target {
  // Decoded (from base64) only when asked for: not on every run's start-up.
  const demo: typeof import('../core/demo-kernel.generated') = require('../core/demo-kernel.generated');
  const path = join(dir, 'demo.virtio');
  try {
    writeFileSync(path, demo.DEMO_KERNEL);
  } catch (e) {
    throw outputError(e, { name: `the demo kernel's copy ${path}`, dir, outcome: 'Nothing was run.' });
  }
  return { kind: 'kernel', path, info: inspectKernel(demo.DEMO_KERNEL, 'demo kernel') };
}

/** UNIKERNEL's size; the coded sentence when it is missing, unreadable or not a regular file. */
function unikernelSize(path: string): number {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new ImageError('KERNEL_NOT_FOUND', `The unikernel file ${path} does not exist; check the path.`);
    throw new ImageError('KERNEL_UNREADABLE', `The unikernel file ${path} cannot be read: ${(e as Error).message}.`);
  }
  if (st.isDirectory()) {
    throw new ImageError(
      'KERNEL_UNREADABLE',
      `The unikernel ${path} is a directory; give the .virtio file or the disk image inside it.`,
    );
  }
  if (!st.isFile()) {
    // Opening a FIFO would wait for a writer, reading a device might never end.
    throw new ImageError(
      'KERNEL_NOT_A_FILE',
      `The unikernel ${path} is ${kindOf(st)}, not a file; give the .virtio file or the disk image file itself.`,
    );
  }
  return st.size;
}

/**
 * Is UNIKERNEL a kernel or a disk image? Decided by content. The file stays
 * open for an image (its disk may be unpacked later): `keep` gets the
 * function that closes it.
 */
export async function identify(path: string, job: Job, keep: (close: () => void) => void): Promise<Target> {
  const size = unikernelSize(path);
  const opened = openImageFile(path);
  keep(opened.close);
  const source = abortableSource(opened.source, job.signal);
  const asKernel = async (): Promise<Target> => ({
    kind: 'kernel',
    path,
    info: inspectKernel(await source.read(0, size), `unikernel ${path}`),
  });
  const head = await source.read(0, Math.min(size, HEAD_BYTES));
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
  // that is nothing but the disk (no container vouches for it) is one only
  // if it has an MBR boot signature, else it may be a Multiboot kernel that
  // is not ELF.
  let disk: DiskImage | undefined;
  try {
    disk = await openDisk(source);
  } catch (e) {
    if (!isImageError(e) || e.code === 'ABORTED' || size > MAX_KERNEL_BYTES) throw e;
    try {
      return await asKernel();
    } catch {
      throw e;
    }
  }
  const format = findFormat(disk.formatId);
  if (!format) throw new Error(`internal: openDisk returned the unknown format id ${disk.formatId}`);
  const bare = format.plainDisk && disk.size === size;
  const mbrSigned = head.length >= SECTOR && head[SECTOR - 2] === 0x55 && head[SECTOR - 1] === 0xaa;
  if (!bare || mbrSigned) {
    const img = await readImage(disk);
    const { path: inside, bytes } = await extractKernel(img);
    const efi = await readEfiLoader(img);
    const where = `the kernel ${inside ?? 'its boot loader names'}`;
    return {
      kind: 'image',
      path,
      format,
      disk,
      info: inspectKernel(bytes, `kernel ${inside ?? ''} in ${path}`),
      where,
      uefi: efi !== null && efi.readError === null && efi.pe?.problems.length === 0,
    };
  }
  if (size <= MAX_KERNEL_BYTES) {
    try {
      return await asKernel();
    } catch (e) {
      if (!isImageError(e) || e.code !== 'NOT_A_KERNEL') throw e;
    }
  }
  throw new ImageError(
    'RUN_NOT_BOOTABLE',
    `${path} is neither a kernel (no ELF header, no Multiboot header in its first ${HEAD_BYTES} bytes) nor a disk image (no container header, no MBR boot signature 55 AA at byte 510); give the .virtio file or an image built by solo5-virtio-mkimage.`,
  );
}

/** QEMU's block driver for a format's files. */
export function qemuDriver(format: OutputFormat): string {
  if (!format.qemuDriver) throw new Error(`internal: QEMU has no driver for ${format.label}`);
  return format.qemuDriver;
}

/**
 * The format an image's disk is unpacked to when QEMU cannot read its
 * container (GCE's tar.gz), and the one bhyve (raw disks only) reads a plain
 * disk as.
 */
export const UNPACKED_FORMAT = rawFormat;

/** The disk of an image QEMU cannot read, written to `dir` in UNPACKED_FORMAT (sparse): its path. */
export async function unpackDisk(disk: DiskImage, dir: string, from: string, job: Job): Promise<string> {
  const path = join(dir, 'disk.raw');
  const plan = await copyPlan(disk, [], { signal: job.signal });
  await writeDiskFile(
    plan,
    UNPACKED_FORMAT,
    { name: `the unpacked copy of ${from} (${path}; TMPDIR sets where)`, path },
    job,
  );
  return path;
}
