/**
 * The GNU sparse tar encoder on its own: number fields, the sparse map, and
 * the whole uncompressed archive compared byte for byte with what GNU tar
 * itself writes for the same raw file:
 *
 *   tar --format=gnu|oldgnu --sparse --hole-detection=raw \
 *       --mtime=@T --owner=root:0 --group=root:0 --mode=0644 -cf out.tar disk.raw
 *
 * (`--hole-detection=raw` makes tar find holes by 512-byte blocks of zeros,
 * which is exactly how our map is made from the pieces' bytes.
 * With `seek` (SEEK_HOLE), tar always ends the map with (size, 0), even after
 * data; we follow the raw scan, which adds it only for a trailing hole, so the
 * seek cases end in a hole.)
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { makePlan, type ImagePlan } from '../src/core/plan';
import { rawFormat } from '../src/core/formats/raw';
import {
  BLOCK,
  HDR,
  RECORD,
  encodeNumber,
  encodeSparseHeader,
  headerChecksum,
  sparseMap,
  sparseTar,
  storedSize,
} from '../src/core/formats/tar';
import { writeFile } from './helpers/sink';
import { run, tempDir, tools } from './helpers/tools';
import { allOf } from './helpers/containers';
import { GiB, MiB, kernelLikePlan, mbrLike, randomBytes, spread } from './helpers/synthetic-plans';

const tmp = tempDir('ukd-tar-');
afterAll(() => tmp.cleanup());

const field = (len: number, v: number) => {
  const b = new Uint8Array(len);
  encodeNumber(b, 0, len, v);
  return [...b];
};
const octal = (s: string) => [...s].map((c) => c.charCodeAt(0));

async function ourTar(plan: ImagePlan, mtime: number): Promise<Buffer> {
  return Buffer.concat((await allOf(sparseTar(plan, { name: 'disk.raw', mtime }))).map((c) => c.bytes));
}

describe('number fields', () => {
  it('octal with a NUL while it fits, GNU base-256 from 8^(len-1) on', () => {
    expect(field(8, 0o644)).toEqual(octal('0000644\0'));
    expect(field(12, 0)).toEqual(octal('00000000000\0'));
    expect(field(12, 8 ** 11 - 1)).toEqual(octal('77777777777\0'));
    // 8^11 = 2^33 = 8 GiB: 0x80 marker, then 11 bytes big-endian.
    expect(field(12, 8 ** 11)).toEqual([0x80, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0]);
    expect(field(12, 17 * GiB + 512)).toEqual([0x80, 0, 0, 0, 0, 0, 0, 4, 0x40, 0, 2, 0]);
    expect(field(12, 2 ** 53 - 1)).toEqual([0x80, 0, 0, 0, 0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    expect(() => field(12, -1)).toThrow();
    expect(() => field(12, 0.5)).toThrow();
  });
});

describe('headers', () => {
  it('one block for up to 4 regions, then 21 per extension block, flags set on all but the last', () => {
    const h = (n: number) =>
      encodeSparseHeader({
        name: 'disk.raw',
        mode: 0o644,
        uid: 0,
        gid: 0,
        uname: 'root',
        gname: 'root',
        mtime: 0,
        realsize: 100 * GiB,
        map: Array.from({ length: n }, (_, i) => ({ offset: i * GiB, numbytes: 512 })),
      });
    expect(h(4).length).toBe(BLOCK);
    expect(h(4)[HDR.isextended[0]]).toBe(0);
    expect(h(5).length).toBe(2 * BLOCK);
    expect(h(25).length).toBe(2 * BLOCK);
    const big = h(26);
    expect(big.length).toBe(3 * BLOCK);
    expect(big[HDR.isextended[0]]).toBe(1);
    expect(big[BLOCK + 504]).toBe(1);
    expect(big[2 * BLOCK + 504]).toBe(0);
    // The 26th entry is the first of the second extension block.
    expect([...big.subarray(2 * BLOCK, 2 * BLOCK + 12)]).toEqual(field(12, 25 * GiB));
    // Stored size is the sum of the regions; checksum field as GNU writes it.
    expect([...big.subarray(HDR.size[0], HDR.size[0] + 12)]).toEqual(field(12, 26 * 512));
    const sum = headerChecksum(big);
    expect([...big.subarray(148, 156)]).toEqual(octal(sum.toString(8).padStart(6, '0') + '\0 '));
  });

  it('the map rounds pieces out to sectors, merges what touches, and ends a trailing hole with (size, 0)', () => {
    const plan = makePlan(GiB, [
      { offset: 0, bytes: new Uint8Array(446).fill(1) },
      { offset: 446, bytes: new Uint8Array(66).fill(2) },
      { offset: 600, bytes: new Uint8Array(10).fill(3) },
      { offset: 2000, bytes: new Uint8Array(1).fill(4) },
      { offset: MiB + 1, bytes: new Uint8Array(1023).fill(5) },
    ]);
    expect(sparseMap(plan)).toEqual([
      { offset: 0, numbytes: 1024 },
      { offset: 1536, numbytes: 512 },
      { offset: MiB, numbytes: 1024 },
      { offset: GiB, numbytes: 0 },
    ]);
    expect(storedSize(sparseMap(plan))).toBe(2560);
    expect(sparseMap(makePlan(GiB, []))).toEqual([{ offset: GiB, numbytes: 0 }]);
  });

  it("all-zero sectors inside a piece are holes, as GNU tar's block scan makes them", async () => {
    // A kernel-like piece: a data sector, two zero sectors, a data sector, a zero tail.
    const k = new Uint8Array(5 * 512);
    k[7] = 1;
    k[3 * 512 + 511] = 2;
    // A piece whose only non-zero byte shares a sector with the previous piece's zero tail.
    const plan = makePlan(GiB, [
      { offset: MiB, bytes: k },
      { offset: MiB + 5 * 512, bytes: new Uint8Array(700) },
      { offset: MiB + 5 * 512 + 700, bytes: new Uint8Array(400).fill(9) },
    ]);
    expect(sparseMap(plan)).toEqual([
      { offset: MiB, numbytes: 512 },
      { offset: MiB + 3 * 512, numbytes: 512 },
      { offset: MiB + 6 * 512, numbytes: 1024 },
      { offset: GiB, numbytes: 0 },
    ]);
    // A piece of zeros only stores nothing.
    expect(sparseMap(makePlan(GiB, [{ offset: 0, bytes: new Uint8Array(4096) }]))).toEqual([
      { offset: GiB, numbytes: 0 },
    ]);
    // The archive still extracts to the plan: data runs hold the plan's bytes.
    const tar = await ourTar(plan, 0);
    expect(tar[BLOCK + 7]).toBe(1);
    expect(tar[2 * BLOCK + 511]).toBe(2);
  });

  it('the archive is whole records: header, data, end blocks, zero padding; data in map order', async () => {
    const plan = makePlan(GiB, [
      { offset: 512, bytes: Uint8Array.of(7, 8, 9) },
      { offset: 3 * 512, bytes: randomBytes(700, 3) },
    ]);
    const tar = await ourTar(plan, 0);
    expect(tar.length % RECORD).toBe(0);
    // Regions [512, 1024) and [1536, 2560): 1536 bytes of data after the header.
    expect([...tar.subarray(512, 515)]).toEqual([7, 8, 9]);
    expect(tar.subarray(515, 1024).every((b) => b === 0)).toBe(true);
    expect(Buffer.compare(tar.subarray(1024, 1724), Buffer.from(plan.pieces[1].bytes))).toBe(0);
    expect(tar.subarray(1724).every((b) => b === 0)).toBe(true);
  });
});

describe.skipIf(!tools('tar'))('byte-identical to GNU tar', () => {
  const T = 1_600_000_000;
  // Small disks (256 MiB: the tar format does not care): GNU tar finds holes by reading (raw), which matches our
  // sector map exactly. Big disks: by SEEK_HOLE (reading 16 GiB of holes takes
  // ~20 s here), which is file-system-block granular, so their pieces are
  // whole 4 KiB blocks.
  const cases: [string, 'raw' | 'seek', ImagePlan][] = [
    ['kernel-like 256 MiB', 'raw', kernelLikePlan(256 * MiB)],
    [
      '26 regions, sector-sized pieces',
      'raw',
      makePlan(256 * MiB, [{ offset: 0, bytes: mbrLike(4) }, ...spread(MiB + 512, 25, 7 * MiB, 1024, 5)]),
    ],
    ['empty 2 GiB', 'seek', makePlan(2 * GiB, [])],
    [
      "256 MiB ending in data (no (size, 0) entry, like tar's raw scan)",
      'raw',
      makePlan(256 * MiB, [
        { offset: 0, bytes: mbrLike(2) },
        { offset: 256 * MiB - 1536, bytes: randomBytes(1536, 3) },
      ]),
    ],
    [
      '16 GiB, across 8 GiB (base-256 offsets and realsize)',
      'seek',
      makePlan(16 * GiB, [
        { offset: 0, bytes: randomBytes(4096, 1) },
        { offset: 8 * GiB - 4096, bytes: randomBytes(8192, 2) },
        { offset: 16 * GiB - 8192, bytes: randomBytes(4096, 3) },
      ]),
    ],
    [
      '70 regions at 17 GiB',
      'seek',
      makePlan(17 * GiB, [{ offset: 0, bytes: randomBytes(4096, 6) }, ...spread(2 * MiB, 69, 251 * MiB, 3 * 4096, 7)]),
    ],
  ];
  for (const [name, detect, plan] of cases) {
    it(name, async () => {
      const raw = tmp.path('disk.raw');
      await writeFile(raw, plan, rawFormat, { timestamp: T, seed: 0 });
      const ours = await ourTar(plan, T);
      for (const format of ['gnu', 'oldgnu']) {
        const out = tmp.path(`gnu-${format}.tar`);
        run('tar', [
          `--format=${format}`,
          '--sparse',
          `--hole-detection=${detect}`,
          `--mtime=@${T}`,
          '--owner=root:0',
          '--group=root:0',
          '--mode=0644',
          '-cf',
          out,
          '-C',
          tmp.dir,
          'disk.raw',
        ]);
        const theirs = readFileSync(out);
        expect(ours.length).toBe(theirs.length);
        expect(Buffer.compare(ours, theirs)).toBe(0);
      }
    });
  }

  it('any plan, with zero sectors inside pieces and pieces at odd offsets (fast-check)', async () => {
    // 4 MiB disks keep tar's raw scan quick; pieces are random bytes with
    // some sectors zeroed and start anywhere, so sectors are shared by pieces.
    const size = 4 * MiB;
    const pieceArb = fc.record({
      offset: fc.integer({ min: 0, max: size - 8192 }),
      length: fc.integer({ min: 1, max: 6000 }),
      seed: fc.integer({ min: 1, max: 1 << 30 }),
      zeroSectors: fc.array(fc.integer({ min: 0, max: 11 }), { maxLength: 6 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(pieceArb, { minLength: 0, maxLength: 8 }), async (specs) => {
        const pieces: { offset: number; bytes: Uint8Array }[] = [];
        let end = 0;
        for (const s of [...specs].sort((a, b) => a.offset - b.offset)) {
          if (s.offset < end) continue;
          const bytes = randomBytes(s.length, s.seed, false);
          for (const z of s.zeroSectors) bytes.fill(0, z * 512, (z + 1) * 512);
          pieces.push({ offset: s.offset, bytes });
          end = s.offset + s.length;
        }
        const plan = makePlan(size, pieces);
        const raw = tmp.path('disk.raw');
        await writeFile(raw, plan, rawFormat, { timestamp: T, seed: 0 });
        const out = tmp.path('gnu-prop.tar');
        run('tar', [
          '--format=gnu',
          '--sparse',
          '--hole-detection=raw',
          `--mtime=@${T}`,
          '--owner=root:0',
          '--group=root:0',
          '--mode=0644',
          '-cf',
          out,
          '-C',
          tmp.dir,
          'disk.raw',
        ]);
        const theirs = readFileSync(out);
        const ours = await ourTar(plan, T);
        expect(ours.length).toBe(theirs.length);
        expect(Buffer.compare(ours, theirs)).toBe(0);
      }),
      { numRuns: 25, seed: 20261126 },
    );
  });
});
