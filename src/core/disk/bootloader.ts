/**
 * Which boot loader starts this disk, and with what command line: ours (the
 * parameter block in stage 2), SYSLINUX (ldlinux.sys + syslinux.cfg, the old
 * Solo5 tool's images), GRUB (its boot.img in the MBR, grub.cfg on FAT), or
 * none that we know.
 */
import { isImageError, type ImageError } from '../errors';
import { decodeMbr, MBR, type DecodedMbr, type DecodedPartition, FAT_PART_TYPES } from '../mbr';
import { readStage1Fields, reportBootParams, type BootParams, type ParamsReport } from '../boot/params';
import { STAGE1_CODE, STAGE1_FIELDS_OFF, STAGE2_MAX_SECTORS } from '../boot/loader.generated';
import { MIB, PARTITION_LBA, SECTOR } from '../units';
import { charText } from '../bytes';
import { FatReader, utf8Decode, type FatEntry } from '../fat/read';
import { LDLINUX_SYS, parseSyslinuxCfg, SYSLINUX_CONFIGS, type SyslinuxBoot } from './syslinux';
import type { DiskImage } from '../formats/reader';
import { terminalSafe } from '../terminal';

export type BootloaderKind = 'unikernel-disk' | 'syslinux' | 'grub' | 'none';

/** GRUB's boot.img carries the text "GRUB " followed by its error words (a fact of its binary, checked as bytes). */
const GRUB_MARK = 'GRUB ';
/** Where GRUB looks for its configuration on a FAT /boot partition or an ESP. */
export const GRUB_CONFIGS = ['/boot/grub/grub.cfg', '/grub/grub.cfg', '/boot/grub2/grub.cfg', '/EFI/BOOT/grub.cfg'];
/** Configuration files larger than this are not read. */
export const MAX_CONFIG = MIB;

/** The disk opened: LBA 0, the table, and the FAT volume, each with its own error if it could not be read. */
export interface DiskContext {
  disk: DiskImage;
  lba0: Uint8Array;
  mbr: DecodedMbr | null;
  mbrError: ImageError | null;
  /** The partition holding the FAT volume (null: none, or a volume at LBA 0). */
  partition: DecodedPartition | null;
  fat: FatReader | null;
  fatError: ImageError | null;
}

function rethrowUnlessCoded(e: unknown): ImageError {
  if (isImageError(e)) return e;
  throw e;
}

/** Read LBA 0 and find the FAT volume: the active FAT partition first, then any FAT partition, then LBA 0 itself. */
export async function openContext(disk: DiskImage): Promise<DiskContext> {
  const lba0 = (await disk.read(0, SECTOR)).slice(0, SECTOR);
  const ctx: DiskContext = { disk, lba0, mbr: null, mbrError: null, partition: null, fat: null, fatError: null };
  try {
    ctx.mbr = decodeMbr(lba0);
  } catch (e) {
    ctx.mbrError = rethrowUnlessCoded(e);
    if (ctx.mbrError.code === 'DISK_EMPTY') throw ctx.mbrError;
  }
  const candidates = ctx.mbr
    ? [...ctx.mbr.partitions]
        .filter((p) => FAT_PART_TYPES.includes(p.type))
        .sort((a, b) => Number(b.active) - Number(a.active) || a.index - b.index)
    : [];
  for (const p of candidates) {
    const start = p.startLba * SECTOR;
    const length = Math.min(p.sectors * SECTOR, Math.max(0, disk.size - start));
    try {
      ctx.fat = await FatReader.open(disk, start, length);
      ctx.partition = p;
      ctx.fatError = null;
      break;
    } catch (e) {
      ctx.fatError ??= rethrowUnlessCoded(e);
    }
  }
  if (!ctx.fat && (!ctx.mbr || ctx.mbr.partitions.length === 0)) {
    // A volume without a partition table ("superfloppy"): its boot sector is LBA 0.
    try {
      ctx.fat = await FatReader.open(disk, 0, disk.size);
      ctx.fatError = null;
    } catch (e) {
      if (!ctx.mbr) ctx.fatError ??= rethrowUnlessCoded(e);
    }
  }
  return ctx;
}

export interface OurLoader {
  stage2Lba: number;
  stage2Sectors: number;
  /** Stage 2 as read (stage2Sectors sectors). */
  stage2: Uint8Array;
  report: ParamsReport;
  params: BootParams;
  /** Stage 1 in LBA 0 is byte for byte this build's (apart from its two fields). */
  stage1Current: boolean;
}

export interface Bootloader {
  kind: BootloaderKind;
  /** The whole Multiboot command line ("unikernel.bin --x=1"), when known. */
  cmdline: string | null;
  /** The kernel file as the loader names it, an absolute path in the FAT volume, when known. */
  kernelPath: string | null;
  ours?: OurLoader;
  syslinux?: { config: FatEntry; boot: SyslinuxBoot; ldlinux: FatEntry };
  grub?: { config: FatEntry | null; text: string | null };
  /** Things found on the way, for people. */
  notes: string[];
}

/** Our loader: stage 1's fields point at a stage 2 whose parameter block has our magic. */
async function findOurs(ctx: DiskContext): Promise<OurLoader | null> {
  if (!ctx.mbr) return null;
  const { stage2Lba, stage2Sectors } = readStage1Fields(ctx.lba0);
  const partStart = ctx.partition?.startLba ?? PARTITION_LBA;
  if (stage2Lba < 1 || stage2Sectors < 1 || stage2Sectors > STAGE2_MAX_SECTORS) return null;
  if ((stage2Lba + stage2Sectors) * SECTOR > ctx.disk.size || stage2Lba >= Math.max(partStart, 2)) return null;
  const stage2 = (await ctx.disk.read(stage2Lba * SECTOR, stage2Sectors * SECTOR)).slice();
  const report = reportBootParams(stage2);
  if (!report.params && report.version === 0) return null;
  const mine = ctx.lba0.subarray(0, STAGE1_CODE.length);
  let stage1Current = mine.length === STAGE1_CODE.length;
  for (let i = 0; stage1Current && i < STAGE1_CODE.length; i++) {
    if (i >= STAGE1_FIELDS_OFF && i < STAGE1_FIELDS_OFF + 6) continue;
    if (mine[i] !== STAGE1_CODE[i]) stage1Current = false;
  }
  const empty: BootParams = {
    flags: 0,
    kernelLba: 0,
    kernelSize: 0,
    kernelCrc32: 0,
    entry: 0,
    loadStart: 0,
    loadEnd: 0,
    segments: [],
    cmdline: new Uint8Array(0),
  };
  return { stage2Lba, stage2Sectors, stage2, report, params: report.params ?? empty, stage1Current };
}

async function readText(fat: FatReader, e: FatEntry): Promise<string> {
  return utf8Decode(await fat.readFile(e, MAX_CONFIG));
}

/** Resolve a file name from a loader's config against the config's directory. */
export function resolvePath(name: string, configPath: string): string {
  if (name.startsWith('/')) return name;
  const dir = configPath.slice(0, configPath.lastIndexOf('/'));
  return `${dir}/${name}`;
}

/** The first `multiboot`/`multiboot2`/`linux` line of grub.cfg: GRUB passes "PATH ARGS" as the command line. */
function grubKernelLine(text: string): { path: string; cmdline: string } | null {
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(multiboot2?|linux16|linux|kernel)\s+(\S+)(.*)$/.exec(line);
    if (m) {
      const path = m[2].replace(/^\([^)]*\)/, '');
      return { path, cmdline: `${m[2]}${m[3].replace(/\s+$/, '')}` };
    }
  }
  return null;
}

/** Identify the boot loader; never throws for a coded problem in what it reads (it becomes a note). */
export async function identifyBootloader(ctx: DiskContext): Promise<Bootloader> {
  const notes: string[] = [];
  const ours = await findOurs(ctx);
  if (ours) {
    const cmdline = ours.report.params ? utf8Decode(ours.params.cmdline) : null;
    let kernelPath: string | null = null;
    if (ctx.fat && ours.report.params) {
      try {
        for (const e of await ctx.fat.list()) {
          if (!e.isDir && e.firstCluster && ctx.fat.clusterOffset(e.firstCluster) === ours.params.kernelLba * SECTOR) {
            kernelPath = e.path;
          }
        }
      } catch (e) {
        notes.push(rethrowUnlessCoded(e).message);
      }
    }
    return { kind: 'unikernel-disk', cmdline, kernelPath, ours, notes };
  }
  const fat = ctx.fat;
  if (fat) {
    try {
      const ldlinux = (await fat.list()).find((e) => !e.isDir && e.name.toLowerCase() === LDLINUX_SYS);
      if (ldlinux) {
        for (const path of SYSLINUX_CONFIGS) {
          const config = await fat.find(path);
          if (!config || config.isDir) continue;
          const boot = parseSyslinuxCfg(await readText(fat, config), config.path);
          const kernelPath = boot.kernel ? resolvePath(boot.kernel, config.path) : null;
          return { kind: 'syslinux', cmdline: boot.cmdline, kernelPath, syslinux: { config, boot, ldlinux }, notes };
        }
        notes.push(`${terminalSafe(ldlinux.path)} is there but no syslinux.cfg (${SYSLINUX_CONFIGS.join(', ')}).`);
      }
    } catch (e) {
      notes.push(rethrowUnlessCoded(e).message);
    }
  }
  const code = charText(ctx.lba0.subarray(0, MBR.codeSize));
  if (code.includes(GRUB_MARK)) {
    let config: FatEntry | null = null;
    let text: string | null = null;
    let cmdline: string | null = null;
    let kernelPath: string | null = null;
    if (fat) {
      try {
        for (const path of GRUB_CONFIGS) {
          const e = await fat.find(path);
          if (e && !e.isDir) {
            config = e;
            text = await readText(fat, e);
            const k = grubKernelLine(text);
            if (k) {
              cmdline = k.cmdline;
              kernelPath = resolvePath(k.path, '/');
            }
            break;
          }
        }
      } catch (e) {
        notes.push(rethrowUnlessCoded(e).message);
      }
    }
    if (!config) notes.push('GRUB keeps its configuration outside this FAT volume (or it has none here).');
    return { kind: 'grub', cmdline, kernelPath, grub: { config, text }, notes };
  }
  let kernelPath: string | null = null;
  if (fat) {
    try {
      const e = await fat.find('/unikernel.bin');
      if (e && !e.isDir) kernelPath = e.path;
    } catch (e) {
      notes.push(rethrowUnlessCoded(e).message);
    }
  }
  if (ctx.mbr && ctx.lba0.subarray(0, MBR.codeSize).every((b) => b === 0)) notes.push('The MBR holds no boot code.');
  return { kind: 'none', cmdline: null, kernelPath, notes };
}
