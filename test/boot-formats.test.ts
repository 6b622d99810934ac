/**
 * Every output format of the CLI boots: the image is written by the real CLI
 * (bin/solo5-virtio-mkimage.cjs), opened by QEMU in its own container format
 * (GCE's tar.gz is unpacked with GNU tar first, as Google does), and the demo
 * kernel must print its arguments and exit with status 83.
 */
import { beforeAll, afterAll, describe, expect, test } from 'vitest';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { FORMATS } from '../src/core/formats/index';
import { boot, type Controller } from './helpers/qemu';
import { run, tempDir, tools } from './helpers/tools';

const ROOT = resolve(__dirname, '..');
const CLI = resolve(ROOT, 'bin/solo5-virtio-mkimage.cjs');
const ARGS = ['Hello_Solo5', '--x="y  z"'];

describe.skipIf(!tools('qemu-system-x86_64', 'tar'))('images written by the CLI boot in every format', () => {
  const t = tempDir('ukd-bootfmt-');
  beforeAll(() => {
    if (!existsSync(resolve(ROOT, 'dist-cli/cli.cjs'))) run(process.execPath, [resolve(ROOT, 'scripts/build-cli.mjs')]);
  });
  afterAll(() => t.cleanup());

  const cases: [format: string, file: string, qemuFormat: string, controller: Controller][] = [
    ['raw', 'disk.img', 'raw', 'ide'],
    ['qcow2', 'disk.qcow2', 'qcow2', 'virtio-blk'],
    ['vhd', 'disk.vhd', 'vpc', 'ahci'],
    ['vhd-dynamic', 'disk-dyn.vhd', 'vpc', 'ide'],
    ['vmdk', 'disk.vmdk', 'vmdk', 'nvme'],
    ['vmdk-sparse', 'disk-sparse.vmdk', 'vmdk', 'ide'],
    ['vdi', 'disk.vdi', 'vdi', 'ide'],
  ];
  test.each(cases)('-f %s', async (format, file, qemuFormat, controller) => {
    const out = t.path(file);
    run(process.execPath, [CLI, '-q', '-f', format, '-s', '64M', out, '--demo', ...ARGS]);
    const r = await boot({ disk: out, diskFormat: qemuFormat, controller });
    expect(r.status, r.serial + r.stderr).toBe(83);
    expect(r.serial).toContain(`demo: command line '${ARGS.join(' ')}'`);
    expect(r.serial).toContain('demo: SUCCESS');
  });

  test('every output format the core offers is booted here', () => {
    expect(FORMATS.map((f) => f.id).sort()).toEqual([...cases.map((c) => c[0]), 'tar'].sort());
  });

  test('-f tar (Google Compute Engine): disk.raw from the tar.gz boots from virtio-scsi', async () => {
    const out = t.path('gce.tar.gz');
    run(process.execPath, [CLI, '-q', '-f', 'tar', out, '--demo', ...ARGS]);
    const dir = t.path('gce');
    run('mkdir', ['-p', dir]);
    run('tar', ['-xSzf', out, '-C', dir]);
    const r = await boot({ disk: resolve(dir, 'disk.raw'), controller: 'virtio-scsi' });
    expect(r.status, r.serial + r.stderr).toBe(83);
    expect(r.serial).toContain(`demo: command line '${ARGS.join(' ')}'`);
  });
});
