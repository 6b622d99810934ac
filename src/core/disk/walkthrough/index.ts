/**
 * The boot walkthrough: numbered steps from power-on to the kernel's first
 * instruction, each with the exact bytes involved, read from the disk and cut
 * into labelled fields, and a plain explanation. Built from the same readers
 * as `inspect` (the opened image and its loader, the parameter block, FAT,
 * the Multiboot header); what the loader builds in memory is derived from the
 * disk's values, and what depends on the machine (the BIOS memory map) is
 * shown as a labelled example.
 *
 * Reads are bounded: LBA 0, stage 2, the volume's boot sector, directory
 * entries, the configuration, and of the kernel only its headers and the
 * bytes at its entry point. A damaged disk gives fewer steps and a note;
 * coded errors never escape, only bugs do.
 *
 * This is the entry: it finds the loader and hands over to its steps, one
 * module per loader: `ours.ts` (with `ours-machine.ts` and `ours-kernel.ts`),
 * `syslinux.ts`, `other.ts` (GRUB, or a loader this tool does not know); and
 * `efi.ts`, the same disk under UEFI (`\EFI\BOOT\BOOTX64.EFI`). They
 * share `shared.ts` (the BIOS and partition table steps), `kernel.ts` (the
 * kernel's headers), `code.ts` (machine code decoded and explained),
 * `dump.ts` (dumps cut into fields, exact reads) and `check.ts` (what the
 * offsets are, the `xxd` and QEMU + gdb commands, the references); the
 * result's shape is `types.ts`.
 */
import type { OpenedImage } from '../open-image';
import type { WalkStep, Walkthrough } from './types';
import type { Builder } from './shared';
import { oursSteps } from './ours';
import { syslinuxSteps } from './syslinux';
import { otherSteps } from './other';
import { efiSteps } from './efi';
import { checkYourself, references, walkSource } from './check';

export { xxdCommand } from './check';

export interface WalkOptions {
  /** The image's file name, for the commands shown (`xxd`, QEMU); a generic name when absent. */
  fileName?: string;
}

/** The walkthrough of an opened image; coded problems become notes, never exceptions. */
export async function buildWalkthrough(img: OpenedImage, opts: WalkOptions = {}): Promise<Walkthrough> {
  const ctx = img;
  const boot = img.boot;
  const b: Builder = { ctx, boot, notes: [...boot.notes], points: { entry: null, mbi: null } };
  if (ctx.mbrError) b.notes.push(ctx.mbrError.message);
  let steps: (WalkStep | null)[];
  if (boot.kind === 'unikernel-disk' && boot.ours) steps = await oursSteps(b, boot.ours);
  else if (boot.kind === 'syslinux' && boot.syslinux && ctx.fat) steps = await syslinuxSteps(b);
  else steps = otherSteps(b);
  const source = walkSource(img.disk.formatId, opts.fileName ?? null);
  return {
    loader: boot.kind,
    cmdline: boot.cmdline,
    steps: steps.filter((s): s is WalkStep => s !== null),
    uefi: await efiSteps(b),
    notes: b.notes,
    source,
    check: checkYourself(source, b.points),
    references: references(boot.kind),
  };
}
