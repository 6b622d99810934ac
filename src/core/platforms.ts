/**
 * Where an image goes, and whether the unikernel will run there. One table of
 * destinations (format, size rule, firmware, the virtio devices each offers,
 * known traps), one `verdict(kernel, destination)` that explains in plain
 * words what will happen, and the next commands with the flags that matter.
 * Every fact here has its source in docs/platforms.md.
 *
 * How Solo5's virtio target binds devices (the reason for every rule below):
 * it walks the PCI bus in slot order and gives each virtio-net or virtio-blk
 * function to the next manifest entry; the kind must match, and a declared
 * device left without one stops the unikernel at start. Other virtio devices
 * (virtio-scsi, balloon, rng) are skipped.
 */
import { findFormat } from './formats/index';
import { shellQuote } from './shell';
import { describeDevices, kindWord, type DeviceKind, type Solo5Device } from './solo5';

export type DestinationId =
  'qemu' | 'libvirt' | 'proxmox' | 'openstack' | 'gce' | 'virtualbox' | 'vmware' | 'azure' | 'aws' | 'bare-metal';

/**
 * Whether a destination can give the unikernel a virtio device of a kind:
 * 'yes' (as it is, or with the commands shown), 'setting' (only with a
 * setting that is not the default, or with care the commands cannot take),
 * 'no' (never: the platform has no virtio devices of that kind).
 */
export type Offer = 'yes' | 'setting' | 'no';

export interface DeviceOffer {
  offer: Offer;
  /** What the platform offers and how to attach it: a sentence without its capital and full stop. */
  how: string;
  /** A sentence of advice when the kernel declares a device of this kind. */
  advice?: string;
}

export interface Destination {
  id: DestinationId;
  /** For headings: "Google Compute Engine". */
  name: string;
  /** For sentences: "GCE". */
  short: string;
  /** Format ids (src/core/formats), the usual one first. */
  formats: readonly string[];
  /** The size rule, in words. */
  size: string;
  firmware: string;
  /** Which controller the boot disk sits on. */
  bootDisk: string;
  block: DeviceOffer;
  net: DeviceOffer;
  /** Things that go wrong there, one sentence each. */
  traps: readonly string[];
  /**
   * When the platform fixes the PCI slots itself: all virtio block disks come
   * before all network cards, `perKind` of each on the first bus.
   */
  pciSlots?: { perKind: number };
  /**
   * When every VM gets a virtio network card whether the unikernel declares
   * one or not: the sentence saying so (Solo5 stops at a virtio device its
   * manifest does not declare).
   */
  alwaysVirtioNet?: string;
}

export const DESTINATIONS: readonly Destination[] = [
  {
    id: 'qemu',
    name: 'QEMU/KVM',
    short: 'QEMU',
    formats: ['raw', 'qcow2'],
    size: 'any whole number of 512-byte sectors',
    firmware: 'SeaBIOS, QEMU’s default (BIOS boot)',
    bootDisk: 'IDE (`if=ide`); AHCI, NVMe and virtio-scsi boot too',
    block: {
      offer: 'yes',
      how: 'each declared block device is a `virtio-blk-pci` device, attached in manifest order at increasing PCI slots',
    },
    net: {
      offer: 'yes',
      how: 'each declared network device is a `virtio-net-pci` device on a tap interface, in manifest order',
    },
    traps: [
      'Boot the image from IDE, AHCI, NVMe or virtio-scsi, never from virtio-blk: Solo5 would take the boot disk for the first declared block device.',
      'Keep QEMU’s default (transitional) virtio devices: Solo5 speaks legacy virtio-pci only, so `disable-legacy=on` breaks it.',
    ],
  },
  {
    id: 'libvirt',
    name: 'libvirt (virt-install, virt-manager)',
    short: 'libvirt',
    formats: ['qcow2', 'raw'],
    size: 'any whole number of 512-byte sectors',
    firmware: 'SeaBIOS, the default (not UEFI)',
    bootDisk: 'SATA or IDE (`bus=sata`)',
    block: {
      offer: 'yes',
      how: 'each declared block device is a disk with `bus=virtio` at an explicit PCI slot, in manifest order',
    },
    net: {
      offer: 'yes',
      how: 'each declared network device is an interface with `model=virtio` at an explicit PCI slot, in manifest order',
    },
    traps: [
      'libvirt picks PCI slots itself unless told; give each virtio device an explicit slot (the commands below do) so that they appear in manifest order.',
      'Do not put the boot disk on `bus=virtio`: Solo5 would take it for the first declared block device.',
    ],
  },
  {
    id: 'proxmox',
    name: 'Proxmox VE',
    short: 'Proxmox',
    formats: ['qcow2', 'raw'],
    size: 'any whole number of 512-byte sectors',
    firmware: 'SeaBIOS, the default (`bios: seabios`)',
    bootDisk: 'IDE or SATA (the default SCSI controller, virtio-scsi, is skipped by Solo5 and works too)',
    block: {
      offer: 'yes',
      how: 'declared block devices are VirtIO Block disks `virtio0`, `virtio1`, … (PCI slots 10–15), in manifest order',
    },
    net: {
      offer: 'yes',
      how: 'declared network devices are VirtIO network cards `net0`, `net1`, … (PCI slots 18–23), in manifest order',
    },
    pciSlots: { perKind: 6 },
    traps: [
      'Proxmox fixes the PCI slots: VirtIO Block disks (slots 10–15) always come before network cards (slots 18–23), so a manifest that declares a network device before a block device cannot be matched.',
      'At most six VirtIO Block disks and six network cards sit on the first PCI bus; more go behind bridges, in another order.',
    ],
  },
  {
    id: 'openstack',
    name: 'OpenStack (KVM)',
    short: 'OpenStack',
    formats: ['qcow2', 'raw'],
    size: 'any whole number of 512-byte sectors (the flavor’s disk must be at least as large)',
    firmware: 'SeaBIOS unless the image sets `hw_firmware_type=uefi`',
    bootDisk: 'virtio-blk by default: set `hw_disk_bus=scsi` (with `hw_scsi_model=virtio-scsi`) or `ide` on the image',
    block: {
      offer: 'setting',
      how: 'declared block devices must be volumes attached as virtio-blk (`disk_bus=virtio`) when the server is created; Nova chooses their PCI slots',
      advice:
        'Check the serial console (`openstack console log show`) the first time: if Nova gives the volumes PCI slots out of manifest order, Solo5 attaches the wrong disk or stops.',
    },
    net: {
      offer: 'yes',
      how: 'each `--network` is a virtio-net card (`hw_vif_model=virtio`, the default), in the order given',
    },
    traps: [
      'The default boot disk is virtio-blk, which Solo5 takes for the first declared block device (Solo5 #483: a hang); set `hw_disk_bus=scsi` on the image.',
      'Volumes attached after the server started are never seen: Solo5 looks for devices once, at start.',
    ],
  },
  {
    id: 'gce',
    name: 'Google Compute Engine',
    short: 'GCE',
    formats: ['tar'],
    size: 'a whole number of GiB',
    firmware: 'SeaBIOS (UEFI only for images marked `UEFI_COMPATIBLE`)',
    bootDisk: 'virtio-scsi (NVMe on third-generation machine types)',
    block: {
      offer: 'no',
      how: 'GCE disks are virtio-scsi or NVMe, never virtio-blk (Solo5 #79)',
    },
    net: {
      offer: 'yes',
      how: 'the network card is virtio-net on first- and second-generation machine types (N1, N2, N2D, E2, C2)',
      advice:
        'Create the VM with a first- or second-generation machine type such as `e2-small` or `n1-standard-1` and a `VIRTIO_NET` network interface: newer families require gVNIC, which Solo5 cannot drive.',
    },
    alwaysVirtioNet:
      'Every GCE VM has a network card, and on first- and second-generation machine types it is virtio-net; Solo5 gives each virtio device it finds to the next manifest entry and stops at one its manifest does not declare, so a unikernel that declares no network device may abort there. Declare a network device (and use it or not), and check the serial console after the first start.',
    traps: [
      'Choose a first- or second-generation machine type such as `e2-small` or `n1-standard-1`: newer families require gVNIC, which Solo5 cannot drive.',
      'Every VM has a network card (virtio-net on those machine types): a unikernel that declares no network device meets a device it did not declare.',
      'The raw disk inside the tar must be a whole number of GiB.',
    ],
  },
  {
    id: 'virtualbox',
    name: 'VirtualBox',
    short: 'VirtualBox',
    formats: ['vdi', 'vmdk-sparse'],
    size: 'any whole number of 512-byte sectors',
    firmware: 'BIOS, the default (leave EFI off)',
    bootDisk: 'IDE or SATA (AHCI)',
    block: {
      offer: 'no',
      how: 'VirtualBox has no virtio-blk disks (its controllers are IDE, SATA, SCSI, SAS, NVMe and virtio-scsi)',
    },
    net: {
      offer: 'setting',
      how: 'a network adapter is virtio-net only when its type is “Paravirtualized Network (virtio-net)” (`--nictype1 virtio`); the default is an Intel card',
    },
    traps: ['Set each network adapter’s type to virtio-net; the default Intel PRO/1000 card is invisible to Solo5.'],
  },
  {
    id: 'vmware',
    name: 'VMware (ESXi, Workstation, Fusion)',
    short: 'VMware',
    formats: ['vmdk', 'vmdk-sparse'],
    size: 'any whole number of 512-byte sectors, below 2 TiB',
    firmware: 'BIOS (choose BIOS, not EFI, in the VM’s boot options)',
    bootDisk: 'IDE, SATA, LSI Logic or PVSCSI',
    block: { offer: 'no', how: 'VMware has no virtio devices: disks are IDE, SATA, SCSI (LSI, PVSCSI) or NVMe' },
    net: { offer: 'no', how: 'VMware has no virtio devices: network cards are vmxnet3 or e1000' },
    traps: ['VMware offers no virtio device at all: only a unikernel that declares no devices runs there.'],
  },
  {
    id: 'azure',
    name: 'Azure / Hyper-V',
    short: 'Azure',
    formats: ['vhd', 'vhd-dynamic'],
    size: 'Azure: a fixed VHD of a whole number of MiB; Hyper-V: any size',
    firmware: 'Generation 1 VM (BIOS)',
    bootDisk: 'IDE (Generation 1), presented through VMBus',
    block: { offer: 'no', how: 'Hyper-V disks are IDE or VMBus SCSI, not virtio' },
    net: { offer: 'no', how: 'Hyper-V network cards are VMBus (netvsc), not virtio' },
    traps: [
      'Azure takes only a fixed VHD whose size is a whole number of MiB, for a Generation 1 VM.',
      'Hyper-V offers no virtio device: only a unikernel that declares no devices runs there.',
    ],
  },
  {
    id: 'aws',
    name: 'AWS EC2',
    short: 'AWS',
    formats: ['vmdk', 'vhd', 'raw'],
    size: 'any; EBS volumes are whole GiB',
    firmware: 'legacy BIOS (`register-image --boot-mode legacy-bios`), on instance types that still offer it',
    bootDisk: 'NVMe (Nitro)',
    block: { offer: 'no', how: 'EC2 disks are NVMe (Nitro) or Xen block devices, not virtio' },
    net: { offer: 'no', how: 'EC2 network cards are ENA (or Xen), not virtio' },
    traps: [
      'Import through ImportSnapshot and RegisterImage; ImportImage rejects an operating system it does not know.',
      'EC2 offers no virtio device: only a unikernel that declares no devices runs there.',
    ],
  },
  {
    id: 'bare-metal',
    name: 'Bare metal / USB stick',
    short: 'bare metal',
    formats: ['raw'],
    size: 'at most the size of the stick or disk it is written to',
    firmware: 'BIOS, or UEFI with legacy (CSM) boot enabled',
    bootDisk: 'whatever the BIOS boots: USB, AHCI, NVMe',
    block: { offer: 'no', how: 'real machines have no virtio devices' },
    net: { offer: 'no', how: 'real machines have no virtio devices' },
    traps: ['Real hardware offers no virtio device: only a unikernel that declares no devices runs there.'],
  },
];

/** Where each output format goes by default (the CLI and the page judge the chosen format against it). */
const DEFAULT_DESTINATION: Readonly<Record<string, DestinationId>> = {
  raw: 'qemu',
  tar: 'gce',
  qcow2: 'qemu',
  vhd: 'azure',
  'vhd-dynamic': 'azure',
  vmdk: 'vmware',
  'vmdk-sparse': 'vmware',
  vdi: 'virtualbox',
};

/** Glance's `--disk-format` for each format. */
const GLANCE_FORMAT: Readonly<Record<string, string>> = {
  raw: 'raw',
  qcow2: 'qcow2',
  vhd: 'vhd',
  'vhd-dynamic': 'vhd',
  vmdk: 'vmdk',
  'vmdk-sparse': 'vmdk',
  vdi: 'vdi',
};

/** AWS ImportSnapshot's `Format=` for each format it takes. */
const AWS_FORMAT: Readonly<Record<string, string>> = { raw: 'RAW', vhd: 'VHD', 'vhd-dynamic': 'VHD', vmdk: 'VMDK' };

/** QEMU's block driver name for each format (`-drive format=`). */
export function findDestination(id: string): Destination | undefined {
  return DESTINATIONS.find((d) => d.id === id);
}

function destination(d: Destination | DestinationId): Destination {
  if (typeof d !== 'string') return d;
  const found = findDestination(d);
  if (!found) throw new Error(`internal: no destination ${d}`);
  return found;
}

/** The destination a format goes to by default, or undefined for a format this table does not know. */
export function destinationForFormat(formatId: string): Destination | undefined {
  const id = DEFAULT_DESTINATION[formatId];
  return id ? findDestination(id) : undefined;
}

/** QEMU's `-drive format=` for an output format, when QEMU reads it: the format's descriptor says. */
export function qemuDriver(formatId: string): string | undefined {
  return findFormat(formatId)?.qemuDriver;
}

export type Level = 'ok' | 'warn' | 'fail';

export interface Verdict {
  level: Level;
  /** Plain sentences, most important first (failures, then warnings, then the rest). Code is in backticks. */
  sentences: string[];
  /** The sentences that make the level 'fail' or 'warn' (none when 'ok'). */
  problems: string[];
}

/** What a verdict needs to know about a kernel (KernelInfo has it). */
export interface KernelDevices {
  devices: readonly Solo5Device[];
  /** False when the kernel has no Solo5 manifest at all (a plain Multiboot kernel). */
  solo5Manifest?: boolean;
}

function names(devs: readonly Solo5Device[]): string {
  const q = devs.map((d) => `\`${d.name}\``);
  return q.length <= 2 ? q.join(' and ') : `${q.slice(0, -1).join(', ')} and ${q[q.length - 1]}`;
}

function plural(kind: DeviceKind, n: number): string {
  return n === 1 ? kindWord(kind) : `${kindWord(kind)}s`;
}

/** Destinations that offer a kind as they are, for "run it on ..." advice. */
function alternatives(kinds: readonly DeviceKind[]): string {
  const ok = DESTINATIONS.filter((d) => kinds.every((k) => d[k].offer === 'yes')).map((d) => d.short);
  return ok.length <= 2 ? ok.join(' or ') : `${ok.slice(0, -1).join(', ')} or ${ok[ok.length - 1]}`;
}

/**
 * Will this kernel run there? `fail`: it will abort at start (a declared
 * device cannot be attached); `warn`: it runs only with a setting that is not
 * the default, or with care; `ok`: it runs as the next commands set it up.
 * A kernel that declares no devices is `ok` everywhere but where every VM gets
 * a virtio network card it did not declare (GCE: `warn`, which the CLI does not print).
 */
export function verdict(kernel: KernelDevices, dest: Destination | DestinationId): Verdict {
  const d = destination(dest);
  const devs = kernel.devices;
  const said: Record<Level, string[]> = { fail: [], warn: [], ok: [] };
  const undeclaredNet = kernel.solo5Manifest !== false && d.alwaysVirtioNet && !devs.some((x) => x.kind === 'net');
  if (undeclaredNet) said.warn.push(d.alwaysVirtioNet!);
  if (devs.length === 0) {
    if (kernel.solo5Manifest === false) {
      said.ok.push(
        `The kernel has no Solo5 manifest, so there are no declared devices to attach; it boots on ${d.short} as a plain Multiboot kernel.`,
      );
    } else if (!undeclaredNet) {
      said.ok.push(
        `The unikernel declares no devices, so ${d.short} needs to attach nothing: it boots and runs there.`,
      );
    }
    const level: Level = said.warn.length ? 'warn' : 'ok';
    return { level, sentences: [...said.warn, ...said.ok], problems: said.warn };
  }
  const kinds = (['block', 'net'] as const).filter((k) => devs.some((x) => x.kind === k));
  for (const k of kinds) {
    const of = devs.filter((x) => x.kind === k);
    const offer = d[k];
    if (offer.offer === 'no') {
      const word = k === 'block' ? 'block' : 'network';
      said.fail.push(
        `${capital(d.short)} has no virtio ${word} devices: ${names(of)} cannot be attached and the unikernel will abort at start. Build it without ${word} devices, or run it on ${alternatives(kinds)}.`,
        `${capital(offer.how)}.`,
      );
      continue;
    }
    said[offer.offer === 'setting' ? 'warn' : 'ok'].push(`On ${d.short}, ${offer.how} (${names(of)}).`);
    if (offer.advice) said[offer.offer === 'setting' ? 'warn' : 'ok'].push(offer.advice);
  }
  if (d.pciSlots) {
    const firstNet = devs.findIndex((x) => x.kind === 'net');
    const lastBlock = devs.map((x) => x.kind).lastIndexOf('block');
    if (firstNet >= 0 && lastBlock > firstNet) {
      said.fail.push(
        `${d.short} puts every virtio block disk on the PCI bus before every network card, but the manifest declares network device \`${devs[firstNet].name}\` before block device \`${devs[lastBlock].name}\`: Solo5 binds devices in PCI order, so the kinds would not match and the unikernel would abort. Declare block devices first, or run it on QEMU or libvirt, where the order is yours.`,
      );
    }
    for (const k of kinds) {
      const n = devs.filter((x) => x.kind === k).length;
      if (n > d.pciSlots.perKind) {
        said.warn.push(
          `${n} ${plural(k, n)} are more than the ${d.pciSlots.perKind} that ${d.short} places on the first PCI bus; the rest go behind bridges, in an order that may not follow the manifest.`,
        );
      }
    }
  }
  const level: Level = said.fail.length ? 'fail' : said.warn.length ? 'warn' : 'ok';
  if (level === 'ok') {
    const all = devs.length === 1 ? 'it' : 'all of them';
    said.ok.unshift(`The unikernel declares ${describeDevices(devs)}; ${d.short} can attach ${all}.`);
  }
  return { level, sentences: [...said.fail, ...said.warn, ...said.ok], problems: level === 'ok' ? [] : said[level] };
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** One next step: what it does, and the command (shell; names in capitals are the user's). */
export interface NextStep {
  what: string;
  command: string;
}

export interface StepOptions {
  /** The image file, as the user named it. */
  file: string;
  /** The chosen format id (for QEMU's `format=`); the destination's usual one by default. */
  formatId?: string;
  /** Name for the VM or image (default: `imageName(file)`). */
  name?: string;
}

export { shellQuote } from './shell';

/**
 * A name for the image or VM made from a file: lower case letters, digits and
 * dashes, starting with a letter, at most 63 (GCE's rule, the strictest of the
 * destinations). The file's extension is dropped: `my disk.tar.gz` -> `my-disk`.
 */
export function imageName(fileName: string): string {
  let s = fileName
    .replace(/\.tar\.gz$/i, '')
    .replace(/\.[a-z0-9]{1,6}$/i, '')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (!/^[a-z]/.test(s)) s = 'unikernel-' + s;
  return s.slice(0, 63).replace(/-+$/, '');
}

/** A QEMU/libvirt id for a device: its name when that is a valid id, else kind + manifest position. */
function deviceId(dev: Solo5Device, i: number): string {
  return /^[A-Za-z][A-Za-z0-9_.-]*$/.test(dev.name) ? dev.name : `${dev.kind}${i + 1}`;
}

/** First PCI slot for the declared devices: well clear of QEMU's own (host bridge, ISA/IDE, VGA, default NIC). */
export const FIRST_PCI_SLOT = 0x10;

function slot(i: number): string {
  return `0x${(FIRST_PCI_SLOT + i).toString(16)}`;
}

/**
 * The next commands for this kernel and destination: upload, import, create,
 * run, with the declared devices attached as the destination needs them.
 */
export function nextSteps(kernel: KernelDevices, dest: Destination | DestinationId, o: StepOptions): NextStep[] {
  const d = destination(dest);
  const devs = kernel.devices;
  const file = shellQuote(o.file);
  const name = shellQuote(o.name ?? imageName(o.file));
  const fmt = o.formatId ?? d.formats[0];
  const blocks = devs.filter((x) => x.kind === 'block');
  const nets = devs.filter((x) => x.kind === 'net');
  const diskFile = (dev: Solo5Device) => shellQuote(`${dev.name}.img`);
  const createDisks: NextStep[] = blocks.length
    ? [
        {
          what: `make a disk for each declared block device (${names(blocks)})`,
          command: blocks.map((b) => `qemu-img create -f raw ${diskFile(b)} 1G`).join('\n'),
        },
      ]
    : [];
  switch (d.id) {
    case 'qemu': {
      const args = [
        // -no-reboot and isa-debug-exit: QEMU exits when the unikernel does (Solo5 and the
        // demo write to port 0x501: status 83; the boot loader's failures: 255).
        'qemu-system-x86_64 -accel kvm -accel tcg -m 512 -nographic -no-reboot -device isa-debug-exit',
        `-drive file=${file},format=${qemuDriver(fmt) ?? 'raw'},if=ide`,
      ];
      if (nets.length === 0) args.push('-nic none');
      devs.forEach((dev, i) => {
        const id = deviceId(dev, i);
        if (dev.kind === 'block') {
          args.push(
            `-drive file=${diskFile(dev)},format=raw,if=none,id=${id} -device virtio-blk-pci,drive=${id},addr=${slot(i)}`,
          );
        } else {
          const tap = `tap${nets.indexOf(dev)}`;
          args.push(
            `-netdev tap,id=${id},ifname=${tap},script=no,downscript=no -device virtio-net-pci,netdev=${id},addr=${slot(i)}`,
          );
        }
      });
      return [
        ...createDisks,
        {
          what: devs.length
            ? 'run it: the boot disk on IDE, the declared devices as virtio at increasing PCI slots in manifest order; QEMU exits when the unikernel does (status 83)'
            : 'run it (the boot disk on IDE); QEMU exits when the unikernel does (status 83)',
          command: args.join(' \\\n  '),
        },
      ];
    }
    case 'libvirt': {
      const args = [
        `virt-install --name ${name} --memory 512 --import --osinfo detect=on,require=off --graphics none`,
        `--disk path=${file},format=${qemuDriver(fmt) ?? 'raw'},bus=sata`,
      ];
      if (nets.length === 0) args.push('--network none');
      devs.forEach((dev, i) => {
        const at = `address.type=pci,address.domain=0,address.bus=0,address.slot=${slot(i)}`;
        args.push(
          dev.kind === 'block'
            ? `--disk path=${diskFile(dev)},format=raw,bus=virtio,${at}`
            : `--network network=default,model=virtio,${at}`,
        );
      });
      return [
        ...createDisks,
        { what: 'create and start the VM (its serial console opens)', command: args.join(' \\\n  ') },
      ];
    }
    case 'proxmox': {
      const create = [`qm create VMID --name ${name} --memory 512 --serial0 socket --vga serial0`];
      nets.forEach((_, i) => create.push(`--net${i} virtio,bridge=vmbr0`));
      const steps: NextStep[] = [
        { what: 'create the VM', command: create.join(' ') },
        { what: 'import the image as its boot disk', command: `qm disk import VMID ${file} local-lvm` },
        {
          what: 'attach it on IDE and boot from it',
          command: 'qm set VMID --ide0 local-lvm:vm-VMID-disk-0 --boot order=ide0',
        },
      ];
      if (blocks.length) {
        steps.push({
          what: `add the declared block devices as VirtIO Block disks of 1 GiB, in manifest order (${names(blocks)})`,
          command: `qm set VMID ${blocks.map((_, i) => `--virtio${i} local-lvm:1`).join(' ')}`,
        });
      }
      steps.push({ what: 'start it and watch the serial console', command: 'qm start VMID && qm terminal VMID' });
      return steps;
    }
    case 'openstack': {
      const steps: NextStep[] = [
        {
          what: 'upload the image; its boot disk on virtio-scsi so that it takes no manifest slot',
          command: `openstack image create --disk-format ${GLANCE_FORMAT[fmt] ?? 'qcow2'} --container-format bare \\\n  --property hw_disk_bus=scsi --property hw_scsi_model=virtio-scsi --property hw_vif_model=virtio \\\n  --file ${file} ${name}`,
        },
      ];
      if (blocks.length) {
        steps.push({
          what: `create a volume for each declared block device (${names(blocks)})`,
          command: blocks.map((b) => `openstack volume create --size 1 ${shellQuote(b.name)}`).join('\n'),
        });
      }
      const server = [`openstack server create --image ${name} --flavor m1.tiny`];
      if (nets.length === 0) server.push('--no-network');
      for (const dev of devs) {
        server.push(
          dev.kind === 'net'
            ? '--network NET'
            : `--block-device uuid=$(openstack volume show -f value -c id ${shellQuote(dev.name)}),source_type=volume,destination_type=volume,disk_bus=virtio`,
        );
      }
      server.push(`${name}-vm`);
      steps.push({
        what: devs.length
          ? 'create the server with the declared devices, in manifest order'
          : 'create the server (no network: the unikernel declares none)',
        command: server.join(' \\\n  '),
      });
      steps.push({ what: 'read its serial console', command: `openstack console log show ${name}-vm` });
      return steps;
    }
    case 'gce': {
      const create = [
        `gcloud compute instances create ${name}-vm --project PROJECT --zone ZONE --image ${name} --machine-type e2-small`,
      ];
      if (nets.length) {
        nets.forEach(() => create.push('--network-interface=nic-type=VIRTIO_NET,network=default'));
      }
      return [
        { what: 'upload the tar to Cloud Storage', command: `gcloud storage cp ${file} gs://BUCKET/` },
        {
          what: 'make an image of it',
          command: `gcloud compute images create ${name} --project PROJECT --source-uri gs://BUCKET/${file}`,
        },
        {
          what: 'create the VM on a second-generation machine type (virtio-net, not gVNIC)',
          command: create.join(' \\\n  '),
        },
        {
          what: 'read its serial console',
          command: `gcloud compute instances get-serial-port-output ${name}-vm --project PROJECT --zone ZONE`,
        },
      ];
    }
    case 'virtualbox': {
      const modify = [`VBoxManage modifyvm ${name} --memory 512 --uart1 0x3F8 4 --uartmode1 file /tmp/${name}.log`];
      if (nets.length === 0) modify.push('--nic1 none');
      nets.forEach((_, i) => modify.push(`--nic${i + 1} nat --nictype${i + 1} virtio`));
      return [
        { what: 'create the VM', command: `VBoxManage createvm --name ${name} --ostype Other_64 --register` },
        {
          what: nets.length
            ? 'memory, serial console to a file, and virtio-net adapters for the declared network devices'
            : 'memory and serial console to a file',
          command: modify.join(' '),
        },
        {
          what: 'attach the image on IDE',
          command: `VBoxManage storagectl ${name} --name IDE --add ide\nVBoxManage storageattach ${name} --storagectl IDE --port 0 --device 0 --type hdd --medium ${file}`,
        },
        { what: 'start it', command: `VBoxManage startvm ${name} --type headless` },
      ];
    }
    case 'vmware':
      return [
        { what: 'ESXi: import the disk into a datastore', command: `govc import.vmdk ${file} FOLDER` },
        {
          what: 'ESXi, on the host after uploading it: convert it to a thin disk; then create a BIOS VM with it on IDE or SATA (Workstation/Fusion: “use an existing virtual disk”)',
          command: `vmkfstools -i ${file} ${name}-thin.vmdk -d thin`,
        },
      ];
    case 'azure':
      return [
        {
          what: 'upload the fixed VHD as a page blob',
          command: `az storage blob upload --account-name ACCOUNT --container-name vhds --type page --file ${file} --name ${file}`,
        },
        {
          what: 'make a Generation 1 image of it',
          command: `az image create --resource-group RG --name ${name} --os-type Linux --hyper-v-generation V1 \\\n  --source https://ACCOUNT.blob.core.windows.net/vhds/${file}`,
        },
        {
          what: 'create the VM with boot diagnostics (the serial console)',
          command: `az vm create --resource-group RG --name ${name}-vm --image ${name} --boot-diagnostics-storage ACCOUNT`,
        },
      ];
    case 'aws': {
      const format = AWS_FORMAT[fmt] ?? 'VMDK';
      return [
        { what: 'upload to S3', command: `aws s3 cp ${file} s3://BUCKET/${file}` },
        {
          what: 'import it as a snapshot',
          command: `aws ec2 import-snapshot --description ${name} \\\n  --disk-container "Format=${format},UserBucket={S3Bucket=BUCKET,S3Key=${o.file}}"`,
        },
        {
          what: 'register a BIOS-boot image from the snapshot',
          command: `aws ec2 register-image --name ${name} --architecture x86_64 --virtualization-type hvm \\\n  --boot-mode legacy-bios --root-device-name /dev/xvda \\\n  --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=snap-...}"`,
        },
      ];
    }
    case 'bare-metal':
      return [
        {
          what: 'write it to a USB stick (check the device name first: everything on it is replaced)',
          command: `sudo dd if=${file} of=/dev/sdX bs=4M conv=fsync status=progress`,
        },
      ];
  }
}
