/**
 * The demo kernel's own Solo5 manifest: the default declares no devices, the
 * NASM variants declare block and net devices, and inspectKernel reads them
 * back; readelf (binutils) reads the same notes, and the variants still boot.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { nextSteps } from '../src/core/platforms';
import type { Solo5Device } from '../src/core/solo5';
import { inspectKernel } from '../src/core/kernel';
import { planImage } from '../src/core/image';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { assembleDemo, boot, writePlan } from './helpers/qemu';
import { DEMO_VARIANTS, runnableQemuArgs } from './helpers/demo-variants';
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

  /**
   * Boot a BIND_DEVICES variant (it binds virtio devices to its manifest as
   * Solo5 does) with the QEMU command nextSteps prints for `attach`, run as
   * it is but for TCG and user networking.
   */
  function bootBound(file: string, defines: Record<string, number>, attach: Solo5Device[]) {
    const k = assembleDemo(t.dir, file, { ...defines, BIND_DEVICES: 1 });
    const image = writePlan(t.path(`${file}.img`), planImage(k, { args: 'bind' }).plan);
    for (const d of attach) if (d.kind === 'block') writeFileSync(t.path(`${d.name}.img`), new Uint8Array(1 << 20));
    const steps = nextSteps({ devices: attach }, 'qemu', { file: image, formatId: 'raw' });
    const args = runnableQemuArgs(steps[steps.length - 1].command, t.dir);
    const r = spawnSync(
      'qemu-system-x86_64',
      // -nographic swapped for its parts, without the monitor (-no-reboot and isa-debug-exit are in the command)
      [...args, '-display', 'none', '-serial', 'stdio', '-monitor', 'none'],
      { encoding: 'utf8', timeout: 60_000 },
    );
    const lines = r.stdout
      .replace(/\r/g, '')
      .split('\n')
      .filter((l) => /^demo: (virtio|FAILED|binding)/.test(l));
    return { status: r.status, lines, all: `qemu ${args.join(' ')}\n${r.stdout}\n${r.stderr}` };
  }

  describe.skipIf(!tools('qemu-system-x86_64'))(
    'devices bound as Solo5 binds them, with the QEMU command we print',
    () => {
      test('every declared device attached in manifest order: the run succeeds', () => {
        const v = DEMO_VARIANTS.mixed;
        const r = bootBound(v.file, v.defines, v.devices);
        expect(r.status, r.all).toBe(83);
        expect(r.lines).toEqual([
          'demo: binding virtio devices to the manifest, as Solo5 does',
          'demo: virtio-net at PCI slot 0x00000010: attached as `service0`',
          'demo: virtio-blk at PCI slot 0x00000011: attached as `storage0`',
          'demo: virtio-net at PCI slot 0x00000012: attached as `service1`',
          'demo: virtio-blk at PCI slot 0x00000013: attached as `storage1`',
          'demo: virtio-blk at PCI slot 0x00000014: attached as `storage2`',
          'demo: binding done',
        ]);
      });

      test('no device attached: each declared one is reported missing and the run fails', () => {
        const v = DEMO_VARIANTS.both;
        const r = bootBound('missing.virtio', v.defines, []);
        expect(r.status, r.all).toBe(3);
        expect(r.lines.filter((l) => l.includes('is not attached'))).toEqual(
          v.devices.map((d) => `demo: FAILED: declared device \`${d.name}\` is not attached`),
        );
      });

      test('blocks before nets (Proxmox’s fixed order) for a manifest that starts with a net: kinds differ', () => {
        const v = DEMO_VARIANTS.mixed;
        const proxmoxOrder = [
          ...v.devices.filter((d) => d.kind === 'block'),
          ...v.devices.filter((d) => d.kind === 'net'),
        ];
        const r = bootBound('order.virtio', v.defines, proxmoxOrder);
        expect(r.status, r.all).toBe(3);
        expect(r.lines[1]).toBe(
          'demo: virtio-blk at PCI slot 0x00000010: FAILED: kinds differ from manifest entry `service0`',
        );
      });

      test('the trap: a boot disk on virtio-blk is taken for the first declared block device', () => {
        const v = DEMO_VARIANTS.block;
        const k = assembleDemo(t.dir, 'trap.virtio', { ...v.defines, BIND_DEVICES: 1 });
        const image = writePlan(t.path('trap.img'), planImage(k, { args: 'trap' }).plan);
        const r = spawnSync(
          'qemu-system-x86_64',
          [
            ...[
              '-accel',
              'tcg',
              '-m',
              '128',
              '-nic',
              'none',
              '-display',
              'none',
              '-serial',
              'stdio',
              '-monitor',
              'none',
            ],
            ...['-no-reboot', '-device', 'isa-debug-exit'],
            ...[
              '-drive',
              `file=${image},format=raw,if=none,id=boot`,
              '-device',
              'virtio-blk-pci,drive=boot,bootindex=0',
            ],
          ],
          { encoding: 'utf8', timeout: 60_000 },
        );
        // the run "succeeds": the unikernel would now use its own boot disk as `storage`
        expect(r.status, r.stdout).toBe(83);
        expect(r.stdout.replace(/\r/g, '')).toMatch(
          /^demo: virtio-blk at PCI slot 0x0000000[0-9a-f]: attached as `storage`$/m,
        );
      });

      test('a kernel that declares nothing, with no virtio device: nothing to bind', () => {
        const r = bootBound('nothing.virtio', {}, []);
        expect(r.status, r.all).toBe(83);
        expect(r.lines).toEqual(['demo: binding virtio devices to the manifest, as Solo5 does', 'demo: binding done']);
      });
    },
  );
});
