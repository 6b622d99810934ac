/**
 * The image engine read back with the real tools: sfdisk (partition table),
 * fsck.fat (file system, including boot sector/backup), mtools (the kernel
 * and \EFI\BOOT\BOOTX64.EFI come back byte for byte), across sizes that
 * cross the FAT12/16/32 lines.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { planImage, minimumSize, type BuiltImage } from '../src/core/image';
import { EFI_LOADER } from '../src/core/boot/index';
import { PARTITION_LBA, SECTOR } from '../src/core/units';
import { ImageError } from '../src/core/errors';
import { formatFat } from '../src/core/fat/index';
import { makePlan, REGION_KINDS } from '../src/core/plan';
import { parseSize } from '../src/core/size';
import { solo5Kernel } from './helpers/fixtures';
import { writePlanRange } from './helpers/image-files';
import { run, runAll, tempDir, tools } from './helpers/tools';

const MiB = 1 << 20;
const GiB = 1 << 30;
const tmp = tempDir('ukd-image-');
afterAll(() => tmp.cleanup());
let n = 0;

/** Check an image with sfdisk, fsck.fat and mtools; returns what mcopy read back. */
function checkWithTools(img: BuiltImage, kernel: Uint8Array): void {
  const disk = tmp.path(`disk${++n}.img`);
  const part = tmp.path(`part${n}.img`);
  writePlanRange(img.plan, disk);
  writePlanRange(img.plan, part, PARTITION_LBA * 512);

  const table = JSON.parse(run('sfdisk', ['-J', disk])).partitiontable;
  expect(table.label).toBe('dos');
  expect(table.id).toBe('0x' + img.diskSignature.toString(16).padStart(8, '0'));
  expect(table.partitions).toHaveLength(1);
  const p = table.partitions[0];
  expect(p.start).toBe(2048);
  expect(p.size).toBe(img.plan.size / 512 - 2048);
  expect(p.bootable).toBe(true);
  expect(parseInt(p.type, 16)).toBe(img.fat.type === 32 ? 0x0c : img.fat.type === 16 ? 0x0e : 0x01);

  const fsck = runAll('fsck.fat', ['-n', '-v', part]);
  expect(fsck.stderr).toBe('');
  expect(fsck.status, fsck.stdout).toBe(0);
  // -v prints the layout; anything that looks like a complaint fails.
  expect(fsck.stdout).not.toMatch(/differ|dirty|invalid|wrong|bad|mismatch|not |error|warning/i);
  expect(fsck.stdout).toContain(`2 FATs, ${img.fat.type} bit entries`);

  const dir = run('mdir', ['-i', `${disk}@@1M`, '-a', '::']);
  expect(dir).toMatch(/unikernel\.bin/);
  const out = tmp.path(`k${n}.bin`);
  run('mcopy', ['-n', '-o', '-i', `${disk}@@1M`, '::unikernel.bin', out]);
  const back = readFileSync(out);
  expect(back.length).toBe(kernel.length);
  expect(createHash('sha256').update(back).digest('hex')).toBe(createHash('sha256').update(kernel).digest('hex'));
  const efi = tmp.path(`e${n}.efi`);
  run('mcopy', ['-n', '-o', '-i', `${disk}@@1M`, '::EFI/BOOT/BOOTX64.EFI', efi]);
  expect(new Uint8Array(readFileSync(efi))).toEqual(EFI_LOADER);
  // contiguous, right after the kernel's clusters, where the plan put it
  const [k, e] = img.fat.files;
  expect(e.path).toBe('EFI/BOOT/BOOTX64.EFI');
  expect(e.firstCluster).toBe(k.firstCluster + k.clusters + 2); // after the EFI and BOOT directories
  expect(img.efiLba * 512).toBe(PARTITION_LBA * 512 + e.offset);
}

describe.skipIf(!tools('sfdisk', 'fsck.fat', 'mdir', 'mcopy'))(
  'images read back by sfdisk, fsck.fat and mtools',
  () => {
    const kernel = solo5Kernel({ dataSize: 200 * 1024 });

    it('default 1 GiB: FAT32, 8 sectors per cluster, one active 0x0C partition at 2048', () => {
      const img = planImage(kernel, { args: 'hello world' });
      expect(img.plan.size).toBe(GiB);
      expect(img.fat.type).toBe(32);
      expect(img.fat.sectorsPerCluster).toBe(8);
      expect(img.partition).toEqual({ startLba: 2048, sectors: 2095104, type: 0x0c });
      checkWithTools(img, kernel);
    });

    for (const [size, type] of [
      ['2M', 12],
      ['5M', 12],
      ['8M', 16],
      ['64M', 16],
      ['511M', 16],
      ['513M', 32],
      ['16G', 32],
    ] as const) {
      it(`${size}: FAT${type}`, () => {
        const k = size === '2M' ? solo5Kernel({ dataSize: 100 * 1024 }) : kernel;
        const img = planImage(k, { size: parseSize(size), args: '' });
        expect(img.fat.type).toBe(type);
        checkWithTools(img, k);
      });
    }

    it('shows the kernel as lower-case unikernel.bin (long name) to other tools, and \\EFI\\BOOT\\BOOTX64.EFI', () => {
      const img = planImage(kernel, { size: 64 * MiB });
      const disk = tmp.path('case.img');
      writePlanRange(img.plan, disk);
      const ls = run('mdir', ['-i', `${disk}@@1M`, '-b', '-/', '::']);
      expect(ls.trim().split('\n')).toEqual(['::/unikernel.bin', '::/EFI/', '::/EFI/BOOT/', '::/EFI/BOOT/BOOTX64.EFI']);
    });

    it('property: sizes across the FAT12/16/32 boundaries and kernels from 8 KiB to 30 MiB', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 2, max: 40 * 1024 }),
          fc.integer({ min: 0, max: 30 * 1024 * 1024 }),
          (mib, data) => {
            const k = solo5Kernel({ dataSize: data, fill: data & 0xff });
            const size = mib * MiB;
            if (size < minimumSize(k.length)) {
              expect(() => planImage(k, { size })).toThrow(ImageError);
              return;
            }
            checkWithTools(planImage(k, { size }), k);
          },
        ),
        { numRuns: 12 },
      );
    });

    it('property: the FAT formatter holds files from 1 byte to tens of MiB, read back by mtools', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 4, max: 3000 }),
          fc.array(fc.integer({ min: 1, max: 20 * 1024 * 1024 }), { minLength: 1, maxLength: 3 }),
          (mib, sizes) => {
            const sectors = (mib * MiB) / 512;
            const files = sizes.map((s, i) => ({
              name: i === 0 ? 'unikernel.bin' : `File number ${i}.dat`,
              bytes: new Uint8Array(s).fill(i + 1),
            }));
            let vol;
            try {
              vol = formatFat({ sectors, hiddenSectors: 0, label: 'PROP', serial: 1, timestamp: 1e9, files });
            } catch (e) {
              expect((e as ImageError).code).toBe('FAT_FULL');
              return;
            }
            const part = tmp.path(`fat${++n}.img`);
            writePlanRange(makePlan(sectors * 512, vol.pieces), part);
            const fsck = runAll('fsck.fat', ['-n', part]);
            expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
            for (const [i, f] of files.entries()) {
              const out = tmp.path(`f${n}-${i}`);
              run('mcopy', ['-n', '-o', '-i', part, `::${f.name}`, out]);
              const back = readFileSync(out);
              expect(back.length).toBe(f.bytes.length);
              expect(back.every((b) => b === i + 1)).toBe(true);
            }
          },
        ),
        { numRuns: 10 },
      );
    });
  },
);

describe('reproducible and input-sensitive', () => {
  const kernel = solo5Kernel({ dataSize: 64 * 1024 });
  const digest = (img: BuiltImage) => {
    const h = createHash('sha256');
    for (const p of img.plan.pieces) h.update(`${p.offset}:`).update(p.bytes);
    return h.digest('hex');
  };
  it('gives the same bytes for the same inputs', () => {
    expect(digest(planImage(kernel, { args: 'a b' }))).toBe(digest(planImage(kernel.slice(), { args: 'a b' })));
  });
  it('changes the disk signature and volume serial when the inputs change', () => {
    const a = planImage(kernel, { args: 'a b' });
    const b = planImage(kernel, { args: 'a  b' });
    const c = planImage(kernel, { args: 'a b', size: 2 * GiB });
    expect(new Set([a.diskSignature, b.diskSignature, c.diskSignature]).size).toBe(3);
    expect(a.cmdline).toBe('unikernel.bin a b');
    expect(b.cmdline).toBe('unikernel.bin a  b');
  });
  it('stores the timestamp it is given in the FAT entries', () => {
    const img = planImage(kernel, { timestamp: Date.UTC(2024, 0, 31, 12, 0, 0) / 1000, size: 64 * MiB });
    const disk = tmp.path('ts.img');
    writePlanRange(img.plan, disk);
    if (tools('mdir')) expect(run('mdir', ['-i', `${disk}@@1M`, '::'])).toContain('2024-01-31  12:00');
  });
});

describe('regions carry a kind', () => {
  const kernel = solo5Kernel({ dataSize: 100 * 1024 });
  for (const [size, type] of [
    ['2M', 12],
    ['5M', 12],
    ['64M', 16],
    ['511M', 16],
    ['1G', 32],
    ['16G', 32],
  ] as const) {
    it(`${size} (FAT${type}): every region has a kind, in disk order, covering the disk`, () => {
      const img = planImage(kernel, { size: parseSize(size) });
      expect(img.fat.type).toBe(type);
      const regions = img.plan.regions;
      for (const r of regions) expect(REGION_KINDS).toContain(r.kind);
      const fat = type === 32 ? ['fat-reserved', 'fat', 'fat', 'data'] : ['fat-reserved', 'fat', 'fat', 'root', 'data'];
      expect(regions.map((r) => r.kind)).toEqual(['mbr', 'loader', 'gap', ...fat, 'kernel', 'loader']);
      // All but the two files tile the disk; the kernel and the UEFI loader lie inside the data area.
      const files = regions.slice(-2);
      let pos = 0;
      for (const r of regions.slice(0, -2)) {
        expect(r.start).toBe(pos);
        pos += r.length;
      }
      expect(pos).toBe(img.plan.size);
      const data = regions.find((r) => r.kind === 'data')!;
      const k = regions.find((r) => r.kind === 'kernel')!;
      expect(k).toMatchObject({ start: img.kernelLba * SECTOR, length: kernel.length });
      expect(k.start).toBeGreaterThanOrEqual(data.start);
      expect(k.start + k.length).toBeLessThanOrEqual(data.start + data.length);
      expect(files[1]).toMatchObject({ start: img.efiLba * SECTOR, length: EFI_LOADER.length });
      expect(files[1].start).toBeGreaterThan(k.start + k.length);
      expect(files[1].start + files[1].length).toBeLessThanOrEqual(data.start + data.length);
      const reserved = regions.find((r) => r.kind === 'fat-reserved')!;
      expect(reserved.start).toBe(img.partition.startLba * SECTOR);
    });
  }
});

describe('size and fit errors', () => {
  const kernel = solo5Kernel({ dataSize: 3 * MiB });
  it('a kernel larger than the image', () => {
    try {
      planImage(kernel, { size: 3 * MiB });
      throw new Error('no error');
    } catch (e) {
      expect((e as ImageError).code).toBe('KERNEL_TOO_BIG');
      expect((e as ImageError).message).toBe(
        'A disk of 3 MiB cannot hold this 3.01 MiB kernel (1 MiB goes to the partition table and boot loader, and FAT needs room too); use a size of at least 5 MiB (--size 5M).',
      );
    }
  });
  it('a size too small for anything', () => {
    expect(() => planImage(solo5Kernel(), { size: MiB })).toThrow(
      /cannot hold this 20 KiB kernel .* use a size of at least 2 MiB \(--size 2M\)\./,
    );
  });
  it('malformed sizes', () => {
    expect(() => parseSize('1X')).toThrow(
      'The size "1X" is not a size: write a number with an optional unit K, M, G or T (binary: 1G = 1024 MiB), for example 64M, 1G or 10G.',
    );
    expect(() => parseSize('1000')).toThrow(
      'The size 1000 bytes is not a positive whole number of 512-byte sectors; round it, for example to 1K.',
    );
    expect(() => parseSize('3T')).toThrow(
      'The size 3T (3 TiB) is larger than 2 TiB, the most an MBR partition table can describe; choose 2T or less.',
    );
    expect(() => parseSize('100000T')).toThrow(
      'The size 100000T (100000 TiB) is larger than 2 TiB, the most an MBR partition table can describe; choose 2T or less.',
    );
    expect(() => parseSize('1.0000001G')).toThrow(
      'The size "1.0000001G" is not a whole number of bytes; write it in a smaller unit (for example 1536M instead of 1.5001G).',
    );
    expect(parseSize('64M')).toBe(64 * MiB);
    expect(parseSize('1.5G')).toBe(1536 * MiB);
    expect(parseSize('10GiB')).toBe(10 * GiB);
  });
});
