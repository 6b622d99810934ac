/**
 * `inspect`: what is inside an image read back, as plain data (the CLI
 * prints it or its JSON; the page shows it): the partition table, the FAT
 * volume and its files, the boot loader and its command line, the UEFI
 * loader (`efi-loader.ts`), the kernel.
 */
import { isImageError } from '../errors';
import { partitionTypeName } from '../mbr';
import type { BootParams } from '../boot/params';
import type { FatEntry } from '../fat/read';
import type { BootloaderKind } from './bootloader';
import { readEfiLoader, type EfiBuild } from './efi-loader';
import { kernelReport, locateKernel, type KernelReport } from './kernel-file';
import type { OpenedImage } from './open-image';
import type { FormatId } from '../formats/types';

export interface Inspection {
  format: FormatId;
  size: number;
  partitionTable: 'mbr' | 'gpt' | 'none';
  diskSignature: number | null;
  partitions: { index: number; start: number; sectors: number; type: number; typeName: string; active: boolean }[];
  filesystem: {
    type: string;
    label: string;
    serial: number | null;
    /** Partition slot (1-4), or null for a volume at LBA 0. */
    partition: number | null;
    clusterBytes: number;
    clusters: number;
    files: { path: string; size: number; dir: boolean }[];
  } | null;
  bootloader: {
    kind: BootloaderKind;
    cmdline: string | null;
    /** The arguments after the kernel's name (what Solo5 sees). */
    args: string | null;
    version?: number;
    stage2?: { lba: number; sectors: number };
    /** Our loader's parameter block, as read (`problems` empty when its CRC and fields are sound). */
    params?: Omit<BootParams, 'cmdline'> & {
      problems: string[];
    };
    config?: string;
    label?: string;
    options?: string[];
  };
  /** `\EFI\BOOT\BOOTX64.EFI`, what UEFI firmware starts on this disk (null: there is none). */
  uefi: {
    path: string;
    size: number;
    /** this (this tool's loader), other-version, changed, foreign (not ours); null when it could not be read. */
    build: EfiBuild | null;
    /** Ours: the version in its identity block ("1.0"). */
    version: string | null;
    /** Ours: the stage 2 code size it reads, and the parameter block version. */
    stage2CodeSize: number | null;
    paramsVersion: number | null;
    /** The PE header's machine and subsystem (x86-64 0x8664, EFI application 10), when it is a PE file. */
    machine: number | null;
    subsystem: number | null;
    /** Bytes of its Authenticode signature (0: unsigned; Secure Boot refuses it). */
    signatureBytes: number;
    /** Why firmware would not start it (not a PE file, another machine...), or why it could not be read. */
    problems: string[];
  } | null;
  kernel: KernelReport | null;
  notes: string[];
}

function argsOf(cmdline: string | null): string | null {
  if (cmdline === null) return null;
  const sp = cmdline.indexOf(' ');
  return sp < 0 ? '' : cmdline.slice(sp + 1);
}

/** What is inside the image. Throws (coded) only when not even LBA 0 can be read as a disk. */
export async function inspectImage(img: OpenedImage): Promise<Inspection> {
  const { boot, disk } = img;
  const notes: string[] = [];
  if (img.mbrError) notes.push(img.mbrError.message);
  if (img.fatError) notes.push(img.fatError.message);
  if (img.mbr?.gpt) {
    notes.push(
      'LBA 0 is a protective MBR (type 0xEE): this is a GPT disk, whose partition entries (LBA 1 on) this tool does not read.',
    );
  }
  let filesystem: Inspection['filesystem'] = null;
  if (img.fat) {
    let files: FatEntry[] = [];
    let label = img.fat.label;
    try {
      files = await img.fat.list();
      label = await img.fat.volumeLabel();
    } catch (e) {
      if (!isImageError(e)) throw e;
      notes.push(e.message);
    }
    filesystem = {
      type: `FAT${img.fat.type}`,
      label,
      serial: img.fat.serial ?? null,
      partition: img.partition ? img.partition.index + 1 : null,
      clusterBytes: img.fat.clusterBytes,
      clusters: img.fat.clusterCount,
      files: files.map((f) => ({ path: f.path, size: f.size, dir: f.isDir })),
    };
  }
  notes.push(...boot.notes);
  let kernel: KernelReport | null = null;
  try {
    const loc = await locateKernel(img);
    if (loc) kernel = kernelReport(loc, await loc.bytes());
  } catch (e) {
    if (!isImageError(e)) throw e;
    notes.push(e.message);
  }
  const b: Inspection['bootloader'] = { kind: boot.kind, cmdline: boot.cmdline, args: argsOf(boot.cmdline) };
  if (boot.ours) {
    b.version = boot.ours.report.version;
    b.stage2 = { lba: boot.ours.stage2Lba, sectors: boot.ours.stage2Sectors };
    const p = boot.ours.report.params;
    if (p) {
      b.params = {
        kernelLba: p.kernelLba,
        kernelSize: p.kernelSize,
        kernelCrc32: p.kernelCrc32,
        entry: p.entry,
        loadStart: p.loadStart,
        loadEnd: p.loadEnd,
        flags: p.flags,
        segments: p.segments,
        problems: boot.ours.report.problems,
      };
    }
    if (!boot.ours.stage1Current)
      notes.push('Stage 1 in the MBR is not this version’s (an image from another release).');
  }
  if (boot.syslinux) {
    b.config = boot.syslinux.config.path;
    b.label = boot.syslinux.boot.label;
    b.options = boot.syslinux.boot.options;
  }
  if (boot.grub?.config) b.config = boot.grub.config.path;
  const efi = await readEfiLoader(img);
  const uefi: Inspection['uefi'] = efi && {
    path: efi.path,
    size: efi.size,
    build: efi.build,
    version: efi.identity?.version ?? null,
    stage2CodeSize: efi.identity?.stage2CodeSize ?? null,
    paramsVersion: efi.identity?.paramsVersion ?? null,
    machine: efi.pe?.header?.machine ?? null,
    subsystem: efi.pe?.header?.subsystem ?? null,
    signatureBytes: efi.signatureBytes,
    problems: efi.readError ? [efi.readError] : (efi.pe?.problems ?? []),
  };
  return {
    format: disk.formatId,
    size: disk.size,
    partitionTable: img.mbr ? (img.mbr.gpt ? 'gpt' : 'mbr') : 'none',
    diskSignature: img.mbr ? img.mbr.diskSignature : null,
    partitions: (img.mbr?.partitions ?? []).map((p) => ({
      index: p.index + 1,
      start: p.startLba,
      sectors: p.sectors,
      type: p.type,
      typeName: partitionTypeName(p.type),
      active: p.active,
    })),
    filesystem,
    bootloader: b,
    uefi,
    kernel,
    notes,
  };
}
