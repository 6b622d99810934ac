/**
 * The emulator's machine as a stepper and runner sees it (no QEMU here; the
 * faithfulness tests are x86-qemu.test.ts and x86-flags.test.ts): stepping,
 * the writes of each step, step-over, breakpoints, snapshots and reset, the
 * stop reasons, A20, the disk read one request at a time, and every output
 * format read through openDisk.
 */
import { describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { knownOpcodes } from '../src/core/x86/decode';
import { planImage } from '../src/core/image';
import { FORMATS } from '../src/core/formats/index';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { STAGE2_ADDR } from '../src/core/boot/loader.generated';
import { Machine, type StepRecord } from '../src/core/x86/machine';
import { Memory } from '../src/core/x86/memory';
import { e820Map, lowMemoryTop, type Disk } from '../src/core/x86/pc';
import { containerDisk, planBytes, rawDisk } from './helpers/disk-memory';

const MIB = 1 << 20;
const built = planImage(DEMO_KERNEL, { args: 'hello', size: 64 * MIB });
const raw = planBytes(built.plan);

/** A disk that records every read. */
function recording(bytes: Uint8Array): Disk & { reads: [number, number][] } {
  const reads: [number, number][] = [];
  return {
    size: bytes.length,
    reads,
    async read(offset, length) {
      reads.push([offset, length]);
      return bytes.slice(offset, offset + length);
    },
  };
}

/** A disk whose MBR is `code` (at 0x7C00) and the boot signature. */
function mbrDisk(code: number[]): Disk {
  const b = new Uint8Array(1 * MIB);
  b.set(code, 0);
  b[510] = 0x55;
  b[511] = 0xaa;
  return { size: b.length, read: async (o, l) => b.slice(o, o + l) };
}

describe('the machine', () => {
  test('runs the loader to the kernel and says so', async () => {
    const m = await Machine.boot(await rawDisk(raw));
    const stop = await m.run();
    expect(stop.kind).toBe('kernel');
    expect(stop.message).toMatch(/kernel's first instruction at 0x/);
    expect(m.console).toBe('Loading unikernel.bin... ok\r\n');
    expect(m.screen).toBe(m.console);
    expect(m.cpu.regs[0] >>> 0).toBe(0x2badb002);
    expect(m.instructions).toBeGreaterThan(10_000);
  });

  test('step: one instruction, its text and the memory it wrote', async () => {
    const m = await Machine.boot(await rawDisk(raw));
    expect(m.address).toBe(0x7c00);
    const first = await m.step();
    expect(first.instruction.text).toMatch(/^jmp short 0x7c/);
    expect(first.writes).toEqual([]);
    // run to stage 1's stage-2 read (mov ah,0x42 ... int 0x13) and step over the INT
    let rec: StepRecord | null = null;
    for (let i = 0; i < 200 && !rec; i++) {
      const s = await m.step();
      if (
        s.instruction.text === 'int 0x13' &&
        m.cpu.getReg(6, 2) !== 0 &&
        s.writes.some((w) => w.address === STAGE2_ADDR)
      )
        rec = s;
    }
    expect(rec).not.toBeNull();
    const w = rec!.writes.find((x) => x.address === STAGE2_ADDR)!;
    expect(w.length % 512).toBe(0);
    expect(w.length).toBeGreaterThanOrEqual(1024);
    expect(m.lastWrites).toBe(rec!.writes);
    // a 16-bit push or near call writes two bytes below the old SP
    for (let i = 0; i < 50; i++) {
      const sp = m.cpu.getReg(4, 2);
      const s = await m.step();
      if ((s.instruction.mnemonic === 'push' || s.instruction.mnemonic === 'call') && s.instruction.osize === 2) {
        expect(s.writes).toEqual([{ address: sp - 2, length: 2 }]);
        return;
      }
    }
    throw new Error('no 16-bit push or call within 50 steps');
  });

  test('stepOver runs a call to its return; runUntil stops at an address and can go on', async () => {
    const m = await Machine.boot(await rawDisk(raw));
    while (m.current().mnemonic !== 'call') await m.step();
    const next = m.address + m.current().length;
    const before = m.instructions;
    const r = await m.stepOver();
    expect('kind' in r && r.kind).toBe('breakpoint');
    expect(m.address).toBe(next);
    expect(m.instructions - before).toBeGreaterThan(5);
    const at = await m.runUntil(STAGE2_ADDR);
    expect(at.kind).toBe('breakpoint');
    expect(m.address).toBe(STAGE2_ADDR);
    expect(m.stopped).toBeNull();
    expect((await m.run()).kind).toBe('kernel');
  });

  test('snapshot, restore and reset go back exactly', async () => {
    const m = await Machine.boot(await rawDisk(raw));
    await m.runUntil(STAGE2_ADDR);
    const snap = m.snapshot();
    const regs = [...m.cpu.regs];
    const end = await m.run();
    const afterRun = { regs: [...m.cpu.regs], console: m.console, n: m.instructions };
    m.restore(snap);
    expect([...m.cpu.regs]).toEqual(regs);
    expect(m.address).toBe(STAGE2_ADDR);
    expect((await m.run()).kind).toBe(end.kind);
    expect({ regs: [...m.cpu.regs], console: m.console, n: m.instructions }).toEqual(afterRun);
    m.reset();
    expect(m.address).toBe(0x7c00);
    expect(m.instructions).toBe(0);
    expect(m.console).toBe('');
    expect(m.memory.read16(0x8000)).toBe(0);
    expect((await m.run()).kind).toBe('kernel');
  });

  test('the disk is read one BIOS request at a time, never whole', async () => {
    const d = recording(raw);
    const m = await Machine.boot(d);
    expect((await m.run()).kind).toBe('kernel');
    expect(d.reads.length).toBeGreaterThan(2);
    expect(Math.max(...d.reads.map((r) => r[1]))).toBeLessThanOrEqual(127 * 512);
    const total = d.reads.reduce((n, r) => n + r[1], 0);
    expect(total).toBeLessThan(DEMO_KERNEL.length + 64 * 512 + 1024);
  });

  test.each(FORMATS.map((f) => [f.id, f] as const))(
    'every output format boots through openDisk: %s',
    async (_id, f) => {
      const img = planImage(DEMO_KERNEL, { args: 'hello', size: Math.max(f.sizeStep ?? 0, 64 * MIB) });
      const { disk } = await containerDisk(img, f);
      const m = await Machine.boot(disk);
      expect((await m.run()).kind).toBe('kernel');
      expect(m.console).toBe('Loading unikernel.bin... ok\r\n');
    },
  );

  test('A20 off at hand-over: the loader turns it on (INT 15h AX=2401h) and goes on', async () => {
    const m = await Machine.boot(await rawDisk(raw), { a20: false });
    expect(m.memory.a20).toBe(false);
    expect((await m.run()).kind).toBe('kernel');
    expect(m.memory.a20).toBe(true);
  });

  test('stop reasons: limit, halt, fault, exit, unsupported, no boot signature', async () => {
    const limited = await Machine.boot(await rawDisk(raw), { maxInstructions: 1000 });
    const l = await limited.run();
    expect(l.kind).toBe('limit');
    expect(limited.instructions).toBe(1000);
    expect((await (await Machine.boot(mbrDisk([0xfa, 0xf4]))).run()).kind).toBe('halt'); // cli; hlt
    const f = await (await Machine.boot(mbrDisk([0x0f, 0xff]))).run();
    expect(f.kind === 'fault' && f.vector).toBe(6);
    expect(f.message).toMatch(/unknown instruction/);
    const e = await (await Machine.boot(mbrDisk([0xba, 0x01, 0x05, 0xb0, 0x29, 0xee]))).run(); // out 0x501, 0x29
    expect(e.kind === 'exit' && e.status).toBe(83);
    const u = await (await Machine.boot(mbrDisk([0xb4, 0x00, 0xcd, 0x16]))).run(); // int 16h
    expect(u.kind).toBe('unsupported');
    expect(u.message).toMatch(/INT 16h/);
    const blank = new Uint8Array(4096);
    const n = await (await Machine.boot({ size: blank.length, read: async (o, len) => blank.slice(o, o + len) })).run();
    expect(n.kind).toBe('unsupported');
    expect(n.message).toMatch(/boot signature/);
  });

  test('a damaged parameter block stops with the loader message', async () => {
    const bad = raw.slice();
    bad[512 + 8 + 0x20] ^= 1;
    const m = await Machine.boot(await rawDisk(bad));
    const stop = await m.run();
    expect(stop.kind).toBe('loader-error');
    expect(stop.kind === 'loader-error' && stop.error).toBe(
      'stage 2 or its parameter block damaged; rebuild the image',
    );
    expect(m.console).toContain('Boot error: stage 2 or its parameter block damaged');
  });
});

describe('hostile code', () => {
  test('random boot sectors and random 32-bit code always end with a stop reason, never an exception', async () => {
    let seed = 0x1234567;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
    const kinds = new Set<string>();
    for (let n = 0; n < 150; n++) {
      const code = Array.from({ length: 510 }, rnd);
      const m = await Machine.boot(mbrDisk(code), { maxInstructions: 20_000, memoryMiB: 16 });
      const stop = await m.run();
      expect(stop.message.length).toBeGreaterThan(0);
      kinds.add(stop.kind);
      const pm = Machine.protectedMode(new Uint8Array(Array.from({ length: 4096 }, rnd)), 0x100000, 0x100000, {
        maxInstructions: 20_000,
        memoryMiB: 16,
      });
      kinds.add((await pm.run()).kind);
    }
    // random code mostly hits an opcode the emulator does not know, or a BIOS call it does not model
    expect(kinds.has('fault')).toBe(true);
  });
});

describe('memory and the memory map', () => {
  test('A20 off wraps at 1 MiB; on, it does not', () => {
    const mem = new Memory(16 * MIB);
    mem.write8(0x100510, 0xab);
    expect(mem.read8(0x510)).toBe(0);
    mem.a20 = false;
    expect(mem.read8(0x100510)).toBe(0);
    mem.write8(0x100510, 0xcd);
    expect(mem.read8(0x510)).toBe(0xcd);
    mem.a20 = true;
    expect(mem.read8(0x100510)).toBe(0xab);
  });

  test('RAM holes read 0xFF and keep nothing; pages are allocated on write only', () => {
    const mem = new Memory(16 * MIB);
    mem.write32(0xb8000, 0x12345678);
    expect(mem.read32(0xb8000) >>> 0).toBe(0xffffffff);
    expect(mem.read8(17 * MIB)).toBe(0xff);
    expect(mem.allocatedPages()).toBe(0);
    mem.write16(0x7ffe, 0xbeef); // crosses nothing; one page
    mem.write32(0x8ffe, 0x11223344); // crosses a page boundary
    expect(mem.read32(0x8ffe) >>> 0).toBe(0x11223344);
    expect(mem.allocatedPages()).toBe(3);
  });

  test('the E820 map follows the memory size (QEMU -machine pc rules)', () => {
    for (const m of [64, 128, 1024]) {
      const map = e820Map(m);
      const ram = map.filter((e) => e.type === 1).reduce((n, e) => n + e.length, 0);
      expect(ram).toBe(m * MIB - 0x400 - 0x60000 - 0x20000); // EBDA, 0xA0000-0xFFFFF, SeaBIOS's high tables
      expect(map.find((e) => e.base === MIB)!.length).toBe(lowMemoryTop(m) - MIB - 0x20000);
    }
    const big = e820Map(4096);
    expect(lowMemoryTop(4096)).toBe(0xc0000000);
    expect(big.some((e) => e.base === 2 ** 32 && e.type === 1 && e.length === 4096 * MIB - 0xc0000000)).toBe(true);
  });
});

describe('docs/emulator.md', () => {
  test("its opcode table is the decoder's knownOpcodes()", () => {
    const doc = readFileSync(resolve(__dirname, '../docs/emulator.md'), 'utf8');
    const block = doc.slice(doc.indexOf('<!-- opcodes:start -->'), doc.indexOf('<!-- opcodes:end -->'));
    const documented = [...block.matchAll(/^\| (\w+)\s*\| (.*)\|$/gm)]
      .filter((m) => m[1] !== 'mnemonic')
      .flatMap((m) => [...m[2].matchAll(/`([^`]+)`/g)].map((o) => `${m[1]} ${o[1]}`));
    const known = knownOpcodes().map((o) => `${o.mnemonic} ${o.opcode}`);
    expect(documented.sort()).toEqual(known.sort());
    expect(known.length).toBeGreaterThan(200);
  });
});
