/** Write an image plan (or a byte range of it) to a sparse file, for the real tools to read. */
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import type { ImagePlan } from '../../src/core/plan';

export function writePlanRange(plan: ImagePlan, path: string, start = 0, end = plan.size): void {
  const fd = openSync(path, 'w');
  try {
    for (const p of plan.pieces) {
      const from = Math.max(start, p.offset);
      const to = Math.min(end, p.offset + p.bytes.length);
      if (from >= to) continue;
      const chunk = p.bytes.subarray(from - p.offset, to - p.offset);
      let done = 0;
      while (done < chunk.length) done += writeSync(fd, chunk, done, chunk.length - done, from - start + done);
    }
    ftruncateSync(fd, end - start);
  } finally {
    closeSync(fd);
  }
}
