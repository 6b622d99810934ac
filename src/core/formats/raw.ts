/**
 * Raw disk image: the disk's bytes as they are. Zero runs come out as holes,
 * so a sink that can seek writes a sparse file and a stream sink writes zeros.
 */
import { loadExtents, type ImagePlan } from '../plan';
import type { FormatOptions, OutputFormat, OutputPart } from './types';
import { MIB } from '../units';

/** Largest data part: big pieces (a kernel of tens of MiB) are sliced, never copied. */
export const RAW_PART = MIB;

export async function* writeRaw(plan: ImagePlan): AsyncGenerator<OutputPart> {
  for await (const x of loadExtents(plan, RAW_PART)) {
    if (x.kind === 'zero') yield { kind: 'hole', length: x.length, covered: x.offset + x.length };
    else yield { kind: 'data', bytes: x.bytes, covered: x.offset + x.bytes.length };
  }
}

export const rawFormat: OutputFormat = {
  id: 'raw',
  label: 'Raw disk image (.img)',
  extension: '.img',
  mime: 'application/octet-stream',
  plainDisk: true,
  usedFor: 'QEMU, VirtualBox (after conversion), dd to a USB stick, most clouds that import raw disks',
  qemuDriver: 'raw',
  outputLength: (diskSize) => diskSize,
  write(plan: ImagePlan, _opts: FormatOptions): AsyncIterable<OutputPart> {
    return writeRaw(plan);
  },
};
