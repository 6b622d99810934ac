/** Disks in memory for the decoder and operation tests: a ByteSource over bytes, and a plan's raw bytes. */
import { readPlan, type ImagePlan } from '../../src/core/plan';
import type { ByteSource, DiskImage } from '../../src/core/formats/reader';
import { openDisk } from '../../src/core/formats/open';
import { collect } from '../../src/core/sink';
import type { OutputFormat } from '../../src/core/formats/types';
import type { BuiltImage } from '../../src/core/image';

/** A ByteSource over bytes in memory (reads are copies, as a file's would be). */
export function memorySource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    async read(offset, length) {
      return bytes.slice(offset, Math.min(bytes.length, offset + length));
    },
  };
}

/** The raw disk bytes of a plan. */
export function planBytes(plan: ImagePlan): Uint8Array {
  const b = new Uint8Array(plan.size);
  readPlan(plan, 0, b);
  return b;
}

/** A raw disk in memory as a DiskImage (through openDisk, as users get it). */
export function rawDisk(bytes: Uint8Array): Promise<DiskImage> {
  return openDisk(memorySource(bytes));
}

/** A built image in `format`, in memory, opened again. */
export async function containerDisk(
  img: BuiltImage,
  format: OutputFormat,
): Promise<{ file: Uint8Array; disk: DiskImage }> {
  const file = await collect(format, img.plan, {
    timestamp: img.timestamp,
    seed: img.seed,
    fileName: `disk${format.extension}`,
  });
  return { file, disk: await openDisk(memorySource(file)) };
}

/** Every byte of a disk (small disks only). */
export async function diskBytes(disk: DiskImage): Promise<Uint8Array> {
  const out = new Uint8Array(disk.size);
  const step = 8 << 20;
  for (let o = 0; o < disk.size; o += step) out.set(await disk.read(o, Math.min(step, disk.size - o)), o);
  return out;
}
