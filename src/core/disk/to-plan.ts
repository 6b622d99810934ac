/**
 * diskToPlan(): the disk inside an image as an ImagePlan, so that any image
 * we can read goes back through the same writers (`convert`, saving a changed
 * copy in the format it came in). Only the allocated extents are read, and of
 * them only the sectors holding a non-zero byte become pieces: the writers
 * then store exactly the blocks the original plan would have, so converting
 * one of our images gives the same bytes as writing its plan directly.
 */
import { fail } from '../errors';
import { makePlan, isZero, type ImagePlan, type Piece } from '../plan';
import { formatBytes, MIB, SECTOR } from '../units';
import type { DiskImage } from './types';

/** Non-zero bytes a plan made from an image may hold by default (they are kept in memory). */
export const MAX_PLAN_DATA = 512 * MIB;

/** Bytes read from the disk at once. */
const STEP = MIB;

export async function diskToPlan(disk: DiskImage, opts: { maxData?: number } = {}): Promise<ImagePlan> {
  const max = opts.maxData ?? MAX_PLAN_DATA;
  const pieces: Piece[] = [];
  let kept = 0;
  // The run of non-zero sectors being collected: start offset and its chunks.
  let runStart = -1;
  let runParts: Uint8Array[] = [];
  let runEnd = -1;
  const close = () => {
    if (runStart < 0) return;
    const bytes = new Uint8Array(runEnd - runStart);
    let at = 0;
    for (const p of runParts) {
      bytes.set(p, at);
      at += p.length;
    }
    pieces.push({ offset: runStart, bytes });
    runStart = -1;
    runParts = [];
  };
  for await (const e of disk.extents()) {
    if (!e.allocated) continue;
    for (let off = e.offset; off < e.offset + e.length; off += STEP) {
      const buf = await disk.read(off, Math.min(STEP, e.offset + e.length - off));
      for (let s = 0; s < buf.length; s += SECTOR) {
        const sector = buf.subarray(s, Math.min(buf.length, s + SECTOR));
        if (isZero(sector)) continue;
        const at = off + s;
        kept += sector.length;
        if (kept > max) {
          fail(
            'IMAGE_TOO_LARGE',
            `The disk holds more than ${formatBytes(max)} of non-zero data, more than is kept in memory to rewrite it; convert it with qemu-img instead.`,
          );
        }
        if (runStart >= 0 && at === runEnd) runParts.push(sector.slice());
        else {
          close();
          runStart = at;
          runParts = [sector.slice()];
        }
        runEnd = at + sector.length;
      }
    }
  }
  close();
  return makePlan(disk.size, pieces);
}
