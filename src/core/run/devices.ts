/**
 * Matching what the user attaches (`-d DISK`, `-n NETIF`) to what the
 * unikernel declares in its Solo5 manifest, before anything starts.
 *
 * Solo5's virtio bindings walk PCI bus 0 in slot order and hand each
 * virtio-blk or virtio-net function to the next manifest entry, in manifest
 * order; a function of the wrong kind, one too many, or a declared device left
 * without a function aborts the unikernel at start. So the n-th declared block
 * device gets the n-th `-d`, the n-th declared net device the n-th `-n`, and
 * the devices go on consecutive PCI slots in manifest order (not in the order
 * the options were given, as Solo5's own script does).
 *
 * Extra `-d`/`-n` beyond the manifest are an error, not a warning: Solo5
 * aborts on a virtio device that is not in its manifest, so running anyway
 * could only end in that abort, after a boot, with a less clear message.
 */
import { fail } from '../errors';
import { plural } from '../units';
import type { DeviceKind, Solo5Device } from '../solo5';

type DeclaredDevice = Solo5Device;

/** One device to attach: the host side (disk file or tap interface) and where it goes. */
export interface Attachment {
  kind: DeviceKind;
  /** The disk file (`block`) or the tap interface name (`net`), as the user gave it. */
  host: string;
  /** The manifest name it satisfies; undefined when the kernel has no manifest. */
  name?: string;
  /** PCI slot on bus 0 (device number), in manifest order. */
  slot: number;
}

/** The option that attaches each kind, for messages. */
export const DEVICE_OPTION: Record<DeviceKind, string> = { block: '-d DISK', net: '-n NETIF' };
const KIND_WORD: Record<DeviceKind, string> = { block: 'block device', net: 'network device' };

/** QEMU's `pc` machine uses slots 0 (host bridge) and 1 (PIIX: ISA, IDE, ACPI); 31 is the last. */
export const FIRST_FREE_SLOT = 2;
export const LAST_SLOT = 31;

function listNames(devs: readonly DeclaredDevice[]): string {
  return devs.map((d) => `\`${d.name}\``).join(', ');
}

/**
 * Pair the user's disks and tap interfaces with the declared devices.
 * `declared` undefined means the kernel carries no Solo5 manifest (not a
 * Solo5 kernel, or one older than the manifest): then the devices are
 * attached in the order given, block devices first, as Solo5's script does.
 * Throws RUN_DEVICE_MISSING / RUN_DEVICE_EXTRA / RUN_TOO_MANY_DEVICES.
 */
export function matchDevices(
  declared: readonly DeclaredDevice[] | undefined,
  disks: readonly string[],
  netifs: readonly string[],
  firstSlot = FIRST_FREE_SLOT,
): Attachment[] {
  const given: Record<DeviceKind, readonly string[]> = { block: disks, net: netifs };
  let out: Omit<Attachment, 'slot'>[];
  if (declared === undefined) {
    out = [
      ...disks.map((host) => ({ kind: 'block' as const, host })),
      ...netifs.map((host) => ({ kind: 'net' as const, host })),
    ];
  } else {
    const used: Record<DeviceKind, number> = { block: 0, net: 0 };
    out = [];
    for (const d of declared) {
      const list = given[d.kind];
      const i = used[d.kind]++;
      if (i >= list.length) {
        const ofKind = declared.filter((x) => x.kind === d.kind);
        fail(
          'RUN_DEVICE_MISSING',
          `The unikernel declares ${KIND_WORD[d.kind]} \`${d.name}\` (${ordinal(i + 1)} of ${plural(ofKind.length, KIND_WORD[d.kind])}: ${listNames(ofKind)}) but ${list.length === 0 ? `no ${DEVICE_OPTION[d.kind].split(' ')[0]} was given` : `only ${list.length} ${DEVICE_OPTION[d.kind].split(' ')[0]} ${list.length === 1 ? 'was' : 'were'} given`}; Solo5 aborts at start when a declared device is missing. Add \`${DEVICE_OPTION[d.kind]}\` for it (in manifest order).`,
        );
      }
      out.push({ kind: d.kind, host: list[i], name: d.name });
    }
    for (const kind of ['block', 'net'] as const) {
      const list = given[kind];
      if (list.length > used[kind]) {
        const ofKind = declared.filter((x) => x.kind === kind);
        const opt = DEVICE_OPTION[kind].split(' ')[0];
        fail(
          'RUN_DEVICE_EXTRA',
          `${opt} ${list[used[kind]]} has no ${KIND_WORD[kind]} to attach to: the unikernel declares ${ofKind.length === 0 ? `no ${KIND_WORD[kind]}s` : `${plural(ofKind.length, KIND_WORD[kind])} (${listNames(ofKind)})`} and ${plural(list.length, `${opt} option`)} ${list.length === 1 ? 'was' : 'were'} given; Solo5 aborts on a virtio device that is not in its manifest. Remove the extra ${opt}.`,
        );
      }
    }
  }
  const room = LAST_SLOT - firstSlot + 1;
  if (out.length > room) {
    fail(
      'RUN_TOO_MANY_DEVICES',
      `${plural(out.length, 'device')} to attach, but PCI bus 0 has ${room} free slots (${firstSlot} to ${LAST_SLOT}); attach at most ${room}.`,
    );
  }
  return out.map((a, i) => ({ ...a, slot: firstSlot + i }));
}

function ordinal(n: number): string {
  const s = n % 100 >= 11 && n % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${s}`;
}

/** "storage (block device) ← disk.img at PCI 00:02", for the CLI's summary and --dry-run. */
export function describeAttachment(a: Attachment): string {
  const what = a.name !== undefined ? `\`${a.name}\` (${KIND_WORD[a.kind]})` : KIND_WORD[a.kind];
  return `${what} <- ${a.kind === 'block' ? 'disk' : 'tap interface'} ${a.host}, virtio-${a.kind === 'block' ? 'blk' : 'net'} at PCI 00:${a.slot.toString(16).padStart(2, '0')}`;
}
