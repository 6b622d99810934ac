/**
 * verify's BIOS loader checks for a disk whose loader `identifyBootloader`
 * could not follow ("none"): when LBA 0 holds our stage 1, or the gap holds
 * our stage 2's parameter block, or the volume holds /unikernel.bin, the
 * disk is ours (or meant to boot like ours) and its loader is damaged. Each
 * check does what stage 1 does at boot (src/boot/stage1.asm: the sector
 * count 1..STAGE2_MAX_SECTORS, one extended read at the LBA, the parameter
 * block's magic) and names the first thing that stops it, with the message
 * the machine would print. And an old-tool image's syslinux.cfg, the way
 * SYSLINUX and mboot.c32 read it.
 */
import { rd32le } from '../bytes';
import { isImageError } from '../errors';
import { MBR } from '../mbr';
import { readStage1Fields, reportBootParams } from '../boot/params';
import {
  CMDLINE_OFF,
  PARAMS_MAGIC,
  PARAMS_OFF,
  STAGE1_CODE,
  STAGE1_FIELDS_OFF,
  STAGE2_MAX_SECTORS,
} from '../boot/loader.generated';
import { STAGE2_LBA } from '../boot/types';
import { PARTITION_LBA, SECTOR } from '../units';
import type { OpenedImage } from './open-image';
import { utf8Decode } from '../fat/read';
import { terminalSafe } from '../terminal';
import { MAX_CONFIG, resolvePath } from './bootloader';
import { MBOOT, MBOOT_MODULE_SEPARATOR, syslinuxBootProblem, syslinuxWords } from './syslinux';

type AddError = (area: 'loader' | 'syslinux', message: string) => void;

/** Bytes of LBA 0's boot code that differ from our stage 1 (its two fields left out). */
function stage1Differences(lba0: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < STAGE1_CODE.length; i++) {
    if (i >= STAGE1_FIELDS_OFF && i < STAGE1_FIELDS_OFF + 6) continue;
    if (lba0[i] !== STAGE1_CODE[i]) n++;
  }
  return n;
}

/** The first sector of the gap (LBA 1 .. the partition) that starts with our parameter block, or -1. */
async function findStage2(img: OpenedImage, gapEnd: number): Promise<number> {
  if (gapEnd <= 1) return -1;
  const gap = await img.disk.read(SECTOR, (gapEnd - 1) * SECTOR);
  for (let lba = 1; lba < gapEnd; lba++) {
    const at = (lba - 1) * SECTOR + PARAMS_OFF;
    if (at + 4 <= gap.length && rd32le(gap, at) === PARAMS_MAGIC) return lba;
  }
  return -1;
}

/**
 * Problems of a BIOS loader that could not be followed, as errors: nothing
 * when the disk shows no sign of being ours (a data disk, another tool's).
 */
export async function verifyBiosLoader(img: OpenedImage, add: AddError): Promise<void> {
  if (img.boot.kind !== 'none' || !img.mbr) return;
  const lba0 = img.lba0;
  // Our stage 2 sits below our partition's 1 MiB start: only that much is looked at (a table may claim any start).
  const partStart = Math.min(img.partition?.startLba ?? PARTITION_LBA, PARTITION_LBA);
  const gapEnd = Math.min(partStart, Math.floor(img.disk.size / SECTOR));
  const stage2At = await findStage2(img, gapEnd);
  const ourStage1 = stage1Differences(lba0) === 0;
  const kernel = img.boot.kernelPath !== null;
  if (!ourStage1 && stage2At < 0 && !kernel) return;

  const code = lba0.subarray(0, MBR.codeSize);
  if (code.every((b) => b === 0)) {
    add(
      'loader',
      `The MBR's boot code (bytes 0-${MBR.codeSize - 1}) is all zeros: the BIOS runs it and nothing happens (the machine hangs or tries the next disk). Rebuild the image.`,
    );
    return;
  }
  if (!ourStage1) {
    add(
      'loader',
      `The MBR's boot code is not our stage 1 (${stage1Differences(lba0)} of its ${STAGE1_CODE.length} bytes differ) nor a loader this tool knows, so nothing loads ${stage2At >= 0 ? `stage 2 (at LBA ${stage2At})` : 'the kernel'}. Rebuild the image.`,
    );
    return;
  }
  const { stage2Lba, stage2Sectors } = readStage1Fields(lba0);
  const fields = `Stage 1 reads ${stage2Sectors} sectors of stage 2 from LBA ${stage2Lba}`;
  const found = stage2At >= 0 ? ` (stage 2 is at LBA ${stage2At})` : '';
  if (stage2Sectors < 1 || stage2Sectors > STAGE2_MAX_SECTORS) {
    add(
      'loader',
      `${fields}, but the count must be 1 to ${STAGE2_MAX_SECTORS}: the loader stops with "Boot error: stage 2 damaged". Rebuild the image.`,
    );
    return;
  }
  if ((stage2Lba + stage2Sectors) * SECTOR > img.disk.size) {
    add(
      'loader',
      `${fields}, past the end of the ${img.disk.size / SECTOR}-sector disk${found}: the loader stops with "Boot error: disk read error". Rebuild the image.`,
    );
    return;
  }
  const stage2 = await img.disk.read(stage2Lba * SECTOR, stage2Sectors * SECTOR);
  if (rd32le(stage2, PARAMS_OFF) !== PARAMS_MAGIC) {
    add(
      'loader',
      `${fields}, but ${stage2At >= 0 ? `that sector does not start stage 2${found}` : 'no stage 2 is there or anywhere before the partition (zeroed or overwritten)'}: the loader stops with "Boot error: stage 2 damaged". Rebuild the image.`,
    );
    return;
  }
  if (!reportBootParams(stage2).params) {
    // The magic is there but the block and the command line do not fit in what stage 1 reads.
    const whole = await img.disk.read(stage2Lba * SECTOR, Math.max(stage2Sectors, gapEnd - stage2Lba) * SECTOR);
    const p = reportBootParams(whole.subarray(0, STAGE2_MAX_SECTORS * SECTOR)).params;
    const need = p ? `${Math.ceil((CMDLINE_OFF + p.cmdline.length + 1) / SECTOR)} sectors` : 'more';
    add(
      'loader',
      `${fields}, but stage 2 and its command line take ${need}: the loader stops with "Boot error: damaged stage 2 or parameter block". Rebuild the image.`,
    );
    return;
  }
  if (stage2Lba !== STAGE2_LBA || stage2Lba >= partStart) {
    add('loader', `${fields}, which is not where stage 2 belongs (LBA ${STAGE2_LBA}, before the partition).`);
  }
}

/**
 * An old-tool image's syslinux.cfg checked the way SYSLINUX and mboot.c32
 * run it: the label's command within SYSLINUX_MAX_COMMAND bytes, and every
 * module file named after a `---` word present on the volume.
 */
export async function verifySyslinuxArgs(img: OpenedImage, add: AddError): Promise<void> {
  const s = img.boot.syslinux;
  if (!s || !img.fat) return;
  const where = terminalSafe(s.config.path);
  let text: string;
  try {
    text = utf8Decode(await img.fat.readFile(s.config, MAX_CONFIG));
  } catch (e) {
    if (!isImageError(e)) throw e;
    add('syslinux', e.message);
    return;
  }
  const problem = syslinuxBootProblem(text, s.boot, where);
  if (problem) add('syslinux', problem);
  if (!s.boot.multiboot || !s.boot.modules) return;
  const words = syslinuxWords(s.boot.modules);
  for (let i = 0; i < words.length; i++) {
    if (words[i] !== MBOOT_MODULE_SEPARATOR || i + 1 >= words.length) continue;
    const file = words[i + 1];
    if (file === MBOOT_MODULE_SEPARATOR) continue;
    const path = resolvePath(file, s.config.path);
    if (!(await img.fat.find(path))) {
      add(
        'syslinux',
        `${where}: APPEND has the word "${MBOOT_MODULE_SEPARATOR}" and then "${terminalSafe(file)}", which ${MBOOT} loads as a module file, and the volume has no ${terminalSafe(path)}: the boot stops at SYSLINUX's boot: prompt (a "${MBOOT_MODULE_SEPARATOR}" meant for the kernel cannot be passed through ${MBOOT}).`,
      );
    }
  }
}
