import { describe, expect, it } from 'vitest';
import { closeSync, openSync, readSync } from 'node:fs';
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
import { vdiFormat, vdiLayout, VDI } from '../src/core/formats/vdi';
import { makePlan } from '../src/core/plan';
import { isImageError } from '../src/core/errors';
import { checkImageSize } from '../src/core/size';

const SIZES = [64 * MiB, 100 * MiB + 512 * KiB, 1 * GiB, 10 * GiB];

function header(path: string): Buffer {
  const b = Buffer.alloc(512);
  const fd = openSync(path, 'r');
  readSync(fd, b, 0, 512, 0);
  closeSync(fd);
  return b;
}

describe.skipIf(!tools('qemu-img'))('VDI read back by qemu-img', () => {
  for (const size of SIZES) {
    it(`${size} bytes: check clean, info right, identical raw disk, only data blocks stored`, async () => {
      const t = tempDir();
      try {
        const plan = syntheticPlan(size);
        const w = await writeFormat(vdiFormat, plan, t.path('disk.vdi'));
        qemuCheck(w.path, 'vdi');
        const info = qemuInfo(w.path);
        expect(info.format).toBe('vdi');
        expect(info['virtual-size']).toBe(size);
        writeRaw(plan, t.path('ref.raw'));
        qemuRoundTrip(w.path, 'vdi', t.path('ref.raw'), t.path('back.raw'));
        const l = vdiLayout(plan);
        expect(w.length).toBe(l.length);
        expect(w.allocated).toBeLessThan(l.allocated.length * MiB + l.blockMapBytes + 8 * KiB);
        const h = header(w.path);
        expect(h.readUInt32LE(VDI.OFF.signature)).toBe(VDI.SIGNATURE);
        expect(h.readUInt32LE(VDI.OFF.version)).toBe(0x00010001);
        expect(h.readUInt32LE(VDI.OFF.blocksAllocated)).toBe(l.allocated.length);
        // qemu-img map agrees: stored ranges are exactly our allocated blocks.
        const stored = new Set<number>();
        for (const r of qemuMapData(w.path, 'vdi'))
          for (let b = r.start / MiB; b < (r.start + r.length) / MiB; b++) stored.add(Math.floor(b));
        expect([...stored].sort((a, b) => a - b)).toEqual(l.allocated);
      } finally {
        t.cleanup();
      }
    });
  }

  it('random small plans round-trip (fast-check)', async () => {
    const t = tempDir();
    try {
      await roundTripProperty([{ format: vdiFormat, check: true }], t, {
        sizeStep: 512,
        numRuns: 12,
        seed: 13,
      });
    } finally {
      t.cleanup();
    }
  });

  it('an empty 16 GiB disk is a valid VDI of a few KiB on disk', async () => {
    const t = tempDir();
    try {
      const w = await writeFormat(vdiFormat, makePlan(16 * GiB, []), t.path('e.vdi'));
      qemuCheck(w.path, 'vdi');
      expect(qemuInfo(w.path)['virtual-size']).toBe(16 * GiB);
      expect(w.allocated).toBeLessThan(128 * KiB);
    } finally {
      t.cleanup();
    }
  });
});

describe('VDI rules and identity', () => {
  it('is reproducible; the UUIDs follow the seed', async () => {
    const t = tempDir();
    try {
      const plan = syntheticPlan(64 * MiB);
      const a = await writeFormat(vdiFormat, plan, t.path('a'));
      const uuidA = header(t.path('a'))
        .subarray(VDI.OFF.uuidCreate, VDI.OFF.uuidCreate + 16)
        .toString('hex');
      expect((await writeFormat(vdiFormat, plan, t.path('b'))).sha256).toBe(a.sha256);
      await writeFormat(vdiFormat, plan, t.path('c'), { ...OPTS, seed: 99 });
      expect(
        header(t.path('c'))
          .subarray(VDI.OFF.uuidCreate, VDI.OFF.uuidCreate + 16)
          .toString('hex'),
      ).not.toBe(uuidA);
    } finally {
      t.cleanup();
    }
  });

  it('refuses a size that is not a multiple of 512', () => {
    try {
      checkImageSize(1000, vdiFormat);
      expect.unreachable();
    } catch (e) {
      expect(isImageError(e) && e.code).toBe('SIZE_NOT_SECTORS');
    }
  });
});
