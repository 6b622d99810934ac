/**
 * The shapes of the platforms module: a destination (its facts, what it
 * offers of each virtio kind, and its own next commands), what a verdict and
 * the next steps need to know about a kernel, and what they return.
 */
import type { FormatId, OutputFormat } from '../formats/types';
import type { Solo5Device } from '../solo5';

export type DestinationId =
  | 'qemu'
  | 'libvirt'
  | 'proxmox'
  | 'openstack'
  | 'bhyve'
  | 'gce'
  | 'virtualbox'
  | 'vmware'
  | 'azure'
  | 'aws'
  | 'bare-metal';

/**
 * The firmware a destination starts its VMs with. Our images carry both
 * loaders (stage 1 and 2 for BIOS, `\EFI\BOOT\BOOTX64.EFI` for UEFI), so
 * either boots them; what matters is which one a VM gets, how to choose
 * UEFI, and Secure Boot, which refuses our unsigned UEFI loader.
 */
export interface Firmware {
  /** In words: "SeaBIOS, QEMU’s default; OVMF for UEFI". */
  text: string;
  /** Which firmware can start the image there: BIOS only, UEFI only, or either, chosen per VM. */
  boots: 'bios' | 'uefi' | 'both';
  /** What a new VM gets unless told otherwise (and what the next commands use). */
  default: 'bios' | 'uefi';
  /** How to choose UEFI there: a phrase, the setting in backticks (when `boots` is not 'bios'). */
  uefi?: string;
  /** Secure Boot there under UEFI: on or off by default, and how to turn it off (a sentence). */
  secureBoot?: string;
  /** Why UEFI is not worth choosing there, or when it is (a sentence), when that needs saying. */
  note?: string;
}

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
  /** A sentence for when the kernel declares more than one device of this kind. */
  several?: string;
}

export interface Destination {
  id: DestinationId;
  /** For headings: "Google Compute Engine". */
  name: string;
  /** For sentences: "GCE". */
  short: string;
  /** Format ids (src/core/formats), the usual one first. */
  formats: readonly FormatId[];
  /** The size rule, in words. */
  size: string;
  firmware: Firmware;
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
   * one or not: one sentence saying what may happen and what to do (`says`),
   * and the reason (`why`: Solo5 stops at a virtio device its manifest does
   * not declare), which the page shows behind a disclosure.
   */
  alwaysVirtioNet?: { says: string; why: string };
  /**
   * The next commands here: upload, import, create, run, with the declared
   * devices attached as this destination needs them (`nextSteps()` in
   * index.ts fills the context from the kernel and the options).
   */
  nextSteps(s: StepContext): NextStep[];
}

/** What a verdict needs to know about a kernel (KernelInfo has it). */
export interface KernelDevices {
  devices: readonly Solo5Device[];
  /** False when the kernel has no Solo5 manifest at all (a plain Multiboot kernel). */
  solo5Manifest?: boolean;
}

export type Level = 'ok' | 'warn' | 'fail';

export interface Verdict {
  level: Level;
  /** Plain sentences, most important first (failures, then warnings, then the rest). Code is in backticks. */
  sentences: string[];
  /** The sentences that make the level 'fail' or 'warn' (none when 'ok'). */
  problems: string[];
  /** The reasons behind a sentence, for a reader who asks (the page's "Why"); absent when none. */
  why?: string[];
  /** Which firmware starts the image there (`firmwareSentences`): facts beside the verdict, never problems. */
  firmware: string[];
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

/** What a destination's commands are made of: the options, quoted for the shell, and the devices by kind. */
export interface StepContext {
  /** The declared devices, in manifest order. */
  devices: readonly Solo5Device[];
  /** The declared block devices, in manifest order. */
  blocks: readonly Solo5Device[];
  /** The declared network devices, in manifest order. */
  nets: readonly Solo5Device[];
  /** The image file, quoted for the shell. */
  file: string;
  /** The image file as the user named it, for inside an argument the command quotes itself (S3's key). */
  fileName: string;
  /** The VM or image name, quoted for the shell. */
  name: string;
  /** The chosen format (the destination's usual one by default); undefined for an id no format has. */
  format: OutputFormat | undefined;
}
