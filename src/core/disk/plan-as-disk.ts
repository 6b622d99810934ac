/**
 * An image plan read as a disk: the bytes a build would write, without
 * writing them. Reads come from the plan's pieces (zeros elsewhere, as
 * `readPlan` gives every writer), so they equal the virtual disk of the file
 * the plan becomes in any format. The page opens the image it just sent to
 * the downloads this way: nothing is built again, whatever its size.
 */
import { readPlan, type ImagePlan } from '../plan';
import type { OutputFormat } from '../formats/types';
import { clipRead, mergeRuns, type DiskExtent, type DiskImage } from '../formats/reader';

/**
 * `plan` as the disk inside a file in `format`. Extents: a plain disk
 * (raw, fixed VHD) stores every byte; the others store the plan's data
 * pieces (their writers round them to a block or cluster, which this does
 * not, so stored bytes are a lower bound there).
 */
export function planAsDisk(plan: ImagePlan, format: Pick<OutputFormat, 'id' | 'plainDisk'>): DiskImage {
  const size = plan.size;
  async function* runs(): AsyncGenerator<DiskExtent> {
    if (format.plainDisk) {
      yield { offset: 0, length: size, allocated: true };
      return;
    }
    let pos = 0;
    for (const p of plan.pieces) {
      if (p.offset > pos) yield { offset: pos, length: p.offset - pos, allocated: false };
      yield { offset: p.offset, length: p.bytes.length, allocated: true };
      pos = p.offset + p.bytes.length;
    }
    if (pos < size) yield { offset: pos, length: size - pos, allocated: false };
  }
  return {
    formatId: format.id,
    size,
    async read(offset, length) {
      const out = new Uint8Array(clipRead(size, offset, length));
      readPlan(plan, offset, out);
      return out;
    },
    extents: () => mergeRuns(runs(), size),
  };
}
