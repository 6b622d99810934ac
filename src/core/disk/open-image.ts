/**
 * An image opened once: the container decoded (`openDisk`), LBA 0 and its
 * partition table, the FAT volume, and the boot loader identified. Every
 * operation on an image read back takes this one object (inspect, verify,
 * set-args, extract, convert, the map, the walkthrough, the page), so a
 * file is recognised, its table decoded and its loader found once.
 */
import { isImageError, type ImageError } from '../errors';
import { openDisk } from '../formats/open';
import type { ByteSource, DiskImage } from '../formats/reader';
import { identifyBootloader, openContext, type Bootloader, type DiskContext } from './bootloader';

export interface OpenedImage extends DiskContext {
  /** The boot loader, identified once (kind 'none' when it could not be read: see `bootError`). */
  readonly boot: Bootloader;
  /** Why the loader could not be read (a truncated or unreadable stage 2, say), else null. */
  readonly bootError: ImageError | null;
}

/**
 * The disk read as an image of ours, or of another tool. Refuses (with the
 * sentence for LBA 0) a disk that has neither a partition table nor a FAT
 * volume at LBA 0 (a text file, a photo): it is not a disk image, and
 * showing it as an empty disk would hide that.
 */
export async function readImage(disk: DiskImage): Promise<OpenedImage> {
  const ctx = await openContext(disk);
  if (!ctx.mbr && !ctx.fat) throw ctx.mbrError ?? ctx.fatError ?? new Error('internal: no MBR and no error');
  let boot: Bootloader;
  let bootError: ImageError | null = null;
  try {
    boot = await identifyBootloader(ctx);
  } catch (e) {
    if (!isImageError(e)) throw e;
    bootError = e;
    boot = { kind: 'none', cmdline: null, kernelPath: null, notes: [e.message] };
  }
  return { ...ctx, boot, bootError };
}

/** An image file, whatever its container, opened once (see the module comment). */
export async function openImage(source: ByteSource): Promise<OpenedImage> {
  return readImage(await openDisk(source));
}
