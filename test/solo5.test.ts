/** Solo5 notes: the manifest (MFT1) and the ABI note, read as untrusted input through inspectKernel. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { inspectKernel } from '../src/core/kernel';
import { ImageError } from '../src/core/errors';
import {
  describeDevices,
  encodeAbiNote,
  encodeManifest,
  MFT,
  MFT_TYPE,
  parseManifest,
  type Solo5Device,
} from '../src/core/solo5';
import { u32le } from '../src/core/bytes';
import { solo5Kernel } from './helpers/fixtures';

function errorOf(f: () => unknown): ImageError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ImageError);
    return e as ImageError;
  }
  throw new Error('expected an ImageError, got none');
}

/** n devices, alternating kinds, names unique. */
function devicesOf(n: number): Solo5Device[] {
  return Array.from({ length: n }, (_, i) => ({
    name: i % 2 ? `service${i}` : `storage${i}`,
    kind: i % 2 ? 'net' : 'block',
  }));
}

/** A manifest descriptor with a field changed: entry i (0 = reserved), or the header. */
function patched(devices: Solo5Device[], f: (d: Uint8Array, entry: (i: number) => number) => void): Uint8Array {
  const d = encodeManifest(devices);
  f(d, (i) => MFT.FIRST_ENTRY + i * MFT.ENTRY_SIZE);
  return d;
}

describe('the manifest through inspectKernel', () => {
  it('a kernel without a manifest declares nothing and says so', () => {
    const k = inspectKernel(solo5Kernel({ abiTarget: 3 }));
    expect(k.solo5Manifest).toBe(false);
    expect(k.devices).toEqual([]);
  });

  it('reads the layout Solo5 writes: test_blk is 4 + 8 + 2 x 104 = 220 bytes, storage at entry 1', () => {
    const desc = encodeManifest([{ name: 'storage', kind: 'block' }]);
    expect(desc.length).toBe(220);
    // entry 0: RESERVED_FIRST, empty name; entry 1: "storage", type 1
    expect(new DataView(desc.buffer).getUint32(4 + 8 + 68, true)).toBe(1 << 30);
    expect(String.fromCharCode(...desc.subarray(12 + 104, 12 + 104 + 7))).toBe('storage');
    expect(desc[12 + 104 + 7]).toBe(0);
    const k = inspectKernel(solo5Kernel({ abiTarget: 3, devices: [{ name: 'storage', kind: 'block' }] }));
    expect(k.solo5Manifest).toBe(true);
    expect(k.devices).toEqual([{ name: 'storage', kind: 'block' }]);
  });

  it('reads 0 to 63 devices in manifest order (64 entries with the reserved one)', () => {
    for (let n = 0; n <= 63; n++) {
      const devices = devicesOf(n);
      const k = inspectKernel(solo5Kernel({ abiTarget: 3, devices }));
      expect(k.solo5Manifest).toBe(true);
      expect(k.devices).toEqual(devices);
    }
  });

  it('round-trips any valid device list (names up to 67 characters)', () => {
    const name = fc.stringMatching(/^[A-Za-z0-9]{1,67}$/);
    const dev = fc.record({ name, kind: fc.constantFrom<'block' | 'net'>('block', 'net') });
    fc.assert(
      fc.property(fc.uniqueArray(dev, { maxLength: 63, selector: (d) => d.name }), (devices) => {
        expect(parseManifest(encodeManifest(devices))).toEqual(devices);
      }),
      { numRuns: 200 },
    );
  });

  it('a manifest may carry bytes after its last entry (Solo5 pads notes)', () => {
    const d = encodeManifest(devicesOf(2));
    const longer = new Uint8Array(d.length + 8);
    longer.set(d);
    expect(parseManifest(longer)).toEqual(devicesOf(2));
  });
});

describe('hostile manifests: exact coded errors', () => {
  const where = "The kernel's Solo5 manifest (.note.solo5.manifest)";
  const damaged = 'The file is damaged or was not made by the Solo5 toolchain; rebuild the unikernel.';
  const cases: [string, Uint8Array, string, string][] = [
    [
      'descriptor shorter than its header',
      new Uint8Array(8),
      'MFT_TRUNCATED',
      `${where} has a 8-byte descriptor (descsz), too short for its header (12 bytes: padding, version, entry count). ${damaged}`,
    ],
    [
      'version 2',
      patched([], (d) => u32le(d, MFT.VERSION, 2)),
      'MFT_BAD_VERSION',
      `${where} has version 2; this tool reads version 1 (MFT1). Rebuild the unikernel with a Solo5 release whose manifest is version 1, or report the new version.`,
    ],
    [
      'version 0 (a manifest without padding read as one with it)',
      patched([], (d) => u32le(d, MFT.VERSION, 0)),
      'MFT_BAD_VERSION',
      `${where} has version 0; this tool reads version 1 (MFT1). Rebuild the unikernel with a Solo5 release whose manifest is version 1, or report the new version.`,
    ],
    [
      '65 entries (the limit is 64)',
      patched(devicesOf(63), (d) => u32le(d, MFT.ENTRIES, 65)),
      'MFT_TOO_MANY_ENTRIES',
      `${where} says it has 65 entries (field entries); Solo5 allows at most 64 (MFT_MAX_ENTRIES), the reserved entry 0 included. ${damaged}`,
    ],
    [
      '0xFFFFFFFF entries',
      patched([], (d) => u32le(d, MFT.ENTRIES, 0xffffffff)),
      'MFT_TOO_MANY_ENTRIES',
      `${where} says it has 4294967295 entries (field entries); Solo5 allows at most 64 (MFT_MAX_ENTRIES), the reserved entry 0 included. ${damaged}`,
    ],
    [
      'entries past the note',
      patched(devicesOf(1), (d) => u32le(d, MFT.ENTRIES, 3)),
      'MFT_ENTRIES_PAST_NOTE',
      `${where} says it has 3 entries (field entries), which need 324 bytes, but the note's descriptor (descsz) has 220. ${damaged}`,
    ],
    [
      'no entries at all',
      patched([], (d) => u32le(d, MFT.ENTRIES, 0)),
      'MFT_RESERVED_ENTRY',
      `${where} has 0 entries; entry 0 must be the reserved entry (type RESERVED_FIRST, 0x40000000). ${damaged}`,
    ],
    [
      'entry 0 is a block device',
      patched(devicesOf(1), (d, e) => u32le(d, e(0) + MFT.TYPE, MFT_TYPE.BLOCK_BASIC)),
      'MFT_RESERVED_ENTRY',
      `${where}: entry 0 has type 0x1; it must be the reserved entry (type RESERVED_FIRST, 0x40000000, empty name). ${damaged}`,
    ],
    [
      'entry 0 has a name',
      patched(devicesOf(1), (d, e) => d.set([0x78], e(0))),
      'MFT_RESERVED_ENTRY',
      `${where}: entry 0 has type 0x40000000 and a name; it must be the reserved entry (type RESERVED_FIRST, 0x40000000, empty name). ${damaged}`,
    ],
    [
      'a second reserved entry',
      patched(devicesOf(2), (d, e) => u32le(d, e(2) + MFT.TYPE, MFT_TYPE.RESERVED_FIRST)),
      'MFT_RESERVED_ENTRY',
      `${where}: entry 2 has type RESERVED_FIRST (0x40000000), which only entry 0 may have. ${damaged}`,
    ],
    [
      'unknown type 3',
      patched(devicesOf(2), (d, e) => u32le(d, e(2) + MFT.TYPE, 3)),
      'MFT_BAD_TYPE',
      `${where}: entry 2 has type 3 (field type); known types are 1 (BLOCK_BASIC) and 2 (NET_BASIC). The unikernel may come from a newer Solo5 than this tool knows; rebuild it, or report the type.`,
    ],
    [
      'type 0 (an empty slot)',
      patched(devicesOf(1), (d, e) => u32le(d, e(1) + MFT.TYPE, 0)),
      'MFT_BAD_TYPE',
      `${where}: entry 1 has type 0 (field type); known types are 1 (BLOCK_BASIC) and 2 (NET_BASIC). The unikernel may come from a newer Solo5 than this tool knows; rebuild it, or report the type.`,
    ],
    [
      'a name without NUL',
      patched(devicesOf(1), (d, e) => d.fill(0x41, e(1), e(1) + MFT.NAME_SIZE)),
      'MFT_NAME_UNTERMINATED',
      `${where}: entry 1's name has no NUL in its 68 bytes (names are at most 67 characters). ${damaged}`,
    ],
    [
      'an empty device name',
      patched(devicesOf(1), (d, e) => d.fill(0, e(1), e(1) + MFT.NAME_SIZE)),
      'MFT_BAD_NAME',
      `${where}: entry 1 has an empty name; every device needs one. ${damaged}`,
    ],
    [
      'a name with a terminal escape',
      patched(devicesOf(1), (d, e) => d.set([0x1b, 0x5b, 0x32, 0x4a], e(1))),
      'MFT_BAD_NAME',
      `${where}: entry 1's name has byte 0x1B at position 0; names are letters and digits only (A-Z, a-z, 0-9). ${damaged}`,
    ],
    [
      'a name with an underscore',
      patched(devicesOf(1), (d, e) => d.set([0x5f], e(1) + 3)),
      'MFT_BAD_NAME',
      `${where}: entry 1's name has byte 0x5F at position 3; names are letters and digits only (A-Z, a-z, 0-9). ${damaged}`,
    ],
    [
      'two devices with one name',
      encodeManifest([
        { name: 'storage', kind: 'block' },
        { name: 'storage', kind: 'net' },
      ]),
      'MFT_BAD_NAME',
      `${where}: entry 2 is named "storage" like an earlier entry; names are unique. ${damaged}`,
    ],
  ];
  for (const [label, desc, code, message] of cases) {
    it(label, () => {
      const e = errorOf(() => inspectKernel(solo5Kernel({ abiTarget: 3, manifestDesc: desc })));
      expect(e.code).toBe(code);
      expect(e.message).toBe(message);
    });
  }

  it('two manifests', () => {
    const e = errorOf(() => inspectKernel(solo5Kernel({ abiTarget: 3, devices: devicesOf(1), twoManifests: true })));
    expect(e.code).toBe('SOLO5_DUPLICATE_NOTE');
    expect(e.message).toBe(
      'The kernel has more than one Solo5 manifest (.note.solo5.manifest); a unikernel has exactly one. The file is damaged or was not made by the Solo5 toolchain; rebuild the unikernel.',
    );
  });

  it('never throws anything but a coded error on random manifest bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), fc.integer({ min: 0, max: 70 }), (bytes, entries) => {
        const d = new Uint8Array(Math.max(bytes.length, MFT.FIRST_ENTRY));
        d.set(bytes);
        u32le(d, MFT.VERSION, 1);
        u32le(d, MFT.ENTRIES, entries);
        try {
          const devs = parseManifest(d);
          expect(devs.length).toBe(entries - 1);
        } catch (e) {
          expect(e).toBeInstanceOf(ImageError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('the ABI note', () => {
  it('reads target and version', () => {
    const k = inspectKernel(solo5Kernel({ abiTarget: 3, abiVersion: 2 }));
    expect(k.solo5Target).toBe('virtio');
    expect(k.solo5AbiVersion).toBe(2);
  });

  it('a Solo5 xen kernel is refused for its target', () => {
    const e = errorOf(() => inspectKernel(solo5Kernel({ abiTarget: 6 })));
    expect(e.code).toBe('SOLO5_WRONG_TARGET');
    expect(e.message).toContain('This is a Solo5 xen unikernel');
  });

  const cases: [string, Uint8Array, string, string][] = [
    [
      'an 8-byte descriptor',
      encodeAbiNote(3, 1).subarray(0, 8),
      'SOLO5_ABI_BAD_SIZE',
      "The kernel's Solo5 ABI note (.note.solo5.abi) has a 8-byte descriptor (descsz); Solo5 writes 16 bytes (target, version, two reserved words). The file is damaged or was not made by the Solo5 toolchain; rebuild the unikernel.",
    ],
    [
      'an empty descriptor',
      new Uint8Array(0),
      'SOLO5_ABI_BAD_SIZE',
      "The kernel's Solo5 ABI note (.note.solo5.abi) has a 0-byte descriptor (descsz); Solo5 writes 16 bytes (target, version, two reserved words). The file is damaged or was not made by the Solo5 toolchain; rebuild the unikernel.",
    ],
    [
      'target 9',
      encodeAbiNote(9, 1),
      'SOLO5_UNKNOWN_TARGET',
      "The kernel's Solo5 ABI note (.note.solo5.abi) names target 9 (abi_target); known targets are 1 (hvt), 2 (spt), 3 (virtio), 4 (muen), 5 (genode), 6 (xen). Rebuild the unikernel with the virtio target (for MirageOS: `mirage configure -t virtio`).",
    ],
    [
      'target 0',
      encodeAbiNote(0, 1),
      'SOLO5_UNKNOWN_TARGET',
      "The kernel's Solo5 ABI note (.note.solo5.abi) names target 0 (abi_target); known targets are 1 (hvt), 2 (spt), 3 (virtio), 4 (muen), 5 (genode), 6 (xen). Rebuild the unikernel with the virtio target (for MirageOS: `mirage configure -t virtio`).",
    ],
  ];
  for (const [label, desc, code, message] of cases) {
    it(label, () => {
      const e = errorOf(() => inspectKernel(solo5Kernel({ abiDesc: desc })));
      expect(e.code).toBe(code);
      expect(e.message).toBe(message);
    });
  }
});

describe('describeDevices', () => {
  it('says it plainly', () => {
    expect(describeDevices([])).toBe('no devices');
    expect(describeDevices([{ name: 'storage', kind: 'block' }])).toBe('one block device `storage`');
    expect(describeDevices([{ name: 'service0', kind: 'net' }])).toBe('one network device `service0`');
    expect(
      describeDevices([
        { name: 'storage', kind: 'block' },
        { name: 'service0', kind: 'net' },
      ]),
    ).toBe('2 devices: block `storage`, network `service0`');
  });
});
