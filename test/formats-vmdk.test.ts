import { describe, expect, it } from 'vitest';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
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
import { vmdkFormat, vmdkSparseFormat, vmdkSparseLayout, VMDK } from '../src/core/formats/vmdk';
import { dataBytes, makePlan } from '../src/core/plan';
import { isImageError } from '../src/core/errors';
import { checkImageSize } from '../src/core/size';

const SIZES = [64 * MiB, 100 * MiB + 512 * KiB, 1 * GiB, 10 * GiB];

function readAt(path: string, pos: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  const fd = openSync(path, 'r');
  readSync(fd, b, 0, len, pos);
  closeSync(fd);
  return b;
}

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isImageError(e) ? e.code : `not an ImageError: ${String(e)}`;
  }
  return undefined;
}

interface Specific {
  data: {
    'create-type': string;
    extents: { 'virtual-size': number; compressed?: boolean; format?: string; 'cluster-size'?: number }[];
  };
}

describe.skipIf(!tools('qemu-img'))('VMDK read back by qemu-img', () => {
  for (const size of SIZES) {
    it(`streamOptimized, ${size} bytes: check clean, info right, identical raw disk, small`, async () => {
      const t = tempDir();
      try {
        const plan = syntheticPlan(size);
        const w = await writeFormat(vmdkFormat, plan, t.path('disk.vmdk'));
        qemuCheck(w.path, 'vmdk');
        const info = qemuInfo(w.path);
        expect(info.format).toBe('vmdk');
        expect(info['virtual-size']).toBe(size);
        const spec = (info['format-specific'] as Specific).data;
        expect(spec['create-type']).toBe('streamOptimized');
        expect(spec.extents[0]).toMatchObject({ compressed: true, 'virtual-size': size, 'cluster-size': 64 * KiB });
        writeRaw(plan, t.path('ref.raw'));
        qemuRoundTrip(w.path, 'vmdk', t.path('ref.raw'), t.path('back.raw'));
        // Compressed: smaller than the data it holds (the 200 KiB of text compresses), whatever the disk size.
        expect(w.length).toBeLessThan(dataBytes(plan) + 128 * KiB);
        // Stream layout, read by hand: header version 3, footer marker + footer + EOS at the end.
        const head = readAt(w.path, 0, 512);
        expect(head.readUInt32LE(0)).toBe(VMDK.MAGIC);
        expect(head.readUInt32LE(4)).toBe(3);
        expect(head.readBigUInt64LE(56)).toBe(0xffffffffffffffffn);
        const tail = readAt(w.path, w.length - 1536, 1536);
        expect(tail.readUInt32LE(12)).toBe(VMDK.MARKER_FOOTER);
        expect(tail.readUInt32LE(512)).toBe(VMDK.MAGIC);
        expect(tail.subarray(1024).every((x) => x === 0)).toBe(true);
        // The first grain: a marker with the LBA 0 and a zlib stream (RFC 1950) of a full 64 KiB grain.
        const g = readAt(w.path, 128 * 512, 64 * KiB + 512);
        expect(Number(g.readBigUInt64LE(0))).toBe(0);
        const z = g.subarray(12, 12 + g.readUInt32LE(8));
        expect(z[0] & 0x0f).toBe(8); // CM = deflate
        expect(((z[0] << 8) | z[1]) % 31).toBe(0); // zlib header check bits
        expect(inflateSync(z).length).toBe(64 * KiB);
      } finally {
        t.cleanup();
      }
    });

    it(`monolithicSparse, ${size} bytes: check clean, info right, identical raw disk, sparse`, async () => {
      const t = tempDir();
      try {
        const plan = syntheticPlan(size);
        const w = await writeFormat(vmdkSparseFormat, plan, t.path('disk.vmdk'));
        qemuCheck(w.path, 'vmdk');
        const info = qemuInfo(w.path);
        expect(info.format).toBe('vmdk');
        expect(info['virtual-size']).toBe(size);
        const spec = (info['format-specific'] as Specific).data;
        expect(spec['create-type']).toBe('monolithicSparse');
        expect(spec.extents[0]).toMatchObject({ 'virtual-size': size, 'cluster-size': 64 * KiB });
        const l = vmdkSparseLayout(plan);
        expect(w.length).toBe((l.overHead + l.grains.length * 128) * 512);
        // Allocated on disk: the grains and the few grain tables in use, not the empty tables.
        expect(w.allocated).toBeLessThan(l.grains.length * 64 * KiB + 256 * KiB);
        writeRaw(plan, t.path('ref.raw'));
        qemuRoundTrip(w.path, 'vmdk', t.path('ref.raw'), t.path('back.raw'));
        // The all-zero piece at 3 MiB (+256 KiB) is not stored.
        for (const r of qemuMapData(w.path, 'vmdk'))
          expect(r.start >= 3 * MiB + 256 * KiB || r.start + r.length <= 3 * MiB).toBe(true);
      } finally {
        t.cleanup();
      }
    });
  }

  it('random small plans round-trip, both kinds (fast-check)', async () => {
    const t = tempDir();
    try {
      await roundTripProperty(
        [vmdkFormat, vmdkSparseFormat].map((format) => ({ format, check: true })),
        t,
        { sizeStep: 512, numRuns: 10, seed: 11 },
      );
    } finally {
      t.cleanup();
    }
  });

  it('an empty 16 GiB disk is a valid, tiny stream', async () => {
    const t = tempDir();
    try {
      const w = await writeFormat(vmdkFormat, makePlan(16 * GiB, []), t.path('e.vmdk'));
      qemuCheck(w.path, 'vmdk');
      expect(qemuInfo(w.path)['virtual-size']).toBe(16 * GiB);
      expect(w.length).toBeLessThan(128 * KiB);
      expect(statSync(w.path).size).toBe(w.length);
    } finally {
      t.cleanup();
    }
  });
});

describe('VMDK rules', () => {
  it('refuses 2 TiB and more with a clear error', () => {
    expect(code(() => checkImageSize(2 * 1024 * GiB, vmdkFormat))).toBe('SIZE_FORMAT_LIMIT');
    expect(code(() => checkImageSize(2 * 1024 * GiB, vmdkSparseFormat))).toBe('SIZE_FORMAT_LIMIT');
    expect(code(() => checkImageSize(2 * 1024 * GiB - 512, vmdkFormat))).toBeUndefined();
    expect(code(() => checkImageSize(1000, vmdkFormat))).toBe('SIZE_NOT_SECTORS');
  });

  it('is reproducible', async () => {
    const t = tempDir();
    try {
      const plan = syntheticPlan(1 * GiB);
      for (const f of [vmdkFormat, vmdkSparseFormat]) {
        expect((await writeFormat(f, plan, t.path('a'))).sha256).toBe(
          (await writeFormat(f, plan, t.path('b'), OPTS)).sha256,
        );
      }
    } finally {
      t.cleanup();
    }
  });
});
