/**
 * The demo kernel's own Solo5 manifest: the default declares no devices, the
 * NASM variants declare block and net devices, and inspectKernel reads them
 * back; readelf (binutils) reads the same notes, and the variants still boot.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { inspectKernel } from '../src/core/kernel';
import { planImage } from '../src/core/image';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { assembleDemo, boot, writePlan } from './helpers/qemu';
import { DEMO_VARIANTS } from './helpers/demo-variants';
import { run, tempDir, tools } from './helpers/tools';

test('the committed demo kernel carries a manifest that declares nothing', () => {
  const k = inspectKernel(DEMO_KERNEL);
  expect(k.solo5Manifest).toBe(true);
  expect(k.devices).toEqual([]);
  expect(k.solo5Target).toBeUndefined();
});

describe.skipIf(!tools('nasm'))('demo kernel variants', () => {
  const t = tempDir('ukd-mft-');
  afterAll(() => t.cleanup());

  test.each(Object.entries(DEMO_VARIANTS))('%s: inspectKernel reads the declared devices', (_name, v) => {
    const k = inspectKernel(assembleDemo(t.dir, v.file, v.defines));
    expect(k.solo5Manifest).toBe(true);
    expect(k.devices).toEqual(v.devices);
  });

  test('more than 63 devices does not assemble', () => {
    expect(() => assembleDemo(t.dir, 'over.virtio', { MFT_BLOCKS: 60, MFT_NETS: 4 })).toThrow(/at most 63 devices/);
  });

  test.skipIf(!tools('readelf'))('readelf finds one Solo5 MFT1 note of the size Solo5 writes (4 + 8 + n x 104)', () => {
    for (const v of [DEMO_VARIANTS.block, DEMO_VARIANTS.full]) {
      assembleDemo(t.dir, v.file, v.defines);
      const out = run('readelf', ['-n', '-W', t.path(v.file)]);
      const m = /Solo5\s+0x([0-9a-f]+)\s+Unknown note type: \(0x3154464d\)/.exec(out);
      expect(m, out).not.toBeNull();
      expect(parseInt(m![1], 16)).toBe(4 + 8 + (v.devices.length + 1) * 104);
      expect(out).not.toMatch(/Warning/);
    }
  });

  test('the split (program-header) variant with a manifest keeps its second segment where it was', () => {
    const k = inspectKernel(assembleDemo(t.dir, 'split.virtio', { SPLIT: 1, MFT_BLOCKS: 1, TRAILER: 100 }));
    expect(k.devices).toEqual([{ name: 'storage', kind: 'block' }]);
    expect(k.load.segments).toHaveLength(2);
  });

  test.skipIf(!tools('qemu-system-x86_64'))(
    'a variant that declares devices still boots from IDE (the demo binds no devices)',
    async () => {
      const v = DEMO_VARIANTS.mixed;
      const k = assembleDemo(t.dir, v.file, v.defines);
      const r = await boot({ disk: writePlan(t.path('mixed.img'), planImage(k, { args: 'mft' }).plan) });
      expect(r.status, r.serial).toBe(83);
      expect(r.serial).toContain('demo: SUCCESS');
    },
  );
});
