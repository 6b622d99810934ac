/**
 * planImage(): kernel + arguments + size → ImagePlan. The only place that
 * knows the whole disk layout (see ARCHITECTURE.md):
 *   LBA 0        MBR: boot loader stage 1, disk signature, one active partition
 *   LBA 1..      boot loader stage 2 and its parameter block
 *   LBA 2048..   the FAT volume holding /unikernel.bin (contiguous) and
 *                \EFI\BOOT\BOOTX64.EFI, the UEFI loader, after it
 */
import { buildBootCode, EFI_BOOT_DIR, EFI_BOOT_NAME, EFI_LOADER, MAX_CMDLINE, STAGE2_LBA } from './boot/index';
import { crc32, derive32, utf8 } from './bytes';
import { fail, isImageError } from './errors';
import { formatBytes, MIB, PARTITION_LBA, SECTOR } from './units';
import {
  chooseLayout,
  clustersNeeded,
  FAT_EPOCH,
  formatFat,
  rootClusters,
  type FatFile,
  type FatVolume,
} from './fat/index';
import { inspectKernel, type KernelInfo } from './kernel';
import { encodeMbr } from './mbr';
import { makePlan, type ImagePlan, type Piece, type Region } from './plan';
import { checkSize, DEFAULT_SIZE, sizeText } from './size';
import { checkTimestamp } from './timestamp';

export const KERNEL_NAME = 'unikernel.bin';
export const DEFAULT_LABEL = 'UNIKERNEL';
/** 1980-01-01T00:00:00Z, the earliest time FAT can store. */
export const DEFAULT_TIMESTAMP = FAT_EPOCH;

export interface ImageOptions {
  /** Disk size in bytes (default 1 GiB). */
  size?: number;
  /** Kernel arguments, already joined with single spaces. */
  args?: string;
  /** FAT volume label (default UNIKERNEL). */
  label?: string;
  /** Seconds since 1970 UTC for FAT and container timestamps (default 1980-01-01). */
  timestamp?: number;
  /**
   * The unit the output format's sizes come in (its `sizeStep`: GCE's GiB),
   * so that a suggested size is one the format accepts. Default 1 MiB.
   */
  sizeStep?: number;
}

export interface BuiltImage {
  plan: ImagePlan;
  kernel: KernelInfo;
  fat: FatVolume;
  /** Derived from the inputs; formats use it for their identifiers. */
  seed: number;
  timestamp: number;
  /** The Multiboot command line: "unikernel.bin <args>". */
  cmdline: string;
  diskSignature: number;
  partition: { startLba: number; sectors: number; type: number };
  /** Absolute LBA of /unikernel.bin's first sector. */
  kernelLba: number;
  /** Absolute LBA of \EFI\BOOT\BOOTX64.EFI's first sector. */
  efiLba: number;
}

/**
 * The UEFI loader's file, in every image right after the kernel's (which
 * comes first, so its place is the one the BIOS path has always had).
 */
const EFI_FILE: FatFile = { name: EFI_BOOT_NAME, dir: EFI_BOOT_DIR, bytes: EFI_LOADER };

/** The Multiboot command line the kernel sees; Solo5 skips the first token. */
export function commandLine(args: string): string {
  return args.length ? `${KERNEL_NAME} ${args}` : KERNEL_NAME;
}

/**
 * The command line `setArgs` (disk/set-args.ts) writes: the first word of the image's current
 * one (the kernel's name; a SYSLINUX config may name another file), then
 * `args`. With no current command line, the builder's kernel name.
 */
export function withArgs(cmdline: string | null, args: string): string {
  const first = (cmdline ?? '').split(' ')[0] || KERNEL_NAME;
  return args.length ? `${first} ${args}` : first;
}

/** Check arguments; returns the command line. */
export function checkArgs(args: string): string {
  if (args.includes('\0')) {
    fail(
      'ARGS_NUL',
      'The kernel arguments contain a NUL character, which would end the command line early; remove it.',
    );
  }
  for (let i = 0; i < args.length; i++) {
    const c = args.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff && (args.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      i++;
      continue;
    }
    fail(
      'ARGS_NOT_UTF8',
      `The kernel arguments are not valid text: character ${i + 1} is half of a UTF-16 surrogate pair (U+${c.toString(16).toUpperCase()}), which has no UTF-8 form. Remove it.`,
    );
  }
  const cmdline = commandLine(args);
  const n = utf8(cmdline).length;
  if (n > MAX_CMDLINE) {
    fail(
      'ARGS_TOO_LONG',
      `The kernel arguments make a command line of ${n} bytes ("${KERNEL_NAME} " included); the limit is ${MAX_CMDLINE} (Solo5 truncates longer ones). Shorten them.`,
    );
  }
  return cmdline;
}

/**
 * Whether a disk of exactly `size` bytes (whole sectors) holds a kernel of
 * `kernelSize` bytes: the same layout the formatter will choose, so what this
 * accepts, the build accepts, to the sector.
 */
export function kernelFits(size: number, kernelSize: number): boolean {
  const sectors = size / SECTOR - PARTITION_LBA;
  if (!Number.isInteger(sectors) || sectors < MIN_PARTITION_SECTORS) return false;
  try {
    const l = chooseLayout(sectors);
    return (
      rootClusters(l.type) +
        clustersNeeded(
          [{ size: kernelSize }, { size: EFI_FILE.bytes.length, dir: EFI_FILE.dir }],
          l.sectorsPerCluster * SECTOR,
        ) <=
      l.clusterCount
    );
  } catch (e) {
    if (isImageError(e)) return false;
    throw e;
  }
}

/** A FAT volume needs a few sectors (boot sector, FAT, root directory, one cluster). */
const MIN_PARTITION_SECTORS = 64;

/**
 * The smallest disk, a whole number of `step`s (a whole number of MiB: 1 MiB,
 * or a format's own unit such as GCE's GiB), that holds a kernel of
 * `kernelSize` bytes; every larger multiple of MiB holds it too (what fits in
 * the FAT grows with the disk at every whole MiB, checked by
 * test/hostile-core.test.ts from 2 MiB to 2 TiB), so "at least" is true.
 * Smaller disks that are not whole MiB may also fit: `kernelFits` is the
 * check, this is the suggestion.
 */
export function minimumSize(kernelSize: number, step = MIB): number {
  if (step % MIB !== 0) throw new Error(`internal: minimumSize step ${step} is not a whole number of MiB`);
  let lo = 1;
  let hi = 2;
  while (!kernelFits(hi * step, kernelSize)) hi *= 2;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (kernelFits(mid * step, kernelSize)) hi = mid;
    else lo = mid + 1;
  }
  return lo * step;
}

export function planImage(kernelBytes: Uint8Array, opts: ImageOptions = {}): BuiltImage {
  const kernel = inspectKernel(kernelBytes);
  const size = checkSize(opts.size ?? DEFAULT_SIZE);
  const args = opts.args ?? '';
  const cmdline = checkArgs(args);
  const label = opts.label ?? DEFAULT_LABEL;
  const timestamp = checkTimestamp(opts.timestamp ?? DEFAULT_TIMESTAMP);
  const kernelCrc = crc32(kernelBytes);

  const partSectors = size / SECTOR - PARTITION_LBA;
  if (!kernelFits(size, kernelBytes.length)) {
    const min = minimumSize(kernelBytes.length, Math.max(MIB, opts.sizeStep ?? MIB));
    fail(
      kernelBytes.length > size / 2 ? 'KERNEL_TOO_BIG' : 'SIZE_TOO_SMALL',
      `A disk of ${formatBytes(size)} cannot hold this ${formatBytes(kernelBytes.length)} kernel (1 MiB goes to the partition table and boot loader, and FAT needs room too); use a size of at least ${formatBytes(min)} (--size ${sizeText(min)}).`,
    );
  }

  const inputs = [kernelCrc, kernelBytes.length, args, size, label, timestamp] as const;
  const seed = derive32('seed', ...inputs);
  const diskSignature = derive32('mbr-disk-signature', ...inputs);
  const serial = derive32('fat-volume-serial', ...inputs);

  const fat = formatFat({
    sectors: partSectors,
    hiddenSectors: PARTITION_LBA,
    label,
    serial,
    timestamp,
    files: [{ name: KERNEL_NAME, bytes: kernelBytes }, EFI_FILE],
  });
  const [file, efi] = fat.files;
  const partStart = PARTITION_LBA * SECTOR;
  const kernelLba = PARTITION_LBA + file.offset / SECTOR;

  const boot = buildBootCode({
    kernelLba,
    kernelSize: kernelBytes.length,
    kernelCrc32: kernelCrc,
    load: kernel.load,
    cmdline,
  });
  if (STAGE2_LBA * SECTOR + boot.stage2.length > partStart) {
    throw new Error(`internal: boot loader stage 2 (${boot.stage2.length} bytes) does not fit before the partition`);
  }
  const mbr = encodeMbr({
    code: boot.mbrCode,
    diskSignature,
    partitions: [{ active: true, type: fat.partitionType, startLba: PARTITION_LBA, sectors: partSectors }],
  });

  const pieces: Piece[] = [{ offset: 0, bytes: mbr }];
  if (boot.stage2.length) pieces.push({ offset: STAGE2_LBA * SECTOR, bytes: boot.stage2 });
  for (const p of fat.pieces) pieces.push({ offset: partStart + p.offset, bytes: p.bytes });

  const stage2End = STAGE2_LBA * SECTOR + boot.stage2.length;
  const regions: Region[] = [
    {
      kind: 'mbr',
      name: 'MBR',
      start: 0,
      length: SECTOR,
      note: 'Boot loader stage 1, disk signature and the partition table (one active FAT partition)',
    },
  ];
  if (boot.stage2.length) {
    regions.push({
      kind: 'loader',
      name: 'Boot loader',
      start: SECTOR,
      length: boot.stage2.length,
      note: 'Stage 2 and its parameter block: where the kernel lies, its load plan and command line',
    });
  }
  regions.push({
    kind: 'gap',
    name: 'Gap',
    start: stage2End,
    length: partStart - stage2End,
    note: 'Unused space that aligns the partition to 1 MiB',
  });
  for (const r of fat.regions) regions.push({ ...r, start: partStart + r.start });
  regions.push({
    kind: 'kernel',
    name: KERNEL_NAME,
    start: partStart + file.offset,
    length: file.size,
    note: 'The kernel, contiguous inside the FAT data area',
  });
  regions.push({
    kind: 'loader',
    name: `\\${efi.path.replaceAll('/', '\\')}`,
    start: partStart + efi.offset,
    length: efi.size,
    note: 'The UEFI boot loader: reads the same parameter block and starts the kernel under UEFI firmware',
  });

  return {
    plan: makePlan(size, pieces, regions),
    kernel,
    fat,
    seed,
    timestamp,
    cmdline,
    diskSignature,
    partition: { startLba: PARTITION_LBA, sectors: partSectors, type: fat.partitionType },
    kernelLba,
    efiLba: PARTITION_LBA + efi.offset / SECTOR,
  };
}
