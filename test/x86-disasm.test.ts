/**
 * The emulator's decoder against ndisasm: every instruction of stage 1 and
 * stage 2, walked as ndisasm walks them (code regions and their mode from the
 * NASM listing, data excluded), must have the same address, bytes and text
 * (whitespace normalised). And no instruction of the loader may be unknown
 * to the emulator. Beyond the loader: random encodings of every opcode the
 * decoder knows, in both modes, must read as ndisasm reads them.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { decode, knownOpcodes, type Instruction } from '../src/core/x86/decode';
import { STAGE1_CODE, STAGE2_CODE, STAGE1_FIELDS_OFF } from '../src/core/boot/loader.generated';
import { assembleListing, ndisasm, type Listing } from './helpers/nasm-listing';
import { randomEncodings } from './helpers/x86-cases';
import { tempDir, tools } from './helpers/tools';

/** Our decoder over one code region, as ndisasm walks it. */
function walk(l: Listing, start: number, end: number, bits: 16 | 32): Instruction[] {
  const out: Instruction[] = [];
  for (let off = start; off < end;) {
    const ins = decode((i) => (off + i < end ? l.bytes[off + i] : 0), l.origin + off, bits);
    out.push(ins);
    off += ins.length;
  }
  return out;
}

describe.skipIf(!tools('nasm', 'ndisasm'))('the decoder reads the loader as ndisasm does', () => {
  const t = tempDir('ukd-x86dis-');
  afterAll(() => t.cleanup());
  const stages = [
    { src: 'stage1.asm', generated: STAGE1_CODE },
    { src: 'stage2.asm', generated: STAGE2_CODE },
  ];

  test.each(stages)('$src: the listing is of the committed bytes', ({ src, generated }) => {
    const l = assembleListing(t.dir, src);
    if (src === 'stage1.asm') {
      // params.ts patches the stage 2 fields; the committed copy has the assembler's
      const a = [...l.bytes];
      const b = [...generated];
      a.splice(STAGE1_FIELDS_OFF, 6);
      b.splice(STAGE1_FIELDS_OFF, 6);
      expect(b).toEqual(a);
    } else expect([...generated]).toEqual([...l.bytes]);
    expect(l.regions.some((r) => r.kind === 'code')).toBe(true);
  });

  test.each(stages)('$src: every code region, line by line', ({ src }) => {
    const l = assembleListing(t.dir, src);
    let lines = 0;
    for (const r of l.regions.filter((r) => r.kind === 'code')) {
      const theirs = ndisasm(t.dir, l.bytes.subarray(r.start, r.end), r.bits, l.origin + r.start);
      const ours = walk(l, r.start, r.end, r.bits).map((i) => ({
        address: i.eip,
        hex: [...i.bytes].map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(''),
        text: i.text,
      }));
      expect(ours).toEqual(theirs);
      lines += ours.length;
    }
    expect(lines).toBeGreaterThan(src === 'stage1.asm' ? 80 : 400);
  });

  test.each(stages)('$src: no instruction is unknown to the emulator', ({ src }) => {
    const l = assembleListing(t.dir, src);
    const unknown: string[] = [];
    let n = 0;
    for (const r of l.regions.filter((r) => r.kind === 'code'))
      for (const i of walk(l, r.start, r.end, r.bits)) {
        n++;
        if (i.mnemonic === 'unknown') unknown.push(`${i.eip.toString(16)}: ${i.text}`);
      }
    expect(unknown).toEqual([]);
    expect(n).toBeGreaterThan(50);
  });

  test.each([16, 32] as const)('random encodings of every known opcode, %i-bit code', (bits) => {
    const code = randomEncodings(
      knownOpcodes(),
      (bytes) => {
        const i = decode((k) => bytes[k] ?? 0, 0, bits);
        // ndisasm refuses movzx/movsx r16, r/m16 (the CPU runs them)
        const skip = (i.mnemonic === 'movzx' || i.mnemonic === 'movsx') && i.osize === 2 && i.operands[1].size === 2;
        return { length: i.length, unknown: i.mnemonic === 'unknown', skip };
      },
      40,
      bits,
    );
    const theirs = ndisasm(t.dir, code, bits, 0);
    const ours: { address: number; hex: string; text: string }[] = [];
    for (let off = 0; off < code.length;) {
      const i = decode((k) => code[off + k] ?? 0, off, bits);
      ours.push({
        address: off,
        hex: [...i.bytes].map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(''),
        text: i.text,
      });
      off += i.length;
    }
    expect(ours.length).toBeGreaterThan(8000);
    const bad = ours.filter((o, k) => JSON.stringify(o) !== JSON.stringify(theirs[k]));
    expect(bad.slice(0, 10), `${bad.length} of ${ours.length} differ`).toEqual([]);
    expect(ours.length).toBe(theirs.length);
  });

  test('the opcode list names each opcode once', () => {
    const list = knownOpcodes().map((o) => o.opcode);
    expect(new Set(list).size).toBe(list.length);
    expect(list.length).toBeGreaterThan(150);
  });
});
