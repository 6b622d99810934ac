/**
 * Raw and Google Compute Engine (sparse tar.gz) formats, read back with the
 * real tools: the file system (sparse raw files, `du`), `gzip -t`, GNU `tar`
 * (list, sparse extract), `cmp`. Plans are synthetic: pieces of random bytes
 * at chosen places, including past 8 GiB and with many sparse regions.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { statSync } from 'node:fs';
import { makePlan, dataBytes, type ImagePlan, type Piece } from '../src/core/plan';
import { rawFormat } from '../src/core/formats/raw';
import { gceFormat } from '../src/core/formats/gce';
import { sparseMap, sparseTar } from '../src/core/formats/tar';
import { collect } from '../src/core/sink';
import { isImageError } from '../src/core/errors';
import { writeFile } from './helpers/sink';
import { run, tempDir, tools } from './helpers/tools';
import { allOf } from './helpers/containers';
import {
  GiB,
  KiB,
  MiB,
  duBytes,
  fileMatchesPlan,
  kernelLikePlan,
  mbrLike,
  randomBytes,
  sameSparseFiles,
  spread,
} from './helpers/synthetic-plans';
import { checkImageSize } from '../src/core/size';

const OPTS = { timestamp: 1_700_000_000, seed: 7 };
const tmp = tempDir('ukd-rawgce-');
afterAll(() => tmp.cleanup());

function errorOf(f: () => unknown): { code: string; message: string } {
  try {
    f();
  } catch (e) {
    if (isImageError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('expected an ImageError');
}

/** Write raw and tar.gz for a plan; return the paths. */
async function writeBoth(name: string, plan: ImagePlan) {
  const raw = tmp.path(`${name}.img`);
  const tgz = tmp.path(`${name}.tar.gz`);
  await writeFile(raw, plan, rawFormat, OPTS);
  await writeFile(tgz, plan, gceFormat, OPTS);
  return { raw, tgz };
}

/**
 * The GCE checks every plan goes through: gzip -t, tar lists exactly
 * disk.raw with the disk size, extracts it sparse, identical to the raw file.
 */
function checkGce(name: string, plan: ImagePlan, raw: string, tgz: string): void {
  run('gzip', ['-t', tgz]);
  const listing = run('tar', ['-tvf', tgz]).trim().split('\n');
  expect(listing).toHaveLength(1);
  const cols = listing[0].split(/\s+/);
  expect(cols[0]).toBe('-rw-r--r--');
  expect(cols[1]).toBe('root/root');
  expect(Number(cols[2])).toBe(plan.size);
  expect(cols[cols.length - 1]).toBe('disk.raw');
  const dir = tmp.path(`${name}-x`);
  run('mkdir', ['-p', dir]);
  run('tar', ['-xSf', tgz, '-C', dir]);
  const out = `${dir}/disk.raw`;
  expect(statSync(out).size).toBe(plan.size);
  sameSparseFiles(out, raw, plan);
  run('rm', ['-rf', dir]);
}

describe('raw format', () => {
  it('describes itself', () => {
    expect(rawFormat.id).toBe('raw');
    expect(rawFormat.extension).toBe('.img');
    expect(rawFormat.qemuDriver).toBe('raw');
    expect(rawFormat.outputLength?.(GiB)).toBe(GiB);
  });

  it('accepts whole sectors and refuses anything else', () => {
    expect(() => checkImageSize(GiB, rawFormat)).not.toThrow();
    expect(() => checkImageSize(17 * GiB + 3 * 512, rawFormat)).not.toThrow();
    expect(errorOf(() => checkImageSize(GiB + 100, rawFormat))).toEqual({
      code: 'SIZE_NOT_SECTORS',
      message:
        'The size 1073741924 bytes is not a positive whole number of 512-byte sectors; round it, for example to 1025M.',
    });
    expect(errorOf(() => checkImageSize(0, rawFormat)).code).toBe('SIZE_NOT_SECTORS');
  });

  it('yields holes for zeros and data parts of at most 1 MiB that are views of the pieces', async () => {
    const kernel = randomBytes(3 * MiB + 5, 9);
    const plan = makePlan(64 * MiB, [
      { offset: 0, bytes: mbrLike(1) },
      { offset: 8 * MiB, bytes: kernel },
    ]);
    const parts = await allOf(rawFormat.write(plan, OPTS));
    expect(parts.map((p) => (p.kind === 'data' ? p.bytes.length : -p.length))).toEqual([
      512,
      -(8 * MiB - 512),
      MiB,
      MiB,
      MiB,
      5,
      -(64 * MiB - 8 * MiB - 3 * MiB - 5),
    ]);
    for (const p of parts.slice(2, 6)) if (p.kind === 'data') expect(p.bytes.buffer).toBe(kernel.buffer);
    expect(parts.map((p) => p.covered)).toEqual([512, 8 * MiB, 9 * MiB, 10 * MiB, 11 * MiB, 11 * MiB + 5, 64 * MiB]);
  });

  describe.skipIf(!tools('du', 'cmp'))('written by seeking over holes', () => {
    it('1 GiB kernel-like plan: same bytes as the plan, sparse on disk', async () => {
      const plan = kernelLikePlan(GiB);
      const f = tmp.path('k1.img');
      expect(await writeFile(f, plan, rawFormat, OPTS)).toBe(GiB);
      fileMatchesPlan(f, plan);
      expect(duBytes(f)).toBeLessThan(dataBytes(plan) + 256 * KiB);
    });

    it('an odd 17 GiB + 3 sectors disk with data at odd offsets, across 8 GiB and at the very end', async () => {
      const size = 17 * GiB + 3 * 512;
      const plan = makePlan(size, [
        { offset: 0, bytes: mbrLike(2) },
        { offset: 12345, bytes: randomBytes(1001, 3) },
        { offset: 8 * GiB - 777, bytes: randomBytes(5000, 4) },
        { offset: 16 * GiB + 1, bytes: randomBytes(3, 5) },
        { offset: size - 700, bytes: randomBytes(700, 6) },
      ]);
      const f = tmp.path('odd.img');
      expect(await writeFile(f, plan, rawFormat, OPTS)).toBe(size);
      fileMatchesPlan(f, plan, 64);
      checkImageSize(size, rawFormat);
    });
  });

  it('property: any plan written raw reads back as the plan (sampled), sparse', async () => {
    await fc.assert(
      fc.asyncProperty(randomPlan({ wholeGiB: false }), async (plan) => {
        const f = tmp.path('prop.img');
        await writeFile(f, plan, rawFormat, OPTS);
        fileMatchesPlan(f, plan, 8);
      }),
      { numRuns: 25 },
    );
  });
});

describe('GCE format: checks', () => {
  it('describes itself', () => {
    expect(gceFormat.id).toBe('tar');
    expect(gceFormat.extension).toBe('.tar.gz');
    expect(gceFormat.label).toBe('Google Compute Engine (tar.gz)');
  });

  it('needs a whole number of GiB and says which one to use', () => {
    expect(() => checkImageSize(GiB, gceFormat)).not.toThrow();
    expect(() => checkImageSize(16 * GiB, gceFormat)).not.toThrow();
    expect(errorOf(() => checkImageSize(1.5 * GiB + 512, gceFormat))).toEqual({
      code: 'SIZE_NOT_GIB',
      message:
        'Google Compute Engine needs a disk size that is a whole number of GiB, and 1.5 GiB (1610613248 bytes) is not: use 2 GiB (--size 2G) instead.',
    });
    expect(errorOf(() => checkImageSize(64 * MiB, gceFormat)).message).toBe(
      'Google Compute Engine needs a disk size that is a whole number of GiB, and 64 MiB (67108864 bytes) is not: use 1 GiB (--size 1G) instead.',
    );
    expect(errorOf(() => checkImageSize(10 * GiB - 512, gceFormat)).message).toContain('use 10 GiB (--size 10G)');
  });

  it('is reproducible, with a zero gzip mtime', async () => {
    const a = await collect(gceFormat, kernelLikePlan(GiB), OPTS);
    const b = await collect(gceFormat, kernelLikePlan(GiB), OPTS);
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(0);
    expect([...a.subarray(0, 4)]).toEqual([0x1f, 0x8b, 8, 0]);
    expect([...a.subarray(4, 8)]).toEqual([0, 0, 0, 0]);
  });

  it('never touches the zeros: the tar it compresses is headers + data, and parts stay small', async () => {
    const plan = makePlan(16 * GiB, [
      { offset: 0, bytes: mbrLike(3) },
      { offset: 4 * MiB, bytes: randomBytes(20 * MiB, 4) },
      { offset: 16 * GiB - 512, bytes: randomBytes(512, 5) },
    ]);
    let tarBytes = 0;
    for await (const c of sparseTar(plan, { name: 'disk.raw', mtime: 0 })) tarBytes += c.bytes.length;
    expect(tarBytes).toBeLessThanOrEqual(dataBytes(plan) + 2 * 512 + 2 * 512 + 10240);
    let biggest = 0;
    let last = 0;
    for await (const p of gceFormat.write(plan, OPTS)) {
      expect(p.kind).toBe('data');
      if (p.kind === 'data') biggest = Math.max(biggest, p.bytes.length);
      expect(p.covered ?? 0).toBeGreaterThanOrEqual(last);
      last = p.covered ?? last;
    }
    expect(last).toBe(16 * GiB);
    // The compressor works in its own fixed window: no part grows with the 20 MiB piece.
    expect(biggest).toBeLessThan(256 * KiB);
  });
});

describe.skipIf(!tools('tar', 'gzip', 'cmp', 'du'))('GCE format read back by gzip and GNU tar', () => {
  it('1 GiB kernel-like plan', async () => {
    const plan = kernelLikePlan(GiB);
    const { raw, tgz } = await writeBoth('k1', plan);
    checkGce('k1', plan, raw, tgz);
  });

  it('any tar --format on reading, and explicit -z, list the same single member', async () => {
    const plan = kernelLikePlan(GiB);
    const { tgz } = await writeBoth('fmt', plan);
    const want = run('tar', ['-tvf', tgz]);
    for (const f of ['gnu', 'oldgnu', 'posix', 'ustar']) expect(run('tar', [`--format=${f}`, '-tzvf', tgz])).toBe(want);
    expect(run('tar', ['-tzf', tgz])).toBe('disk.raw\n');
    // The member is stored sparse: tar's verbose listing shows the stored size only via the
    // archive size, which is close to the data, not the disk.
    expect(statSync(tgz).size).toBeLessThan(dataBytes(plan) + 16 * KiB);
  });

  it('16 GiB with a piece crossing 8 GiB (base-256 numbers) and data at the very end', async () => {
    const size = 16 * GiB;
    const plan = makePlan(size, [
      { offset: 0, bytes: mbrLike(4) },
      { offset: 5 * MiB + 3, bytes: randomBytes(100 * KiB, 5) },
      { offset: 8 * GiB - 4096 + 17, bytes: randomBytes(3 * 4096, 6) },
      { offset: size - 1024, bytes: randomBytes(1024, 7) },
    ]);
    // Ends in data: no (size, 0) entry.
    expect(sparseMap(plan).at(-1)).toEqual({ offset: size - 1024, numbytes: 1024 });
    const { raw, tgz } = await writeBoth('g16', plan);
    checkGce('g16', plan, raw, tgz);
  });

  it('more than 4 regions (one extension block) and more than 4 + 21 (several), ending in a hole', async () => {
    for (const [n, gib] of [
      [9, 2],
      [26, 1],
      [70, 3],
    ] as const) {
      const pieces: Piece[] = [
        { offset: 0, bytes: mbrLike(n) },
        ...spread(MiB + 1, n - 1, 37 * MiB + 4099, 3000, n * 100),
      ];
      const plan = makePlan(gib * GiB, pieces);
      const map = sparseMap(plan);
      expect(map).toHaveLength(n + 1);
      expect(map.at(-1)).toEqual({ offset: gib * GiB, numbytes: 0 });
      const { raw, tgz } = await writeBoth(`ext${n}`, plan);
      checkGce(`ext${n}`, plan, raw, tgz);
    }
  });

  it('a disk with no data at all is one hole', async () => {
    const plan = makePlan(GiB, []);
    const { raw, tgz } = await writeBoth('empty', plan);
    checkGce('empty', plan, raw, tgz);
  });

  it('property: random plans up to 40 GiB, tar extracted == raw written', async () => {
    await fc.assert(
      fc.asyncProperty(randomPlan({ wholeGiB: true }), async (plan) => {
        const { raw, tgz } = await writeBoth('prop', plan);
        fileMatchesPlan(raw, plan, 4);
        checkGce('prop', plan, raw, tgz);
      }),
      { numRuns: 10 },
    );
  });
});

/**
 * A second, independent reader: 7-Zip's own gzip and tar code (it knows GNU
 * sparse members). It cannot read a tar from stdin, so the gunzipped tar (a
 * few KiB) goes to a file; the disk comes out on stdout, straight into cmp.
 */
describe.skipIf(!tools('7zz', 'cmp'))('GCE format read back by 7-Zip', () => {
  async function sevenZip(name: string, plan: ImagePlan, extract: boolean): Promise<void> {
    const { raw, tgz } = await writeBoth(name, plan);
    const tar = tmp.path(`${name}.tar`);
    run('sh', ['-c', '7zz x -so "$1" > "$2"', 'sh', tgz, tar]);
    run('7zz', ['t', tgz]);
    const list = run('7zz', ['l', '-slt', '-ttar', tar]);
    const paths = [...list.matchAll(/^Path = (.*)$/gm)].map((m) => m[1]);
    expect(paths).toEqual([tar, 'disk.raw']);
    expect(list).toMatch(new RegExp(`^Size = ${plan.size}$`, 'm'));
    if (extract) run('sh', ['-c', '7zz x -so -ttar "$1" | cmp - "$2"', 'sh', tar, raw]);
  }

  it('1 GiB kernel-like plan: lists disk.raw, extracts identical to raw', async () => {
    await sevenZip('7k', kernelLikePlan(GiB), true);
  });

  it('26 regions (extension blocks): extracts identical to raw', async () => {
    await sevenZip(
      '7x',
      makePlan(GiB, [{ offset: 0, bytes: mbrLike(5) }, ...spread(MiB + 1, 25, 37 * MiB + 4099, 3000, 500)]),
      true,
    );
  });

  it('16 GiB with data past 8 GiB: the base-256 size reads back', async () => {
    await sevenZip(
      '7g',
      makePlan(16 * GiB, [
        { offset: 0, bytes: mbrLike(6) },
        { offset: 12 * GiB + 3, bytes: randomBytes(999, 7) },
      ]),
      false,
    );
  });
});

/**
 * Random plans: up to 40 GiB, up to 40 pieces of 1 byte to 70 KiB, gaps
 * from none (touching pieces) to gigabytes, sometimes a piece at the very end.
 */
function randomPlan({ wholeGiB }: { wholeGiB: boolean }): fc.Arbitrary<ImagePlan> {
  return fc
    .record({
      gib: fc.integer({ min: 1, max: 40 }),
      extraSectors: wholeGiB ? fc.constant(0) : fc.integer({ min: -2047, max: 2047 }),
      pieces: fc.array(
        fc.record({
          gap: fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 8 * GiB })),
          len: fc.integer({ min: 1, max: 70 * KiB }),
          seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        }),
        { maxLength: 40 },
      ),
      atEnd: fc.boolean(),
    })
    .map(({ gib, extraSectors, pieces, atEnd }) => {
      const size = gib * GiB + extraSectors * 512;
      const out: Piece[] = [];
      let pos = 0;
      for (const p of pieces) {
        const off = pos + p.gap;
        if (off + p.len > size - (atEnd ? 4096 : 0)) break;
        out.push({ offset: off, bytes: randomBytes(p.len, p.seed, false) });
        pos = off + p.len;
      }
      if (atEnd) out.push({ offset: size - 4096, bytes: randomBytes(4096, 99) });
      return makePlan(size, out);
    });
}
