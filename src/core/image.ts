/**
 * planImage(): kernel + arguments + size → ImagePlan. The only place that
 * knows the whole disk layout (see ARCHITECTURE.md):
 *   LBA 0        MBR: boot loader stage 1, disk signature, one active partition
 *   LBA 1..      boot loader stage 2 and its parameter block
 *   LBA 2048..   the FAT volume holding /unikernel.bin (contiguous)
 */
import { buildBootCode, MAX_CMDLINE, STAGE2_LBA } from './boot/index';
import { crc32, derive32, utf8 } from './bytes';
import { fail, isImageError } from './errors';
import { formatBytes, MIB, PARTITION_LBA, SECTOR } from './units';
import { chooseLayout, clustersNeeded, FAT_EPOCH, formatFat, rootClusters, type FatVolume } from './fat/index';
import { inspectKernel, type KernelInfo } from './kernel';
import { encodeMbr } from './mbr';
import { makePlan, type ImagePlan, type Piece, type Region } from './plan';
import { checkSize, DEFAULT_SIZE } from './size';

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
}

/** The Multiboot command line the kernel sees; Solo5 skips the first token. */
export function commandLine(args: string): string {
  return args.length ? `${KERNEL_NAME} ${args}` : KERNEL_NAME;
}

/** Check arguments; returns the command line. */
export function checkArgs(args: string): string {
  if (args.includes('\0')) {
    fail(
      'ARGS_NUL',
      'The kernel arguments contain a NUL character, which would end the command line early; remove it.',
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

/** The smallest whole-MiB disk that holds a kernel of `kernelSize` bytes. */
export function minimumSize(kernelSize: number): number {
  const fits = (mib: number) => {
    const sectors = (mib * MIB) / SECTOR - PARTITION_LBA;
    if (sectors < 64) return false;
    try {
      const l = chooseLayout(sectors);
      return (
        rootClusters(l.type) + clustersNeeded([{ size: kernelSize }], l.sectorsPerCluster * SECTOR) <= l.clusterCount
      );
    } catch (e) {
      if (isImageError(e)) return false;
      throw e;
    }
  };
  let lo = 2;
  let hi = 4;
  while (!fits(hi)) hi *= 2;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (fits(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo * MIB;
}

export function planImage(kernelBytes: Uint8Array, opts: ImageOptions = {}): BuiltImage {
  const kernel = inspectKernel(kernelBytes);
  const size = checkSize(opts.size ?? DEFAULT_SIZE);
  const args = opts.args ?? '';
  const cmdline = checkArgs(args);
  const label = opts.label ?? DEFAULT_LABEL;
  const timestamp = opts.timestamp ?? DEFAULT_TIMESTAMP;
  const kernelCrc = crc32(kernelBytes);

  const partSectors = size / SECTOR - PARTITION_LBA;
  const min = minimumSize(kernelBytes.length);
  if (size < min) {
    fail(
      kernelBytes.length > size / 2 ? 'KERNEL_TOO_BIG' : 'SIZE_TOO_SMALL',
      `A disk of ${formatBytes(size)} cannot hold this ${formatBytes(kernelBytes.length)} kernel (1 MiB goes to the partition table and boot loader, and FAT needs room too); use a size of at least ${formatBytes(min)}, e.g. --size ${Math.ceil(min / MIB)}M.`,
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
    files: [{ name: KERNEL_NAME, bytes: kernelBytes }],
  });
  const file = fat.files[0];
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
  };
}
