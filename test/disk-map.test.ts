/**
 * The disk map (src/core/disk/map.ts): the labelled structures of images we
 * build sit where the plan put them and where mkfs-independent readers
 * (qemu-img map) say the data is; stored runs follow the container's own
 * tables; and the map stays bounded for a 100 GiB disk with a million
 * extents.
 */
import { isImageError } from '../src/core/errors';
import type { FormatId } from '../src/core/formats/types';
import { describe, expect, it } from 'vitest';
import { planImage } from '../src/core/image';
import { FORMATS, requireFormat } from '../src/core/formats/index';
import { storedWords } from '../src/web/inside/disk-map';
import { diskMap, MAP_LIMITS, type DiskMap } from '../src/core/disk/map';
import type { DiskExtent, DiskImage } from '../src/core/formats/reader';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { PARAMS_OFF } from '../src/core/boot/loader.generated';
import { copyFileName } from '../src/core/disk/copy-name';
import { containerDisk, planBytes, rawDisk } from './helpers/disk-memory';
import { solo5Kernel } from './helpers/fixtures';
import { qemuMapData, writeFormat } from './helpers/containers';
import { openImageFile } from '../src/cli/source';
import { openDisk } from '../src/core/formats/open';
import { run, tempDir, tools } from './helpers/tools';
import { readFileSync, writeFileSync } from 'node:fs';
import { plural } from '../src/core/units';
import { readImage } from '../src/core/disk/open-image';

const MiB = 1 << 20;
const GiB = 1 << 30;

function only(m: DiskMap, kind: string) {
  const r = m.ranges.filter((x) => x.kind === kind);
  expect(r.length, kind).toBeGreaterThan(0);
  return r;
}

describe('diskMap on images we build', () => {
  for (const [size, fatType] of [
    [4 * MiB, 12],
    [64 * MiB, 16],
    [GiB, 32],
  ] as const) {
    it(`${size / MiB} MiB (FAT${fatType}): every region of the plan is labelled where the plan put it`, async () => {
      const kernel = solo5Kernel({ abiTarget: 3 });
      const built = planImage(kernel, { size, args: 'a b' });
      expect(built.fat.type).toBe(fatType);
      const m = await diskMap(await readImage(await rawDisk(planBytes(built.plan))));
      expect(m.size).toBe(size);
      const region = (kind: string) => built.plan.regions.find((r) => r.kind === kind)!;
      expect(only(m, 'mbr')[0]).toMatchObject({ start: 0, length: 512, level: 0 });
      const loader = only(m, 'loader')[0];
      expect(loader.start).toBe(region('loader').start);
      expect(only(m, 'params')[0].start).toBe(loader.start + PARAMS_OFF);
      const fats = only(m, 'fat');
      const planFats = built.plan.regions.filter((r) => r.kind === 'fat');
      expect(fats.map((f) => [f.start, f.length])).toEqual(planFats.map((f) => [f.start, f.length]));
      expect(only(m, 'boot-sector')[0].start).toBe(region('fat-reserved').start);
      const kernelRange = only(m, 'kernel');
      expect(kernelRange).toHaveLength(1);
      expect(kernelRange[0].label).toBe('/unikernel.bin');
      expect(kernelRange[0].start).toBe(region('kernel').start);
      expect(kernelRange[0].length).toBeGreaterThanOrEqual(kernel.length);
      if (fatType !== 32) expect(only(m, 'root')[0].start).toBe(region('root').start);
      // Nothing labelled lies outside the disk, and each level's ranges do not overlap.
      for (const level of [0, 1, 2]) {
        const rs = m.ranges.filter((r) => r.level === level);
        for (let i = 1; i < rs.length; i++)
          expect(rs[i].start).toBeGreaterThanOrEqual(rs[i - 1].start + rs[i - 1].length);
      }
      for (const r of m.ranges) expect(r.start + r.length).toBeLessThanOrEqual(size);
      // The insets: the loader, the volume's first sectors, the tables, the kernel; each small.
      expect(m.insets.map((i) => i.id)).toEqual(['boot', 'volume', 'tables', 'kernel']);
      for (const i of m.insets) expect(i.length).toBeLessThan(size / 4);
      const kInset = m.insets.find((i) => i.id === 'kernel')!;
      expect(kInset.start).toBeLessThanOrEqual(kernelRange[0].start);
      expect(kInset.start + kInset.length).toBeGreaterThanOrEqual(kernelRange[0].start + kernelRange[0].length);
      // A raw disk stores everything.
      expect(m.storedBytes).toBe(size);
      expect(m.allocation).toEqual({ runs: [{ start: 0, length: size }], granularity: 1 });
    });
  }

  it('qcow2: stored runs are the clusters with data, inside and outside the insets', async () => {
    const built = planImage(DEMO_KERNEL, { size: GiB, args: 'x' });
    const { disk } = await containerDisk(built, requireFormat('qcow2'));
    const m = await diskMap(await readImage(disk));
    expect(m.formatId).toBe('qcow2');
    expect(m.storedBytes).toBeLessThan(16 * MiB);
    expect(m.allocation.granularity).toBe(1);
    // Every plan piece is inside a stored run.
    for (const p of built.plan.pieces) {
      const hit = m.allocation.runs.some((r) => r.start <= p.offset && r.start + r.length >= p.offset + p.bytes.length);
      expect(hit, `piece at ${p.offset}`).toBe(true);
    }
    for (const i of m.insets) {
      for (const r of i.allocation.runs) {
        expect(r.start).toBeGreaterThanOrEqual(i.start);
        expect(r.start + r.length).toBeLessThanOrEqual(i.start + i.length);
      }
    }
    // The kernel's clusters are stored; most of the disk is a hole.
    const k = m.ranges.find((r) => r.kind === 'kernel')!;
    expect(m.allocation.runs.some((r) => r.start <= k.start && r.start + r.length >= k.start + k.length)).toBe(true);
  });

  it.skipIf(!tools('qemu-img'))('vmdk written by us: stored runs equal what qemu-img map says holds data', async () => {
    const tmp = tempDir('ukd-map-');
    try {
      const built = planImage(DEMO_KERNEL, { size: 256 * MiB, args: 'x' });
      const path = tmp.path('d.vmdk');
      await writeFormat(requireFormat('vmdk-sparse'), built.plan, path);
      const f = openImageFile(path);
      try {
        const m = await diskMap(await readImage(await openDisk(f.source)));
        const q = qemuMapData(path, 'vmdk');
        const total = q.reduce((a, r) => a + r.length, 0);
        expect(m.storedBytes).toBe(total);
        expect(m.allocation.runs.map((r) => [r.start, r.length])).toEqual(q.map((r) => [r.start, r.length]));
      } finally {
        f.close();
      }
    } finally {
      tmp.cleanup();
    }
  });

  it('stays bounded on a 100 GiB disk with a million extents, and says how coarse it is', async () => {
    const built = planImage(DEMO_KERNEL, { size: 100 * GiB, args: 'x' });
    const N = 1_000_000;
    const size = built.plan.size;
    const stride = Math.floor(size / N / 512) * 512;
    let yielded = 0;
    const disk: DiskImage = {
      formatId: 'qcow2',
      size,
      async read(offset, length) {
        // The plan's bytes where it has them, zeros elsewhere.
        const out = new Uint8Array(Math.max(0, Math.min(length, size - offset)));
        for (const p of built.plan.pieces) {
          const s = Math.max(offset, p.offset);
          const e = Math.min(offset + out.length, p.offset + p.bytes.length);
          if (e > s) out.set(p.bytes.subarray(s - p.offset, e - p.offset), s - offset);
        }
        return out;
      },
      async *extents(): AsyncIterable<DiskExtent> {
        // Stored 512 bytes, then a hole, a million times.
        for (let i = 0; i < N; i++) {
          yielded++;
          yield { offset: i * stride, length: 512, allocated: true };
          yield { offset: i * stride + 512, length: stride - 512, allocated: false };
        }
        if (N * stride < size) yield { offset: N * stride, length: size - N * stride, allocated: false };
      },
    };
    const m = await diskMap(await readImage(disk));
    expect(yielded).toBe(N);
    expect(m.storedBytes).toBe(N * 512);
    expect(m.allocation.runs.length).toBeLessThanOrEqual(MAP_LIMITS.grid);
    expect(m.allocation.granularity).toBeGreaterThan(1);
    expect(m.ranges.length).toBeLessThanOrEqual(MAP_LIMITS.ranges);
    for (const i of m.insets) expect(i.allocation.runs.length).toBeLessThanOrEqual(MAP_LIMITS.runs + MAP_LIMITS.grid);
    expect(JSON.stringify(m).length).toBeLessThan(1 << 20);
  });
});

describe('diskMap on disks we did not make', () => {
  it.skipIf(!tools('mkfs.fat', 'mcopy'))(
    'a FAT volume without a partition table (mkfs.fat on the whole file)',
    async () => {
      const tmp = tempDir('ukd-map-');
      try {
        const path = tmp.path('floppy.img');
        run('truncate', ['-s', '16M', path]);
        run('mkfs.fat', ['-F', '16', path]);
        writeFileSync(tmp.path('hello.txt'), 'hello\n'.repeat(2000));
        run('mcopy', ['-i', path, tmp.path('hello.txt'), '::/']);
        const f = openImageFile(path);
        try {
          const m = await diskMap(await readImage(await openDisk(f.source)));
          expect(m.ranges.find((r) => r.kind === 'partition')).toMatchObject({
            label: 'FAT volume (no partition table)',
            start: 0,
            level: 0,
          });
          expect(m.ranges.find((r) => r.kind === 'boot-sector')?.start).toBe(0);
          expect(m.ranges.filter((r) => r.kind === 'fat')).toHaveLength(2);
          const file = m.ranges.find((r) => r.kind === 'file');
          expect(file?.label).toBe('/hello.txt');
          expect(file!.length).toBeGreaterThanOrEqual(12000);
          expect(m.ranges.some((r) => r.kind === 'mbr' || r.kind === 'loader')).toBe(false);
        } finally {
          f.close();
        }
      } finally {
        tmp.cleanup();
      }
    },
  );

  it.skipIf(!tools('sfdisk', 'mkfs.fat'))(
    'the gap before a partition at LBA 63 says so; on a GRUB disk it says GRUB keeps its core image there',
    async () => {
      const tmp = tempDir('ukd-map-');
      try {
        const path = tmp.path('lba63.img');
        run('truncate', ['-s', '32M', path]);
        run('sfdisk', ['-q', path], { input: 'start=63, type=6\n' });
        run('mkfs.fat', ['-F', '16', '--offset', '63', path, String(Math.floor(((32 * MiB) / 512 - 63) / 2))]);
        const bytes = new Uint8Array(readFileSync(path));
        const gap = async (b: Uint8Array) =>
          (await diskMap(await readImage(await rawDisk(b)))).ranges.find((r) => r.kind === 'gap')!;
        const plain = await gap(bytes);
        expect(plain).toMatchObject({ start: 512, length: 62 * 512 });
        expect(plain.note).toMatch(/LBA 63\b/);
        expect(plain.note).not.toMatch(/1 MiB|GRUB/);
        bytes.set(new TextEncoder().encode('GRUB Geom Hard Disk Read Error'), 0x180);
        const grub = await gap(bytes);
        expect(grub.note).toMatch(/LBA 63\b.*GRUB usually keeps its core image here/);
      } finally {
        tmp.cleanup();
      }
    },
  );

  it('the words for stored bytes are true per format: a plain disk has no table of holes, a qcow2 has one', async () => {
    const img = planImage(DEMO_KERNEL, { size: 64 * MiB });
    const full = (formatId: FormatId): DiskMap => ({
      formatId,
      size: 64 * MiB,
      ranges: [],
      allocation: { runs: [{ start: 0, length: 64 * MiB }], granularity: 1 },
      storedBytes: 64 * MiB,
      insets: [],
      notes: [],
    });
    for (const f of FORMATS) {
      const words = storedWords(full(f.id));
      if (f.plainDisk) expect(words).toMatch(/no table of holes/);
      else expect(words).not.toMatch(/no table of holes|raw/);
      expect(words).toContain(f.label);
    }
    const m = await diskMap(await readImage((await containerDisk(img, requireFormat('qcow2'))).disk));
    expect(storedWords(m)).toMatch(/the rest are holes/);
  });

  it.skipIf(!tools('mkfs.fat', 'mcopy', 'mdel', 'mmd'))(
    'many fragmented files: the cut keeps the kernel and its zoomed window, and drops other files',
    async () => {
      const tmp = tempDir('ukd-map-');
      try {
        const path = tmp.path('fragmented.img');
        run('truncate', ['-s', '32M', path]);
        run('mkfs.fat', ['-F', '16', '-s', '1', path]);
        const small = Array.from({ length: 600 }, (_, i) => tmp.path(`s${i}.bin`));
        for (const f of small) writeFileSync(f, new Uint8Array(512).fill(1));
        run('mmd', ['-i', path, '::/d']);
        run('mcopy', ['-i', path, ...small, '::/d/']);
        run('mdel', ['-i', path, ...small.filter((_, i) => i % 2 === 0).map((f) => `::/d/${f.split('/').pop()}`)]);
        // The holes (one cluster each) are filled by big files, each in many pieces; the kernel, copied last, after them.
        const big = Array.from({ length: 20 }, (_, i) => tmp.path(`big${i}.bin`));
        for (const f of big) writeFileSync(f, new Uint8Array(16 * 512).fill(2));
        run('mcopy', ['-i', path, ...big, '::/']);
        writeFileSync(tmp.path('unikernel.bin'), DEMO_KERNEL);
        run('mcopy', ['-i', path, tmp.path('unikernel.bin'), '::/']);
        const f = openImageFile(path);
        try {
          const m = await diskMap(await readImage(await openDisk(f.source)));
          expect(m.ranges.length).toBeLessThanOrEqual(MAP_LIMITS.ranges);
          const kernel = m.ranges.filter((r) => r.kind === 'kernel');
          expect(kernel.length).toBeGreaterThan(0);
          expect(kernel.reduce((n, r) => n + r.length, 0)).toBeGreaterThanOrEqual(DEMO_KERNEL.length);
          expect(m.insets.map((i) => i.id)).toContain('kernel');
          expect(m.notes.some((n) => /are not drawn/.test(n))).toBe(true);
          // The cut fell on other files, whose later pieces are gone.
          expect(m.ranges.some((r) => r.kind === 'file')).toBe(true);
          expect(m.ranges.some((r) => r.kind === 'fat')).toBe(true);
        } finally {
          f.close();
        }
      } finally {
        tmp.cleanup();
      }
    },
  );

  it('a disk of text is not opened: the sentence for LBA 0, never an empty map', async () => {
    const bytes = new TextEncoder().encode('not a disk\n'.repeat(1000));
    const e = await readImage(await rawDisk(bytes)).then(
      () => null,
      (x: unknown) => x,
    );
    expect(isImageError(e) && e.code).toBe('MBR_NO_SIGNATURE');
    expect((e as Error).message).toMatch(/not 0x55 0xAA: the disk has no MBR partition table/);
  });
});

describe('plural (units.ts, the one helper the map, the page and the device checks share)', () => {
  it('says one for 1 and the plural for 0 and more', () => {
    expect([0, 1, 2].map((n) => plural(n, 'sector'))).toEqual(['0 sectors', '1 sector', '2 sectors']);
    expect(plural(3, 'entry', 'entries')).toBe('3 entries');
  });
});

describe('copyFileName', () => {
  it('keeps the format extension and never gives the input name', () => {
    expect(copyFileName('demo.qcow2', requireFormat('qcow2'))).toBe('demo-args.qcow2');
    expect(copyFileName('disk.tar.gz', requireFormat('tar'))).toBe('disk-args.tar.gz');
    expect(copyFileName('C:\\x\\my disk.img', requireFormat('raw'))).toBe('my-disk-args.img');
    expect(copyFileName('image', requireFormat('vdi'))).toBe('image-args.vdi');
    expect(copyFileName('.img', requireFormat('raw'))).toBe('img-args.img');
    expect(copyFileName('???.img', requireFormat('raw'))).toBe('disk-args.img');
    for (const n of ['a-args.img', 'x.img']) expect(copyFileName(n, requireFormat('raw'))).not.toBe(n);
  });
});
