/**
 * Will the unikernel run at a destination? `verdict()` judges the devices a
 * kernel declares against what the destination offers of each virtio kind
 * and how it orders them on the PCI bus, and says so in plain sentences;
 * beside them, the firmware that starts the image there (`firmwareSentences`).
 */
import { EFI_BOOT_DIR, EFI_BOOT_NAME } from '../boot/types';
import { describeDevices, kindWord, type DeviceKind } from '../solo5';
import { names } from './commands';
import { DESTINATIONS, resolveDestination } from './destinations';
import type { Destination, DestinationId, KernelDevices, Level, Verdict } from './types';

/** The UEFI loader's path as UEFI writes it. */
const EFI_PATH = `\\${[...EFI_BOOT_DIR, EFI_BOOT_NAME].join('\\')}`;

/**
 * What starts the image there: BIOS, UEFI or either (our images carry a
 * loader for each), how to choose UEFI, why not to, and Secure Boot. Facts,
 * never problems: the image boots under either firmware.
 */
export function firmwareSentences(d: Destination): string[] {
  const f = d.firmware;
  const out: string[] = [];
  const who = capital(d.short);
  if (f.boots === 'uefi') {
    out.push(
      `${who} starts disk images only with UEFI firmware (${f.uefi}): the image's own UEFI loader, \`${EFI_PATH}\`, starts the kernel.`,
    );
  } else if (f.boots === 'bios') {
    out.push(`${who} starts the image with BIOS firmware: its BIOS loader starts the kernel.`);
  } else if (f.default === 'bios') {
    out.push(
      `${who} starts the image with BIOS firmware by default; under UEFI firmware the image's own UEFI loader, \`${EFI_PATH}\`, starts the same kernel with the same arguments: to choose it, ${f.uefi}.`,
    );
  } else {
    out.push(
      `${who} starts the image with UEFI firmware, or with BIOS where the machine still offers it: the image carries a loader for each (to choose, ${f.uefi}).`,
    );
  }
  if (f.note) out.push(f.note);
  if (f.secureBoot) out.push(`Secure Boot refuses the image's UEFI loader, which is unsigned. ${f.secureBoot}`);
  return out;
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
  const d = resolveDestination(dest);
  const devs = kernel.devices;
  const said: Record<Level, string[]> = { fail: [], warn: [], ok: [] };
  const undeclaredNet = kernel.solo5Manifest !== false && d.alwaysVirtioNet && !devs.some((x) => x.kind === 'net');
  if (undeclaredNet) said.warn.push(d.alwaysVirtioNet!.says);
  const why = undeclaredNet ? { why: [d.alwaysVirtioNet!.why] } : {};
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
    return {
      level,
      sentences: [...said.warn, ...said.ok],
      problems: said.warn,
      ...why,
      firmware: firmwareSentences(d),
    };
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
    if (offer.several && of.length > 1) said[offer.offer === 'setting' ? 'warn' : 'ok'].push(offer.several);
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
  return {
    level,
    sentences: [...said.fail, ...said.warn, ...said.ok],
    problems: level === 'ok' ? [] : said[level],
    ...why,
    firmware: firmwareSentences(d),
  };
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
