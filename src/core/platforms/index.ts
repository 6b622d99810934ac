/**
 * Where an image goes, and whether the unikernel will run there. One table of
 * destinations (format, size rule, firmware, the virtio devices each offers,
 * known traps, and each one's next commands with the flags that matter:
 * destinations.ts), one `verdict(kernel, destination)` that explains in plain
 * words what will happen (verdict.ts), and `nextSteps()`, which gives a
 * destination's commands for a kernel and a file. Every fact has its source
 * in docs/platforms.md.
 *
 * How Solo5's virtio target binds devices (the reason for every rule here):
 * it walks the PCI bus in slot order and gives each virtio-net or virtio-blk
 * function to the next manifest entry; the kind must match, and a declared
 * device left without one stops the unikernel at start. Other virtio devices
 * (virtio-scsi, balloon, rng) are skipped.
 */
import { findFormat } from '../formats/index';
import { shellQuote } from '../shell';
import { imageName } from './commands';
import { resolveDestination } from './destinations';
import type { Destination, DestinationId, KernelDevices, NextStep, StepOptions } from './types';

export type {
  Destination,
  DestinationId,
  DeviceOffer,
  Firmware,
  KernelDevices,
  Level,
  NextStep,
  Offer,
  StepContext,
  StepOptions,
  Verdict,
} from './types';
export { DESTINATIONS, destinationForFormat, findDestination } from './destinations';
export { firmwareSentences, verdict } from './verdict';
export { FIRST_PCI_SLOT, imageName, LIBVIRT_UEFI, OVMF_FD, qemuDriver } from './commands';
export { BHYVE_UEFI_FIRMWARE } from '../run/command';
export { shellQuote } from '../shell';

/**
 * The next commands for this kernel and destination: upload, import, create,
 * run, with the declared devices attached as the destination needs them.
 */
export function nextSteps(kernel: KernelDevices, dest: Destination | DestinationId, o: StepOptions): NextStep[] {
  const d = resolveDestination(dest);
  const devices = kernel.devices;
  return d.nextSteps({
    devices,
    blocks: devices.filter((x) => x.kind === 'block'),
    nets: devices.filter((x) => x.kind === 'net'),
    file: shellQuote(o.file),
    fileName: o.file,
    name: shellQuote(o.name ?? imageName(o.file)),
    format: findFormat(o.formatId ?? d.formats[0]),
  });
}
