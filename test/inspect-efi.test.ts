/**
 * The UEFI side of an image read back: inspect names \EFI\BOOT\BOOTX64.EFI,
 * its version and what it reads, in every format; verify is ok on our
 * images and names, in a sentence, a missing file (removed with mtools), a
 * damaged PE header, a loader assembled for another stage 2 (nasm, put in
 * place with mcopy), another parameter block version and a changed byte; a
 * copy signed with osslsigncode is still ours; images of the old tool
 * (SYSLINUX) and of GRUB get no UEFI findings.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { planImage } from '../src/core/image';
import { EFI_LOADER } from '../src/core/boot/index';
import { EFI_IDENT_OFF, EFI_VERSION_MAJOR, EFI_VERSION_MINOR, I_PARAMS_VERSION } from '../src/core/boot/efi.generated';
import { CMDLINE_OFF, PARAMS_VERSION } from '../src/core/boot/loader.generated';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { FORMATS } from '../src/core/formats/index';
import { inspectImage } from '../src/core/disk/inspect';
import { verifyImage, type Problem } from '../src/core/disk/verify';
import { readImage } from '../src/core/disk/open-image';
import { containerDisk, planBytes, rawDisk } from './helpers/disk-memory';
import { assemble } from './helpers/qemu';
import { haveOldToolFiles, makeOldToolImage, OLD_TOOL_PROGRAMS } from './helpers/old-tool';
import { run, tempDir, tools } from './helpers/tools';

const MiB = 1 << 20;
const VERSION = `${EFI_VERSION_MAJOR}.${EFI_VERSION_MINOR}`;
const tmp = tempDir('ukd-efi-');
afterAll(() => tmp.cleanup());

/** A fresh 64 MiB image of ours, its raw bytes, and where BOOTX64.EFI's bytes are on the disk. */
function image() {
  const img = planImage(DEMO_KERNEL, { size: 64 * MiB, args: 'efi' });
  return { img, bytes: planBytes(img.plan), efiAt: img.efiLba * 512 };
}

async function verifyBytes(b: Uint8Array): Promise<Problem[]> {
  return verifyImage(await readImage(await rawDisk(b)));
}

/** The image file with BOOTX64.EFI replaced through mtools (as a user would). */
function withLoader(b: Uint8Array, name: string, loader: Uint8Array): Uint8Array {
  const disk = tmp.path(`${name}.img`);
  writeFileSync(disk, b);
  writeFileSync(tmp.path(`${name}.efi`), loader);
  run('mcopy', ['-o', '-i', `${disk}@@1M`, tmp.path(`${name}.efi`), '::/EFI/BOOT/BOOTX64.EFI']);
  return new Uint8Array(readFileSync(disk));
}

const uefiErrors = (ps: Problem[]) => ps.filter((p) => p.area === 'uefi').map((p) => `${p.severity}: ${p.message}`);

describe('inspect and verify know the UEFI loader', () => {
  for (const format of FORMATS) {
    it(`${format.id}: inspect names BOOTX64.EFI, its version and what it reads; verify is ok`, async () => {
      const img = planImage(DEMO_KERNEL, { size: 64 * MiB, args: 'efi' });
      const { disk } = await containerDisk(img, format);
      const i = await inspectImage(await readImage(disk));
      expect(i.uefi).toEqual({
        path: '/EFI/BOOT/BOOTX64.EFI',
        size: EFI_LOADER.length,
        build: 'this',
        version: VERSION,
        stage2CodeSize: CMDLINE_OFF,
        paramsVersion: PARAMS_VERSION,
        machine: 0x8664,
        subsystem: 10,
        signatureBytes: 0,
        problems: [],
      });
      expect(await verifyImage(await readImage(disk))).toEqual([]);
    });
  }

  it('a damaged PE header: each thing a firmware checks is named', async () => {
    const { bytes, efiAt } = image();
    const pe = EFI_LOADER[0x3c] | (EFI_LOADER[0x3d] << 8);
    const cases: [string, number, number, RegExp][] = [
      ['MZ', 0, 0x00, /^error: BOOTX64\.EFI is not a PE file: it starts with 0x5A00, not "MZ"\.$/],
      ['PE', pe, 0x00, /^error: BOOTX64\.EFI is not a PE file: offset 0x40 holds 0x4500, not "PE\\0\\0"\.$/],
      ['machine', pe + 4, 0x4c, /^error: BOOTX64\.EFI is built for machine 0x864C, not x86-64 \(0x8664\)/],
      ['PE32+', pe + 25, 0x01, /^error: BOOTX64\.EFI's optional header has magic 0x10B, not PE32\+ \(0x20B\)\.$/],
      ['subsystem', pe + 24 + 68, 0x0b, /^error: BOOTX64\.EFI has subsystem 11, not 10 \(EFI application\)/],
    ];
    for (const [what, at, value, want] of cases) {
      const b = bytes.slice();
      b[efiAt + at] = value;
      const found = uefiErrors(await verifyBytes(b));
      expect(found, what).toHaveLength(1);
      expect(found[0], what).toMatch(want);
      // inspect shows the same sentence as why the firmware would not start it
      const i = await inspectImage(await readImage(await rawDisk(b)));
      expect(i.uefi!.problems[0], what).toBe(found[0].replace(/^error: /, ''));
    }
  });

  it('another parameter block version in the identity block: the boot error it would give', async () => {
    const { bytes, efiAt } = image();
    bytes[efiAt + EFI_IDENT_OFF + I_PARAMS_VERSION] = PARAMS_VERSION + 1;
    expect(uefiErrors(await verifyBytes(bytes))).toEqual([
      `error: \\EFI\\BOOT\\BOOTX64.EFI (version ${VERSION}) reads parameter block version ${PARAMS_VERSION + 1} but stage 2's block is version ${PARAMS_VERSION}: under UEFI it would stop with "Boot error: stage 2 or its parameter block damaged; rebuild the image". The loader and stage 2 come from different builds; rebuild the image.`,
    ]);
  });

  it('a changed byte in the code: changed after the build, from that offset on', async () => {
    const { bytes, efiAt } = image();
    const at = EFI_IDENT_OFF + 0x40;
    bytes[efiAt + at] ^= 0x01;
    expect(uefiErrors(await verifyBytes(bytes))).toEqual([
      `error: \\EFI\\BOOT\\BOOTX64.EFI says it is version ${VERSION}, but its bytes differ from that version's from offset 0x${at.toString(16).toUpperCase()} on: it was changed after the build. Rebuild the image.`,
    ]);
    const i = await inspectImage(await readImage(await rawDisk(bytes)));
    expect(i.uefi).toMatchObject({ build: 'changed', version: VERSION, problems: [] });
  });
});

describe.skipIf(!tools('mcopy', 'mdel', 'nasm'))('with mtools and nasm', () => {
  it('a missing BOOTX64.EFI (mdel): UEFI finds nothing to start; inspect says none', async () => {
    const { bytes } = image();
    const disk = tmp.path('missing.img');
    writeFileSync(disk, bytes);
    run('mdel', ['-i', `${disk}@@1M`, '::/EFI/BOOT/BOOTX64.EFI']);
    const b = new Uint8Array(readFileSync(disk));
    expect(uefiErrors(await verifyBytes(b))).toEqual([
      'error: \\EFI\\BOOT\\BOOTX64.EFI is missing: UEFI firmware finds nothing to start on this disk (BIOS still boots it). Rebuild the image with this version to boot it under UEFI too.',
    ]);
    expect((await inspectImage(await readImage(await rawDisk(b)))).uefi).toBeNull();
  });

  it('a loader assembled for another stage 2 (nasm, mcopy): the CRC the loader would compute fails', async () => {
    const { bytes } = image();
    const other = CMDLINE_OFF + 0x10;
    const loader = assemble('efi.asm', tmp.dir, 'other.efi', { STAGE2_CMDLINE_OFF: other });
    const b = withLoader(bytes, 'other', loader);
    const hex = (n: number) => `0x${n.toString(16).toUpperCase()}`;
    expect(uefiErrors(await verifyBytes(b))).toEqual([
      `error: \\EFI\\BOOT\\BOOTX64.EFI (version ${VERSION}) was built for a stage 2 of ${hex(other)} code bytes (its identity block) but this image's stage 2 has ${hex(CMDLINE_OFF)} (its command line starts there): under UEFI the parameter block's CRC would not match and the loader would stop with "Boot error: stage 2 or its parameter block damaged; rebuild the image". The loader and stage 2 come from different builds; rebuild the image.`,
    ]);
    const i = await inspectImage(await readImage(await rawDisk(b)));
    expect(i.uefi).toMatchObject({ version: VERSION, stage2CodeSize: other, build: 'changed' });
    // The same loader assembled for this stage 2 is this version's, byte for byte.
    const same = assemble('efi.asm', tmp.dir, 'same.efi', { STAGE2_CMDLINE_OFF: CMDLINE_OFF });
    expect(Buffer.from(same).equals(Buffer.from(EFI_LOADER))).toBe(true);
    expect(await verifyBytes(withLoader(bytes, 'same', same))).toEqual([]);
  });

  it('a foreign BOOTX64.EFI (no identity block): a warning, not an error', async () => {
    const { bytes } = image();
    const foreign = EFI_LOADER.slice();
    foreign.fill(0x90, EFI_IDENT_OFF, EFI_IDENT_OFF + 16);
    const found = await verifyBytes(withLoader(bytes, 'foreign', foreign));
    expect(found).toEqual([
      {
        area: 'uefi',
        severity: 'warning',
        message:
          "\\EFI\\BOOT\\BOOTX64.EFI is not this project's UEFI loader (no identity block at 0x200): UEFI firmware starts that program, not the loader that reads this image's parameter block.",
      },
    ]);
  });
});

describe('signed copies and other tools’ images', () => {
  it.skipIf(!tools('mcopy', 'osslsigncode'))(
    'signed with osslsigncode (Debian’s snakeoil key): still this version’s loader, signed; verify ok',
    async () => {
      const { bytes } = image();
      writeFileSync(tmp.path('unsigned.efi'), EFI_LOADER);
      run('osslsigncode', [
        'sign',
        ...['-certs', '/usr/share/ovmf/PkKek-1-snakeoil.pem', '-key', '/usr/share/ovmf/PkKek-1-snakeoil.key'],
        ...['-pass', 'snakeoil', '-in', tmp.path('unsigned.efi'), '-out', tmp.path('signed.efi')],
      ]);
      const signed = new Uint8Array(readFileSync(tmp.path('signed.efi')));
      expect(signed.length).toBeGreaterThan(EFI_LOADER.length);
      const b = withLoader(bytes, 'signed', signed);
      const i = await inspectImage(await readImage(await rawDisk(b)));
      expect(i.uefi).toMatchObject({ build: 'this', version: VERSION, size: signed.length, problems: [] });
      expect(i.uefi!.signatureBytes).toBe(signed.length - EFI_LOADER.length);
      expect(await verifyBytes(b)).toEqual([]);
      // A byte changed under the signature is still found.
      const changed = signed.slice();
      changed[EFI_IDENT_OFF + 0x40] ^= 1;
      expect(uefiErrors(await verifyBytes(withLoader(bytes, 'signed2', changed)))).toEqual([
        expect.stringMatching(/^error: .* its bytes differ from that version's from offset 0x240 on/),
      ]);
    },
  );

  it.skipIf(!tools(...OLD_TOOL_PROGRAMS) || !haveOldToolFiles())(
    'the old tool’s SYSLINUX image: no UEFI loader, no UEFI findings',
    async () => {
      const disk = tmp.path('old.img');
      writeFileSync(tmp.path('old.virtio'), DEMO_KERNEL);
      makeOldToolImage(tmp.dir, disk, tmp.path('old.virtio'), 'x', { size: 64 * MiB, fatBits: 16 });
      const opened = await readImage(await rawDisk(new Uint8Array(readFileSync(disk))));
      expect(opened.boot.kind).toBe('syslinux');
      expect((await inspectImage(opened)).uefi).toBeNull();
      expect((await verifyImage(opened)).filter((p) => p.area === 'uefi')).toEqual([]);
    },
  );

  it('a GRUB image carrying our BOOTX64.EFI: described, not judged', async () => {
    const { bytes } = image();
    bytes.fill(0, 0, 440);
    bytes.set(new TextEncoder().encode('GRUB \0Geom\0Hard Disk\0Read\0 Error\r\n'), 0x180);
    const opened = await readImage(await rawDisk(bytes));
    expect(opened.boot.kind).toBe('grub');
    expect((await inspectImage(opened)).uefi).toMatchObject({ build: 'this', version: VERSION });
    expect((await verifyImage(opened)).filter((p) => p.area === 'uefi')).toEqual([]);
  });
});
