/**
 * `verify`: everything that can be checked in an image read back, as a list
 * of problems (errors: it is damaged or will not boot as built; warnings: an
 * inconsistency that boots anyway).
 */
import { crc32 } from '../bytes';
import { isImageError, type ImageError } from '../errors';
import { checkMbr, partitionTypeName, PART_TYPE_GPT_PROTECTIVE } from '../mbr';
import { BPB, EBPB, EBPB_AT, FSINFO_UNKNOWN } from '../fat/boot-sector';
import { hex, SECTOR } from '../units';
import { checkEfiLoader } from './efi-loader';
import { kernelReport, locateKernel } from './kernel-file';
import type { OpenedImage } from './open-image';
import { MBOOT } from './syslinux';
import { terminalSafe } from '../terminal';
import { verifyBiosLoader, verifySyslinuxArgs } from './verify-bios';

/** FAT32's BPB and extended BPB end here; the boot code follows. */
const BPB_END = EBPB_AT[32] + EBPB.size;

export interface Problem {
  /** What was checked: mbr, fat, loader, uefi, syslinux, kernel. */
  area: string;
  message: string;
  /**
   * error: the image is damaged or will not boot as built. warning: an
   * inconsistency that boots anyway (images from Solo5's old tool, made on a
   * loop device, have 0 hidden sectors and boot fine).
   */
  severity: 'error' | 'warning';
}

const FAT_TYPES_BY_PART: Record<number, string[]> = {
  0x01: ['FAT12'],
  0x04: ['FAT16', 'FAT12'],
  0x06: ['FAT16', 'FAT12'],
  0x0e: ['FAT16', 'FAT12'],
  0x0b: ['FAT32'],
  0x0c: ['FAT32'],
};

/** Everything we can check; no errors means the image is sound as far as we can tell (warnings may remain). */
export async function verifyImage(img: OpenedImage): Promise<Problem[]> {
  const { boot, disk } = img;
  const out: Problem[] = [];
  const add: Add = (area, message, severity = 'error') => out.push({ area, message, severity });
  const coded = (area: string, e: unknown) => {
    if (!isImageError(e)) throw e;
    add(area, (e as ImageError).message);
  };
  if (img.mbrError) add('mbr', img.mbrError.message);
  if (img.mbr) for (const m of checkMbr(img.mbr, Math.floor(disk.size / SECTOR))) add('mbr', m);
  if (img.fatError) add('fat', img.fatError.message);
  else if (!img.fat && !img.mbr?.gpt) add('fat', 'No partition holds a FAT file system.');
  if (img.fat) await verifyFat(img, add, coded);

  if (img.bootError) add('loader', img.bootError.message);
  if (boot.ours) {
    const o = boot.ours;
    for (const m of o.report.problems) add('loader', m);
    const partStart = img.partition?.startLba;
    if (partStart !== undefined && o.stage2Lba + o.stage2Sectors > partStart) {
      add(
        'loader',
        `Stage 2 (LBA ${o.stage2Lba}, ${o.stage2Sectors} sectors) runs into the partition at LBA ${partStart}.`,
      );
    }
    const p = o.report.params;
    if (p && img.fat) {
      if (!boot.kernelPath) {
        add(
          'loader',
          `No file in the FAT volume starts at the kernel's LBA ${p.kernelLba}; the kernel was moved or replaced after the build (rebuild the image).`,
        );
      } else {
        try {
          const e = (await img.fat.find(boot.kernelPath))!;
          if (e.size !== p.kernelSize)
            add('loader', `${terminalSafe(e.path)} is ${e.size} bytes but the parameter block says ${p.kernelSize}.`);
          const chain = await img.fat.chain(e.firstCluster, img.fat.clusterCount, e.path);
          if (chain.some((c, i) => i > 0 && c !== chain[i - 1] + 1)) {
            add(
              'loader',
              `${terminalSafe(e.path)} is not contiguous on disk; the loader reads it as one run from LBA ${p.kernelLba}.`,
            );
          }
        } catch (e) {
          coded('loader', e);
        }
      }
    }
  }
  for (const p of await checkEfiLoader(img, boot.ours)) add('uefi', p.message, p.severity);
  if (boot.syslinux) {
    const s = boot.syslinux;
    if (s.boot.multiboot && img.fat) {
      const dir = s.config.path.slice(0, s.config.path.lastIndexOf('/'));
      if (!(await img.fat.find(`${dir}/${MBOOT}`)) && !(await img.fat.find(`/${MBOOT}`))) {
        add('syslinux', `${terminalSafe(s.config.path)} runs ${MBOOT} but the volume has no ${MBOOT}.`);
      }
    }
  }
  if (boot.kind === 'none' && !boot.kernelPath) add('loader', 'No boot loader this tool knows, and no /unikernel.bin.');
  await verifyBiosLoader(img, add);
  await verifySyslinuxArgs(img, add);

  try {
    const loc = await locateKernel(img);
    if (!loc) {
      if (boot.kind !== 'none') add('kernel', 'The boot loader names no kernel.');
    } else {
      const bytes = await loc.bytes();
      const p = boot.ours?.report.params;
      if (p) {
        const c = crc32(bytes);
        if (c !== p.kernelCrc32) {
          add(
            'kernel',
            `The kernel's CRC-32 is ${hex(c)} but the parameter block says ${hex(p.kernelCrc32)}: the loader would stop with "kernel checksum mismatch". Rebuild the image.`,
          );
        }
      }
      const r = kernelReport(loc, bytes);
      if (!r.inspection.ok) add('kernel', r.inspection.message);
      else if (
        boot.syslinux?.boot.multiboot &&
        !boot.syslinux.boot.options.includes('-aout') &&
        r.inspection.format === 'elf64'
      ) {
        add(
          'syslinux',
          `APPEND lacks -aout: ${MBOOT} then jumps to the ELF64 entry, which is 64-bit code, and the machine resets (Solo5 issue #429).`,
        );
      }
    }
  } catch (e) {
    coded('kernel', e);
  }
  return out;
}

type Add = (area: string, message: string, severity?: Problem['severity']) => void;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function verifyFat(img: OpenedImage, add: Add, coded: (area: string, e: unknown) => void): Promise<void> {
  const fat = img.fat!;
  const type = `FAT${fat.type}`;
  if (img.partition) {
    const allowed = FAT_TYPES_BY_PART[img.partition.type];
    if (allowed && !allowed.includes(type)) {
      add(
        'fat',
        `Partition ${img.partition.index + 1} has type ${hex(img.partition.type)} (${partitionTypeName(img.partition.type)}) but holds ${type}.`,
      );
    }
    if (fat.bpb.hiddenSectors !== img.partition.startLba) {
      add(
        'fat',
        `The boot sector's hidden-sector count is ${fat.bpb.hiddenSectors} but the partition starts at LBA ${img.partition.startLba}; DOS, Windows and some boot code locate the volume through this field.`,
        'warning',
      );
    }
    if (img.partition.type === PART_TYPE_GPT_PROTECTIVE) add('fat', 'The FAT volume is inside a GPT protective entry.');
  }
  // The FAT copies agree (when mirrored), chunk by chunk.
  if (!(fat.type === 32 && fat.bpb.mirrorDisabled) && fat.bpb.numFats > 1) {
    const first: Uint8Array[] = [];
    await fat.scanFat(0, (b) => first.push(b.slice()));
    for (let copy = 1; copy < fat.bpb.numFats; copy++) {
      let i = 0;
      let differs = -1;
      await fat.scanFat(copy, (b, at) => {
        const a = first[i++];
        if (differs < 0)
          for (let k = 0; k < b.length; k++)
            if (a[k] !== b[k]) {
              differs = at + k;
              break;
            }
      });
      if (differs >= 0) add('fat', `FAT copy ${copy + 1} differs from copy 1 from byte ${differs} on.`);
    }
  }
  if (fat.countMismatch) {
    add(
      'fat',
      `The volume has a FAT32 layout but ${fat.clusterCount} clusters; by the specification fewer than 65525 make it FAT16, and Windows reads it so.`,
      'warning',
    );
  }
  const e0 = await fat.entry(0);
  if ((e0 & 0xff) !== fat.bpb.media)
    add('fat', `FAT entry 0 is ${hex(e0)}; its low byte should be the media byte ${hex(fat.bpb.media)}.`);
  if (fat.type === 32) {
    const backup = fat.bpb.backupBootSector;
    if (backup > 0 && backup < fat.bpb.reservedSectors) {
      // The BPB only: a boot loader installed afterwards (SYSLINUX) rewrites the boot code of the first copy alone.
      const b = await img.disk.read(fat.offset + backup * fat.bpb.bytesPerSector, SECTOR);
      if (!sameBytes(b.subarray(BPB.bytesPerSector, BPB_END), fat.bootSector.subarray(BPB.bytesPerSector, BPB_END)))
        add('fat', `The backup boot sector (sector ${backup}) has other BPB fields than the boot sector.`);
    }
    const info = await fat.fsInfo();
    if (info && !info.valid) add('fat', `The FSInfo sector (sector ${fat.bpb.fsInfoSector}) lacks its signatures.`);
    if (info?.valid && info.freeCount !== FSINFO_UNKNOWN) {
      const free = await fat.countFree();
      if (free !== info.freeCount) add('fat', `FSInfo counts ${info.freeCount} free clusters but the FAT has ${free}.`);
    }
  }
  // Every file's chain: in range, no loops, as long as its size, no cluster used twice.
  try {
    const used = new Map<number, string>();
    for (const e of await fat.list()) {
      if (e.firstCluster === 0) {
        if (!e.isDir && e.size > 0) add('fat', `${terminalSafe(e.path)} is ${e.size} bytes but has no clusters.`);
        continue;
      }
      try {
        const chain = await fat.chain(e.firstCluster, fat.clusterCount, e.path);
        const need = Math.ceil(e.size / fat.clusterBytes);
        if (!e.isDir && chain.length !== need) {
          add(
            'fat',
            `${terminalSafe(e.path)} is ${e.size} bytes (${need} clusters) but its chain has ${chain.length}.`,
          );
        }
        for (const c of chain) {
          const other = used.get(c);
          if (other) {
            add('fat', `${terminalSafe(e.path)} and ${terminalSafe(other)} share cluster ${c} (cross-linked).`);
            break;
          }
          used.set(c, e.path);
        }
      } catch (err) {
        coded('fat', err);
      }
    }
  } catch (err) {
    coded('fat', err);
  }
}
