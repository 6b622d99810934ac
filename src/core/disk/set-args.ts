/**
 * `set-args`: a new command line for an image read back, as patches to its
 * disk, and the plan of the changed copy. Ours rewrites stage 2's command
 * line, length and CRC (and stage 1's sector count when stage 2 grows or
 * shrinks); an old-tool image rewrites the booted label's APPEND in
 * syslinux.cfg inside the FAT. `setArgsRefusal` is the one decision whether
 * it can, so a page can say why not before a file is picked.
 */
import { utf8 } from '../bytes';
import { fail, ImageError } from '../errors';
import { checkArgs, withArgs } from '../image';
import type { ImagePlan, Patch } from '../plan';
import { replaceCommandLine, withStage2Sectors } from '../boot/params';
import { STAGE2_MAX_SECTORS } from '../boot/loader.generated';
import { utf8Decode } from '../fat/read';
import { rewriteFile } from '../fat/rewrite';
import { SECTOR } from '../units';
import { MAX_CONFIG, type BootloaderKind } from './bootloader';
import { copyPlan, type ReadOptions } from './copy';
import type { OpenedImage } from './open-image';
import {
  MBOOT,
  MBOOT_MODULE_SEPARATOR,
  parseSyslinuxCfg,
  rewriteSyslinuxArgs,
  SYSLINUX_MAX_COMMAND,
  syslinuxCommand,
  syslinuxWords,
} from './syslinux';
import { terminalSafe } from '../terminal';

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
export async function setArgs(img: OpenedImage, args: string): Promise<SetArgsResult> {
  const { boot, disk } = img;
  const refused = setArgsRefusal(img);
  if (refused) throw refused;
  if (boot.ours) {
    const o = boot.ours;
    const before = utf8Decode(o.params.cmdline);
    checkArgs(args);
    const cmdline = withArgs(before, args);
    const stage2 = replaceCommandLine(o.stage2, utf8(cmdline));
    const sectors = stage2.length / SECTOR;
    const limit = Math.min(STAGE2_MAX_SECTORS, (img.partition?.startLba ?? 2048) - o.stage2Lba);
    if (sectors > limit) {
      fail(
        'STAGE2_NO_ROOM',
        `With these arguments stage 2 needs ${sectors} sectors but ${limit} fit before the partition at LBA ${img.partition?.startLba}; shorten the arguments.`,
      );
    }
    const patches: Patch[] = [];
    // Old sectors past the new end become zeros again.
    const old = o.stage2Sectors * SECTOR;
    const write = new Uint8Array(Math.max(old, stage2.length));
    write.set(stage2, 0);
    patches.push({ offset: o.stage2Lba * SECTOR, bytes: write });
    if (sectors !== o.stage2Sectors) patches.push({ offset: 0, bytes: withStage2Sectors(img.lba0, sectors) });
    return { kind: boot.kind, before, after: cmdline, patches };
  }
  if (boot.syslinux && img.fat) {
    const s = boot.syslinux;
    if (args.includes('\0') || /[\r\n]/.test(args)) {
      fail(
        'ARGS_NUL',
        'The kernel arguments contain a NUL or a line break, which would end the APPEND line early; remove it.',
      );
    }
    if (s.boot.multiboot && syslinuxWords(args).includes(MBOOT_MODULE_SEPARATOR)) {
      fail(
        'ARGS_MODULE_SEPARATOR',
        `The arguments hold the word "${MBOOT_MODULE_SEPARATOR}", which ${MBOOT} (SYSLINUX) takes as the start of a list of module files: the kernel would get only the words before it, and the boot would stop at SYSLINUX's boot: prompt. Leave it out (or rebuild the image with solo5-virtio-mkimage, whose loader passes any words).`,
      );
    }
    const text = utf8Decode(await img.fat.readFile(s.config, MAX_CONFIG));
    const nextText = rewriteSyslinuxArgs(text, s.boot, args);
    const after = parseSyslinuxCfg(nextText, s.config.path);
    const command = utf8(syslinuxCommand(nextText, after)).length;
    if (command > SYSLINUX_MAX_COMMAND) {
      fail(
        'ARGS_TOO_LONG',
        `With these arguments SYSLINUX would run a command of ${command} bytes ("${terminalSafe(after.runs)}" and its APPEND line), above the ${SYSLINUX_MAX_COMMAND} it runs ("cmdline too long" at boot); shorten the arguments by ${command - SYSLINUX_MAX_COMMAND} bytes (or rebuild the image with solo5-virtio-mkimage, whose loader takes 8191).`,
      );
    }
    const patches = await rewriteFile(img.fat, disk, s.config, utf8(nextText));
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
export function setArgsRefusal(img: OpenedImage): ImageError | null {
  const { boot } = img;
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
  if (boot.syslinux && img.fat) return null;
  return new ImageError(
    'SETARGS_UNSUPPORTED',
    boot.kind === 'grub'
      ? 'This image boots with GRUB, whose command line lives in grub.cfg (or its core image); edit grub.cfg with mtools, or rebuild the image with solo5-virtio-mkimage.'
      : 'This image has no boot loader this tool knows (ours or SYSLINUX), so there is no command line to rewrite; rebuild the image with solo5-virtio-mkimage.',
  );
}

/** The disk with a new command line, as a plan ready for a writer, and what changed. */
export async function setArgsPlan(
  img: OpenedImage,
  args: string,
  opts: ReadOptions = {},
): Promise<{ plan: ImagePlan } & Omit<SetArgsResult, 'patches'>> {
  const r = await setArgs(img, args);
  const plan = await copyPlan(img.disk, r.patches, opts);
  return { plan, kind: r.kind, before: r.before, after: r.after };
}
