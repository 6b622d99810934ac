/**
 * The image decoders on hostile input, fuzzed like the kernel parser: headers,
 * tables, footers and compressed data of every container mutated (bytes,
 * runs of 0xFF or 0x00 for huge or empty fields) and files cut short, with a
 * fixed seed. Whatever the bytes, opening and reading either works or throws
 * an ImageError (a coded error), in bounded time, with bounded reads.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync, writeFileSync } from 'node:fs';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { planImage } from '../src/core/image';
import { FORMATS } from '../src/core/formats/index';
import { gceFormat } from '../src/core/formats/gce';
import { rawFormat } from '../src/core/formats/raw';
import { openDisk } from '../src/core/formats/open';
import { buildWalkthrough } from '../src/core/disk/walkthrough';
import type { ByteSource } from '../src/core/formats/reader';
import { isImageError } from '../src/core/errors';
import { GiB, KiB, MiB, OPTS, syntheticPlan } from './helpers/containers';
import type { OutputFormat } from '../src/core/formats/types';
import type { ImagePlan } from '../src/core/plan';
import { run, tempDir, tools } from './helpers/tools';
import { readImage, type OpenedImage } from '../src/core/disk/open-image';

/** Longest one run may take (open, walk the extents, a few reads). */
const RUN_MS = 5000;
/** Largest single read a decoder may ask of the file: QEMU's 32 MiB L1 limit, our table limits. */
const MAX_READ = 32 * MiB + 4 * KiB;

interface Mutation {
  where: 'head' | 'meta' | 'tail' | 'any';
  at: number;
  kind: 'byte' | 'ones' | 'zeros';
  value: number;
  width: number;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  where: fc.constantFrom<Mutation['where']>('head', 'head', 'head', 'meta', 'meta', 'tail', 'tail', 'any'),
  at: fc.nat(),
  kind: fc.constantFrom<Mutation['kind']>('byte', 'byte', 'ones', 'zeros'),
  value: fc.integer({ min: 0, max: 255 }),
  width: fc.constantFrom(1, 1, 2, 4, 8),
});

function mutate(base: Uint8Array, ms: Mutation[], cut: number | null): Uint8Array {
  const b = base.slice();
  const meta = Math.min(b.length, 512 * KiB);
  const tail = Math.min(b.length, 4 * KiB);
  for (const m of ms) {
    const at =
      m.where === 'head'
        ? m.at % Math.min(b.length, KiB)
        : m.where === 'meta'
          ? m.at % meta
          : m.where === 'tail'
            ? b.length - tail + (m.at % tail)
            : m.at % b.length;
    for (let i = 0; i < m.width && at + i < b.length; i++) {
      b[at + i] = m.kind === 'ones' ? 0xff : m.kind === 'zeros' ? 0 : m.value;
    }
  }
  return cut === null ? b : b.subarray(0, Math.floor(cut * b.length));
}

function memorySource(b: Uint8Array, stats: { largest: number }): ByteSource {
  return {
    size: b.length,
    async read(offset, length) {
      const end = Math.min(b.length, offset + length);
      stats.largest = Math.max(stats.largest, end - offset);
      return b.slice(offset, end);
    },
  };
}

/**
 * Open, walk the extents (at most 20000), read the start, the end and a few
 * allocated runs, and build the boot walkthrough (which turns what it cannot
 * read into notes).
 */
async function exercise(src: ByteSource): Promise<void> {
  const disk = await openDisk(src);
  let n = 0;
  const starts: number[] = [];
  for await (const e of disk.extents()) {
    if (e.allocated && starts.length < 4) starts.push(e.offset);
    if (++n > 20000) break;
  }
  await disk.read(0, MiB);
  await disk.read(Math.max(0, disk.size - MiB), MiB);
  for (const s of starts) await disk.read(s, 256 * KiB);
  // The synthetic disks hold no partition table: opening them as images refuses with LBA 0's sentence,
  // and the demo kernel's GCE image opens; an opened one always has a walkthrough.
  let img: OpenedImage;
  try {
    img = await readImage(disk);
  } catch (e) {
    if (isImageError(e) && e.code === 'MBR_NO_SIGNATURE') return;
    throw e;
  }
  const w = await buildWalkthrough(img);
  expect(w.steps.length + w.notes.length).toBeGreaterThan(0);
}

/** A small image file in memory, straight from the writer (holes as zeros). */
async function fileBytes(format: OutputFormat, plan: ImagePlan): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of format.write(plan, OPTS))
    parts.push(p.kind === 'data' ? p.bytes.slice() : new Uint8Array(p.length));
  return Buffer.concat(parts);
}

async function bases(): Promise<{ id: string; bytes: Uint8Array }[]> {
  const t = tempDir('ukd-fuzz-');
  try {
    const small = syntheticPlan(8 * MiB);
    const out: { id: string; bytes: Uint8Array }[] = [];
    for (const f of FORMATS) {
      if (f.id === rawFormat.id) continue;
      const plan = f.id === gceFormat.id ? planImage(DEMO_KERNEL, { size: GiB }).plan : small;
      out.push({ id: f.id, bytes: await fileBytes(f, plan) });
    }
    if (tools('qemu-img')) {
      // qemu's compressed and version 2 qcow2 take paths ours never writes.
      const raw = t.path('b.raw');
      writeFileSync(raw, await fileBytes(rawFormat, small));
      run('qemu-img', ['convert', '-c', '-O', 'qcow2', '-o', 'cluster_size=4096', raw, t.path('c.qcow2')]);
      run('qemu-img', ['convert', '-O', 'qcow2', '-o', 'compat=0.10', raw, t.path('v2.qcow2')]);
      out.push({ id: 'qcow2 -c (qemu)', bytes: readFileSync(t.path('c.qcow2')) });
      out.push({ id: 'qcow2 v2 (qemu)', bytes: readFileSync(t.path('v2.qcow2')) });
      // Other writers' layouts of the other containers.
      for (const [name, args] of [
        ['vpc dynamic (qemu)', ['-O', 'vpc']],
        ['vmdk streamOptimized (qemu)', ['-O', 'vmdk', '-o', 'subformat=streamOptimized']],
        ['vmdk monolithicSparse (qemu)', ['-O', 'vmdk', '-o', 'subformat=monolithicSparse']],
        ['vdi (qemu)', ['-O', 'vdi']],
        ['qcow2 extended L2 (qemu)', ['-O', 'qcow2', '-o', 'extended_l2=on,cluster_size=16k']],
      ] as const) {
        const file = t.path('q.img');
        run('qemu-img', ['convert', '-f', 'raw', ...args, raw, file]);
        out.push({ id: name, bytes: readFileSync(file) });
      }
    }
    return out;
  } finally {
    t.cleanup();
  }
}

const BASES = await bases();

describe('decoders on hostile input: coded errors only, bounded time and reads', () => {
  const codes = new Map<string, number>();
  let readable = 0;
  for (const [i, { id, bytes }] of BASES.entries()) {
    it(`${id}: mutated headers, tables and data, and cut files`, async () => {
      // The unmutated file decodes.
      await exercise(memorySource(bytes, { largest: 0 }));
      const coded = new Set<string>();
      await fc.assert(
        fc.asyncProperty(
          fc.array(mutation, { minLength: 1, maxLength: 6 }),
          // One run in four cuts the file at a random point (in thousandths of its length).
          fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 999 })),
          async (ms, [cutIt, permille]) => {
            const input = mutate(bytes, ms, cutIt === 0 ? permille / 1000 : null);
            const stats = { largest: 0 };
            const t0 = performance.now();
            try {
              await exercise(memorySource(input, stats));
              readable++;
            } catch (e) {
              if (!isImageError(e)) throw e;
              expect(e.message.length).toBeGreaterThan(20);
              codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
              coded.add(e.code);
            }
            expect(performance.now() - t0).toBeLessThan(RUN_MS);
            expect(stats.largest).toBeLessThanOrEqual(MAX_READ);
          },
        ),
        { numRuns: 300, seed: 0x5eed + i },
      );
      expect(coded.size, `${id}: the mutations were refused with some code`).toBeGreaterThan(0);
    });
  }
  it('over all formats: some mutated files still read, others met many different codes; memory stayed bounded', () => {
    expect(readable).toBeGreaterThan(0);
    expect(codes.size).toBeGreaterThanOrEqual(4);
    expect(process.memoryUsage().rss).toBeLessThan(2 * GiB);
    console.log('fuzz outcomes:', readable, 'readable;', JSON.stringify(Object.fromEntries(codes)));
  });
});
