import { describe, expect, it } from 'vitest';
import { tempDir, tools } from './helpers/tools';
import {
  GiB,
  KiB,
  MiB,
  OPTS,
  roundTripProperty,
  qemuCheck,
  qemuInfo,
  qemuMapData,
  qemuRoundTrip,
  syntheticPlan,
  writeFormat,
  writeRaw,
} from './helpers/containers';
import { qcow2Format, qcow2Layout, QCOW2 } from '../src/core/formats/qcow2';
import { dataBytes, makePlan } from '../src/core/plan';
import { isImageError } from '../src/core/errors';
import { checkImageSize } from '../src/core/size';

const SIZES = [64 * MiB, 100 * MiB + 512 * KiB, 1 * GiB, 10 * GiB];

describe.skipIf(!tools('qemu-img'))('qcow2 v3 read back by qemu-img', () => {
  for (const size of SIZES) {
    it(`${size} bytes: check clean, info right, converts to the identical raw disk, stays small`, async () => {
      const t = tempDir();
      try {
        const plan = syntheticPlan(size);
        const w = await writeFormat(qcow2Format, plan, t.path('disk.qcow2'));
        qemuCheck(w.path, 'qcow2');
        const info = qemuInfo(w.path);
        expect(info.format).toBe('qcow2');
        expect(info['virtual-size']).toBe(size);
        expect(info['cluster-size']).toBe(64 * KiB);
        expect((info['format-specific'] as { data: { compat: string; 'refcount-bits': number } }).data).toMatchObject({
          compat: '1.1',
          'refcount-bits': 16,
        });
        writeRaw(plan, t.path('ref.raw'));
        qemuRoundTrip(w.path, 'qcow2', t.path('ref.raw'), t.path('back.raw'));
        // Small: data clusters plus a handful of metadata clusters, whatever the disk size.
        const l = qcow2Layout(plan);
        expect(w.length).toBe(l.totalClusters * QCOW2.CLUSTER);
        expect(w.length).toBeLessThan(dataBytes(plan) + 40 * 64 * KiB);
        // The all-zero piece at 3 MiB is not stored.
        for (const r of qemuMapData(w.path, 'qcow2'))
          expect(r.start >= 3 * MiB + 256 * KiB || r.start + r.length <= 3 * MiB).toBe(true);
      } finally {
        t.cleanup();
      }
    });
  }

  it('a disk with no data at all is a valid empty qcow2', async () => {
    const t = tempDir();
    try {
      const w = await writeFormat(qcow2Format, makePlan(16 * GiB, []), t.path('e.qcow2'));
      qemuCheck(w.path, 'qcow2');
      expect(qemuInfo(w.path)['virtual-size']).toBe(16 * GiB);
      expect(qemuMapData(w.path, 'qcow2')).toEqual([]);
    } finally {
      t.cleanup();
    }
  });

  it('random small plans round-trip (fast-check)', async () => {
    const t = tempDir();
    try {
      await roundTripProperty([{ format: qcow2Format, check: true }], t, {
        sizeStep: 512,
        numRuns: 12,
        seed: 5,
      });
    } finally {
      t.cleanup();
    }
  });
});

describe('qcow2 without tools', () => {
  it('is reproducible', async () => {
    const t = tempDir();
    try {
      const plan = syntheticPlan(1 * GiB);
      expect((await writeFormat(qcow2Format, plan, t.path('a'))).sha256).toBe(
        (await writeFormat(qcow2Format, plan, t.path('b'), { ...OPTS, timestamp: 0 })).sha256,
      );
    } finally {
      t.cleanup();
    }
  });

  it('needs several refcount blocks when the data is large (layout fixed point)', () => {
    // 3 GiB of non-zero clusters → more than 32768 file clusters → 2 refcount blocks.
    const clusters = 40_000;
    const pieces = Array.from({ length: clusters }, (_, i) => ({ offset: i * 2 * 64 * KiB, bytes: Uint8Array.of(1) }));
    const l = qcow2Layout(makePlan(10 * GiB, pieces));
    expect(l.rbCount).toBe(Math.ceil(l.totalClusters / QCOW2.REFCOUNTS_PER_BLOCK));
    expect(l.rbCount).toBe(2);
  });

  it('refuses a size that is not a multiple of 512 with a clear error', () => {
    try {
      checkImageSize(1000, qcow2Format);
      expect.unreachable();
    } catch (e) {
      expect(isImageError(e) && e.code).toBe('SIZE_NOT_SECTORS');
    }
  });
});
