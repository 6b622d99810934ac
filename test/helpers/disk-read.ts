/**
 * Helpers for the image decoders' tests: a file ByteSource that records how
 * much it was asked for, a chunked byte-for-byte comparison of a DiskImage
 * against a reference (never loading the whole disk), and extent checks.
 */
import { expect } from 'vitest';
import { openImageFile } from '../../src/cli/source';
import type { ByteSource, DiskExtent, DiskImage } from '../../src/core/formats/reader';
import { isZero, readPlan, type ImagePlan } from '../../src/core/plan';
import { MiB } from './containers';

/** A ByteSource wrapper that counts reads and remembers the largest one. */
export interface CountingSource extends ByteSource {
  stats: { reads: number; bytes: number; largest: number };
}

export function counting(source: ByteSource): CountingSource {
  const stats = { reads: 0, bytes: 0, largest: 0 };
  return {
    size: source.size,
    stats,
    async read(offset, length) {
      const b = await source.read(offset, length);
      stats.reads++;
      stats.bytes += b.length;
      stats.largest = Math.max(stats.largest, b.length);
      return b;
    },
  };
}

/** Open a file, run `f` on its counting source, close it. */
export async function withFile<T>(path: string, f: (s: CountingSource) => Promise<T>): Promise<T> {
  const { source, close } = openImageFile(path);
  try {
    return await f(counting(source));
  } finally {
    close();
  }
}

/** The reference disk as reads: a raw file, or a plan. */
export type Reference = { size: number; read(offset: number, out: Uint8Array): Promise<void> };

export function planReference(plan: ImagePlan): Reference {
  return { size: plan.size, read: async (offset, out) => readPlan(plan, offset, out) };
}

export function sourceReference(source: ByteSource): Reference {
  return {
    size: source.size,
    read: async (offset, out) => {
      out.set(await source.read(offset, out.length));
    },
  };
}

/**
 * The decoded disk equals the reference byte for byte, compared 1 MiB at a
 * time; a disk larger than the reference (VHD's CHS rounding) must read as
 * zeros past the reference's end.
 */
export async function expectSameDisk(disk: DiskImage, ref: Reference, label: string): Promise<void> {
  expect(disk.size, `${label}: disk size`).toBeGreaterThanOrEqual(ref.size);
  const want = new Uint8Array(MiB);
  for (let off = 0; off < disk.size; off += MiB) {
    const got = await disk.read(off, MiB);
    const n = Math.min(MiB, disk.size - off);
    expect(got.length, `${label}: read length at ${off}`).toBe(n);
    want.fill(0);
    if (off < ref.size) await ref.read(off, want.subarray(0, Math.min(n, ref.size - off)));
    if (Buffer.compare(Buffer.from(got.buffer, got.byteOffset, n), Buffer.from(want.buffer, 0, n)) !== 0) {
      let i = 0;
      while (got[i] === want[i]) i++;
      expect.fail(`${label}: first difference at disk offset ${off + i}: got ${got[i]}, want ${want[i]}`);
    }
  }
}

/** All extents, checked: in order, covering [0, size), alternating kinds, none empty. */
export async function allExtents(disk: DiskImage): Promise<DiskExtent[]> {
  const out: DiskExtent[] = [];
  let pos = 0;
  for await (const e of disk.extents()) {
    expect(e.offset).toBe(pos);
    expect(e.length).toBeGreaterThan(0);
    if (out.length) expect(e.allocated).not.toBe(out[out.length - 1].allocated);
    out.push(e);
    pos += e.length;
  }
  expect(pos).toBe(disk.size);
  return out;
}

/** Merge [start, length) ranges that touch. */
export function mergeRanges(rs: { start: number; length: number }[]): { start: number; length: number }[] {
  const out: { start: number; length: number }[] = [];
  for (const r of [...rs].sort((a, b) => a.start - b.start)) {
    const last = out[out.length - 1];
    if (last && last.start + last.length >= r.start) {
      last.length = Math.max(last.length, r.start + r.length - last.start);
    } else out.push({ ...r });
  }
  return out;
}

/** The holes the decoder reports really are zeros in the reference. */
export async function expectHolesZero(extents: DiskExtent[], ref: Reference, label: string): Promise<void> {
  const buf = new Uint8Array(MiB);
  for (const e of extents) {
    if (e.allocated) continue;
    for (let off = e.offset; off < Math.min(ref.size, e.offset + e.length); off += MiB) {
      const n = Math.min(MiB, e.offset + e.length - off, ref.size - off);
      const b = buf.subarray(0, n);
      await ref.read(off, b);
      if (!isZero(b)) expect.fail(`${label}: non-zero byte in a reported hole at ${off + b.findIndex((x) => x !== 0)}`);
    }
  }
}
