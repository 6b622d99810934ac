/**
 * The loader under the emulator as the stepper and `trace` drive it (no
 * QEMU here: x86-qemu.test.ts and trace-cli.test.ts compare with it): the
 * walkthrough's steps at the loader's labels, each command's effect and
 * view (registers changed, writes and the regions they touch, hex views,
 * the disassembly window), runs stopped by a signal and resumed, reset, the
 * memory layout from the loader's constants, the loader-build check, long
 * REPs in slices, the write log coarsened, and the worker's sessions (the
 * plain function and the page's stepper model over it, on a file-backed
 * Blob).
 */
import { afterAll, describe, expect, test } from 'vitest';
import { openAsBlob, writeFileSync } from 'node:fs';
import { planImage } from '../src/core/image';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import {
  BOUNCE_ADDR,
  CMDLINE_OFF,
  CRC_TABLE,
  LOADER_CODE,
  LOADER_LABELS,
  MBI_ADDR,
  MBI_SIZE,
  MMAP_ADDR,
  STACK_TOP,
  STAGE2_ADDR,
  VAR_BASE,
} from '../src/core/boot/loader.generated';
import { STAGE2_LBA } from '../src/core/boot/index';
import { readImage } from '../src/core/disk/open-image';
import { startLoaderRun, traceImage } from '../src/core/disk/trace';
import { isThisLoader, STEP_ADDRESSES } from '../src/core/x86/listing';
import { LOADER_STEPS } from '../src/core/x86/steps';
import { kernelMemoryLayout, lowMemoryLayout, regionsTouched } from '../src/core/x86/layout';
import { coarsen, mergeWrites } from '../src/core/x86/memory';
import { Machine } from '../src/core/x86/machine';
import { REP_SLICE } from '../src/core/x86/cpu';
import { TRACE_MAX_INSTRUCTIONS } from '../src/core/x86/stepper';
import { emulate } from '../src/web/worker/emulator';
import { createStepperModel } from '../src/web/inside/stepper-state';
import type { EmuStart } from '../src/web/protocol';
import { planBytes, rawDisk } from './helpers/disk-memory';
import { assembleListing } from './helpers/nasm-listing';
import { tempDir, tools } from './helpers/tools';

const MIB = 1 << 20;
const built = planImage(DEMO_KERNEL, { args: 'hello', size: 64 * MIB });
const raw = planBytes(built.plan);
const opened = async (bytes = raw) => readImage(await rawDisk(bytes));
const tmp = tempDir('ukd-stepper-');
afterAll(() => tmp.cleanup());

describe('the loader map', () => {
  test.skipIf(!tools('nasm'))("the steps' addresses are the NASM listing's labels", () => {
    const l1 = assembleListing(tmp.dir, 'stage1.asm');
    const l2 = assembleListing(tmp.dir, 'stage2.asm');
    expect(STEP_ADDRESSES.map((s) => s.step)).toEqual(LOADER_STEPS.map((s) => s.step));
    for (const s of LOADER_STEPS) {
      const want = (s.source === 'stage1.asm' ? l1 : l2).labels.get(s.label);
      expect(STEP_ADDRESSES.find((x) => x.step === s.step)?.address, s.label).toBe(want);
    }
    // every label and code range of the generated module, from the listings
    expect(LOADER_LABELS.map(([a, n]) => [n, a])).toEqual([...l1.labels, ...l2.labels]);
    const code = [l1, l2].flatMap((l) =>
      l.regions.filter((r) => r.kind === 'code').map((r) => [l.origin + r.start, l.origin + r.end, r.bits]),
    );
    expect(LOADER_CODE).toEqual(code);
  });

  test('this build is recognised; a changed code byte or another stage 1 is not', async () => {
    const img = await opened();
    expect(isThisLoader(img.lba0, img.boot.ours!.stage2)).toBe(true);
    const s2 = img.boot.ours!.stage2.slice();
    s2[0x200] ^= 1;
    expect(isThisLoader(img.lba0, s2)).toBe(false);
    const lba0 = img.lba0.slice();
    lba0[0x70] ^= 1;
    expect(isThisLoader(lba0, img.boot.ours!.stage2)).toBe(false);
    // the parameter block and the command line are not code
    const s3 = img.boot.ours!.stage2.slice();
    s3[0x10] ^= 0xff;
    s3[CMDLINE_OFF] ^= 0xff;
    expect(isThisLoader(img.lba0, s3)).toBe(true);
  });

  test("the memory layout: the first MiB whole, from the loader's constants, no overlaps", () => {
    const low = lowMemoryLayout({ stage2Bytes: 5 * 512, cmdlineBytes: 20 });
    expect(low[0].start).toBe(0);
    expect(low[low.length - 1].end).toBe(MIB);
    for (let i = 1; i < low.length; i++) expect(low[i].start, low[i].id).toBe(low[i - 1].end);
    const at = (id: string) => low.find((r) => r.id === id)!;
    expect([at('vars').start, at('mbi').start, at('mbi').end, at('mmap').start, at('crc').start]).toEqual([
      VAR_BASE,
      MBI_ADDR,
      MBI_ADDR + MBI_SIZE,
      MMAP_ADDR,
      CRC_TABLE,
    ]);
    expect([at('stack').end, at('stage1').start, at('stage2').start, at('stage2').end, at('bounce').start]).toEqual([
      STACK_TOP,
      0x7c00,
      STAGE2_ADDR,
      STAGE2_ADDR + 5 * 512,
      BOUNCE_ADDR,
    ]);
    expect(at('stage2').note).toContain('20 bytes with its NUL');
    const k = kernelMemoryLayout({
      segments: [
        { fileOffset: 0x1000, fileSize: 0x800, loadAddr: MIB, memSize: 0x2000 },
        { fileOffset: 0x3000, fileSize: 0x100, loadAddr: MIB + 0x4000, memSize: 0x100 },
      ],
      entry: MIB + 0x10,
    });
    expect(k.map((r) => [r.id, r.start, r.end])).toEqual([
      ['seg1', MIB, MIB + 0x800],
      ['bss1', MIB + 0x800, MIB + 0x2000],
      [`free-0x102000`, MIB + 0x2000, MIB + 0x4000],
      ['seg2', MIB + 0x4000, MIB + 0x4100],
    ]);
    expect(k[0].note).toContain('the entry is at 0x100010');
    expect(regionsTouched(low, [{ address: MBI_ADDR + 4, length: 8 }])).toEqual(['mbi']);
    expect(regionsTouched(low, [{ address: 0x0ff0, length: 0x20 }])).toEqual(['free-0x600', 'mbi']);
  });
});

describe('a run of the loader', () => {
  test('next-step walks the steps in order; the view at each is the step at its label', async () => {
    const run = await startLoaderRun(await opened());
    let v = run.view();
    expect(v.step).toBe('bios');
    expect(v.disasm[v.current].address).toBe(0x7c00);
    expect(v.disasm[v.current].labels).toEqual(['s1_start']);
    expect(v.mode.id).toBe('real');
    expect(v.registers.eax).toBe(0xaa55);
    for (const s of STEP_ADDRESSES.slice(1)) {
      await run.command('next-step');
      v = run.view();
      expect(v.address, s.step).toBe(s.address);
      expect(v.step).toBe(s.step);
      expect(v.where).toEqual({ label: s.label, offset: 0 });
      expect(v.disasm[v.current].labels).toContain(s.label);
      expect(v.stop).toBeNull();
    }
    expect(v.mode.id).toBe('real'); // enter_kernel starts in real mode
    await run.command('next-step');
    v = run.view();
    expect(v.stop?.kind).toBe('kernel');
    expect(v.registers.eax).toBe(0x2badb002);
    expect(v.mode.id).toBe('protected32');
    expect(v.handoff!.filter((h) => h.ok === false)).toEqual([]);
    expect(v.passed.map((p) => p.step)).toEqual(LOADER_STEPS.map((s) => s.step));
    // the same instruction count as one run straight to the kernel
    const straight = await Machine.boot(await rawDisk(raw));
    await straight.run();
    expect(v.instructions).toBe(straight.instructions);
    // nothing goes past the kernel's entry but Back to the start
    await run.command('step');
    expect(run.view().instructions).toBe(v.instructions);
    await run.command('reset');
    v = run.view();
    expect([v.instructions, v.address, v.step, v.stop, v.changed, v.writes]).toEqual([0, 0x7c00, 'bios', null, [], []]);
  });

  test('a step says what changed and what it wrote; step over runs a call; INT 13h writes stage 2', async () => {
    const run = await startLoaderRun(await opened());
    await run.command('step'); // jmp short s1_main
    let v = run.view();
    expect(v.changed).toEqual(['eip']);
    expect(v.writes).toEqual([]);
    // to the stage-2 read: `int 0x13` with AH = 42h, stepped over
    for (let i = 0; i < 200; i++) {
      const ins = run.view().disasm[run.view().current];
      if (ins.text === 'int 0x13' && run.machine.cpu.regs[0] >> 8 === 0x42) break;
      await run.command(ins.text.startsWith('call') ? 'over' : 'step');
    }
    expect(run.view().disasm[run.view().current].text).toBe('int 0x13');
    await run.command('over');
    v = run.view();
    expect(v.touched).toContain('stage2');
    const s2 = v.writes.find((w) => w.address === STAGE2_ADDR)!;
    expect(s2.length % 512).toBe(0);
    expect(v.dumps.some((d) => d.address === STAGE2_ADDR && d.region === 'Stage 2' && d.written[0][0] === 0)).toBe(
      true,
    );
    expect(v.dumps.find((d) => d.address === STAGE2_ADDR)!.bytes).toEqual(
      raw.subarray(STAGE2_LBA * 512, STAGE2_LBA * 512 + 64),
    );
    expect(v.changed).toContain('eip');
    // a call (stepped into) writes its return address on the stack; the view names the region
    for (let i = 0; i < 100 && !run.view().disasm[run.view().current].text.startsWith('call'); i++)
      await run.command('step');
    const sp = run.view().registers.esp;
    await run.command('step');
    v = run.view();
    expect(v.writes).toEqual([{ address: sp - 2, length: 2 }]);
    expect(v.touched).toEqual(['stack']);
    expect(v.dumps[0].region).toBe('Stack');
  });

  test('a run stopped by its signal stays where it is and can go on; the limit ends a loop', async () => {
    // stage 2's first instruction becomes `jmp $` (outside the CRC): the loader never ends
    const loop = raw.slice();
    loop.set([0xeb, 0xfe], STAGE2_LBA * 512);
    const run = await startLoaderRun(await opened(loop));
    const ctl = new AbortController();
    ctl.abort();
    let progress = 0;
    await run.command('kernel', { signal: ctl.signal, onProgress: (n) => (progress = n) });
    const v = run.view();
    expect(v.interrupted).toBe(true);
    expect(v.stop).toBeNull();
    expect(v.instructions).toBeGreaterThan(0);
    expect(progress).toBe(v.instructions);
    await run.command('step');
    expect(run.view().instructions).toBe(v.instructions + 1);
    expect(run.view().interrupted).toBe(false);
    // to the end: the instruction limit
    await run.command('kernel');
    expect(run.view().stop?.kind).toBe('limit');
    expect(run.view().instructions).toBe(TRACE_MAX_INSTRUCTIONS);
    expect(run.view().address).toBe(STAGE2_ADDR);
  }, 60_000);

  test('trace: steps, console, registers and the Multiboot information', async () => {
    const r = await traceImage(await opened(), { memoryMiB: 64 });
    expect(r.reached).toBe(true);
    expect(r.known).toBe('all');
    expect(r.steps.map((s) => s.step)).toEqual(LOADER_STEPS.map((s) => s.step));
    expect(r.console).toBe('Loading unikernel.bin... ok\r\n');
    expect(r.registers!.eax).toBe(0x2badb002);
    expect(r.multiboot!.cmdline).toBe('unikernel.bin hello');
    expect(r.multiboot!.info.length).toBe(MBI_SIZE);
    expect(r.multiboot!.address).toBe(MBI_ADDR);
    // a stage 2 of another build (its unused padding changed) still runs, with stage 1's steps only
    const other = raw.slice();
    other[STAGE2_LBA * 512 + 5] = 0x90; // the padding after stage 2's first jump: never run, outside the CRC
    const o = await traceImage(await opened(other));
    expect([o.known, o.reached, o.steps.map((s) => s.step)]).toEqual(['stage1', true, ['bios', 'stage1']]);
    // a stage 1 of another build (a byte of a message it never prints): no steps at all
    const old = raw.slice();
    old[0x7d6c - 0x7c00] ^= 0x20;
    const n = await traceImage(await opened(old));
    expect([n.loader, n.known, n.reached, n.steps]).toEqual(['unikernel-disk', 'none', true, []]);
  });
});

describe('the machine for a stepper', () => {
  test('a long REP runs in slices of REP_SLICE; step over runs it whole', async () => {
    // mov ecx, N; mov edi, 0x200000; xor eax, eax; rep stosb; hlt
    const n = REP_SLICE * 2 + 100;
    const code = [0xb9, ...[n & 0xff, (n >> 8) & 0xff, n >> 16, 0], 0xbf, 0, 0, 0x20, 0, 0x31, 0xc0, 0xf3, 0xaa, 0xf4];
    const m = Machine.protectedMode(new Uint8Array(code), 0x10000, 0x10000);
    for (let i = 0; i < 3; i++) await m.step();
    const at = m.address;
    const rec = await m.step();
    expect([m.address, m.cpu.regs[1], m.cpu.regs[7]]).toEqual([at, n - REP_SLICE, 0x200000 + REP_SLICE]);
    expect(rec.writes).toEqual([{ address: 0x200000, length: REP_SLICE }]);
    await m.stepOver();
    expect([m.address, m.cpu.regs[1], m.cpu.regs[7]]).toEqual([at + 2, 0, 0x200000 + n]);
    expect(m.instructions).toBe(3 + 3);
  });

  test('the write log: merged, then coarsened to pages and larger blocks, never losing a byte', () => {
    expect(
      mergeWrites([
        { address: 10, length: 2 },
        { address: 0, length: 4 },
        { address: 3, length: 7 },
      ]),
    ).toEqual([{ address: 0, length: 12 }]);
    const many = Array.from({ length: 5000 }, (_, i) => ({ address: i * 8192 + (i % 7), length: 3 }));
    const c = coarsen(many, 100);
    expect(c.length).toBeLessThanOrEqual(100);
    for (const w of many)
      expect(c.some((x) => x.address <= w.address && x.address + x.length >= w.address + w.length)).toBe(true);
  });
});

describe("the worker's sessions", () => {
  test('start, commands, memory windows, close; the stepper model over them', async () => {
    const path = tmp.path('demo.img');
    writeFileSync(path, raw);
    const blob = await openAsBlob(path);
    const start = (await emulate(901, { op: 'start', image: blob, name: 'demo.img', memoryMiB: 128 })) as EmuStart;
    if (start.refused !== null) throw new Error(start.refused);
    expect(start.info.known).toBe('all');
    expect(start.info.low.some((r) => r.id === 'mbi')).toBe(true);
    expect(start.info.kernel[0].start).toBe(MIB);
    const v = (await emulate(901, { op: 'command', command: 'kernel' })) as Awaited<ReturnType<typeof run>>;
    expect(v.stop?.kind).toBe('kernel');
    const mbi = (await emulate(901, { op: 'memory', address: MBI_ADDR, length: MBI_SIZE })) as Uint8Array;
    expect(new DataView(mbi.buffer).getUint32(0, true)).toBe(0x24f);
    expect(((await emulate(901, { op: 'memory', address: 0, length: 1 << 20 })) as Uint8Array).length).toBe(4096);
    await emulate(901, { op: 'close' });
    await expect(emulate(901, { op: 'command', command: 'step' })).rejects.toThrow(/not started/);

    // the page's model, with this module as its backend
    const model = createStepperModel({ emulate: (s, r, o) => emulate(s, r, o) as never });
    model.load(blob, 'demo.img');
    expect(await model.ensure()).toBe(true);
    expect(model.view.value?.address).toBe(0x7c00);
    const first = model.command('kernel');
    const ignored = model.command('step'); // one command at a time
    await Promise.all([first, ignored]);
    expect(model.view.value?.stop?.kind).toBe('kernel');
    expect(model.view.value?.registers.eax).toBe(0x2badb002);
    await model.command('reset');
    expect(model.view.value?.instructions).toBe(0);
    model.load(null);
    expect(model.view.value).toBeNull();
  });
});

/** For the view type in the test above. */
async function run() {
  return (await startLoaderRun(await opened())).view();
}
