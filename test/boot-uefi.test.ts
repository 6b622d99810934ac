/**
 * UEFI: images made by planImage boot under OVMF (Debian's ovmf package,
 * q35) through \EFI\BOOT\BOOTX64.EFI, and the same images under SeaBIOS.
 *
 * The matrix, kept small (TCG with OVMF takes tens of seconds a boot):
 *   - the Multiboot map against OVMF's own final map (a loader variant that
 *     prints it: -DEFI_SHOW_MAP) at -m 512 and -m 64, and at -m 512 with
 *     S3 off, which shows what the ACPI NVS handed to the kernel was; the
 *     same pair under OVMF's SMM build (OVMF_CODE_4M.secboot.fd, no keys),
 *     which keeps 15 MiB at 8 MiB as NVS for S3 resume;
 *   - AHCI, NVMe and virtio-scsi boot disks; -m 64, 512 and 4096; the
 *     device variants (MFT_BLOCKS, MFT_NETS, BIND_DEVICES) with virtio-blk
 *     data devices and virtio-net; raw, qcow2, VMDK, VHD and VDI files; an
 *     image whose arguments `unikernel-disk set-args` changed;
 *   - power-off without isa-debug-exit (ACPI S5 through the RSDP copy), and
 *     the same kernel under SeaBIOS;
 *   - a 30 MiB kernel with a large bss, and the same with too little memory;
 *   - a kernel changed after the build stops the UEFI loader.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { planImage } from '../src/core/image';
import { CMDLINE_OFF } from '../src/core/boot/loader.generated';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { requireFormat } from '../src/core/formats/index';
import { MIB } from '../src/core/units';
import { writeFormat } from './helpers/containers';
import { expectDemoSuccess, type MapEntry } from './helpers/demo-console';
import { DEMO_VARIANTS } from './helpers/demo-variants';
import {
  assemble,
  assembleDemo,
  boot,
  ovmf,
  patchAt,
  readAt,
  writePlan,
  type BootOptions,
  type BootResult,
} from './helpers/qemu';
import { run, tempDir, tools } from './helpers/tools';

const ROOT = resolve(__dirname, '..');
const DISK_CLI = resolve(ROOT, 'bin/unikernel-disk.cjs');
const ARGS = `uefi "quoted  args" é`;
const UEFI_LINE = 'Loading unikernel.bin (UEFI)... ok';
/** OVMF under TCG on a shared machine: most boots take 15-60 s. */
const SLOW = 400_000;

/** One descriptor of OVMF's final memory map, as the -DEFI_SHOW_MAP loader prints it. */
interface EfiDesc {
  type: number;
  start: bigint;
  end: bigint; // exclusive
  runtime: boolean;
}

function efiMap(r: BootResult): EfiDesc[] {
  const out: EfiDesc[] = [];
  // not anchored: the first line can follow what is left of the firmware's console output
  for (const l of r.serial.split('\n')) {
    const m = /efi-map: 0x([0-9A-F]{16}) 0x([0-9A-F]{16}) 0x([0-9A-F]{16}) 0x([0-9A-F]{16})/.exec(l);
    if (!m) continue;
    const start = BigInt('0x' + m[2]);
    out.push({
      type: parseInt(m[1], 16),
      start,
      end: start + BigInt('0x' + m[3]) * 4096n,
      runtime: (BigInt('0x' + m[4]) & (1n << 63n)) !== 0n,
    });
  }
  expect(out.length, 'every line the loader printed').toBe(
    Number(/efi-map descriptors: (0x[0-9A-F]+)/.exec(r.serial)?.[1]),
  );
  return out.sort((a, b) => (a.start < b.start ? -1 : 1));
}

/** UEFI types free once boot services end: loader code/data, boot-services code/data, conventional. */
const FREE = new Set([1, 2, 3, 4, 7]);
const ACPI_NVS = 10;

/** Bytes [s, e) and a range share (0 if none). */
function overlap(a: { start: bigint; end: bigint }, s: bigint, e: bigint): bigint {
  const n = (a.end < e ? a.end : e) - (a.start > s ? a.start : s);
  return n > 0n ? n : 0n;
}

/**
 * The Multiboot map held against OVMF's: every AVAILABLE byte is free memory
 * or ACPI NVS, never runtime, reserved, MMIO, ACPI reclaim or the loader's
 * kept pages; every free byte is AVAILABLE; the entry at 1 MiB runs up to the
 * first memory the firmware keeps. Returns the NVS ranges handed over and the
 * descriptor that ends Solo5's memory.
 */
function checkAgainstUefi(mb: MapEntry[], efi: EfiDesc[]) {
  expect(efi.length).toBeGreaterThan(10);
  const handed: EfiDesc[] = [];
  for (const e of mb.filter((m) => m.type === 1)) {
    const s = e.start;
    const end = e.end + 1n;
    let covered = 0n;
    for (const d of efi.filter((d) => overlap(d, s, end) > 0n)) {
      expect(d.runtime, `runtime memory ${d.start.toString(16)} handed over`).toBe(false);
      expect(FREE.has(d.type) || d.type === ACPI_NVS, `type ${d.type} at ${d.start.toString(16)} handed over`).toBe(
        true,
      );
      if (d.type === ACPI_NVS) handed.push(d);
      covered += overlap(d, s, end);
    }
    expect(covered, `AVAILABLE ${s.toString(16)}-${end.toString(16)} is all firmware memory`).toBe(end - s);
  }
  for (const d of efi.filter((d) => FREE.has(d.type))) {
    const covered = mb.filter((m) => m.type === 1).reduce((n, m) => n + overlap(d, m.start, m.end + 1n), 0n);
    expect(covered, `free ${d.start.toString(16)} is AVAILABLE`).toBe(d.end - d.start);
  }
  const solo5 = mb.find((m) => m.type === 1 && m.start === 0x100000n)!;
  const limit = efi.find((d) => d.start > 0x100000n && !FREE.has(d.type) && !handed.includes(d))!;
  expect(solo5.end + 1n).toBe(limit.start);
  return { handed, limit };
}

describe.skipIf(!tools('qemu-system-x86_64', 'nasm', 'mcopy') || !ovmf())('UEFI boots under OVMF', () => {
  const t = tempDir('ukd-uefi-');
  const uefi = (o: BootOptions) => boot({ firmware: 'ovmf', timeoutMs: 300_000, ...o });
  let mapLoader = '';

  beforeAll(() => {
    // the loader as built, plus one that prints the final UEFI map
    assemble('efi.asm', t.dir, 'map.efi', { STAGE2_CMDLINE_OFF: CMDLINE_OFF, EFI_SHOW_MAP: 1 });
    mapLoader = t.path('map.efi');
    if (!existsSync(resolve(ROOT, 'dist-cli/disk.cjs')))
      run(process.execPath, [resolve(ROOT, 'scripts/build-cli.mjs')]);
  });
  afterAll(() => t.cleanup());

  /** A raw image whose BOOTX64.EFI mtools replaced with the map-printing loader. */
  function mapImage(name: string): string {
    const path = writePlan(t.path(name), planImage(DEMO_KERNEL, { args: ARGS }).plan);
    run('mcopy', ['-o', '-i', `${path}@@1M`, mapLoader, '::/EFI/BOOT/BOOTX64.EFI']);
    return path;
  }

  /** An image of `kernel` in the given output format, as the CLI writes it. */
  async function formatImage(name: string, formatId: string, kernel: Uint8Array, args: string, size?: number) {
    const img = planImage(kernel, { args, size });
    const format = requireFormat(formatId);
    const w = await writeFormat(format, img.plan, t.path(name), { timestamp: img.timestamp, seed: img.seed });
    return { disk: w.path, diskFormat: format.qemuDriver!, img };
  }

  function expectUefiBoot(r: BootResult) {
    expect(r.serial, r.serial).toContain(UEFI_LINE);
    expect(r.serial).not.toContain('Loading unikernel.bin... ok'); // the BIOS path's line
  }

  let s3Handed: EfiDesc[] = [];
  test(
    "AHCI, -m 512: the map is OVMF's free memory, S3-only NVS included; Solo5 gets over 85% of RAM",
    async () => {
      const r = await uefi({ disk: mapImage('map512.img'), controller: 'ahci', memory: '512M' });
      expectUefiBoot(r);
      const p = expectDemoSuccess(r, ARGS);
      expect(p.loader).toBe('unikernel-disk');
      const { handed } = checkAgainstUefi(p.map, efiMap(r));
      expect(handed.length).toBeGreaterThan(0); // OVMF's S3 reservations in the 1 MiB entry's way
      expect(p.map.some((e) => e.type === 4)).toBe(true); // NVS the ACPI tables name (the FACS) stays
      expect(Number(p.solo5Memory)).toBeGreaterThan(0.85 * 512 * MIB);
      // those inside Solo5's entry: the ones that would cut it at 8 MiB
      s3Handed = handed.filter((h) => h.start > 0x100000n && h.end <= 0x100000n + p.solo5Memory);
    },
    SLOW,
  );

  test(
    '-m 512 with S3 off: the NVS ranges handed to Solo5 are boot-time memory there (they exist for S3 resume)',
    async () => {
      expect(s3Handed.length).toBeGreaterThan(0);
      const r = await uefi({ disk: mapImage('nos3.img'), memory: '512M', extra: ['-global', 'ICH9-LPC.disable_s3=1'] });
      const p = expectDemoSuccess(r, ARGS);
      const efi = efiMap(r);
      checkAgainstUefi(p.map, efi);
      for (const h of s3Handed) {
        const there = efi.filter((d) => overlap(d, h.start, h.end) > 0n);
        expect(there.length).toBeGreaterThan(0);
        expect(there.every((d) => FREE.has(d.type))).toBe(true);
      }
    },
    SLOW,
  );

  let smmHanded: EfiDesc[] = [];
  test(
    "OVMF's SMM build, -m 128: its NVS for S3 resume at 8 MiB (firmware volumes, SEC's scratch) is handed over; Solo5 gets over 75% of RAM",
    async () => {
      const r = await uefi({ firmware: 'ovmf-smm', disk: mapImage('smm128.img'), memory: '128M' });
      expectUefiBoot(r);
      const p = expectDemoSuccess(r, ARGS);
      const { handed } = checkAgainstUefi(p.map, efiMap(r));
      expect(p.map.some((e) => e.type === 4)).toBe(true); // the FACS's NVS stays
      smmHanded = handed.filter((h) => h.start > 0x100000n && h.end <= 0x100000n + p.solo5Memory);
      // kept, this NVS would end Solo5's entry at 8 MiB (docs/boot-loader.md)
      expect(smmHanded.reduce((n, h) => n + h.end - h.start, 0n)).toBeGreaterThan(BigInt(8 * MIB));
      expect(Number(p.solo5Memory)).toBeGreaterThan(0.75 * 128 * MIB);
    },
    SLOW,
  );

  test(
    'SMM build with S3 off: the NVS ranges handed to Solo5 are boot-time memory there (SMM itself does not need them)',
    async () => {
      expect(smmHanded.length).toBeGreaterThan(0);
      const r = await uefi({
        firmware: 'ovmf-smm',
        disk: mapImage('smm-nos3.img'),
        memory: '128M',
        extra: ['-global', 'ICH9-LPC.disable_s3=1'],
      });
      const p = expectDemoSuccess(r, ARGS);
      const efi = efiMap(r);
      checkAgainstUefi(p.map, efi);
      for (const h of smmHanded) {
        const there = efi.filter((d) => overlap(d, h.start, h.end) > 0n);
        expect(there.length).toBeGreaterThan(0);
        expect(there.every((d) => FREE.has(d.type))).toBe(true);
      }
    },
    SLOW,
  );

  test(
    "-m 64: Solo5 gets everything up to the firmware's runtime-services memory",
    async () => {
      const r = await uefi({ disk: mapImage('map64.img'), memory: '64M' });
      const p = expectDemoSuccess(r, ARGS);
      const { limit } = checkAgainstUefi(p.map, efiMap(r));
      // what ends the entry is runtime data (docs/boot-loader.md: why 85% cannot be had at 64 MiB)
      expect(limit.runtime).toBe(true);
      expect(Number(p.solo5Memory)).toBeGreaterThan(0.5 * 64 * MIB);
    },
    SLOW,
  );

  test(
    'NVMe, -m 64, qcow2: a kernel with a net device binds it (virtio-net)',
    async () => {
      const v = DEMO_VARIANTS.net;
      const k = assembleDemo(t.dir, v.file, { ...v.defines, BIND_DEVICES: 1 });
      const { disk, diskFormat } = await formatImage('net.qcow2', 'qcow2', k, 'net', 64 * MIB);
      const r = await uefi({
        disk,
        diskFormat,
        controller: 'nvme',
        memory: '64M',
        extra: ['-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0,romfile='],
      });
      expectUefiBoot(r);
      expectDemoSuccess(r, 'net');
      expect(r.serial).toContain('attached as `service0`');
      expect(r.serial).not.toContain('FAILED');
    },
    SLOW,
  );

  test(
    'virtio-scsi, -m 4096, VMDK, after set-args: a block device on virtio-blk, the new command line',
    async () => {
      const v = DEMO_VARIANTS.block;
      const k = assembleDemo(t.dir, v.file, { ...v.defines, BIND_DEVICES: 1 });
      const { disk, diskFormat } = await formatImage('block.vmdk', 'vmdk', k, 'before');
      run(process.execPath, [DISK_CLI, 'set-args', disk, 'after', 'set-args']);
      const data = writePlan(t.path('data.raw'), { size: MIB, pieces: [] });
      const r = await uefi({
        disk,
        diskFormat,
        controller: 'virtio-scsi',
        memory: '4096M',
        extra: ['-drive', `file=${data},format=raw,if=none,id=b0`, '-device', 'virtio-blk-pci,drive=b0'],
      });
      expectUefiBoot(r);
      const p = expectDemoSuccess(r, 'after set-args');
      expect(r.serial).toContain('attached as `storage`');
      expect(r.serial).not.toContain('FAILED');
      // q35 keeps 2 GiB of RAM below 4 GiB, the rest above; Solo5 takes the entry at 1 MiB only
      expect(p.map.some((e) => e.start === 0x100000000n && e.type === 1)).toBe(true);
      expect(Number(p.solo5Memory)).toBeGreaterThan(0.85 * 2048 * MIB);
    },
    SLOW,
  );

  test(
    'AHCI, VHD: blocks and nets in manifest order on virtio-blk and virtio-net',
    async () => {
      const v = DEMO_VARIANTS.mixed;
      const k = assembleDemo(t.dir, v.file, { ...v.defines, BIND_DEVICES: 1 });
      const { disk, diskFormat } = await formatImage('mixed.vhd', 'vhd', k, 'mixed', 64 * MIB);
      const extra: string[] = [];
      v.devices.forEach((d, i) => {
        if (d.kind === 'net') extra.push('-netdev', `user,id=n${i}`, '-device', `virtio-net-pci,netdev=n${i},romfile=`);
        else {
          const f = writePlan(t.path(`mixed-${i}.raw`), { size: MIB, pieces: [] });
          extra.push('-drive', `file=${f},format=raw,if=none,id=b${i}`, '-device', `virtio-blk-pci,drive=b${i}`);
        }
      });
      const r = await uefi({ disk, diskFormat, controller: 'ahci', memory: '256M', extra });
      expectUefiBoot(r);
      expectDemoSuccess(r, 'mixed');
      for (const d of v.devices) expect(r.serial).toContain(`attached as \`${d.name}\``);
      expect(r.serial).not.toContain('FAILED');
    },
    SLOW,
  );

  test(
    'VDI, no isa-debug-exit: the kernel powers the machine off through ACPI (the RSDP copy)',
    async () => {
      const k = assembleDemo(t.dir, 'acpi.virtio', { ACPI_POWEROFF: 1 });
      const { disk, diskFormat } = await formatImage('acpi.vdi', 'vdi', k, 'power off', 64 * MIB);
      const r = await uefi({ disk, diskFormat, debugExit: false, timeoutMs: 300_000 });
      expectUefiBoot(r);
      expect(r.serial).toContain('demo: SUCCESS, powering off through ACPI S5');
      // the copy the loader placed in 0xE0000-0xFFFFF, where Solo5 looks
      expect(r.serial).toContain('demo: ACPI: RSDP at 0x000e0000');
      expect(r.timedOut, r.serial).toBe(false);
      expect(r.status).toBe(0);
    },
    SLOW,
  );

  test(
    'the same ACPI kernel powers off under SeaBIOS too',
    async () => {
      const k = assembleDemo(t.dir, 'acpi.virtio', { ACPI_POWEROFF: 1 });
      const disk = writePlan(t.path('acpi.img'), planImage(k, { args: 'power off', size: 64 * MIB }).plan);
      const r = await boot({ disk, debugExit: false, timeoutMs: 120_000 });
      expect(r.serial).toContain('Loading unikernel.bin... ok');
      expect(r.serial).toMatch(/demo: ACPI: RSDP at 0x000[ef][0-9a-f]{4}/);
      expect(r.timedOut, r.serial).toBe(false);
      expect(r.status).toBe(0);
    },
    SLOW,
  );

  test(
    "a 30 MiB kernel with a 64 MiB bss, copied over the firmware's boot-time memory; too little memory for it",
    async () => {
      const k = assembleDemo(t.dir, 'k30.virtio', { PAD_TO: 30 * MIB, BSS_EXTRA: 64 * MIB });
      const path = writePlan(t.path('k30.img'), planImage(k, { args: 'thirty' }).plan);
      const r = await uefi({ disk: path, memory: '256M' });
      expectUefiBoot(r);
      expectDemoSuccess(r, 'thirty');
      const small = await uefi({ disk: path, memory: '64M' });
      expect(small.status, small.serial).toBe(255);
      expect(small.serial).toMatch(
        /Boot error: kernel too large for memory: it needs RAM up to 0x[0-9A-F]{16}, usable RAM at 1 MiB ends at 0x[0-9A-F]{16}/,
      );
      expect(small.serial).not.toContain('demo:');
    },
    SLOW,
  );

  test(
    'a kernel changed after the build stops the UEFI loader with the checksum message',
    async () => {
      const info = planImage(DEMO_KERNEL, { args: ARGS, size: 64 * MIB });
      const path = writePlan(t.path('changed.img'), info.plan);
      const at = info.kernelLba * 512 + 0x1100;
      patchAt(path, at, Uint8Array.of(readAt(path, at, 1)[0] ^ 0x01));
      const r = await uefi({ disk: path });
      expect(r.status, r.serial).toBe(255);
      expect(r.serial).toContain(
        'Boot error: kernel checksum mismatch: unikernel.bin was changed after the image was built',
      );
      expect(r.serial).toContain('the machine is halted');
      expect(r.serial).not.toContain('demo:');
    },
    SLOW,
  );
});
