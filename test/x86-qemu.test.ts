/**
 * Faithfulness: the same image booted in QEMU (TCG, -machine pc, SeaBIOS)
 * under gdb and in our emulator. At each walkthrough step's first
 * instruction and at the kernel's entry: every general register, EIP,
 * EFLAGS, the segment selectors and CR0 must be equal; at the kernel's entry
 * also the bytes of the Multiboot information, its memory map, the command
 * line and the loader's GDT. Raw, qcow2 and GCE tar.gz images of the demo
 * kernel at -m 64, 128 and 1024, and of its variants (the sizes rotating);
 * damaged images must stop with the loader's own message, as QEMU's console
 * shows it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { planImage } from '../src/core/image';
import { FORMATS } from '../src/core/formats/index';
import { collect } from '../src/core/sink';
import { openDisk } from '../src/core/formats/open';
import type { DiskImage } from '../src/core/formats/reader';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { CMDLINE_OFF, PARAMS_OFF, P_ENTRY } from '../src/core/boot/loader.generated';
import { STAGE2_LBA } from '../src/core/boot/index';
import { rd32le } from '../src/core/bytes';
import { Machine } from '../src/core/x86/machine';
import { LOADER_STEPS } from '../src/core/x86/steps';
import { memorySource } from './helpers/disk-memory';
import { assembleListing } from './helpers/nasm-listing';
import { assembleDemo, boot, writePlan } from './helpers/qemu';
import { qemuStates, STATE_FIELDS, type CpuState } from './helpers/qemu-gdb';
import { A20_PROGRAM } from './helpers/x86-cases';
import { run, tempDir, tools } from './helpers/tools';

const ARGS = `--greeting="Hello,  Solo5"  'single quoted' é end`;
const MIB = 1 << 20;

function stateOf(m: Machine): CpuState {
  const c = m.cpu;
  const r = (i: number) => c.regs[i] >>> 0;
  return {
    eax: r(0),
    ecx: r(1),
    edx: r(2),
    ebx: r(3),
    esp: r(4),
    ebp: r(5),
    esi: r(6),
    edi: r(7),
    eip: c.eip,
    eflags: c.eflags >>> 0,
    cs: c.seg[1].selector,
    ss: c.seg[2].selector,
    ds: c.seg[3].selector,
    es: c.seg[0].selector,
    fs: c.seg[4].selector,
    gs: c.seg[5].selector,
    cr0: c.cr0 >>> 0,
  };
}

const show = (s: CpuState | null) => s && Object.fromEntries(STATE_FIELDS.map((f) => [f, '0x' + s[f].toString(16)]));

describe.skipIf(!tools('qemu-system-x86_64', 'gdb', 'nasm', 'tar'))('the emulator against QEMU under gdb', () => {
  const t = tempDir('ukd-x86q-');
  let steps: { step: string; address: number }[] = [];
  let gdtAddr = 0;
  beforeAll(() => {
    const l1 = assembleListing(t.dir, 'stage1.asm');
    const l2 = assembleListing(t.dir, 'stage2.asm');
    steps = LOADER_STEPS.map((s) => {
      const address = (s.source === 'stage1.asm' ? l1 : l2).labels.get(s.label);
      if (address === undefined) throw new Error(`no label ${s.label} in ${s.source}`);
      return { step: s.step, address };
    });
    gdtAddr = l2.labels.get('gdt')!;
  });
  afterAll(() => t.cleanup());

  /** The emulator stopped at each step and at the end. */
  async function emulate(disk: DiskImage, memoryMiB: number) {
    const m = await Machine.boot(disk, { memoryMiB });
    const states: (CpuState | null)[] = [];
    for (const s of steps) {
      if (m.address !== s.address || m.instructions > 0) {
        const r = await m.runUntil(s.address);
        if (r.kind !== 'breakpoint') break;
      }
      states.push(stateOf(m));
    }
    const stop = await m.run();
    return { m, states, stop };
  }

  /** Boot in both; compare every step's state, the kernel entry state and the Multiboot bytes. */
  async function compare(file: string, qemuFormat: string, disk: DiskImage, memoryMiB: number, cmdline: string) {
    const emu = await emulate(disk, memoryMiB);
    expect(emu.stop.kind, emu.stop.message + '\n' + emu.m.console).toBe('kernel');
    const entry = emu.stop.kind === 'kernel' ? emu.stop.entry : 0;
    // the entry the loader jumped to is the parameter block's
    const stage2 = await disk.read(STAGE2_LBA * 512, 512);
    expect(entry).toBe(rd32le(stage2, PARAMS_OFF + P_ENTRY));
    const final = stateOf(emu.m);
    const cmdLen = new TextEncoder().encode(cmdline).length + 1;
    const q = await qemuStates({
      dir: t.dir,
      disk: file,
      format: qemuFormat,
      memory: `${memoryMiB}M`,
      breakpoints: [...steps.map((s) => s.address), entry],
      dumps: [
        ['$ebx', '88'],
        ['*(unsigned int *)($ebx + 48)', '*(unsigned int *)($ebx + 44)'],
        ['*(unsigned int *)($ebx + 16)', String(cmdLen)],
        [String(gdtAddr), '40'],
      ],
    });
    steps.forEach((s, i) => expect(show(emu.states[i]), `step ${s.step}\n${q.log}`).toEqual(show(q.states[i])));
    expect(show(final), 'kernel entry').toEqual(show(q.states[steps.length]));
    const mem = emu.m.memory;
    const mbi = mem.readBytes(final.ebx, 88);
    expect([...mbi], 'multiboot information').toEqual([...q.dumps[0]]);
    const mmap = mem.readBytes(rd32le(mbi, 48), rd32le(mbi, 44));
    expect(mmap.length).toBeGreaterThanOrEqual(6 * 24);
    expect([...mmap], 'memory map').toEqual([...q.dumps[1]]);
    const cmd = mem.readBytes(rd32le(mbi, 16), cmdLen);
    expect(new TextDecoder().decode(cmd.subarray(0, cmdLen - 1))).toBe(cmdline);
    expect([...cmd], 'command line').toEqual([...q.dumps[2]]);
    expect([...mem.readBytes(gdtAddr, 40)], 'GDT (accessed bits)').toEqual([...q.dumps[3]]);
    return emu;
  }

  const fmt = (id: string) => FORMATS.find((f) => f.id === id)!;

  /** Write the image in `format`; the path QEMU boots, its QEMU format, and the disk the emulator reads. */
  async function image(name: string, kernel: Uint8Array, format: 'raw' | 'qcow2' | 'tar', size?: number) {
    const img = planImage(kernel, { args: ARGS, size });
    if (format === 'raw') {
      const path = writePlan(t.path(`${name}.img`), img.plan);
      const bytes = new Uint8Array(readFileSync(path));
      return { path, qemuFormat: 'raw', disk: await openDisk(memorySource(bytes)), img };
    }
    const f = fmt(format);
    const file = await collect(f, img.plan, {
      timestamp: img.timestamp,
      seed: img.seed,
      fileName: `${name}${f.extension}`,
    });
    const path = t.path(`${name}${f.extension}`);
    writeFileSync(path, file);
    const disk = await openDisk(memorySource(file));
    if (format === 'qcow2') return { path, qemuFormat: 'qcow2', disk, img };
    const dir = t.path(`${name}-gce`);
    run('mkdir', ['-p', dir]);
    run('tar', ['-xSzf', path, '-C', dir]);
    return { path: `${dir}/disk.raw`, qemuFormat: 'raw', disk, img };
  }

  const cmdline = `unikernel.bin ${ARGS}`;
  const matrix: ['raw' | 'qcow2' | 'tar', number][] = [];
  for (const f of ['raw', 'qcow2', 'tar'] as const) for (const m of [64, 128, 1024]) matrix.push([f, m]);

  test.each(matrix)('demo kernel, %s image, -m %i', { timeout: 180_000 }, async (format, memoryMiB) => {
    const im = await image(`demo-${format}`, DEMO_KERNEL, format, format === 'tar' ? 1024 * MIB : 64 * MIB);
    expect(im.disk.formatId).toBe(format);
    await compare(im.path, im.qemuFormat, im.disk, memoryMiB, cmdline);
  });

  const variants: [string, Record<string, number>][] = [
    ['220 KiB (PAD_TO)', { PAD_TO: 225376 }],
    ['two segments (SPLIT)', { SPLIT: 1, TRAILER: 100, PAD_TO: 2 * 61440 - 1600 }],
    ['odd file offset (LOAD_OFFSET 0x1234)', { LOAD_OFFSET: 0x1234, P_ALIGN: 4, TRAILER: 8192 }],
    ['large bss (BSS_EXTRA 16 MiB)', { LOAD_OFFSET: 0, PAD_TO: 4096, BSS_EXTRA: 16 * MIB }],
  ];
  // every variant in every format; the memory sizes rotate so that each format meets each size
  const variantRuns: [string, 'raw' | 'qcow2' | 'tar', number, Record<string, number>][] = [];
  variants.forEach(([name, defines], vi) =>
    (['raw', 'qcow2', 'tar'] as const).forEach((format, fi) =>
      variantRuns.push([name, format, [64, 128, 1024][(vi + fi) % 3], defines]),
    ),
  );
  test.each(variantRuns)(
    'variant: %s, %s image, -m %i',
    { timeout: 180_000 },
    async (name, format, memoryMiB, defines) => {
      const k = assembleDemo(t.dir, `${name.replace(/\W+/g, '_')}.virtio`, defines);
      const im = await image(
        `v-${Object.keys(defines).join('-')}-${format}`,
        k,
        format,
        format === 'tar' ? 1024 * MIB : 64 * MIB,
      );
      const emu = await compare(im.path, im.qemuFormat, im.disk, memoryMiB, cmdline);
      expect(emu.m.console).toBe('Loading unikernel.bin... ok\r\n');
    },
  );

  /** A damaged image: both stop with the same words on the console. */
  async function damaged(name: string, damage: (bytes: Uint8Array) => void, expected: RegExp) {
    const img = planImage(DEMO_KERNEL, { args: ARGS, size: 64 * MIB });
    const path = writePlan(t.path(`${name}.img`), img.plan);
    const bytes = new Uint8Array(readFileSync(path));
    damage(bytes);
    writeFileSync(path, bytes);
    const m = await Machine.boot(await openDisk(memorySource(bytes)), { memoryMiB: 128 });
    const stop = await m.run();
    const q = await boot({ disk: path });
    const qemuConsole = q.serial;
    expect(stop.kind, stop.message).toBe('loader-error');
    expect(m.console.replace(/\r\n/g, '\n')).toBe(qemuConsole);
    expect(stop.kind === 'loader-error' && stop.error).toMatch(expected);
    // the loader then exits through isa-debug-exit (status 255), as under QEMU
    expect(q.status).toBe(255);
    return m;
  }

  test('damaged: a kernel byte changed (CRC)', { timeout: 120_000 }, async () => {
    const img = planImage(DEMO_KERNEL, { args: ARGS, size: 64 * MIB });
    const kernelAt = img.plan.regions.find((r) => r.kind === 'kernel')!.start;
    await damaged('crc', (b) => (b[kernelAt + 0x100] ^= 0x40), /^kernel checksum mismatch/);
  });

  test('damaged: the parameter block (stage 2 CRC)', { timeout: 120_000 }, async () => {
    await damaged(
      'params',
      (b) => (b[STAGE2_LBA * 512 + PARAMS_OFF + P_ENTRY] ^= 1),
      /^stage 2 or its parameter block damaged/,
    );
  });

  test('damaged: the command line', { timeout: 120_000 }, async () => {
    await damaged(
      'cmdline',
      (b) => (b[STAGE2_LBA * 512 + CMDLINE_OFF + 3] ^= 0x20),
      /^stage 2 or its parameter block damaged/,
    );
  });

  test(
    "damaged: the image cut inside the kernel (a disk read error, with SeaBIOS's code)",
    { timeout: 120_000 },
    async () => {
      const img = planImage(DEMO_KERNEL, { args: ARGS, size: 64 * MIB });
      const kernelAt = img.plan.regions.find((r) => r.kind === 'kernel')!.start;
      const bytes = new Uint8Array(readFileSync(writePlan(t.path('cut-full.img'), img.plan))).slice(0, kernelAt + 4096);
      const path = t.path('cut.img');
      writeFileSync(path, bytes);
      const m = await Machine.boot(await openDisk(memorySource(bytes)), { memoryMiB: 128 });
      const stop = await m.run();
      const q = await boot({ disk: path });
      expect(stop.kind, stop.message).toBe('loader-error');
      expect(stop.kind === 'loader-error' && stop.error).toMatch(/^disk read error, BIOS code 0x[0-9A-F]{2} at LBA 0x/);
      expect(m.console.replace(/\r\n/g, '\n')).toBe(q.serial);
      expect(q.status).toBe(255);
    },
  );

  test(
    'devices: A20 through port 92h, the keyboard controller and INT 15h, as under QEMU',
    { timeout: 120_000 },
    async () => {
      writeFileSync(t.path('a20.asm'), A20_PROGRAM);
      run('nasm', ['-f', 'bin', '-o', t.path('a20.img'), t.path('a20.asm')]);
      const bytes = new Uint8Array(MIB);
      bytes.set(readFileSync(t.path('a20.img')));
      writeFileSync(t.path('a20.img'), bytes);
      const m = await Machine.boot(await openDisk(memorySource(bytes)));
      const stop = await m.run();
      const q = await boot({ disk: t.path('a20.img') });
      expect(stop.kind === 'exit' && stop.status).toBe(q.status);
      expect(m.console.split('\n').length).toBe(8);
      expect(m.console).toBe(q.serial);
    },
  );

  test('too little memory: -m 16 with a 16 MiB bss', { timeout: 120_000 }, async () => {
    const k = assembleDemo(t.dir, 'big.virtio', { LOAD_OFFSET: 0, PAD_TO: 4096, BSS_EXTRA: 16 * MIB });
    const img = planImage(k, { args: ARGS, size: 64 * MIB });
    const path = writePlan(t.path('big.img'), img.plan);
    const bytes = new Uint8Array(readFileSync(path));
    const m = await Machine.boot(await openDisk(memorySource(bytes)), { memoryMiB: 16 });
    const stop = await m.run();
    const q = await boot({ disk: path, memory: '16M' });
    expect(stop.kind, stop.message).toBe('loader-error');
    expect(stop.kind === 'loader-error' && stop.error).toMatch(/^kernel too large for memory/);
    expect(m.console.replace(/\r\n/g, '\n')).toBe(q.serial);
  });
});
