/**
 * The destinations, as data: for each, the formats it takes, its size rule,
 * firmware (BIOS, UEFI or either, how to choose UEFI, Secure Boot) and boot disk, what it offers of each virtio kind, its traps, and
 * its own next commands. Every fact here has its source in docs/platforms.md.
 * Also which destination each format goes to by default.
 */
import { findFormat, type FormatId } from '../formats/index';
import { shellQuote } from '../shell';
import { BHYVE_UEFI_FIRMWARE } from '../run/command';
import {
  BHYVE_FIRST_SLOT,
  createDisks,
  deviceId,
  diskFile,
  LIBVIRT_UEFI,
  names,
  OVMF_FD,
  slot,
  uefiStep,
} from './commands';
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
    firmware: {
      text: 'SeaBIOS, QEMU’s default; OVMF for UEFI',
      boots: 'both',
      default: 'bios',
      uefi: 'add `-bios /usr/share/ovmf/OVMF.fd` (Debian’s `ovmf` package)',
      secureBoot:
        'OVMF enforces it only in its Secure Boot build with keys enrolled (`OVMF_CODE_4M.secboot.fd` with `OVMF_VARS_4M.ms.fd`), where the disk fails with "Access Denied"; the plain build the command uses has none.',
    },
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
        uefiStep(
          'the same with OVMF, so that the image’s UEFI loader starts the kernel',
          [args[0], `-bios ${OVMF_FD}`, ...args.slice(1)].join(' \\\n  '),
        ),
      ];
    },
  },
  {
    id: 'libvirt',
    name: 'libvirt (virt-install, virt-manager)',
    short: 'libvirt',
    formats: ['qcow2', 'raw'],
    size: 'any whole number of 512-byte sectors',
    firmware: {
      text: "SeaBIOS, the default; UEFI with `--boot uefi` (`<os firmware='efi'>`)",
      boots: 'both',
      default: 'bios',
      uefi: `add \`--boot ${LIBVIRT_UEFI}\` (libvirt’s \`<os firmware='efi'>\`, Secure Boot off)`,
      secureBoot:
        'libvirt picks the UEFI firmware build itself, and on some distributions `--boot uefi` alone gets one with Secure Boot keys enrolled; `firmware.feature0.name=secure-boot,firmware.feature0.enabled=no` asks for one without.',
    },
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
        uefiStep(
          "the same VM with UEFI firmware and Secure Boot off (`<os firmware='efi'>`)",
          [args[0], `--boot ${LIBVIRT_UEFI}`, ...args.slice(1)].join(' \\\n  '),
        ),
      ];
    },
  },
  {
    id: 'proxmox',
    name: 'Proxmox VE',
    short: 'Proxmox',
    formats: ['qcow2', 'raw'],
    size: 'any whole number of 512-byte sectors',
    firmware: {
      text: 'SeaBIOS, the default (`bios: seabios`); OVMF with `bios: ovmf`',
      boots: 'both',
      default: 'bios',
      uefi: 'set `bios: ovmf` with an EFI disk (`qm set VMID --bios ovmf --efidisk0 local-lvm:1,efitype=4m,pre-enrolled-keys=0`)',
      secureBoot: 'An EFI disk with `pre-enrolled-keys=1` (Microsoft’s keys) turns it on: keep `pre-enrolled-keys=0`.',
    },
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
      steps.push(
        uefiStep(
          'OVMF with an EFI disk, Secure Boot off (`pre-enrolled-keys=0`)',
          'qm set VMID --bios ovmf --efidisk0 local-lvm:1,efitype=4m,pre-enrolled-keys=0',
        ),
      );
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
    firmware: {
      text: 'SeaBIOS unless the image sets `hw_firmware_type=uefi`',
      boots: 'both',
      default: 'bios',
      uefi: 'set the image property `hw_firmware_type=uefi`',
      secureBoot:
        'Nova turns it on only when the image or flavor asks for it (`os_secure_boot=required`): leave that property unset.',
    },
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
      steps.splice(
        1,
        0,
        uefiStep(
          'mark the image for UEFI firmware (before creating the server)',
          `openstack image set --property hw_firmware_type=uefi ${name}`,
        ),
      );
      return steps;
    },
  },
  {
    id: 'bhyve',
    name: 'bhyve (FreeBSD)',
    short: 'bhyve',
    formats: ['raw'],
    size: 'any whole number of 512-byte sectors',
    firmware: {
      text: `UEFI: bhyve’s EDK2 build, \`${BHYVE_UEFI_FIRMWARE}\` (FreeBSD’s \`bhyve-firmware\` package)`,
      boots: 'uefi',
      default: 'uefi',
      uefi: `\`-l bootrom,${BHYVE_UEFI_FIRMWARE}\``,
    },
    bootDisk: 'AHCI (`ahci-hd`), which Solo5 skips',
    block: {
      offer: 'yes',
      how: 'each declared block device is a `virtio-blk` device, in manifest order at increasing PCI slots',
    },
    net: {
      offer: 'yes',
      how: 'each declared network device is a `virtio-net` device on a tap interface, in manifest order at increasing PCI slots',
    },
    traps: [
      'bhyve boots a disk image only through UEFI firmware; the image’s own UEFI loader starts the kernel, so grub-bhyve is not needed.',
      'bhyve reads raw disks only: build the image with `-f raw`.',
      'Not yet run on a FreeBSD host by this project (the UEFI loader is tested under QEMU’s OVMF); whether the unikernel’s ACPI power-off works there is not known: if the VM stays halted after the unikernel ends, stop it with `bhyvectl --destroy`.',
    ],
    nextSteps({ devices, blocks, file, name }) {
      const args = [
        `bhyve -A -H -u -m 512M -l bootrom,${BHYVE_UEFI_FIRMWARE} -l com1,stdio`,
        `-s 0:0,hostbridge -s 1:0,lpc -s 2:0,ahci-hd,${file}`,
      ];
      devices.forEach((dev, i) => {
        const at = BHYVE_FIRST_SLOT + i;
        args.push(
          dev.kind === 'block'
            ? `-s ${at}:0,virtio-blk,${diskFile(dev)}`
            : `-s ${at}:0,virtio-net,tap${devices.filter((x) => x.kind === 'net').indexOf(dev)}`,
        );
      });
      args.push(name);
      const steps: NextStep[] = [];
      if (blocks.length) {
        steps.push({
          what: `make a disk for each declared block device (${names(blocks)})`,
          command: blocks.map((b) => `truncate -s 1G ${diskFile(b)}`).join('\n'),
        });
      }
      steps.push(
        {
          what: devices.length
            ? 'run it with the UEFI firmware: the boot disk on AHCI, the declared devices as virtio at increasing PCI slots in manifest order (as root)'
            : 'run it with the UEFI firmware, the boot disk on AHCI (as root)',
          command: args.join(' \\\n  '),
        },
        { what: 'free the VM once it has stopped', command: `bhyvectl --destroy --vm=${name}` },
      );
      return steps;
    },
  },
  {
    id: 'gce',
    name: 'Google Compute Engine',
    short: 'GCE',
    formats: ['tar'],
    size: 'a whole number of GiB',
    firmware: {
      text: 'SeaBIOS (UEFI only for images marked `UEFI_COMPATIBLE`)',
      boots: 'bios',
      default: 'bios',
      note: 'GCE starts an image with UEFI only when it is created with `--guest-os-features=UEFI_COMPATIBLE`, which Shielded VM (UEFI, Secure Boot, vTPM) needs; Google documents Shielded VM images as GPT disks (“master boot record (MBR) is not supported”), and this image is MBR, so leave the flag off: SeaBIOS boots it, and Solo5 uses neither Secure Boot nor a vTPM.',
    },
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
    firmware: {
      text: 'BIOS, the default; EFI with `--firmware efi`',
      boots: 'both',
      default: 'bios',
      uefi: 'set `VBoxManage modifyvm NAME --firmware efi`',
      secureBoot: 'VirtualBox’s EFI has it off unless you enroll keys and turn it on: leave it off.',
    },
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
        uefiStep('EFI firmware instead of BIOS', `VBoxManage modifyvm ${name} --firmware efi`),
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
    firmware: {
      text: 'BIOS or EFI, chosen in the VM’s boot options (`firmware = "efi"` in the .vmx)',
      boots: 'both',
      default: 'bios',
      uefi: 'choose EFI in the VM’s boot options (`firmware = "efi"`)',
      secureBoot: 'With EFI, leave “Secure Boot” unticked (`uefi.secureBoot.enabled = "FALSE"`).',
    },
    bootDisk: 'IDE, SATA, LSI Logic or PVSCSI',
    block: { offer: 'no', how: 'VMware has no virtio devices: disks are IDE, SATA, SCSI (LSI, PVSCSI) or NVMe' },
    net: { offer: 'no', how: 'VMware has no virtio devices: network cards are vmxnet3 or e1000' },
    traps: ['VMware offers no virtio device at all: only a unikernel that declares no devices runs there.'],
    nextSteps({ file, name }) {
      return [
        { what: 'ESXi: import the disk into a datastore', command: `govc import.vmdk ${file} FOLDER` },
        {
          what: 'ESXi, on the host after uploading it: convert it to a thin disk; then create a VM (BIOS, or EFI with Secure Boot off) with it on IDE or SATA (Workstation/Fusion: “use an existing virtual disk”)',
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
    firmware: {
      text: 'Generation 1 VM (BIOS); Generation 2 is UEFI',
      boots: 'both',
      default: 'bios',
      uefi: 'create a Generation 2 VM',
      secureBoot:
        'Hyper-V turns it on for new Generation 2 VMs (`Set-VMFirmware -VMName NAME -EnableSecureBoot Off` turns it off), and Azure’s Trusted launch does too (`--security-type Standard` avoids it).',
      note: 'Generation 2 has no virtio devices either, so it changes nothing for a Solo5 unikernel: the commands make a Generation 1 VM.',
    },
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
    firmware: {
      text: 'legacy BIOS (`register-image --boot-mode legacy-bios`), on instance types that still offer it; UEFI with `--boot-mode uefi`',
      boots: 'both',
      default: 'bios',
      uefi: 'register it with `--boot-mode uefi-preferred` (UEFI where the instance type has it, else BIOS)',
      secureBoot:
        'EC2 enforces it only for an image registered with a UEFI variable store holding keys (`--uefi-data`): register without one.',
    },
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
    firmware: {
      text: 'BIOS, or UEFI (the image carries a loader for each)',
      boots: 'both',
      default: 'uefi',
      uefi: 'pick the stick’s “UEFI:” entry in the machine’s boot menu when it lists two',
      secureBoot:
        'Most PCs sold with Windows have it on, and each vendor words the refusal its own way (“Secure Boot Violation”, “Invalid signature detected”): turn Secure Boot off in the firmware setup, enroll a key of your own and sign `\\EFI\\BOOT\\BOOTX64.EFI` with it, or use legacy (CSM) boot where the machine still has it.',
    },
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
