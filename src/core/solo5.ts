/**
 * Solo5's two ELF notes, read as untrusted input: the ABI note (which target
 * the unikernel was built for) and the manifest (which devices it declares).
 * Layout facts: Solo5 `include/solo5/mft_abi.h` and `elf_abi.h` (public ABI;
 * the code here is ours). Each check is one coded error naming the field and
 * its value. `encodeManifest` writes the same layout, for tests and tools.
 */
import { rd32le, u32le } from './bytes';
import { fail } from './errors';
import { hex } from './units';
import type { ElfNote } from './elf';

/** Owner name of every Solo5 note. */
export const SOLO5_NOTE_NAME = 'Solo5';
/** Note type of `.note.solo5.abi`: "ABI1". */
export const NT_SOLO5_ABI1 = 0x31494241;
/** Note type of `.note.solo5.manifest`: "MFT1". */
export const NT_SOLO5_MFT1 = 0x3154464d;

/** ABI note descriptor: u32 target, u32 version, two reserved u32. */
export const ABI1 = {
  TARGET: 0,
  VERSION: 4,
  SIZE: 16,
} as const;

/** Solo5 ABI targets by number (`abi_target`). */
export const SOLO5_TARGETS: Readonly<Record<number, string>> = {
  1: 'hvt',
  2: 'spt',
  3: 'virtio',
  4: 'muen',
  5: 'genode',
  6: 'xen',
};

/**
 * MFT1 descriptor layout (x86_64). The note's descriptor starts 20 bytes into
 * the note (12-byte header + "Solo5\0" padded to 8); `struct mft` is 8-byte
 * aligned, so 4 bytes of padding come first and `descsz` counts them.
 */
export const MFT = {
  /** Padding before `version`. */
  PAD: 4,
  /** u32 version, from the descriptor start. */
  VERSION: 4,
  /** u32 entry count, from the descriptor start. */
  ENTRIES: 8,
  /** First entry, from the descriptor start. */
  FIRST_ENTRY: 12,
  /** One `struct mft_entry`. */
  ENTRY_SIZE: 104,
  /** Within an entry: `char name[68]`, NUL-terminated (at most 67 characters). */
  NAME: 0,
  NAME_SIZE: 68,
  /** Within an entry: u32 type. */
  TYPE: 68,
  /** `MFT_VERSION`. */
  CURRENT_VERSION: 1,
  /** `MFT_MAX_ENTRIES`, the reserved entry 0 included. */
  MAX_ENTRIES: 64,
} as const;

/** `enum mft_type` values. */
export const MFT_TYPE = {
  BLOCK_BASIC: 1,
  NET_BASIC: 2,
  RESERVED_FIRST: 1 << 30,
} as const;

export type DeviceKind = 'block' | 'net';

/** A device the unikernel declares; `solo5-virtio-run` and the platform verdicts match them by kind and order. */
export interface Solo5Device {
  name: string;
  kind: DeviceKind;
}

export interface Solo5Abi {
  /** 'hvt', 'spt', 'virtio', ... */
  target: string;
  targetId: number;
  version: number;
}

/** What a kernel's Solo5 notes say. `manifest` is false when there is no MFT1 note at all. */
export interface Solo5Notes {
  abi?: Solo5Abi;
  manifest: boolean;
  /** Declared devices in manifest order (entry 1 first); empty without a manifest. */
  devices: Solo5Device[];
}

const KIND_OF_TYPE: Readonly<Record<number, DeviceKind>> = {
  [MFT_TYPE.BLOCK_BASIC]: 'block',
  [MFT_TYPE.NET_BASIC]: 'net',
};
const TYPE_OF_KIND: Readonly<Record<DeviceKind, number>> = { block: MFT_TYPE.BLOCK_BASIC, net: MFT_TYPE.NET_BASIC };

const MFT_WHERE = 'Solo5 manifest (.note.solo5.manifest)';
const ABI_WHERE = 'Solo5 ABI note (.note.solo5.abi)';
const DAMAGED = 'The file is damaged or was not made by the Solo5 toolchain; rebuild the unikernel.';

/** Read the Solo5 notes among a kernel's ELF notes. */
export function readSolo5Notes(notes: readonly ElfNote[], what = 'kernel'): Solo5Notes {
  let abi: Solo5Abi | undefined;
  let devices: Solo5Device[] | undefined;
  for (const n of notes) {
    if (n.name !== SOLO5_NOTE_NAME) continue;
    if (n.type === NT_SOLO5_ABI1) {
      if (abi) duplicate(what, ABI_WHERE);
      abi = parseAbiNote(n.desc, what);
    } else if (n.type === NT_SOLO5_MFT1) {
      if (devices) duplicate(what, MFT_WHERE);
      devices = parseManifest(n.desc, what);
    }
  }
  return { abi, manifest: devices !== undefined, devices: devices ?? [] };
}

function duplicate(what: string, where: string): never {
  fail('SOLO5_DUPLICATE_NOTE', `The ${what} has more than one ${where}; a unikernel has exactly one. ${DAMAGED}`);
}

/** Parse an ABI1 descriptor: {target, version}. The target is not judged here (inspectKernel does). */
export function parseAbiNote(desc: Uint8Array, what = 'kernel'): Solo5Abi {
  if (desc.length !== ABI1.SIZE) {
    fail(
      'SOLO5_ABI_BAD_SIZE',
      `The ${what}'s ${ABI_WHERE} has a ${desc.length}-byte descriptor (descsz); Solo5 writes ${ABI1.SIZE} bytes (target, version, two reserved words). ${DAMAGED}`,
    );
  }
  const targetId = rd32le(desc, ABI1.TARGET);
  const target = SOLO5_TARGETS[targetId];
  if (target === undefined) {
    fail(
      'SOLO5_UNKNOWN_TARGET',
      `The ${what}'s ${ABI_WHERE} names target ${targetId} (abi_target); known targets are ${Object.entries(
        SOLO5_TARGETS,
      )
        .map(([k, v]) => `${k} (${v})`)
        .join(', ')}. Rebuild the unikernel with the virtio target (for MirageOS: \`mirage configure -t virtio\`).`,
    );
  }
  return { target, targetId, version: rd32le(desc, ABI1.VERSION) };
}

/**
 * Parse an MFT1 descriptor (as the ELF note walker returns it, padding
 * first) into the declared devices, in manifest order, entry 0 left out.
 */
export function parseManifest(desc: Uint8Array, what = 'kernel'): Solo5Device[] {
  const where = `The ${what}'s ${MFT_WHERE}`;
  if (desc.length < MFT.FIRST_ENTRY) {
    fail(
      'MFT_TRUNCATED',
      `${where} has a ${desc.length}-byte descriptor (descsz), too short for its header (${MFT.FIRST_ENTRY} bytes: padding, version, entry count). ${DAMAGED}`,
    );
  }
  const version = rd32le(desc, MFT.VERSION);
  if (version !== MFT.CURRENT_VERSION) {
    fail(
      'MFT_BAD_VERSION',
      `${where} has version ${version}; this tool reads version ${MFT.CURRENT_VERSION} (MFT1). Rebuild the unikernel with a Solo5 release whose manifest is version ${MFT.CURRENT_VERSION}, or report the new version.`,
    );
  }
  const entries = rd32le(desc, MFT.ENTRIES);
  if (entries > MFT.MAX_ENTRIES) {
    fail(
      'MFT_TOO_MANY_ENTRIES',
      `${where} says it has ${entries} entries (field entries); Solo5 allows at most ${MFT.MAX_ENTRIES} (MFT_MAX_ENTRIES), the reserved entry 0 included. ${DAMAGED}`,
    );
  }
  if (entries === 0) {
    fail(
      'MFT_RESERVED_ENTRY',
      `${where} has 0 entries; entry 0 must be the reserved entry (type RESERVED_FIRST, ${hex(MFT_TYPE.RESERVED_FIRST)}). ${DAMAGED}`,
    );
  }
  const need = MFT.FIRST_ENTRY + entries * MFT.ENTRY_SIZE;
  if (need > desc.length) {
    fail(
      'MFT_ENTRIES_PAST_NOTE',
      `${where} says it has ${entries} entries (field entries), which need ${need} bytes, but the note's descriptor (descsz) has ${desc.length}. ${DAMAGED}`,
    );
  }
  const devices: Solo5Device[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < entries; i++) {
    const at = MFT.FIRST_ENTRY + i * MFT.ENTRY_SIZE;
    const rawName = desc.subarray(at + MFT.NAME, at + MFT.NAME + MFT.NAME_SIZE);
    const nul = rawName.indexOf(0);
    if (nul < 0) {
      fail(
        'MFT_NAME_UNTERMINATED',
        `${where}: entry ${i}'s name has no NUL in its ${MFT.NAME_SIZE} bytes (names are at most ${MFT.NAME_SIZE - 1} characters). ${DAMAGED}`,
      );
    }
    const type = rd32le(desc, at + MFT.TYPE);
    if (i === 0) {
      if (type !== MFT_TYPE.RESERVED_FIRST || nul !== 0) {
        fail(
          'MFT_RESERVED_ENTRY',
          `${where}: entry 0 has type ${hex(type)}${nul !== 0 ? ' and a name' : ''}; it must be the reserved entry (type RESERVED_FIRST, ${hex(MFT_TYPE.RESERVED_FIRST)}, empty name). ${DAMAGED}`,
        );
      }
      continue;
    }
    const kind = KIND_OF_TYPE[type];
    if (kind === undefined) {
      fail(
        type === MFT_TYPE.RESERVED_FIRST ? 'MFT_RESERVED_ENTRY' : 'MFT_BAD_TYPE',
        type === MFT_TYPE.RESERVED_FIRST
          ? `${where}: entry ${i} has type RESERVED_FIRST (${hex(type)}), which only entry 0 may have. ${DAMAGED}`
          : `${where}: entry ${i} has type ${type} (field type); known types are ${MFT_TYPE.BLOCK_BASIC} (BLOCK_BASIC) and ${MFT_TYPE.NET_BASIC} (NET_BASIC). The unikernel may come from a newer Solo5 than this tool knows; rebuild it, or report the type.`,
      );
    }
    const name = checkName(rawName.subarray(0, nul), i, where);
    if (seen.has(name)) {
      fail(
        'MFT_BAD_NAME',
        `${where}: entry ${i} is named "${name}" like an earlier entry; names are unique. ${DAMAGED}`,
      );
    }
    seen.add(name);
    devices.push({ name, kind });
  }
  return devices;
}

/**
 * Device names are letters and digits only, 1 to 67 of them (Solo5's rule for
 * manifests, issue #372); they are also shown on terminals and pages.
 */
function checkName(bytes: Uint8Array, i: number, where: string): string {
  if (bytes.length === 0) {
    fail('MFT_BAD_NAME', `${where}: entry ${i} has an empty name; every device needs one. ${DAMAGED}`);
  }
  const bad = bytes.findIndex((c) => !isAlnum(c));
  if (bad >= 0) {
    fail(
      'MFT_BAD_NAME',
      `${where}: entry ${i}'s name has byte ${hex(bytes[bad])} at position ${bad}; names are letters and digits only (A-Z, a-z, 0-9). ${DAMAGED}`,
    );
  }
  return String.fromCharCode(...bytes);
}

function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/**
 * The MFT1 descriptor for these devices (padding, version, entries, the
 * reserved entry 0, then one entry per device), as Solo5's build writes it.
 */
export function encodeManifest(devices: readonly Solo5Device[]): Uint8Array {
  const entries = devices.length + 1;
  if (entries > MFT.MAX_ENTRIES) throw new Error(`internal: ${devices.length} devices, more than a manifest holds`);
  const d = new Uint8Array(MFT.FIRST_ENTRY + entries * MFT.ENTRY_SIZE);
  u32le(d, MFT.VERSION, MFT.CURRENT_VERSION);
  u32le(d, MFT.ENTRIES, entries);
  u32le(d, MFT.FIRST_ENTRY + MFT.TYPE, MFT_TYPE.RESERVED_FIRST);
  devices.forEach((dev, i) => {
    const at = MFT.FIRST_ENTRY + (i + 1) * MFT.ENTRY_SIZE;
    if (dev.name.length >= MFT.NAME_SIZE || !/^[A-Za-z0-9]+$/.test(dev.name)) {
      throw new Error(`internal: device name ${JSON.stringify(dev.name)} does not fit a manifest`);
    }
    for (let k = 0; k < dev.name.length; k++) d[at + MFT.NAME + k] = dev.name.charCodeAt(k);
    u32le(d, at + MFT.TYPE, TYPE_OF_KIND[dev.kind]);
  });
  return d;
}

/** The ABI1 descriptor for a target number and ABI version. */
export function encodeAbiNote(targetId: number, version: number): Uint8Array {
  const d = new Uint8Array(ABI1.SIZE);
  u32le(d, ABI1.TARGET, targetId);
  u32le(d, ABI1.VERSION, version);
  return d;
}

/** "block device", "net device": for sentences. */
export function kindWord(kind: DeviceKind): string {
  return kind === 'block' ? 'block device' : 'network device';
}

/**
 * The declared devices in plain words: "no devices", "one block device
 * `storage`", "2 devices: block `storage`, network `service0`".
 */
export function describeDevices(devices: readonly Solo5Device[]): string {
  if (devices.length === 0) return 'no devices';
  if (devices.length === 1) return `one ${kindWord(devices[0].kind)} \`${devices[0].name}\``;
  const short = (d: Solo5Device) => `${d.kind === 'block' ? 'block' : 'network'} \`${d.name}\``;
  return `${devices.length} devices: ${devices.map(short).join(', ')}`;
}
