#!/usr/bin/env node
// npm run demo [-- ARGS...]: build a disk image from the built-in demo
// kernel with the CLI, then, where QEMU is installed, boot it and show the
// serial console. A first look at the whole tool, end to end.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const kernelArgs = args.length ? args : ['Hello,', '"world"', 'from', 'npm', 'run', 'demo'];

if (!existsSync(join(root, 'dist-cli/cli.cjs'))) {
  const b = spawnSync(process.execPath, [join(root, 'scripts/build-cli.mjs')], { stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}

const dir = join(tmpdir(), 'unikernel-disk-demo');
mkdirSync(dir, { recursive: true });
const image = join(dir, 'demo.img');
console.log(`$ solo5-virtio-mkimage ${image} --demo ${kernelArgs.join(' ')}`);
const mk = spawnSync(process.execPath, [join(root, 'bin/solo5-virtio-mkimage.cjs'), image, '--demo', ...kernelArgs], {
  stdio: 'inherit',
});
if (mk.status !== 0) process.exit(mk.status ?? 1);

const qemu = 'qemu-system-x86_64';
if (spawnSync('sh', ['-c', `command -v ${qemu}`], { stdio: 'ignore' }).status !== 0) {
  console.log(
    `\nQEMU is not installed, so the image is not booted here. To boot it:\n  ${qemu} -m 128M -drive file=${image},format=raw -serial stdio -device isa-debug-exit`,
  );
  process.exit(0);
}
const kvm = existsSync('/dev/kvm') ? ['-machine', 'accel=kvm:tcg'] : ['-accel', 'tcg'];
const q = [
  ...kvm,
  '-m',
  '128M',
  '-display',
  'none',
  '-serial',
  'stdio',
  '-monitor',
  'none',
  '-nic',
  'none',
  '-no-reboot',
  '-device',
  'isa-debug-exit',
  '-drive',
  `file=${image},format=raw,snapshot=on`,
];
console.log(
  `\n$ ${qemu} ${q.join(' ')}\n(serial console of the virtual machine below: our boot loader, then the demo kernel)\n`,
);
const run = spawnSync(qemu, q, { stdio: ['ignore', 'inherit', 'inherit'], timeout: 60_000 });
if (run.status === 83) {
  console.log('\nQEMU exited with status 83: the demo kernel booted from the image and reported success.');
  process.exit(0);
}
console.log(
  `\nQEMU ended with ${run.status ?? run.signal ?? run.error}: the boot did not reach the demo kernel's success line (see above).`,
);
process.exit(1);
