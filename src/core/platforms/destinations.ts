/**
 * The destinations, as data: for each, the formats it takes, its size rule,
 * firmware and boot disk, what it offers of each virtio kind, its traps, and
 * its own next commands. Every fact here has its source in docs/platforms.md.
 * Also which destination each format goes to by default.
 */
import { findFormat, type FormatId } from '../formats/index';
import { shellQuote } from '../shell';
import { createDisks, deviceId, diskFile, names, slot } from './commands';
import type { Destination, DestinationId, NextStep } from './types';

/** Where each output format goes by default (the CLI and the page judge the chosen format against it). */
const DEFAULT_DESTINATION: Readonly<Record<FormatId, DestinationId>> = {
  raw: 'qemu',
  tar: 'gce',
  qcow2: 'qemu',
  vhd: 'azure',
  'vhd-dynamic': 'azure',
  vmdk: 'vmware',
  'vmdk-sparse': 'vmware',
  vdi: 'virtualbox',
};

/** Glance's `--disk-format` for each format; null where Glance has none (the command then says qcow2, OpenStack's usual). */
const GLANCE_FORMAT: Readonly<Record<FormatId, string | null>> = {
  raw: 'raw',
  tar: null,
  qcow2: 'qcow2',
  vhd: 'vhd',
  'vhd-dynamic': 'vhd',
  vmdk: 'vmdk',
  'vmdk-sparse': 'vmdk',
  vdi: 'vdi',
};

/** AWS ImportSnapshot's `Format=` for each format it takes; null for the others (the command then says VMDK, AWS's usual). */
const AWS_FORMAT: Readonly<Record<FormatId, string | null>> = {
  raw: 'RAW',
  tar: null,
  qcow2: null,
  vhd: 'VHD',
  'vhd-dynamic': 'VHD',
  vmdk: 'VMDK',
  'vmdk-sparse': null,
  vdi: null,
};

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
    nextSteps({ devices, blocks, nets, file, format }) {
      const args = [
        // -no-reboot and isa-debug-exit: QEMU exits when the unikernel does (Solo5 and the
        // demo write to port 0x501: status 83; the boot loader's failures: 255).
        'qemu-system-x86_64 -accel kvm -accel tcg -m 512 -nographic -no-reboot -device isa-debug-exit',
        `-drive file=${file},format=${format?.qemuDriver ?? 'raw'},if=ide`,
      ];
      if (nets.length === 0) args.push('-nic none');
      devices.forEach((dev, i) => {
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
        ...createDisks(blocks),
        {
          what: devices.length
            ? 'run it: the boot disk on IDE, the declared devices as virtio at increasing PCI slots in manifest order; QEMU exits when the unikernel does (status 83)'
            : 'run it (the boot disk on IDE); QEMU exits when the unikernel does (status 83)',
          command: args.join(' \\\n  '),
        },
      ];
    },
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
    nextSteps({ devices, blocks, nets, file, name, format }) {
      const args = [
        `virt-install --name ${name} --memory 512 --import --osinfo detect=on,require=off --graphics none`,
        `--disk path=${file},format=${format?.qemuDriver ?? 'raw'},bus=sata`,
      ];
      if (nets.length === 0) args.push('--network none');
      devices.forEach((dev, i) => {
        const at = `address.type=pci,address.domain=0,address.bus=0,address.slot=${slot(i)}`;
        args.push(
          dev.kind === 'block'
            ? `--disk path=${diskFile(dev)},format=raw,bus=virtio,${at}`
            : `--network network=default,model=virtio,${at}`,
        );
      });
      return [
        ...createDisks(blocks),
        { what: 'create and start the VM (its serial console opens)', command: args.join(' \\\n  ') },
      ];
    },
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
    nextSteps({ blocks, nets, file, name }) {
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
    },
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
    nextSteps({ devices, blocks, nets, file, name, format }) {
      const steps: NextStep[] = [
        {
          what: 'upload the image; its boot disk on virtio-scsi so that it takes no manifest slot',
          command: `openstack image create --disk-format ${(format && GLANCE_FORMAT[format.id]) ?? 'qcow2'} --container-format bare \\\n  --property hw_disk_bus=scsi --property hw_scsi_model=virtio-scsi --property hw_vif_model=virtio \\\n  --file ${file} ${name}`,
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
      for (const dev of devices) {
        server.push(
          dev.kind === 'net'
            ? '--network NET'
            : `--block-device uuid=$(openstack volume show -f value -c id ${shellQuote(dev.name)}),source_type=volume,destination_type=volume,disk_bus=virtio`,
        );
      }
      server.push(`${name}-vm`);
      steps.push({
        what: devices.length
          ? 'create the server with the declared devices, in manifest order'
          : 'create the server (no network: the unikernel declares none)',
        command: server.join(' \\\n  '),
      });
      steps.push({ what: 'read its serial console', command: `openstack console log show ${name}-vm` });
      return steps;
    },
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
      several:
        'GCE refuses a VM with two interfaces on one VPC network: create a network, with a subnet, for each declared network device first (the next steps do).',
    },
    alwaysVirtioNet: {
      says: 'A unikernel that declares no network device may abort on GCE, where every VM has a virtio network card: declare one (used or not), and check the serial console after the first start.',
      why: 'Every GCE VM has a network card, virtio-net on first- and second-generation machine types, and Solo5 gives each virtio device it finds to the next manifest entry and stops at one its manifest does not declare.',
    },
    traps: [
      'Choose a first- or second-generation machine type such as `e2-small` or `n1-standard-1`: newer families require gVNIC, which Solo5 cannot drive.',
      'Every VM has a network card (virtio-net on those machine types): a unikernel that declares no network device meets a device it did not declare.',
      'The raw disk inside the tar must be a whole number of GiB.',
    ],
    nextSteps({ nets, file, name }) {
      // A VM has at most as many network interfaces as vCPUs, and at least 2 (e2-small has 2 vCPUs).
      const machine = nets.length <= 2 ? 'e2-small' : nets.length <= 4 ? 'e2-standard-4' : 'e2-standard-8';
      const create = [
        `gcloud compute instances create ${name}-vm --project PROJECT --zone ZONE --image ${name} --machine-type ${machine}`,
      ];
      const steps: NextStep[] = [
        { what: 'upload the tar to Cloud Storage', command: `gcloud storage cp ${file} gs://BUCKET/` },
        {
          what: 'make an image of it',
          command: `gcloud compute images create ${name} --project PROJECT --source-uri gs://BUCKET/${file}`,
        },
      ];
      if (nets.length === 1) create.push('--network-interface=nic-type=VIRTIO_NET,network=default');
      if (nets.length > 1) {
        // Each interface of a VM on a VPC network of its own, in subnets whose ranges do not overlap.
        const net = (i: number) => `NETWORK${i + 1}`;
        steps.push({
          what: `create a VPC network for each declared network device, ${nets.map((d, i) => `${net(i)} for \`${d.name}\``).join(', ')} (GCE puts each interface of a VM on a network of its own, in subnets whose ranges do not overlap)`,
          command: nets
            .flatMap((_, i) => [
              `gcloud compute networks create ${net(i)} --project PROJECT --subnet-mode custom`,
              `gcloud compute networks subnets create ${net(i)} --project PROJECT --network ${net(i)} --region REGION --range 10.${i + 1}.0.0/24`,
            ])
            .join('\n'),
        });
        nets.forEach((_, i) =>
          create.push(`--network-interface=nic-type=VIRTIO_NET,network=${net(i)},subnet=${net(i)}`),
        );
      }
      return [
        ...steps,
        {
          what:
            nets.length > 1
              ? 'create the VM on a second-generation machine type (virtio-net, not gVNIC), one interface on each network, in manifest order'
              : 'create the VM on a second-generation machine type (virtio-net, not gVNIC)',
          command: create.join(' \\\n  '),
        },
        {
          what: 'read its serial console',
          command: `gcloud compute instances get-serial-port-output ${name}-vm --project PROJECT --zone ZONE`,
        },
      ];
    },
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
    nextSteps({ nets, file, name }) {
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
    },
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
    nextSteps({ file, name }) {
      return [
        { what: 'ESXi: import the disk into a datastore', command: `govc import.vmdk ${file} FOLDER` },
        {
          what: 'ESXi, on the host after uploading it: convert it to a thin disk; then create a BIOS VM with it on IDE or SATA (Workstation/Fusion: “use an existing virtual disk”)',
          command: `vmkfstools -i ${file} ${name}-thin.vmdk -d thin`,
        },
      ];
    },
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
    nextSteps({ file, name }) {
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
    },
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
    nextSteps({ file, fileName, name, format }) {
      const awsFormat = (format && AWS_FORMAT[format.id]) ?? 'VMDK';
      return [
        { what: 'upload to S3', command: `aws s3 cp ${file} s3://BUCKET/${file}` },
        {
          what: 'import it as a snapshot',
          command: `aws ec2 import-snapshot --description ${name} \\\n  --disk-container "Format=${awsFormat},UserBucket={S3Bucket=BUCKET,S3Key=${fileName}}"`,
        },
        {
          what: 'register a BIOS-boot image from the snapshot',
          command: `aws ec2 register-image --name ${name} --architecture x86_64 --virtualization-type hvm \\\n  --boot-mode legacy-bios --root-device-name /dev/xvda \\\n  --block-device-mappings "DeviceName=/dev/xvda,Ebs={SnapshotId=snap-...}"`,
        },
      ];
    },
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
    nextSteps({ file }) {
      return [
        {
          what: 'write it to a USB stick (check the device name first: everything on it is replaced)',
          command: `sudo dd if=${file} of=/dev/sdX bs=4M conv=fsync status=progress`,
        },
      ];
    },
  },
];

/** The destination with this id, or undefined. */
export function findDestination(id: string): Destination | undefined {
  return DESTINATIONS.find((d) => d.id === id);
}

/** A destination, given as itself or by its id (an id that is not one is a bug). */
export function resolveDestination(d: Destination | DestinationId): Destination {
  if (typeof d !== 'string') return d;
  const found = findDestination(d);
  if (!found) throw new Error(`internal: no destination ${d}`);
  return found;
}

/** The destination a format goes to by default, or undefined for an id no format has. */
export function destinationForFormat(formatId: string): Destination | undefined {
  const format = findFormat(formatId);
  return format && resolveDestination(DEFAULT_DESTINATION[format.id]);
}
