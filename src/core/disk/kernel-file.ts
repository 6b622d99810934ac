/**
 * The kernel inside an image: where its loader finds it (ours by the
 * parameter block's LBA and size, the others by file name in the FAT), its
 * bytes read once per opened image, and what kernel inspection says of it.
 */
import { crc32 } from '../bytes';
import { fail, isImageError } from '../errors';
import { describeKernel, inspectKernel } from '../kernel';
import { formatBytes, GIB, SECTOR } from '../units';
import type { OpenedImage } from './open-image';
import { sha256Hex } from './sha256';
import { terminalSafe } from '../terminal';

/** Kernels larger than this are not read into memory (a Solo5 kernel is a few MiB). */
export const MAX_KERNEL_READ = GIB;

export interface KernelReport {
  path: string | null;
  /** Where the loader finds it, when it is by LBA (ours). */
  lba: number | null;
  size: number;
  sha256: string;
  crc32: number;
  /** What kernel inspection says; or why it refused the file. */
  inspection:
    | {
        ok: true;
        description: string;
        format: string;
        entry: number;
        loadStart: number;
        loadEnd: number;
        segments: number;
        solo5Target: string | null;
        /** The Solo5 manifest's devices, in manifest order (empty without a manifest). */
        devices: { name: string; kind: string }[];
        notes: string[];
      }
    | { ok: false; code: string; message: string };
}

export interface Located {
  path: string | null;
  lba: number | null;
  size: number;
  read: () => Promise<Uint8Array>;
}

/** Where the kernel is: ours by the parameter block's LBA and size, the others by file name in the FAT. */
async function findKernel(img: OpenedImage): Promise<Located | null> {
  const { boot } = img;
  const ours = boot.ours?.report.params;
  if (ours) {
    const { kernelLba, kernelSize } = ours;
    if (kernelSize === 0 || (kernelLba + Math.ceil(kernelSize / SECTOR)) * SECTOR > img.disk.size) {
      fail(
        'NO_KERNEL',
        `The parameter block puts the kernel at LBA ${kernelLba}, ${kernelSize} bytes, which is ${kernelSize === 0 ? 'empty' : 'past the end of the disk'}; the image is damaged.`,
      );
    }
    if (kernelSize > MAX_KERNEL_READ) {
      fail(
        'FILE_TOO_BIG_TO_READ',
        `The kernel is ${formatBytes(kernelSize)}; kernels above ${formatBytes(MAX_KERNEL_READ)} are not read.`,
      );
    }
    return {
      path: boot.kernelPath,
      lba: kernelLba,
      size: kernelSize,
      read: async () => (await img.disk.read(kernelLba * SECTOR, kernelSize)).slice(0, kernelSize),
    };
  }
  if (!boot.kernelPath || !img.fat) return null;
  const fat = img.fat;
  const e = await fat.find(boot.kernelPath);
  if (!e || e.isDir) {
    fail(
      'NO_KERNEL',
      `The ${boot.kind === 'syslinux' ? 'SYSLINUX configuration' : boot.kind === 'grub' ? 'GRUB configuration' : 'image'} names the kernel ${terminalSafe(boot.kernelPath)}, but the FAT volume has no such file.`,
    );
  }
  return { path: e.path, lba: null, size: e.size, read: () => fat.readFile(e, MAX_KERNEL_READ) };
}

export function kernelReport(loc: Located, bytes: Uint8Array): KernelReport {
  let inspection: KernelReport['inspection'];
  try {
    const k = inspectKernel(bytes);
    inspection = {
      ok: true,
      description: describeKernel(k),
      format: k.format,
      entry: k.load.entry,
      loadStart: k.load.start,
      loadEnd: k.load.end,
      segments: k.load.segments.length,
      solo5Target: k.solo5Target ?? null,
      devices: k.devices.map((d) => ({ name: d.name, kind: d.kind })),
      notes: k.notes,
    };
  } catch (e) {
    if (!isImageError(e)) throw e;
    inspection = { ok: false, code: e.code, message: e.message };
  }
  return {
    path: loc.path,
    lba: loc.lba,
    size: bytes.length,
    sha256: sha256Hex(bytes),
    crc32: crc32(bytes),
    inspection,
  };
}

const located = new WeakMap<OpenedImage, Promise<(Located & { bytes: () => Promise<Uint8Array> }) | null>>();

/**
 * The kernel the image's loader starts, or null when the loader names none;
 * coded errors when it names one that is not there or is too big to read.
 * Its bytes are read at most once per opened image.
 */
export function locateKernel(img: OpenedImage): Promise<(Located & { bytes: () => Promise<Uint8Array> }) | null> {
  let p = located.get(img);
  if (!p) {
    p = findKernel(img).then((loc) => {
      if (!loc) return null;
      let bytes: Promise<Uint8Array> | undefined;
      return { ...loc, bytes: () => (bytes ??= loc.read()) };
    });
    located.set(img, p);
  }
  return p;
}

/** The kernel's bytes, exactly as the boot loader would read them. */
export async function extractKernel(img: OpenedImage): Promise<{ path: string | null; bytes: Uint8Array }> {
  const { boot } = img;
  const loc = await locateKernel(img);
  if (!loc) {
    fail(
      'NO_KERNEL',
      boot.kind === 'none'
        ? 'The image has no boot loader this tool knows and no /unikernel.bin, so there is no kernel to extract.'
        : `The ${boot.kind} configuration names no kernel file, so there is nothing to extract.`,
    );
  }
  return { path: loc.path, bytes: await loc.bytes() };
}
