/**
 * A tiny Node sink for tests: writes OutputParts to a file, seeking over holes
 * so that raw images come out sparse. (The CLI has its own, with a temporary
 * file and rename; this one only has to be obviously right.)
 */
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import type { OutputPart } from '../../src/core/formats/types';

function writeAll(fd: number, bytes: Uint8Array, pos: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, pos + done);
}

/** Write parts to `path` (created or truncated); returns the file size. */
export function writeParts(path: string, parts: Iterable<OutputPart>): number {
  const fd = openSync(path, 'w');
  try {
    let pos = 0;
    for (const p of parts) {
      if (p.kind === 'data') {
        writeAll(fd, p.bytes, pos);
        pos += p.bytes.length;
      } else pos += p.length;
    }
    // A trailing hole leaves the file short: set its length explicitly.
    ftruncateSync(fd, pos);
    return pos;
  } finally {
    closeSync(fd);
  }
}

/** The same for an async stream of parts (streamImage). */
export async function writePartsAsync(path: string, parts: AsyncIterable<OutputPart>): Promise<number> {
  const fd = openSync(path, 'w');
  try {
    let pos = 0;
    for await (const p of parts) {
      if (p.kind === 'data') {
        writeAll(fd, p.bytes, pos);
        pos += p.bytes.length;
      } else pos += p.length;
    }
    ftruncateSync(fd, pos);
    return pos;
  } finally {
    closeSync(fd);
  }
}
