/**
 * Instruction tests with flags, measured on QEMU: every case of
 * helpers/x86-cases.ts runs in QEMU (TCG, `-kernel`, a Multiboot program) and
 * in the emulator; each prints its registers and EFLAGS on COM1, and the two
 * consoles must be equal line by line. Every opcode the emulator knows must
 * be exercised here or in the loader (whose run is compared with QEMU's in
 * x86-qemu.test.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { decode, knownOpcodes, opcodeOf } from '../src/core/x86/decode';
import { Machine } from '../src/core/x86/machine';
import { STAGE1_CODE, STAGE2_CODE } from '../src/core/boot/loader.generated';
import { cases, programSource, type Case } from './helpers/x86-cases';
import { assembleListing } from './helpers/nasm-listing';
import { boot } from './helpers/qemu';
import { tempDir, tools } from './helpers/tools';

describe.skipIf(!tools('qemu-system-x86_64', 'nasm'))('instructions and flags, emulator against QEMU', () => {
  const t = tempDir('ukd-x86f-');
  let all: Case[] = [];
  let program = new Uint8Array(0);
  let qemuLines: string[] = [];
  let emuLines: string[] = [];
  let codeEnd = 0;
  beforeAll(async () => {
    all = cases();
    writeFileSync(t.path('cases.asm'), programSource(all));
    execFileSync('nasm', ['-f', 'bin', '-l', t.path('cases.lst'), '-o', t.path('cases.bin'), t.path('cases.asm')]);
    program = new Uint8Array(readFileSync(t.path('cases.bin')));
    const lst = readFileSync(t.path('cases.lst'), 'utf8');
    codeEnd = parseInt(/^\s*\d+ ([0-9A-F]{8}) \S+\s+digits:/m.exec(lst)![1], 16);
    const q = await boot({ kernel: t.path('cases.bin'), timeoutMs: 300_000 });
    if (q.status !== 1) throw new Error(`QEMU: status ${q.status}\n${q.stderr}`);
    qemuLines = q.serial.split('\n');
    const m = Machine.protectedMode(program, 0x100000, 0x100020);
    const stop = await m.run();
    if (stop.kind !== 'exit') throw new Error(`emulator: ${stop.message}`);
    emuLines = m.console.split('\n');
  }, 600_000);
  afterAll(() => t.cleanup());

  test('the program ran every case in both', () => {
    expect(all.length).toBeGreaterThan(3000);
    expect(qemuLines.length).toBe(all.length + 1);
    expect(emuLines.length).toBe(all.length + 1);
  });

  test('every case: registers and EFLAGS as QEMU printed them', () => {
    const bad: string[] = [];
    all.forEach((c, i) => {
      if (emuLines[i] !== qemuLines[i])
        bad.push(`${c.name}: ${c.body.join('; ')}\n  qemu: ${qemuLines[i]}\n  ours: ${emuLines[i]}`);
    });
    expect(bad.slice(0, 30).join('\n'), `${bad.length} cases differ`).toBe('');
  });

  test('every opcode the emulator knows is exercised here or by the loader', () => {
    const seen = new Set<string>();
    const unknown: string[] = [];
    const walk = (bytes: Uint8Array, start: number, end: number, bits: 16 | 32, origin: number) => {
      for (let off = start; off < end;) {
        const i = decode((k) => bytes[off + k] ?? 0, origin + off, bits);
        if (i.mnemonic === 'unknown') unknown.push(`${(origin + off).toString(16)}: ${i.text}`);
        seen.add(opcodeOf(i));
        off += i.length;
      }
    };
    walk(program, 0x20, codeEnd, 32, 0x100000);
    for (const [src, bytes] of [
      ['stage1.asm', STAGE1_CODE],
      ['stage2.asm', STAGE2_CODE],
    ] as const) {
      const l = assembleListing(t.dir, src);
      for (const r of l.regions.filter((r) => r.kind === 'code')) walk(bytes, r.start, r.end, r.bits, l.origin);
    }
    expect(unknown).toEqual([]);
    const missing = knownOpcodes()
      .map((o) => o.opcode)
      .filter((o) => !seen.has(o));
    expect(missing).toEqual([]);
  });
});
