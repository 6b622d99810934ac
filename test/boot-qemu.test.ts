/**
 * Images boot: the demo kernel, in images made by planImage (the CLI's
 * engine), booted by our loader in QEMU (TCG) on the disk controllers and
 * memory sizes of the issue, its serial console checked line by line and
 * compared with the same kernel booted by QEMU's own Multiboot loader
 * (`-kernel`). Failure paths: a changed kernel, too little memory, a damaged
 * parameter block or stage 2, a disk read error.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writeFileSync } from 'node:fs';
import { planImage } from '../src/core/image';
import { readBootParams } from '../src/core/boot/params';
import { MAX_CMDLINE } from '../src/core/boot/index';
import { CHUNK_SECTORS, CMDLINE_OFF, PARAMS_OFF, P_ENTRY } from '../src/core/boot/loader.generated';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { MIB } from '../src/core/units';
import {
  assembleDemo,
  bareDisk,
  boot,
  kludgePlan,
  patchAt,
  readAt,
  writePlan,
  writeTo,
  type BootOptions,
  type BootResult,
} from './helpers/qemu';
import { tempDir, tools } from './helpers/tools';
import { expectDemoSuccess, parseDemo } from './helpers/demo-console';

/** Spacing, quotes and a non-ASCII letter must reach the kernel unchanged. */
const ARGS = `--greeting="Hello,  Solo5"  'single quoted'   back\\slash é  end`;

describe.skipIf(!tools('qemu-system-x86_64', 'nasm'))('booting images in QEMU', () => {
  const t = tempDir('ukd-boot-');
  const img = (name: string, kernel: Uint8Array, args: string, size?: number) =>
    writePlan(t.path(name), planImage(kernel, { args, size }).plan);
  let defaultImage = '';
  const viaKernel = new Map<string, BootResult>();

  beforeAll(() => {
    defaultImage = img('default.img', DEMO_KERNEL, ARGS);
    writeTo(t.path('demo.virtio'), DEMO_KERNEL);
  });
  afterAll(() => t.cleanup());

  /**
   * The same kernel through QEMU's own Multiboot loader, on the same machine
   * with the same disk attached (SeaBIOS reserves memory for some disk drivers,
   * which shows in the E820 map).
   */
  async function kernelBoot(o: BootOptions) {
    const key = `${o.machine}/${o.memory}/${o.controller}`;
    if (!viaKernel.has(key)) viaKernel.set(key, await boot({ ...o, kernel: t.path('demo.virtio'), append: ARGS }));
    return viaKernel.get(key)!;
  }

  test('the demo kernel boots with `qemu -kernel` (a faithful Multiboot kernel)', async () => {
    const r = await kernelBoot({ machine: 'pc' });
    const p = expectDemoSuccess(r, ARGS);
    expect(p.loader).toBe('qemu');
  });

  const controllers: [string, BootOptions][] = [
    ['-machine pc, IDE', { controller: 'ide', machine: 'pc' }],
    ['-machine q35, AHCI', { controller: 'ahci', machine: 'q35' }],
    ['NVMe', { controller: 'nvme' }],
    ['virtio-scsi', { controller: 'virtio-scsi' }],
    ['virtio-blk', { controller: 'virtio-blk' }],
  ];
  test.each(controllers)('1 GiB image boots from %s, same console as qemu -kernel', async (_name, o) => {
    const r = await boot({ ...o, disk: defaultImage });
    const p = expectDemoSuccess(r, ARGS);
    expect(p.loader).toBe('unikernel-disk');
    expect(r.serial.startsWith('Loading unikernel.bin... ok\n')).toBe(true);
    // the raw E820 map, exactly as QEMU's own loader passes it on the same machine
    const ref = parseDemo(await kernelBoot({ ...o, disk: defaultImage }));
    expect(p.map).toEqual(ref.map);
    expect(p.cmdline).toBe(ref.cmdline);
  });

  test.each([
    ['64M', 'pc'],
    ['512M', 'pc'],
    ['2048M', 'q35'],
    ['4096M', 'pc'],
    ['4096M', 'q35'],
  ] as const)('-m %s on %s: the memory map covers all the RAM and starts a block at 1 MiB', async (memory, machine) => {
    const o: BootOptions = { disk: defaultImage, memory, machine, controller: machine === 'q35' ? 'ahci' : 'ide' };
    const r = await boot(o);
    const p = expectDemoSuccess(r, ARGS);
    const ram = BigInt(parseInt(memory, 10)) * BigInt(MIB);
    // all of it but the BIOS's few hundred KiB below 1 MiB and ACPI tables
    expect(p.available).toBeLessThanOrEqual(ram);
    expect(p.available).toBeGreaterThan(ram - 2n * BigInt(MIB));
    if (memory === '4096M') expect(p.map.some((e) => e.start === 0x100000000n && e.type === 1)).toBe(true);
    expect(p.map).toEqual(parseDemo(await kernelBoot(o)).map);
  });

  test('-smp 2', async () => {
    expectDemoSuccess(await boot({ disk: defaultImage, smp: 2 }), ARGS);
  });

  test('a 64 MiB image (FAT16) and no arguments at all', async () => {
    const path = img('small.img', DEMO_KERNEL, '', 64 * MIB);
    expectDemoSuccess(await boot({ disk: path }), '');
  });

  test('the longest command line (8191 bytes) arrives whole', async () => {
    const unit = 'arg="a  b" ';
    let args = unit.repeat(Math.ceil(MAX_CMDLINE / unit.length));
    args = args.slice(0, MAX_CMDLINE - 'unikernel.bin '.length);
    const info = planImage(DEMO_KERNEL, { args, size: 64 * MIB });
    expect(info.cmdline.length).toBe(MAX_CMDLINE);
    const r = await boot({ disk: writePlan(t.path('longcmd.img'), info.plan) });
    expectDemoSuccess(r, args);
  });

  test('a 16 GiB image (the kernel after two large FATs)', async () => {
    const info = planImage(DEMO_KERNEL, { args: 'big disk', size: 16 * 1024 * MIB });
    expect(info.kernelLba).toBeGreaterThan(2048 + 2 * 8192);
    expectDemoSuccess(
      await boot({ disk: writePlan(t.path('16g.img'), info.plan), controller: 'virtio-scsi' }),
      'big disk',
    );
  });

  test('a 4 KiB kernel that loads its own ELF headers, with a 16 MiB bss', async () => {
    const k = assembleDemo(t.dir, 'k4.virtio', { LOAD_OFFSET: 0, PAD_TO: 4096, BSS_EXTRA: 16 * MIB });
    expect(k.length).toBe(4096);
    const r = await boot({ disk: img('k4.img', k, 'four k') });
    expectDemoSuccess(r, 'four k');
    const bss = parseInt(/check bss zero \((0x[0-9a-f]+) bytes\)/.exec(r.serial)![1], 16);
    expect(bss).toBeGreaterThan(16 * MIB);
  });

  test('a 30 MiB kernel with a 64 MiB bss (q35, AHCI), and too little memory for it', async () => {
    const k = assembleDemo(t.dir, 'k30.virtio', { PAD_TO: 30 * MIB, BSS_EXTRA: 64 * MIB });
    expect(k.length).toBe(30 * MIB);
    const path = img('k30.img', k, 'thirty');
    const r = await boot({ disk: path, machine: 'q35', controller: 'ahci', memory: '256M' });
    expectDemoSuccess(r, 'thirty');
    const bss = parseInt(/check bss zero \((0x[0-9a-f]+) bytes\)/.exec(r.serial)![1], 16);
    expect(bss).toBeGreaterThan(64 * MIB);

    const small = await boot({ disk: path, machine: 'q35', controller: 'ahci', memory: '64M' });
    expect(small.status).toBe(255);
    expect(small.serial).toMatch(
      /Boot error: kernel too large for memory: it needs RAM up to 0x[0-9A-F]{8}, usable RAM at 1 MiB ends at 0x[0-9A-F]{8}/,
    );
    expect(small.serial).not.toContain('demo:');
  });

  test('a load slice at an odd file offset, with file bytes after it that must not be loaded', async () => {
    const k = assembleDemo(t.dir, 'odd.virtio', { LOAD_OFFSET: 0x1234, P_ALIGN: 4, TRAILER: 8192 });
    expectDemoSuccess(await boot({ disk: img('odd.img', k, 'odd') }), 'odd');
  });

  test('an ELF kernel without the kludge: two PT_LOAD segments, the second across a read-chunk boundary', async () => {
    // the second segment's 3000 bytes start 1500 bytes before the end of the second
    // 120-sector chunk, at an offset that is not sector aligned
    const chunk = CHUNK_SECTORS * 512;
    const k = assembleDemo(t.dir, 'split.virtio', { SPLIT: 1, TRAILER: 100, PAD_TO: 2 * chunk - 1500 - 100 });
    const info = planImage(k, { args: 'split' });
    expect(info.kernel.load.source).toBe('elf64');
    expect(info.kernel.load.segments).toHaveLength(2);
    const s2 = info.kernel.load.segments[1];
    expect(s2.fileOffset).toBe(2 * chunk - 1500);
    expect(s2.memSize).toBeGreaterThan(s2.fileSize);
    const r = await boot({ disk: writePlan(t.path('split.img'), info.plan) });
    expectDemoSuccess(r, 'split');
    expect(r.serial).toContain('demo: check second segment at 0x400000: ok');
  });

  test('the loader zeroes the bss: a kernel that dirties it and resets finds it zero again', async () => {
    const k = assembleDemo(t.dir, 'reboot.virtio', { REBOOT_TEST: 1 });
    const r = await boot({ disk: img('reboot.img', k, 'reboot'), allowReboot: true });
    expect(r.serial.match(/Loading unikernel\.bin\.\.\. ok/g)).toHaveLength(2);
    expect(r.serial).toContain('demo: first boot: bss filled with 0xA5');
    expect(r.serial).toContain('demo: second boot after the reset');
    expectDemoSuccess(r, 'reboot');

    // control: the same disk but a load plan without the bss (memSize = fileSize);
    // the kernel must notice, so the check above has teeth
    const plan = kludgePlan(k);
    const seg = plan.segments[0];
    const noBss = { ...plan, segments: [{ ...seg, memSize: seg.fileSize }], end: seg.loadAddr + seg.fileSize };
    const c = await boot({ disk: writeTo(t.path('nobss.img'), bareDisk(k, 'reboot', noBss)), allowReboot: true });
    expect(c.serial).toContain('demo: second boot after the reset');
    expect(c.serial).toMatch(/demo: check bss zero \(0x[0-9a-f]+ bytes\): FAILED/);
    expect(c.status).toBe(3);
  });

  test('a kernel changed after the build stops the loader with the checksum message', async () => {
    const path = img('changed.img', DEMO_KERNEL, ARGS);
    const params = readBootParams(readAt(path, 512, 64 * 512))!;
    expect(params).not.toBeNull();
    const at = params.kernelLba * 512 + 0x1100; // one bit of the kernel's code
    patchAt(path, at, Uint8Array.of(readAt(path, at, 1)[0] ^ 0x01));
    const r = await boot({ disk: path });
    expect(r.status).toBe(255);
    expect(r.serial).toContain(
      'Boot error: kernel checksum mismatch: unikernel.bin was changed after the image was built',
    );
    expect(r.serial).toContain('the machine is halted');
    expect(r.serial).not.toContain('demo:');
  });

  test('a damaged parameter block or stage 2 is reported, never run', async () => {
    const p1 = img('params.img', DEMO_KERNEL, ARGS);
    const entry = 512 + PARAMS_OFF + P_ENTRY;
    patchAt(p1, entry, Uint8Array.of(readAt(p1, entry, 1)[0] ^ 0x40));
    const r1 = await boot({ disk: p1 });
    expect(r1.status).toBe(255);
    expect(r1.serial).toContain('Boot error: stage 2 or its parameter block damaged');
    expect(r1.serial).not.toContain('demo:');

    const p3 = img('stage2code.img', DEMO_KERNEL, ARGS);
    const late = 512 + CMDLINE_OFF - 24; // in stage 2's last bytes (message text)
    patchAt(p3, late, Uint8Array.of(readAt(p3, late, 1)[0] ^ 0x20));
    const r3 = await boot({ disk: p3 });
    expect(r3.status).toBe(255);
    expect(r3.serial).toContain('Boot error: stage 2 or its parameter block damaged');

    const p2 = img('nostage2.img', DEMO_KERNEL, ARGS);
    patchAt(p2, 512, new Uint8Array(512));
    // stage 1 halts without touching port 0x501: QEMU keeps running until killed
    const r2 = await boot({ disk: p2, timeoutMs: 6000 });
    expect(r2.timedOut).toBe(true);
    expect(r2.serial).toContain('Boot error: stage 2 damaged');
    expect(r2.serial).not.toContain('demo:');
  });

  test('a disk read error is reported with the BIOS status code', async () => {
    const params = readBootParams(readAt(defaultImage, 512, 64 * 512))!;
    // QEMU's blkdebug driver fails every read of the kernel's first sector
    const rules = t.path('blkdebug.conf');
    writeFileSync(rules, `[inject-error]\nevent = "read_aio"\nerrno = "5"\nsector = "${params.kernelLba}"\n`);
    const r = await boot({ disk: `blkdebug:${rules}:${defaultImage}` });
    expect(r.status, r.serial + r.stderr).toBe(255);
    expect(r.serial).toMatch(/Boot error: disk read error, BIOS code 0x[0-9A-F]{2} at LBA 0x[0-9A-F]{8}/);
    const lba = parseInt(/at LBA 0x([0-9A-F]{8})/.exec(r.serial)![1], 16);
    expect(lba).toBe(params.kernelLba);
  });
});
