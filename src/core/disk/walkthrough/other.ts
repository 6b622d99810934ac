/**
 * The walkthrough of a disk whose loader is GRUB or one this tool does not
 * know: only LBA 0 and the partition table, with a note saying why.
 */
import type { WalkStep } from './types';
import { biosStep, type Builder, partitionStep } from './shared';

export function otherSteps(b: Builder): (WalkStep | null)[] {
  const kind = b.boot.kind;
  const out: (WalkStep | null)[] = [
    biosStep(
      b,
      kind === 'grub'
        ? "Here LBA 0 holds GRUB's first stage (boot.img). It loads GRUB's core image, usually from the sectors right after LBA 0, which reads GRUB's modules and its configuration."
        : 'This tool does not know the code in this LBA 0, so the steps after it cannot be shown.',
    ),
  ];
  if (b.ctx.mbr) out.push(partitionStep(b, []));
  b.notes.push(
    kind === 'grub'
      ? "GRUB's own stages (core.img and its modules) are not walked through here; only LBA 0 and the partition table are shown."
      : 'No boot loader this tool knows: only LBA 0 and the partition table are shown.',
  );
  return out;
}
