/**
 * The operations on an image already made: inspect (what is inside), verify
 * (what is wrong), setArgs (a new command line, as patches), extractKernel
 * (the kernel's bytes) and, with `diskToPlan` + the writers, convert. All
 * read through a DiskImage, so they work on every container the decoders
 * open, and on a 100 GiB disk as on a 64 MiB one.
 */
import { crc32, utf8 } from '../bytes';
import { fail, ImageError, isImageError } from '../errors';
import { checkArgs, withArgs } from '../image';
import { describeKernel, inspectKernel } from '../kernel';
import { checkMbr, partitionTypeName, PART_TYPE_GPT_PROTECTIVE } from '../mbr';
import { replaceCommandLine, withStage2Sectors, type BootParams } from '../boot/params';
import { STAGE2_MAX_SECTORS } from '../boot/loader.generated';
import { formatBytes, GIB, hex, SECTOR } from '../units';
import {
  identifyBootloader,
  MAX_CONFIG,
  openContext,
  type Bootloader,
  type BootloaderKind,
  type DiskContext,
} from './bootloader';
import { BPB, EBPB, EBPB_AT, FSINFO_UNKNOWN } from '../fat/boot-sector';
import { utf8Decode, type FatEntry } from './fat-read';

/** FAT32's BPB and extended BPB end here; the boot code follows. */
const BPB_END = EBPB_AT[32] + EBPB.size;
import { rewriteFile } from './fat-write';
import type { Patch } from './patch';
import { sha256Hex } from './sha256';
import { MBOOT, rewriteSyslinuxArgs, parseSyslinuxCfg } from './syslinux';
import type { DiskImage } from './types';

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

export interface Inspection {
  format: string;
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
  kernel: KernelReport | null;
  notes: string[];
}

function argsOf(cmdline: string | null): string | null {
  if (cmdline === null) return null;
  const sp = cmdline.indexOf(' ');
  return sp < 0 ? '' : cmdline.slice(sp + 1);
}

interface Located {
  path: string | null;
  lba: number | null;
  size: number;
  read: () => Promise<Uint8Array>;
}

/** Where the kernel is: ours by the parameter block's LBA and size, the others by file name in the FAT. */
async function locateKernel(ctx: DiskContext, boot: Bootloader): Promise<Located | null> {
  const ours = boot.ours?.report.params;
  if (ours) {
    const { kernelLba, kernelSize } = ours;
    if (kernelSize === 0 || (kernelLba + Math.ceil(kernelSize / SECTOR)) * SECTOR > ctx.disk.size) {
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
      read: async () => (await ctx.disk.read(kernelLba * SECTOR, kernelSize)).slice(0, kernelSize),
    };
  }
  if (!boot.kernelPath || !ctx.fat) return null;
  const fat = ctx.fat;
  const e = await fat.find(boot.kernelPath);
  if (!e || e.isDir) {
    fail(
      'NO_KERNEL',
      `The ${boot.kind === 'syslinux' ? 'SYSLINUX configuration' : boot.kind === 'grub' ? 'GRUB configuration' : 'image'} names the kernel ${boot.kernelPath}, but the FAT volume has no such file.`,
    );
  }
  return { path: e.path, lba: null, size: e.size, read: () => fat.readFile(e, MAX_KERNEL_READ) };
}

function kernelReport(loc: Located, bytes: Uint8Array): KernelReport {
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

/** What is inside the image. Throws (coded) only when not even LBA 0 can be read as a disk. */
export async function inspectDisk(disk: DiskImage): Promise<Inspection> {
  const ctx = await openContext(disk);
  const notes: string[] = [];
  if (ctx.mbrError) notes.push(ctx.mbrError.message);
  if (ctx.fatError) notes.push(ctx.fatError.message);
  if (ctx.mbr?.gpt) {
    notes.push(
      'LBA 0 is a protective MBR (type 0xEE): this is a GPT disk, whose partition entries (LBA 1 on) this tool does not read.',
    );
  }
  let filesystem: Inspection['filesystem'] = null;
  if (ctx.fat) {
    let files: FatEntry[] = [];
    let label = ctx.fat.label;
    try {
      files = await ctx.fat.list();
      label = await ctx.fat.volumeLabel();
    } catch (e) {
      if (!isImageError(e)) throw e;
      notes.push(e.message);
    }
    filesystem = {
      type: `FAT${ctx.fat.type}`,
      label,
      serial: ctx.fat.serial ?? null,
      partition: ctx.partition ? ctx.partition.index + 1 : null,
      clusterBytes: ctx.fat.clusterBytes,
      clusters: ctx.fat.clusterCount,
      files: files.map((f) => ({ path: f.path, size: f.size, dir: f.isDir })),
    };
  }
  const boot = await identifyBootloader(ctx);
  notes.push(...boot.notes);
  let kernel: KernelReport | null = null;
  try {
    const loc = await locateKernel(ctx, boot);
    if (loc) kernel = kernelReport(loc, await loc.read());
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
  return {
    format: disk.formatId,
    size: disk.size,
    partitionTable: ctx.mbr ? (ctx.mbr.gpt ? 'gpt' : 'mbr') : 'none',
    diskSignature: ctx.mbr ? ctx.mbr.diskSignature : null,
    partitions: (ctx.mbr?.partitions ?? []).map((p) => ({
      index: p.index + 1,
      start: p.startLba,
      sectors: p.sectors,
      type: p.type,
      typeName: partitionTypeName(p.type),
      active: p.active,
    })),
    filesystem,
    bootloader: b,
    kernel,
    notes,
  };
}

export interface Problem {
  /** What was checked: mbr, fat, loader, syslinux, kernel. */
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
export async function verifyDisk(disk: DiskImage): Promise<Problem[]> {
  const out: Problem[] = [];
  const add: Add = (area, message, severity = 'error') => out.push({ area, message, severity });
  const coded = (area: string, e: unknown) => {
    if (!isImageError(e)) throw e;
    add(area, (e as ImageError).message);
  };
  const ctx = await openContext(disk);
  if (ctx.mbrError) add('mbr', ctx.mbrError.message);
  if (ctx.mbr) for (const m of checkMbr(ctx.mbr, Math.floor(disk.size / SECTOR))) add('mbr', m);
  if (ctx.fatError) add('fat', ctx.fatError.message);
  else if (!ctx.fat && !ctx.mbr?.gpt) add('fat', 'No partition holds a FAT file system.');
  if (ctx.fat) await verifyFat(ctx, add, coded);

  const boot = await identifyBootloader(ctx);
  if (boot.ours) {
    const o = boot.ours;
    for (const m of o.report.problems) add('loader', m);
    const partStart = ctx.partition?.startLba;
    if (partStart !== undefined && o.stage2Lba + o.stage2Sectors > partStart) {
      add(
        'loader',
        `Stage 2 (LBA ${o.stage2Lba}, ${o.stage2Sectors} sectors) runs into the partition at LBA ${partStart}.`,
      );
    }
    const p = o.report.params;
    if (p && ctx.fat) {
      if (!boot.kernelPath) {
        add(
          'loader',
          `No file in the FAT volume starts at the kernel's LBA ${p.kernelLba}; the kernel was moved or replaced after the build (rebuild the image).`,
        );
      } else {
        try {
          const e = (await ctx.fat.find(boot.kernelPath))!;
          if (e.size !== p.kernelSize)
            add('loader', `${e.path} is ${e.size} bytes but the parameter block says ${p.kernelSize}.`);
          const chain = await ctx.fat.chain(e.firstCluster, ctx.fat.clusterCount, e.path);
          if (chain.some((c, i) => i > 0 && c !== chain[i - 1] + 1)) {
            add(
              'loader',
              `${e.path} is not contiguous on disk; the loader reads it as one run from LBA ${p.kernelLba}.`,
            );
          }
        } catch (e) {
          coded('loader', e);
        }
      }
    }
  }
  if (boot.syslinux) {
    const s = boot.syslinux;
    if (s.boot.multiboot && ctx.fat) {
      const dir = s.config.path.slice(0, s.config.path.lastIndexOf('/'));
      if (!(await ctx.fat.find(`${dir}/${MBOOT}`)) && !(await ctx.fat.find(`/${MBOOT}`))) {
        add('syslinux', `${s.config.path} runs ${MBOOT} but the volume has no ${MBOOT}.`);
      }
    }
  }
  if (boot.kind === 'none' && !boot.kernelPath) add('loader', 'No boot loader this tool knows, and no /unikernel.bin.');

  try {
    const loc = await locateKernel(ctx, boot);
    if (!loc) {
      if (boot.kind !== 'none') add('kernel', 'The boot loader names no kernel.');
    } else {
      const bytes = await loc.read();
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

async function verifyFat(ctx: DiskContext, add: Add, coded: (area: string, e: unknown) => void): Promise<void> {
  const fat = ctx.fat!;
  const type = `FAT${fat.type}`;
  if (ctx.partition) {
    const allowed = FAT_TYPES_BY_PART[ctx.partition.type];
    if (allowed && !allowed.includes(type)) {
      add(
        'fat',
        `Partition ${ctx.partition.index + 1} has type ${hex(ctx.partition.type)} (${partitionTypeName(ctx.partition.type)}) but holds ${type}.`,
      );
    }
    if (fat.bpb.hiddenSectors !== ctx.partition.startLba) {
      add(
        'fat',
        `The boot sector's hidden-sector count is ${fat.bpb.hiddenSectors} but the partition starts at LBA ${ctx.partition.startLba}; DOS, Windows and some boot code locate the volume through this field.`,
        'warning',
      );
    }
    if (ctx.partition.type === PART_TYPE_GPT_PROTECTIVE) add('fat', 'The FAT volume is inside a GPT protective entry.');
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
      const b = await ctx.disk.read(fat.offset + backup * fat.bpb.bytesPerSector, SECTOR);
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
        if (!e.isDir && e.size > 0) add('fat', `${e.path} is ${e.size} bytes but has no clusters.`);
        continue;
      }
      try {
        const chain = await fat.chain(e.firstCluster, fat.clusterCount, e.path);
        const need = Math.ceil(e.size / fat.clusterBytes);
        if (!e.isDir && chain.length !== need) {
          add('fat', `${e.path} is ${e.size} bytes (${need} clusters) but its chain has ${chain.length}.`);
        }
        for (const c of chain) {
          const other = used.get(c);
          if (other) {
            add('fat', `${e.path} and ${other} share cluster ${c} (cross-linked).`);
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

export interface SetArgsResult {
  kind: BootloaderKind;
  before: string;
  after: string;
  patches: Patch[];
}

/**
 * A new command line for the image, as patches to its disk: ours rewrites
 * stage 2's command line, length and CRC (and stage 1's sector count when
 * stage 2 grows or shrinks); an old-tool image rewrites the booted label's
 * APPEND in syslinux.cfg inside the FAT. `args` are the kernel's own
 * arguments; the kernel's name stays the first word.
 */
export async function setArgs(disk: DiskImage, args: string): Promise<SetArgsResult> {
  const ctx = await openContext(disk);
  const boot = await identifyBootloader(ctx);
  const refused = setArgsRefusal(ctx, boot);
  if (refused) throw refused;
  if (boot.ours) {
    const o = boot.ours;
    const before = utf8Decode(o.params.cmdline);
    checkArgs(args);
    const cmdline = withArgs(before, args);
    const stage2 = replaceCommandLine(o.stage2, utf8(cmdline));
    const sectors = stage2.length / SECTOR;
    const limit = Math.min(STAGE2_MAX_SECTORS, (ctx.partition?.startLba ?? 2048) - o.stage2Lba);
    if (sectors > limit) {
      fail(
        'STAGE2_NO_ROOM',
        `With these arguments stage 2 needs ${sectors} sectors but ${limit} fit before the partition at LBA ${ctx.partition?.startLba}; shorten the arguments.`,
      );
    }
    const patches: Patch[] = [];
    // Old sectors past the new end become zeros again.
    const old = o.stage2Sectors * SECTOR;
    const write = new Uint8Array(Math.max(old, stage2.length));
    write.set(stage2, 0);
    patches.push({ offset: o.stage2Lba * SECTOR, bytes: write });
    if (sectors !== o.stage2Sectors) patches.push({ offset: 0, bytes: withStage2Sectors(ctx.lba0, sectors) });
    return { kind: boot.kind, before, after: cmdline, patches };
  }
  if (boot.syslinux && ctx.fat) {
    const s = boot.syslinux;
    if (args.includes('\0') || /[\r\n]/.test(args)) {
      fail(
        'ARGS_NUL',
        'The kernel arguments contain a NUL or a line break, which would end the APPEND line early; remove it.',
      );
    }
    const text = utf8Decode(await ctx.fat.readFile(s.config, MAX_CONFIG));
    const nextText = rewriteSyslinuxArgs(text, s.boot, args);
    const after = parseSyslinuxCfg(nextText, s.config.path);
    const patches = await rewriteFile(ctx.fat, disk, s.config, utf8(nextText));
    return { kind: boot.kind, before: s.boot.cmdline, after: after.cmdline, patches };
  }
  throw new Error('internal: setArgsRefusal let through a loader setArgs does not rewrite');
}

/**
 * Why `setArgs` refuses this disk, as the coded error it throws, or null
 * when it rewrites the command line: ours with a sound parameter block, or
 * SYSLINUX in a FAT volume. The one decision, so a page can say it before a
 * file is picked (PARAMS_DAMAGED: the block fails its checks;
 * SETARGS_UNSUPPORTED: GRUB or no loader this tool knows).
 */
export function setArgsRefusal(ctx: DiskContext, boot: Bootloader): ImageError | null {
  if (boot.ours) {
    const o = boot.ours;
    if (!o.report.params || o.report.problems.length) {
      return new ImageError(
        'PARAMS_DAMAGED',
        `The boot loader's parameter block fails its checks (${o.report.problems[0] ?? 'unreadable'}); rewriting its command line would hide that. Rebuild the image.`,
      );
    }
    return null;
  }
  if (boot.syslinux && ctx.fat) return null;
  return new ImageError(
    'SETARGS_UNSUPPORTED',
    boot.kind === 'grub'
      ? 'This image boots with GRUB, whose command line lives in grub.cfg (or its core image); edit grub.cfg with mtools, or rebuild the image with solo5-virtio-mkimage.'
      : 'This image has no boot loader this tool knows (ours or SYSLINUX), so there is no command line to rewrite; rebuild the image with solo5-virtio-mkimage.',
  );
}

/** The kernel's bytes, exactly as the boot loader would read them. */
export async function extractKernel(disk: DiskImage): Promise<{ path: string | null; bytes: Uint8Array }> {
  const ctx = await openContext(disk);
  const boot = await identifyBootloader(ctx);
  const loc = await locateKernel(ctx, boot);
  if (!loc) {
    fail(
      'NO_KERNEL',
      boot.kind === 'none'
        ? 'The image has no boot loader this tool knows and no /unikernel.bin, so there is no kernel to extract.'
        : `The ${boot.kind} configuration names no kernel file, so there is nothing to extract.`,
    );
  }
  return { path: loc.path, bytes: await loc.read() };
}
