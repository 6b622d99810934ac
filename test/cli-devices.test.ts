/**
 * The CLI and the Solo5 manifest, as users run it (the bundled bin): the
 * success line names the declared devices, and a warning names the device
 * and the platform when the chosen format's destination cannot run the
 * kernel. A kernel that declares nothing gets no warning.
 */
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { solo5Kernel } from './helpers/fixtures';
import { tempDir } from './helpers/tools';

const BIN = new URL('../bin/solo5-virtio-mkimage.cjs', import.meta.url).pathname;
const tmp = tempDir('ukd-cli-dev-');
const p = tmp.path;
const PROG = 'solo5-virtio-mkimage';

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: tmp.dir,
    encoding: 'utf8',
    env: { ...process.env, SOURCE_DATE_EPOCH: '' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  execFileSync(process.execPath, [new URL('../scripts/build-cli.mjs', import.meta.url).pathname]);
  writeFileSync(p('none.virtio'), solo5Kernel({ abiTarget: 3, devices: [] }));
  writeFileSync(p('plain.virtio'), solo5Kernel({ abiTarget: 3 }));
  writeFileSync(p('blk.virtio'), solo5Kernel({ abiTarget: 3, devices: [{ name: 'storage', kind: 'block' }] }));
  writeFileSync(p('net.virtio'), solo5Kernel({ abiTarget: 3, devices: [{ name: 'service0', kind: 'net' }] }));
  writeFileSync(
    p('both.virtio'),
    solo5Kernel({
      abiTarget: 3,
      devices: [
        { name: 'storage', kind: 'block' },
        { name: 'service0', kind: 'net' },
      ],
    }),
  );
});
afterAll(() => tmp.cleanup());

/** The success line, with the parts that do not concern devices checked loosely. */
function successLine(image: string, kernel: string, devices: string) {
  return new RegExp(
    `^${PROG}: wrote ${image} \\(.*\\) from ${kernel}: ELF64, .*, Solo5 virtio; ${devices.replace(/[()`]/g, '\\$&')}; command line "unikernel\\.bin"\\n$`,
  );
}

describe('the success line names the declared devices', () => {
  const cases: [string, string][] = [
    ['none.virtio', 'declares no devices'],
    ['plain.virtio', 'no Solo5 manifest'],
    ['blk.virtio', 'declares one block device `storage`'],
    ['net.virtio', 'declares one network device `service0`'],
    ['both.virtio', 'declares 2 devices: block `storage`, network `service0`'],
  ];
  for (const [kernel, devices] of cases) {
    it(`${kernel}: ${devices}`, () => {
      const image = `${kernel}.img`;
      const r = cli(['-s', '64M', image, kernel]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(successLine(image, kernel, devices));
    });
  }
});

describe('a warning when the format goes where the kernel cannot run', () => {
  it('GCE tar and a block device: one warning naming `storage` and GCE, and the image is still written', () => {
    const r = cli(['-f', 'tar', 'blk.tar.gz', 'blk.virtio']);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(
      `${PROG}: warning: the tar format goes to Google Compute Engine. GCE has no virtio block devices: \`storage\` cannot be attached and the unikernel will abort at start. Build it without block devices, or run it on QEMU, libvirt, Proxmox or bhyve. GCE disks are virtio-scsi or NVMe, never virtio-blk (Solo5 #79).`,
    );
    expect(`${lines[1]}\n`).toMatch(successLine('blk.tar.gz', 'blk.virtio', 'declares one block device `storage`'));
    expect(existsSync(p('blk.tar.gz'))).toBe(true);
  });

  it('the warning is printed under -q too (it is the point of the check)', () => {
    const r = cli(['-q', '-f', 'tar', 'blkq.tar.gz', 'blk.virtio']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(
      /^solo5-virtio-mkimage: warning: the tar format goes to Google Compute Engine\. GCE has no virtio block devices: `storage`/,
    );
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('VMware and a network device: the warning names `service0` and VMware', () => {
    const r = cli(['-q', '-f', 'vmdk', 'net.vmdk', 'net.virtio']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(
      `${PROG}: warning: the vmdk format goes to VMware (ESXi, Workstation, Fusion). VMware has no virtio network devices: \`service0\` cannot be attached and the unikernel will abort at start. Build it without network devices, or run it on QEMU, libvirt, Proxmox, OpenStack, bhyve or GCE. VMware has no virtio devices: network cards are vmxnet3 or e1000.\n`,
    );
  });

  it('no warning where the devices can be attached, and none for a kernel that declares nothing', () => {
    for (const [args, kernel] of [
      [['-f', 'tar'], 'net.virtio'],
      [['-f', 'tar'], 'none.virtio'],
      [['-f', 'tar'], 'plain.virtio'],
      [['-f', 'vhd'], 'none.virtio'],
      [['-f', 'qcow2'], 'both.virtio'],
      [['-f', 'raw', '-s', '64M'], 'both.virtio'],
    ] as const) {
      const r = cli(['-q', ...args, `${kernel}.${args[1]}`, kernel]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr, `${args.join(' ')} ${kernel}`).toBe('');
    }
  });
});
