/**
 * An image made the way Solo5's old `solo5-virtio-mkimage` shell tool makes
 * it (see /work/shared/reference/solo5-virtio-contract.md), at test time,
 * from Debian's syslinux package and the usual tools, without loop devices:
 *
 *   1. a sparse file of the disk size;
 *   2. sfdisk: one primary partition, type 0x0C (FAT32 LBA), active, from LBA 2048 to the end;
 *   3. SYSLINUX's mbr.bin into the MBR's first 440 bytes;
 *   4. mkfs.fat -F 32 on the partition (--offset; -h sets the hidden sectors
 *      a partition device would give it);
 *   5. `syslinux --offset --install`: ldlinux.sys and ldlinux.c32, and its boot sector;
 *   6. mtools: syslinux.cfg, libcom32.c32, mboot.c32 and unikernel.bin into the root.
 *
 * Nothing here is a committed binary: everything comes from the installed packages.
 */
import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inCI, run } from './tools';

export const SYSLINUX_MBR = '/usr/lib/syslinux/mbr/mbr.bin';
export const SYSLINUX_BIOS = '/usr/lib/syslinux/modules/bios';
/** The programs and files the helper needs. */
export const OLD_TOOL_PROGRAMS = ['sfdisk', 'mkfs.fat', 'syslinux', 'mcopy', 'dd'];

/** Debian's syslinux-common files are there; like tools(), a failure rather than a skip in CI. */
export function haveOldToolFiles(): boolean {
  const missing = [SYSLINUX_MBR, join(SYSLINUX_BIOS, 'mboot.c32'), join(SYSLINUX_BIOS, 'libcom32.c32')].filter(
    (f) => !existsSync(f),
  );
  if (missing.length && inCI)
    throw new Error(`syslinux files missing in CI: ${missing.join(', ')} (install syslinux-common)`);
  return missing.length === 0;
}

export interface OldToolOptions {
  /** Disk size in bytes (the old tool: 1 GiB). */
  size?: number;
  /** mkfs.fat -s: sectors per cluster (mkfs.fat's own choice when absent). */
  clusterSectors?: number;
  /** mkfs.fat -F (the old tool: 32). */
  fatBits?: 12 | 16 | 32;
  /** BPB hidden sectors (default the partition's LBA, as mkfs.fat on a partition device; 0 as on a loop device). */
  hiddenSectors?: number;
  /** The syslinux.cfg text; the old tool's by default. */
  config?: string;
}

/** The old tool's syslinux.cfg for these arguments. */
export function oldToolConfig(args: string): string {
  return `SERIAL 0 115200\nDEFAULT unikernel\nLABEL unikernel\n  KERNEL mboot.c32\n  APPEND -aout unikernel.bin ${args}\n`;
}

const PART_LBA = 2048;

/** Make the image at `image` from `kernel` (a file path) with `args`. Work files go in `dir`. */
export function makeOldToolImage(dir: string, image: string, kernel: string, args: string, o: OldToolOptions = {}) {
  const size = o.size ?? 1024 * 1024 * 1024;
  run('truncate', ['-s', String(size), image]);
  run('sfdisk', ['-q', image], { input: `${PART_LBA},,c,*\n` });
  run('dd', [`if=${SYSLINUX_MBR}`, `of=${image}`, 'bs=440', 'count=1', 'conv=notrunc', 'status=none']);
  const partSectors = size / 512 - PART_LBA;
  const mkfs = ['-F', String(o.fatBits ?? 32), '--offset', String(PART_LBA), '-h', String(o.hiddenSectors ?? PART_LBA)];
  if (o.clusterSectors) mkfs.push('-s', String(o.clusterSectors));
  // mkfs.fat takes the block count in KiB when given an offset into a larger file.
  run('mkfs.fat', [...mkfs, image, String(partSectors / 2)]);
  run('syslinux', ['--offset', String(PART_LBA * 512), '--install', image]);
  const cfg = join(dir, 'syslinux.cfg');
  writeFileSync(cfg, o.config ?? oldToolConfig(args));
  const kernelCopy = join(dir, 'unikernel.bin');
  if (kernel !== kernelCopy) copyFileSync(kernel, kernelCopy);
  const at = `${image}@@${PART_LBA * 512}`;
  run('mcopy', [
    '-i',
    at,
    cfg,
    join(SYSLINUX_BIOS, 'libcom32.c32'),
    join(SYSLINUX_BIOS, 'mboot.c32'),
    kernelCopy,
    '::/',
  ]);
  return { partitionOffset: PART_LBA * 512, mtoolsImage: at };
}
