import { describe, expect, it } from 'vitest';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { tempDir, tools } from './helpers/tools';
import {
  GiB,
  KiB,
  MiB,
  OPTS,
  roundTripProperty,
  qemuInfo,
  qemuMapData,
  qemuRoundTrip,
  syntheticPlan,
  writeFormat,
  writeRaw,
} from './helpers/containers';
import { vhdFormat, vhdDynamicFormat, vhdDynamicLayout, vhdGeometry, vhdChecksum } from '../src/core/formats/vhd';
import { dataBytes, makePlan } from '../src/core/plan';
import { isImageError } from '../src/core/errors';
import { checkImageSize } from '../src/core/size';

const FIXED_SIZES = [64 * MiB, 1 * GiB, 10 * GiB];
const DYNAMIC_SIZES = [64 * MiB, 100 * MiB + 512 * KiB, 1 * GiB, 10 * GiB];

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isImageError(e) ? e.code : `not an ImageError: ${String(e)}`;
  }
  return undefined;
}

/** Read the footer fields back ourselves (big-endian), as Azure would. */
function footerOf(path: string, at: 'start' | 'end') {
  const f = Buffer.alloc(512);
  const fd = openSync(path, 'r');
  readSync(fd, f, 0, 512, at === 'end' ? statSync(path).size - 512 : 0);
  closeSync(fd);
  const dv = new DataView(f.buffer, f.byteOffset, 512);
  return {
    cookie: f.subarray(0, 8).toString('latin1'),
    checksumOk: dv.getUint32(64) === vhdChecksum(new Uint8Array(f), 64),
    currentSize: Number(dv.getBigUint64(48)),
    diskType: dv.getUint32(60),
    timestamp: dv.getUint32(24),
    cylinders: dv.getUint16(56),
    heads: f[58],
    sectors: f[59],
    uniqueId: f.subarray(68, 84).toString('hex'),
  };
}

describe.skipIf(!tools('qemu-img'))('VHD read back by qemu-img (format "vpc")', () => {
  for (const size of FIXED_SIZES) {
    it(`fixed, ${size} bytes: info right, identical raw disk, sparse on disk, footer right`, async () => {
      const t = tempDir();
      try {
        const plan = syntheticPlan(size);
        const w = await writeFormat(vhdFormat, plan, t.path('disk.vhd'));
        // qemu-img has no consistency check for vpc ("This image format does not support checks"),
        // and it only probes a VHD by its first bytes, so a fixed VHD needs -f vpc. We read the footer ourselves.
        const info = qemuInfo(w.path, 'vpc');
        expect(info.format).toBe('vpc');
        expect(info['virtual-size']).toBe(size);
        expect(w.length).toBe(size + 512);
        expect(w.allocated).toBeLessThan(dataBytes(plan) + 2 * MiB);
        const f = footerOf(w.path, 'end');
        expect(f).toMatchObject({
          cookie: 'conectix',
          checksumOk: true,
          currentSize: size,
          diskType: 2,
          timestamp: OPTS.timestamp - 946_684_800,
        });
        expect(f.cylinders * f.heads * f.sectors * 512).toBeLessThanOrEqual(size);
        writeRaw(plan, t.path('ref.raw'));
        qemuRoundTrip(w.path, 'vpc', t.path('ref.raw'), t.path('back.raw'));
      } finally {
        t.cleanup();
      }
    });
  }

  for (const size of DYNAMIC_SIZES) {
    it(`dynamic, ${size} bytes: check clean, info right, identical raw disk, only data blocks stored`, async () => {
      const t = tempDir();
      try {
        const plan = syntheticPlan(size);
        const w = await writeFormat(vhdDynamicFormat, plan, t.path('disk.vhd'));
        // No `qemu-img check` for vpc; qemu recognises a dynamic VHD by the footer copy at offset 0.
        const info = qemuInfo(w.path);
        expect(info.format).toBe('vpc');
        expect(info['virtual-size']).toBe(size);
        const l = vhdDynamicLayout(plan);
        expect(w.length).toBe(l.length);
        expect(w.length).toBeLessThan(l.blocks.length * (2 * MiB + 512) + l.batBytes + 2048 + 1);
        expect(footerOf(w.path, 'start')).toEqual(footerOf(w.path, 'end'));
        expect(footerOf(w.path, 'end')).toMatchObject({ checksumOk: true, diskType: 3, currentSize: size });
        writeRaw(plan, t.path('ref.raw'));
        qemuRoundTrip(w.path, 'vpc', t.path('ref.raw'), t.path('back.raw'));
        // The all-zero piece's block (3-4 MiB lies in block 1, which has data too) — blocks 2.. of zeros are not stored.
        for (const r of qemuMapData(w.path, 'vpc')) expect(l.blocks).toContain(Math.floor(r.start / (2 * MiB)));
      } finally {
        t.cleanup();
      }
    });
  }

  it('random small plans round-trip, fixed and dynamic (fast-check)', async () => {
    const t = tempDir();
    try {
      // qemu-img cannot check vpc files: info and the round trip are the test.
      await roundTripProperty(
        [vhdFormat, vhdDynamicFormat].map((format) => ({ format, check: false })),
        t,
        { sizeStep: MiB, numRuns: 10, seed: 7 },
      );
    } finally {
      t.cleanup();
    }
  });
});

describe('VHD rules and fields', () => {
  it('Azure: a fixed VHD must be a whole number of MiB', () => {
    expect(code(() => checkImageSize(100 * MiB + 512 * KiB, vhdFormat))).toBe('SIZE_NOT_MIB');
    expect(code(() => vhdFormat.write(makePlan(100 * MiB + 512 * KiB, []), OPTS))).toBe('SIZE_NOT_MIB');
    expect(code(() => checkImageSize(100 * MiB + 512 * KiB, vhdDynamicFormat))).toBeUndefined();
  });

  it('refuses more than 2040 GiB with a clear error', () => {
    expect(code(() => checkImageSize(2041 * GiB, vhdFormat))).toBe('SIZE_FORMAT_LIMIT');
    expect(code(() => checkImageSize(2041 * GiB, vhdDynamicFormat))).toBe('SIZE_FORMAT_LIMIT');
    expect(code(() => checkImageSize(2040 * GiB, vhdFormat))).toBeUndefined();
    // Said in GiB, like the limit: 2045 GiB must not read as "2 TiB".
    expect(() => checkImageSize(2045 * GiB, vhdFormat)).toThrow(
      'vhd: the disk size 2045 GiB (2195802030080 bytes) is above the VHD limit of 2040 GiB',
    );
  });

  it('CHS geometry follows the VHD specification algorithm', () => {
    // Values worked out by hand from the specification's pseudo-code.
    expect(vhdGeometry(64 * MiB)).toEqual({ cylinders: 963, heads: 8, sectors: 17 });
    expect(vhdGeometry(1 * GiB)).toEqual({ cylinders: 2080, heads: 16, sectors: 63 });
    expect(vhdGeometry(2040 * GiB)).toEqual({ cylinders: 65535, heads: 16, sectors: 255 });
  });

  it('is reproducible; the unique id follows the seed', async () => {
    const t = tempDir();
    try {
      const plan = syntheticPlan(64 * MiB);
      for (const f of [vhdFormat, vhdDynamicFormat]) {
        const a = await writeFormat(f, plan, t.path('a'));
        const fa = footerOf(t.path('a'), 'end');
        expect((await writeFormat(f, plan, t.path('b'))).sha256).toBe(a.sha256);
        await writeFormat(f, plan, t.path('c'), { ...OPTS, seed: OPTS.seed + 1 });
        expect(footerOf(t.path('c'), 'end').uniqueId).not.toBe(fa.uniqueId);
      }
    } finally {
      t.cleanup();
    }
  });
});
