/**
 * Helpers shared by the block-based containers (qcow2, VHD, VMDK, VDI): which
 * fixed-size blocks of the disk hold data, their bytes as output parts, and
 * the progress of the last part.
 */
import { dataBlocks, isZero, loadPlan, readPlan, type ImagePlan } from '../plan';
import type { OutputPart } from './types';

/**
 * Blocks of `blockSize` that hold a non-zero byte, sorted. Reads only the
 * data pieces (never the zeros between them); a stored plan already lists
 * only blocks that hold one.
 */
export function nonZeroBlocks(plan: ImagePlan, blockSize: number): number[] {
  if (plan.stored) return dataBlocks(plan, blockSize);
  const buf = new Uint8Array(blockSize);
  return dataBlocks(plan, blockSize).filter((b) => {
    readPlan(plan, b * blockSize, buf);
    return !isZero(buf);
  });
}

/** The given blocks' bytes, one fresh buffer (one part) per block, in order. */
export async function* blockParts(
  plan: ImagePlan,
  blocks: readonly number[],
  blockSize: number,
): AsyncGenerator<OutputPart> {
  for (const b of blocks) {
    const buf = new Uint8Array(blockSize);
    await loadPlan(plan, b * blockSize, buf);
    yield { kind: 'data', bytes: buf, covered: Math.min(plan.size, (b + 1) * blockSize) };
  }
}

/** Delay parts by one so that the last one can say it covers the whole disk. */
export async function* lastCovers(parts: AsyncIterable<OutputPart>, size: number): AsyncGenerator<OutputPart> {
  let prev: OutputPart | undefined;
  for await (const p of parts) {
    if (prev) yield prev;
    prev = p;
  }
  if (prev) yield { ...prev, covered: size };
}
