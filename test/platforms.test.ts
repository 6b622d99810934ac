/**
 * Platform verdicts and next commands: every destination x {no devices, block,
 * net, both}; the format -> destination table against FORMATS; and the QEMU
 * command run by QEMU itself, its PCI bus read back through the monitor.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { FORMATS } from '../src/core/formats/index';
import {
  DESTINATIONS,
  destinationForFormat,
  findDestination,
  nextSteps,
  qemuDriver,
  shellQuote,
  verdict,
  firmwareSentences,
  BHYVE_UEFI_FIRMWARE,
  LIBVIRT_UEFI,
  OVMF_FD,
  type DestinationId,
  type Level,
} from '../src/core/platforms';
import type { Solo5Device } from '../src/core/solo5';
import { planImage } from '../src/core/image';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { writePlan } from './helpers/qemu';
import { runnableQemuArgs } from './helpers/demo-variants';
import { tempDir, tools } from './helpers/tools';

const storage: Solo5Device = { name: 'storage', kind: 'block' };
const service0: Solo5Device = { name: 'service0', kind: 'net' };
const KERNELS: Record<string, Solo5Device[]> = {
  none: [],
  block: [storage],
  net: [service0],
  'block, net': [storage, service0],
  'net, block': [service0, storage],
};

/**
 * What each destination offers (solo5-devices.md): fail where a declared
 * kind has no virtio device; warn where it needs a non-default setting or
 * an order the platform chooses; Proxmox cannot put a net before a block.
 */
const EXPECTED: Record<DestinationId, Record<string, Level>> = {
  qemu: { none: 'ok', block: 'ok', net: 'ok', 'block, net': 'ok', 'net, block': 'ok' },
  libvirt: { none: 'ok', block: 'ok', net: 'ok', 'block, net': 'ok', 'net, block': 'ok' },
  proxmox: { none: 'ok', block: 'ok', net: 'ok', 'block, net': 'ok', 'net, block': 'fail' },
  openstack: { none: 'ok', block: 'warn', net: 'ok', 'block, net': 'warn', 'net, block': 'warn' },
  bhyve: { none: 'ok', block: 'ok', net: 'ok', 'block, net': 'ok', 'net, block': 'ok' },
  gce: { none: 'warn', block: 'fail', net: 'ok', 'block, net': 'fail', 'net, block': 'fail' },
  virtualbox: { none: 'ok', block: 'fail', net: 'warn', 'block, net': 'fail', 'net, block': 'fail' },
  vmware: { none: 'ok', block: 'fail', net: 'fail', 'block, net': 'fail', 'net, block': 'fail' },
  azure: { none: 'ok', block: 'fail', net: 'fail', 'block, net': 'fail', 'net, block': 'fail' },
  aws: { none: 'ok', block: 'fail', net: 'fail', 'block, net': 'fail', 'net, block': 'fail' },
  'bare-metal': { none: 'ok', block: 'fail', net: 'fail', 'block, net': 'fail', 'net, block': 'fail' },
};

describe('verdicts for every destination', () => {
  test('the table covers every destination', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual(DESTINATIONS.map((d) => d.id).sort());
  });

  for (const d of DESTINATIONS) {
    for (const [label, devices] of Object.entries(KERNELS)) {
      test(`${d.id}, ${label}`, () => {
        const v = verdict({ devices, solo5Manifest: true }, d);
        expect(v.level).toBe(EXPECTED[d.id][label]);
        expect(v.sentences.length).toBeGreaterThan(0);
        // every declared device is named, and a failure says what to do
        for (const dev of devices) expect(v.sentences.join(' ')).toContain(`\`${dev.name}\``);
        if (v.level === 'fail') expect(v.sentences.join(' ')).toMatch(/Build it without|Declare block devices first/);
        if (devices.length === 0) expect(v.sentences.join(' ')).toMatch(/declares no (devices|network device)/);
      });
    }
  }

  test('GCE and a block device: the issue’s sentence', () => {
    const why = [
      'GCE has no virtio block devices: `storage` cannot be attached and the unikernel will abort at start. Build it without block devices, or run it on QEMU, libvirt, Proxmox or bhyve.',
      'GCE disks are virtio-scsi or NVMe, never virtio-blk (Solo5 #79).',
    ];
    const v = verdict({ devices: [storage] }, 'gce');
    expect(v.level).toBe('fail');
    expect(v.problems).toEqual(why);
    expect(v.sentences.slice(0, 2)).toEqual(why);
    // with a network device too: the failure first, and only it among the problems
    const both = verdict({ devices: [service0, storage] }, 'gce');
    expect(both.sentences.slice(0, 2)).toEqual(why);
    expect(both.problems).toEqual(why);
  });

  test('problems are the sentences behind the level', () => {
    expect(verdict({ devices: [storage, service0] }, 'qemu').problems).toEqual([]);
    const pve = verdict({ devices: [service0, storage] }, 'proxmox');
    expect(pve.problems).toHaveLength(1);
    expect(pve.problems[0]).toMatch(/^Proxmox puts every virtio block disk on the PCI bus before every network card/);
    const os = verdict({ devices: [storage] }, 'openstack');
    expect(os.level).toBe('warn');
    expect(os.problems[0]).toContain('`disk_bus=virtio`');
    const many = verdict(
      { devices: Array.from({ length: 7 }, (_, i) => ({ name: `d${i}`, kind: 'block' as const })) },
      'proxmox',
    );
    expect(many.level).toBe('warn');
    expect(many.problems).toEqual([
      '7 block devices are more than the 6 that Proxmox places on the first PCI bus; the rest go behind bridges, in an order that may not follow the manifest.',
    ]);
  });

  test('GCE and a kernel without a network device: one sentence about the network card it did not declare, the reason apart', () => {
    const says =
      'A unikernel that declares no network device may abort on GCE, where every VM has a virtio network card: declare one (used or not), and check the serial console after the first start.';
    for (const devices of [[], [storage]]) {
      const v = verdict({ devices, solo5Manifest: true }, 'gce');
      expect(v.sentences).toContain(says);
      expect(v.why).toEqual([expect.stringMatching(/^Every GCE VM has a network card, .* does not declare\.$/)]);
    }
    const none = verdict({ devices: [], solo5Manifest: true }, 'gce');
    expect(none.level).toBe('warn');
    // One sentence, and nothing else: the reason is behind the page's "Why".
    expect(none.sentences).toEqual([says]);
    expect(none.problems).toEqual([says]);
    expect(says.match(/\. |\.$/g)).toHaveLength(1);
    const net = verdict({ devices: [service0], solo5Manifest: true }, 'gce');
    expect(net.sentences.join(' ')).not.toContain(says);
    expect(net.why).toBeUndefined();
  });

  test('a network device on GCE: second-generation machine types, VIRTIO_NET', () => {
    const v = verdict({ devices: [service0] }, 'gce');
    expect(v.level).toBe('ok');
    expect(v.sentences.join(' ')).toContain('`e2-small` or `n1-standard-1`');
  });

  test('GCE and two network devices: each interface on a VPC network of its own, created first', () => {
    const service1: Solo5Device = { name: 'service1', kind: 'net' };
    const steps = nextSteps({ devices: [service0, service1] }, 'gce', { file: 'app.tar.gz' });
    const create = steps.findIndex((s) => s.command.startsWith('gcloud compute instances create'));
    const nics = [...steps[create].command.matchAll(/--network-interface=(\S+)/g)].map((m) =>
      Object.fromEntries(m[1].split(',').map((kv) => kv.split('='))),
    );
    // One VIRTIO_NET interface per declared network device, in manifest order, no two on one network.
    expect(nics.map((n) => n['nic-type'])).toEqual(['VIRTIO_NET', 'VIRTIO_NET']);
    expect(nics.map((n) => n.network)).toEqual(['NETWORK1', 'NETWORK2']);
    expect(steps[create].command).not.toContain('network=default');
    expect(steps[create].command).toContain('--machine-type e2-small'); // 2 vCPUs: 2 interfaces
    // Each network, and a subnet in it with a range of its own, made before the VM.
    const made = steps
      .slice(0, create)
      .map((s) => s.command)
      .join('\n');
    const ranges: string[] = [];
    for (const n of nics) {
      expect(made).toContain(`gcloud compute networks create ${n.network} --project PROJECT --subnet-mode custom`);
      const sub = new RegExp(
        `^gcloud compute networks subnets create ${n.subnet} --project PROJECT --network ${n.network} --region REGION --range (\\S+)$`,
        'm',
      ).exec(made);
      expect(sub, n.network).not.toBeNull();
      ranges.push(sub![1]);
    }
    expect(new Set(ranges).size).toBe(2);
    expect(steps[create - 1].what).toContain('NETWORK1 for `service0`, NETWORK2 for `service1`');
    // Three or more interfaces need as many vCPUs.
    const four = nextSteps({ devices: [0, 1, 2, 3].map((i) => ({ name: `n${i}`, kind: 'net' as const })) }, 'gce', {
      file: 'app.tar.gz',
    });
    expect(four.map((s) => s.command).join('\n')).toContain('--machine-type e2-standard-4');
    // One network device: the default network, as before.
    const one = nextSteps({ devices: [service0] }, 'gce', { file: 'app.tar.gz' }).map((s) => s.command);
    expect(one.join('\n')).toContain('--network-interface=nic-type=VIRTIO_NET,network=default');
    expect(one.join('\n')).not.toContain('NETWORK1');
    // The verdict says why, only when there are several.
    const v = verdict({ devices: [service0, service1] }, 'gce');
    expect(v.level).toBe('ok');
    expect(v.sentences).toContain(
      'GCE refuses a VM with two interfaces on one VPC network: create a network, with a subnet, for each declared network device first (the next steps do).',
    );
    expect(verdict({ devices: [service0] }, 'gce').sentences.join(' ')).not.toContain('two interfaces');
  });

  test('VMware with both kinds names both and advises destinations that offer both', () => {
    const v = verdict({ devices: [storage, service0] }, 'vmware');
    expect(v.sentences[0]).toBe(
      'VMware has no virtio block devices: `storage` cannot be attached and the unikernel will abort at start. Build it without block devices, or run it on QEMU, libvirt, Proxmox or bhyve.',
    );
    expect(v.sentences[2]).toBe(
      'VMware has no virtio network devices: `service0` cannot be attached and the unikernel will abort at start. Build it without network devices, or run it on QEMU, libvirt, Proxmox or bhyve.',
    );
  });

  test('Proxmox: a net declared before a block cannot be matched', () => {
    const v = verdict({ devices: [service0, storage] }, 'proxmox');
    expect(v.sentences.join(' ')).toContain(
      'the manifest declares network device `service0` before block device `storage`',
    );
  });

  test('a kernel without a Solo5 manifest is judged as a plain Multiboot kernel', () => {
    expect(verdict({ devices: [], solo5Manifest: false }, 'gce')).toEqual({
      level: 'ok',
      sentences: [
        'The kernel has no Solo5 manifest, so there are no declared devices to attach; it boots on GCE as a plain Multiboot kernel.',
      ],
      problems: [],
      firmware: firmwareSentences(findDestination('gce')!),
    });
  });
});

describe('formats and destinations', () => {
  test('every format has a default destination that lists it; every listed format exists', () => {
    const ids = FORMATS.map((f) => f.id);
    for (const id of ids) {
      const d = destinationForFormat(id);
      expect(d, id).toBeDefined();
      expect(d!.formats).toContain(id);
    }
    for (const d of DESTINATIONS) for (const f of d.formats) expect(ids).toContain(f);
    expect(destinationForFormat('tar')!.id).toBe('gce');
    expect(destinationForFormat('no-such-format')).toBeUndefined();
    expect(findDestination('gce')!.name).toBe('Google Compute Engine');
  });

  test('QEMU reads every format but the GCE tar', () => {
    for (const f of FORMATS) {
      if (destinationForFormat(f.id)!.id === 'gce') expect(qemuDriver(f.id)).toBeUndefined();
      else expect(qemuDriver(f.id)).toMatch(/^(raw|qcow2|vpc|vmdk|vdi)$/);
    }
  });

  test('next steps exist for every destination and kernel, name the file, and carry the flags that matter', () => {
    for (const d of DESTINATIONS) {
      for (const devices of Object.values(KERNELS)) {
        const steps = nextSteps({ devices }, d, { file: `disk${d.formats[0]}` });
        expect(steps.length).toBeGreaterThan(0);
        const text = steps.map((s) => s.command).join('\n');
        expect(text).toContain(`disk${d.formats[0]}`);
        expect(text).not.toMatch(/undefined|\[object/);
      }
    }
    const gce = nextSteps({ devices: [service0] }, 'gce', { file: 'app.tar.gz' }).map((s) => s.command);
    expect(gce.join('\n')).toContain('--machine-type e2-small');
    expect(gce.join('\n')).toContain('--network-interface=nic-type=VIRTIO_NET');
    const os = nextSteps({ devices: [] }, 'openstack', { file: 'disk.qcow2' }).map((s) => s.command);
    expect(os.join('\n')).toContain('--property hw_disk_bus=scsi');
    const pve = nextSteps({ devices: [storage, service0] }, 'proxmox', { file: 'disk.qcow2' }).map((s) => s.command);
    expect(pve.join('\n')).toContain('--virtio0 local-lvm:1');
    expect(pve.join('\n')).toContain('--net0 virtio,bridge=vmbr0');
  });

  test('docs/platforms.md has a section or row for every destination', () => {
    const doc = readFileSync(new URL('../docs/platforms.md', import.meta.url), 'utf8');
    for (const d of DESTINATIONS) expect(doc, d.name).toContain(d.name.replace(/ \(.*\)$/, ''));
  });

  test('shellQuote leaves plain words alone and quotes the rest', () => {
    expect(shellQuote('disk.qcow2')).toBe('disk.qcow2');
    expect(shellQuote("it's mine.img")).toBe(`'it'\\''s mine.img'`);
  });
});

/**
 * Which firmware starts the image at each destination (docs/platforms.md,
 * "Firmware"): BIOS, UEFI or either; how UEFI is chosen; Secure Boot.
 */
const FIRMWARE: Record<
  DestinationId,
  { boots: 'bios' | 'uefi' | 'both'; default: 'bios' | 'uefi'; uefiCommand?: RegExp }
> = {
  qemu: { boots: 'both', default: 'bios', uefiCommand: /-bios \/usr\/share\/ovmf\/OVMF\.fd/ },
  libvirt: {
    boots: 'both',
    default: 'bios',
    uefiCommand: /--boot uefi,firmware\.feature0\.name=secure-boot,firmware\.feature0\.enabled=no/,
  },
  proxmox: {
    boots: 'both',
    default: 'bios',
    uefiCommand: /^qm set VMID --bios ovmf --efidisk0 local-lvm:1,efitype=4m,pre-enrolled-keys=0$/,
  },
  openstack: { boots: 'both', default: 'bios', uefiCommand: /--property hw_firmware_type=uefi/ },
  bhyve: { boots: 'uefi', default: 'uefi' },
  gce: { boots: 'bios', default: 'bios' },
  virtualbox: { boots: 'both', default: 'bios', uefiCommand: /--firmware efi$/ },
  vmware: { boots: 'both', default: 'bios' },
  azure: { boots: 'both', default: 'bios' },
  aws: { boots: 'both', default: 'bios' },
  'bare-metal': { boots: 'both', default: 'uefi' },
};

describe('firmware: BIOS, UEFI, Secure Boot', () => {
  const both = [storage, service0];
  for (const d of DESTINATIONS) {
    test(`${d.id}: the firmware facts, the verdict's firmware sentences, the UEFI command`, () => {
      const want = FIRMWARE[d.id];
      expect({ boots: d.firmware.boots, default: d.firmware.default }).toEqual({
        boots: want.boots,
        default: want.default,
      });
      if (d.firmware.boots !== 'bios') expect(d.firmware.uefi, 'how to choose UEFI').toBeTruthy();
      // The firmware sentences stand beside the verdict's, never among its sentences or problems.
      for (const devices of [[], both]) {
        const v = verdict({ devices, solo5Manifest: true }, d);
        const fw = firmwareSentences(d);
        expect(fw.length).toBeGreaterThan(0);
        expect(v.firmware).toEqual(fw);
        for (const s of fw) expect([...v.sentences, ...v.problems]).not.toContain(s);
      }
      const fw = firmwareSentences(d).join(' ');
      if (d.firmware.boots !== 'bios') expect(fw).toContain('`\\EFI\\BOOT\\BOOTX64.EFI`');
      if (d.firmware.secureBoot)
        expect(fw).toContain("Secure Boot refuses the image's UEFI loader, which is unsigned.");
      const steps = nextSteps({ devices: both }, d, { file: `disk${d.formats[0]}` });
      const uefi = steps.filter((s) => s.what.startsWith('optional, to boot with UEFI instead of BIOS'));
      if (want.uefiCommand) {
        expect(uefi).toHaveLength(1);
        expect(uefi[0].command).toMatch(want.uefiCommand);
      } else expect(uefi).toEqual([]);
    });
  }

  test('bhyve: UEFI firmware, no grub-bhyve; the boot disk on AHCI, the devices after it in manifest order', () => {
    const steps = nextSteps({ devices: [service0, storage] }, 'bhyve', { file: 'disk.img' });
    const run = steps.find((s) => s.command.startsWith('bhyve '))!.command;
    expect(run).toContain(`-l bootrom,${BHYVE_UEFI_FIRMWARE}`);
    expect(run).not.toContain('grub-bhyve');
    expect(run.split(/\s+\\?\s*/).filter((a) => /^\d+:0,/.test(a))).toEqual([
      '0:0,hostbridge',
      '1:0,lpc',
      '2:0,ahci-hd,disk.img',
      '3:0,virtio-net,tap0',
      '4:0,virtio-blk,storage.img',
    ]);
    expect(steps.map((s) => s.command)).toContain('truncate -s 1G storage.img');
    expect(verdict({ devices: [service0, storage] }, 'bhyve').level).toBe('ok');
  });

  test('GCE: UEFI_COMPATIBLE is not used, and the verdict says when it would be', () => {
    const text = nextSteps({ devices: [service0] }, 'gce', { file: 'app.tar.gz' })
      .map((s) => s.command)
      .join('\n');
    expect(text).not.toContain('UEFI_COMPATIBLE');
    expect(firmwareSentences(findDestination('gce')!).join(' ')).toContain('`--guest-os-features=UEFI_COMPATIBLE`');
  });

  test('Hyper-V Generation 2 boots UEFI but has no virtio either: the verdict says so', () => {
    const v = verdict({ devices: [storage] }, 'azure');
    expect(v.level).toBe('fail');
    expect(v.firmware.join(' ')).toContain('Generation 2 has no virtio devices either');
    expect(v.firmware.join(' ')).toContain('-EnableSecureBoot Off');
  });

  test('the commands share one home for the firmware paths', () => {
    expect(OVMF_FD).toBe('/usr/share/ovmf/OVMF.fd');
    expect(LIBVIRT_UEFI).toMatch(/^uefi,/);
  });
});

describe.skipIf(!tools('qemu-system-x86_64'))('the QEMU command, run by QEMU', () => {
  const t = tempDir('ukd-plat-');
  afterAll(() => t.cleanup());

  /** QEMU's `info pci` for the command of nextSteps: [slot, vendor:device] of each virtio function. */
  function virtioSlots(devices: Solo5Device[]) {
    const image = writePlan(t.path('disk.img'), planImage(DEMO_KERNEL, { args: '' }).plan);
    for (const d of devices) if (d.kind === 'block') writeFileSync(t.path(`${d.name}.img`), new Uint8Array(1 << 20));
    const steps = nextSteps({ devices }, 'qemu', { file: image, formatId: 'raw' });
    const run = steps[steps.length - 1].command;
    // the same command, without KVM or tap (root), paused, with the monitor on stdin
    const args = runnableQemuArgs(run, t.dir);
    const r = spawnSync(
      'qemu-system-x86_64',
      [...args, '-S', '-display', 'none', '-serial', 'none', '-monitor', 'stdio'],
      { input: 'info pci\nquit\n', encoding: 'utf8', timeout: 30_000 },
    );
    expect(r.status, `${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
    const stdout = r.stdout.replace(/\r/g, '');
    const found: [number, string, string][] = [];
    const re =
      /Bus\s+0, device\s+(\d+), function 0:\n\s+[^\n]*PCI device (1af4:[0-9a-f]{4})\n\s+PCI subsystem 1af4:([0-9a-f]{4})/g;
    for (const m of stdout.matchAll(re)) found.push([Number(m[1]), m[2], m[3]]);
    return { found, stdout };
  }

  test('declared devices appear as legacy virtio functions at increasing slots in manifest order; the boot disk is not virtio', () => {
    const devices: Solo5Device[] = [service0, storage, { name: 'service1', kind: 'net' }];
    const { found, stdout } = virtioSlots(devices);
    // transitional device ids (0x1000 net, 0x1001 block) and the subsystem ids
    // Solo5 reads to tell them apart (1 net, 2 block)
    expect(found, stdout).toEqual([
      [0x10, '1af4:1000', '0001'],
      [0x11, '1af4:1001', '0002'],
      [0x12, '1af4:1000', '0001'],
    ]);
  });

  test.skipIf(!existsSync(OVMF_FD))(
    'the optional UEFI command boots the image under OVMF: its UEFI loader starts the kernel',
    async () => {
      const image = writePlan(t.path('uefi.img'), planImage(DEMO_KERNEL, { args: 'from uefi' }).plan);
      const step = nextSteps({ devices: [] }, 'qemu', { file: image, formatId: 'raw' }).find((s) =>
        s.what.startsWith('optional, to boot with UEFI'),
      )!;
      const args = runnableQemuArgs(step.command, t.dir);
      const r = spawnSync('qemu-system-x86_64', [...args, '-display', 'none', '-serial', 'stdio'], {
        encoding: 'utf8',
        timeout: 240_000,
      });
      expect(r.stdout).toContain('Loading unikernel.bin (UEFI)... ok');
      expect(r.stdout).toContain("demo: command line 'from uefi'");
      expect(r.status, r.stderr).toBe(83);
    },
    300_000,
  );

  test('a kernel that declares nothing gets no virtio function at all', () => {
    const { found, stdout } = virtioSlots([]);
    expect(found, stdout).toEqual([]);
    expect(stdout).toMatch(/IDE controller/);
  });
});
