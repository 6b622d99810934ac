/**
 * The one x86 decoder: bytes → a plain `Instruction` (length, mnemonic,
 * operands, Intel text in ndisasm's spelling). The interpreter (cpu.ts)
 * executes these objects and the disassembly is their `text`, so what is
 * shown is what runs. 16-bit and 32-bit code, the opcodes in OPCODES below;
 * anything else decodes as `unknown` (the interpreter stops on it).
 */

import { intelText } from './intel';
import type { Instruction, Operand, OperandKind } from './isa';
import { SREG } from './isa';

export { REG8, REG16, REG32, SREG } from './isa';
export type { Instruction, Operand, OperandKind } from './isa';

export const ES = 0,
  CS = 1,
  SS = 2,
  DS = 3,
  FS = 4,
  GS = 5;
const CC = ['o', 'no', 'c', 'nc', 'z', 'nz', 'na', 'a', 's', 'ns', 'pe', 'po', 'l', 'nl', 'ng', 'g'];

/** Operation ids the interpreter switches on (an object literal: fast property loads). */
export const OP = {
  unknown: 0,
  add: 1,
  or: 2,
  adc: 3,
  sbb: 4,
  and: 5,
  sub: 6,
  xor: 7,
  cmp: 8,
  rol: 9,
  ror: 10,
  rcl: 11,
  rcr: 12,
  shl: 13,
  shr: 14,
  sar: 15,
  inc: 16,
  dec: 17,
  not: 18,
  neg: 19,
  mul: 20,
  imul1: 21,
  div: 22,
  idiv: 23,
  test: 24,
  imul: 25,
  mov: 26,
  movzx: 27,
  movsx: 28,
  lea: 29,
  xchg: 30,
  push: 31,
  pop: 32,
  pusha: 33,
  popa: 34,
  pushf: 35,
  popf: 36,
  jcc: 37,
  jmp: 38,
  jmpfar: 39,
  call: 40,
  ret: 41,
  loop: 42,
  loope: 43,
  loopne: 44,
  jcxz: 45,
  int: 46,
  hlt: 47,
  cli: 48,
  sti: 49,
  cld: 50,
  std: 51,
  clc: 52,
  stc: 53,
  cmc: 54,
  in: 55,
  out: 56,
  movs: 57,
  stos: 58,
  lods: 59,
  lgdt: 60,
  lidt: 61,
  movcr: 62,
  cpuid: 63,
  bt: 64,
  nop: 65,
  cbw: 66,
  cwd: 67,
  sahf: 68,
  lahf: 69,
} as const;
export type OpName = keyof typeof OP;
export const OPS = Object.keys(OP) as OpName[];
const id = (n: OpName) => OP[n];

/**
 * Operand specs (Intel's letters): E = ModRM r/m, G = ModRM reg, I = immediate,
 * Ib8 = sign-extended imm8, J = relative, Z = register in the opcode's low bits,
 * S = segment register (reg field), M = memory only, O = moffs, A = far pointer,
 * C/R = control register / its GPR. b = byte, v = operand size, w = word.
 */
type Spec = string;
export interface Entry {
  m: string; // mnemonic
  op: OpName;
  a?: Spec[];
}

const ALU: OpName[] = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
const SHIFT: (OpName | null)[] = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', null, 'sar'];

const ONE: (Entry | undefined)[] = new Array(256);
const TWO: (Entry | undefined)[] = new Array(256);

for (let i = 0; i < 8; i++) {
  const op = ALU[i];
  ONE[i * 8 + 0] = { m: op, op, a: ['Eb', 'Gb'] };
  ONE[i * 8 + 1] = { m: op, op, a: ['Ev', 'Gv'] };
  ONE[i * 8 + 2] = { m: op, op, a: ['Gb', 'Eb'] };
  ONE[i * 8 + 3] = { m: op, op, a: ['Gv', 'Ev'] };
  ONE[i * 8 + 4] = { m: op, op, a: ['AL', 'Ib'] };
  ONE[i * 8 + 5] = { m: op, op, a: ['eAX', 'Iv'] };
  ONE[0x40 + i] = { m: 'inc', op: 'inc', a: ['Zv'] };
  ONE[0x48 + i] = { m: 'dec', op: 'dec', a: ['Zv'] };
  ONE[0x50 + i] = { m: 'push', op: 'push', a: ['Zv'] };
  ONE[0x58 + i] = { m: 'pop', op: 'pop', a: ['Zv'] };
  ONE[0xb0 + i] = { m: 'mov', op: 'mov', a: ['Zb', 'Ib'] };
  ONE[0xb8 + i] = { m: 'mov', op: 'mov', a: ['Zv', 'Iv'] };
  if (i > 0) ONE[0x90 + i] = { m: 'xchg', op: 'xchg', a: ['eAX', 'Zv'] };
}
for (let c = 0; c < 16; c++) {
  ONE[0x70 + c] = { m: 'j' + CC[c], op: 'jcc', a: ['Jb'] };
  TWO[0x80 + c] = { m: 'j' + CC[c], op: 'jcc', a: ['Jv'] };
}
const one = (code: number, m: string, op: OpName, a?: Spec[]) => (ONE[code] = { m, op, a });
one(0x06, 'push', 'push', ['ES']);
one(0x07, 'pop', 'pop', ['ES']);
one(0x0e, 'push', 'push', ['CS']);
one(0x16, 'push', 'push', ['SS']);
one(0x17, 'pop', 'pop', ['SS']);
one(0x1e, 'push', 'push', ['DS']);
one(0x1f, 'pop', 'pop', ['DS']);
one(0x60, 'pusha', 'pusha');
one(0x61, 'popa', 'popa');
one(0x68, 'push', 'push', ['Iv']);
one(0x69, 'imul', 'imul', ['Gv', 'Ev', 'Iv']);
one(0x6a, 'push', 'push', ['Ib8']);
one(0x6b, 'imul', 'imul', ['Gv', 'Ev', 'Ib8']);
one(0x84, 'test', 'test', ['Eb', 'Gb']);
one(0x85, 'test', 'test', ['Ev', 'Gv']);
one(0x86, 'xchg', 'xchg', ['Gb', 'Eb']);
one(0x87, 'xchg', 'xchg', ['Gv', 'Ev']);
one(0x88, 'mov', 'mov', ['Eb', 'Gb']);
one(0x89, 'mov', 'mov', ['Ev', 'Gv']);
one(0x8a, 'mov', 'mov', ['Gb', 'Eb']);
one(0x8b, 'mov', 'mov', ['Gv', 'Ev']);
one(0x8c, 'mov', 'mov', ['Esv', 'Sw']);
one(0x8d, 'lea', 'lea', ['Gv', 'M']);
one(0x8e, 'mov', 'mov', ['Sw', 'Esv']);
one(0x90, 'nop', 'nop');
one(0x98, 'cbw', 'cbw');
one(0x99, 'cwd', 'cwd');
one(0x9c, 'pushf', 'pushf');
one(0x9d, 'popf', 'popf');
one(0x9e, 'sahf', 'sahf');
one(0x9f, 'lahf', 'lahf');
one(0xa0, 'mov', 'mov', ['AL', 'Ob']);
one(0xa1, 'mov', 'mov', ['eAX', 'Ov']);
one(0xa2, 'mov', 'mov', ['Ob', 'AL']);
one(0xa3, 'mov', 'mov', ['Ov', 'eAX']);
one(0xa4, 'movsb', 'movs');
one(0xa5, 'movs', 'movs');
one(0xa8, 'test', 'test', ['AL', 'Ib']);
one(0xa9, 'test', 'test', ['eAX', 'Iv']);
one(0xaa, 'stosb', 'stos');
one(0xab, 'stos', 'stos');
one(0xac, 'lodsb', 'lods');
one(0xad, 'lods', 'lods');
one(0xc3, 'ret', 'ret');
one(0xc2, 'ret', 'ret', ['Iw']);
one(0xc6, 'mov', 'mov', ['Eb', 'Ib']);
one(0xc7, 'mov', 'mov', ['Ev', 'Iv']);
one(0xcd, 'int', 'int', ['Ib']);
one(0xe0, 'loopne', 'loopne', ['Jb']);
one(0xe1, 'loope', 'loope', ['Jb']);
one(0xe2, 'loop', 'loop', ['Jb']);
one(0xe3, 'jcxz', 'jcxz', ['Jb']);
one(0xe4, 'in', 'in', ['AL', 'Ib']);
one(0xe6, 'out', 'out', ['Ib', 'AL']);
one(0xe8, 'call', 'call', ['Jv']);
one(0xe9, 'jmp', 'jmp', ['Jv']);
one(0xea, 'jmp', 'jmpfar', ['Ap']);
one(0xeb, 'jmp', 'jmp', ['Jb']);
one(0xec, 'in', 'in', ['AL', 'DX']);
one(0xee, 'out', 'out', ['DX', 'AL']);
one(0xf4, 'hlt', 'hlt');
one(0xf5, 'cmc', 'cmc');
one(0xf8, 'clc', 'clc');
one(0xf9, 'stc', 'stc');
one(0xfa, 'cli', 'cli');
one(0xfb, 'sti', 'sti');
one(0xfc, 'cld', 'cld');
one(0xfd, 'std', 'std');
const two = (code: number, m: string, op: OpName, a?: Spec[]) => (TWO[code] = { m, op, a });
two(0x20, 'mov', 'movcr', ['Rd', 'Cd']);
two(0x22, 'mov', 'movcr', ['Cd', 'Rd']);
two(0xa0, 'push', 'push', ['FS']);
two(0xa1, 'pop', 'pop', ['FS']);
two(0xa2, 'cpuid', 'cpuid');
two(0xa3, 'bt', 'bt', ['Ev', 'Gv']);
two(0xa8, 'push', 'push', ['GS']);
two(0xa9, 'pop', 'pop', ['GS']);
two(0xaf, 'imul', 'imul', ['Gv', 'Ev']);
two(0xb6, 'movzx', 'movzx', ['Gv', 'Eb']);
two(0xb7, 'movzx', 'movzx', ['Gv', 'Ew']);
two(0xbe, 'movsx', 'movsx', ['Gv', 'Eb']);
two(0xbf, 'movsx', 'movsx', ['Gv', 'Ew']);

/** ModRM groups: opcode → entries by the reg field. */
const GROUPS: Record<number, (Entry | undefined)[]> = {
  0x80: ALU.map((op) => ({ m: op, op, a: ['Eb', 'Ib'] })),
  0x81: ALU.map((op) => ({ m: op, op, a: ['Ev', 'Iv'] })),
  0x83: ALU.map((op) => ({ m: op, op, a: ['Ev', 'Ib8'] })),
  0x8f: [{ m: 'pop', op: 'pop', a: ['Ev'] }],
  0xc0: SHIFT.map((op) => (op ? { m: op, op, a: ['Eb', 'Ibs'] } : undefined)),
  0xc1: SHIFT.map((op) => (op ? { m: op, op, a: ['Ev', 'Ibs'] } : undefined)),
  0xd0: SHIFT.map((op) => (op ? { m: op, op, a: ['Eb', '1'] } : undefined)),
  0xd1: SHIFT.map((op) => (op ? { m: op, op, a: ['Ev', '1'] } : undefined)),
  0xd2: SHIFT.map((op) => (op ? { m: op, op, a: ['Eb', 'CL'] } : undefined)),
  0xd3: SHIFT.map((op) => (op ? { m: op, op, a: ['Ev', 'CL'] } : undefined)),
  0xf6: [
    { m: 'test', op: 'test', a: ['Eb', 'Ib'] },
    undefined,
    { m: 'not', op: 'not', a: ['Eb'] },
    { m: 'neg', op: 'neg', a: ['Eb'] },
    { m: 'mul', op: 'mul', a: ['Eb'] },
    { m: 'imul', op: 'imul1', a: ['Eb'] },
    { m: 'div', op: 'div', a: ['Eb'] },
    { m: 'idiv', op: 'idiv', a: ['Eb'] },
  ],
  0xf7: [
    { m: 'test', op: 'test', a: ['Ev', 'Iv'] },
    undefined,
    { m: 'not', op: 'not', a: ['Ev'] },
    { m: 'neg', op: 'neg', a: ['Ev'] },
    { m: 'mul', op: 'mul', a: ['Ev'] },
    { m: 'imul', op: 'imul1', a: ['Ev'] },
    { m: 'div', op: 'div', a: ['Ev'] },
    { m: 'idiv', op: 'idiv', a: ['Ev'] },
  ],
  0xfe: [
    { m: 'inc', op: 'inc', a: ['Eb'] },
    { m: 'dec', op: 'dec', a: ['Eb'] },
  ],
  0xff: [
    { m: 'inc', op: 'inc', a: ['Ev'] },
    { m: 'dec', op: 'dec', a: ['Ev'] },
    { m: 'call', op: 'call', a: ['Ev'] },
    undefined,
    { m: 'jmp', op: 'jmp', a: ['Ev'] },
    undefined,
    { m: 'push', op: 'push', a: ['Ev'] },
  ],
  0x10f01: [undefined, undefined, { m: 'lgdt', op: 'lgdt', a: ['M'] }, { m: 'lidt', op: 'lidt', a: ['M'] }],
  0x10fba: [undefined, undefined, undefined, undefined, { m: 'bt', op: 'bt', a: ['Ev', 'Ibs'] }],
};

const hex2 = (n: number) => n.toString(16).toUpperCase().padStart(2, '0');
/** Opcodes with the register in their low 3 bits are one family (`40+r`). */
const isFamily = (e: Entry | undefined) => !!e?.a?.some((s) => s === 'Zv' || s === 'Zb');

/**
 * Every opcode the decoder knows, as `XX`, `XX /r` (a ModRM group member),
 * `XX+r` (a register family) or with a `0F` escape: for the docs and the
 * coverage test.
 */
export function knownOpcodes(): { opcode: string; mnemonic: string; operands: string }[] {
  const out: { opcode: string; mnemonic: string; operands: string }[] = [];
  const row = (opcode: string, e: Entry) => out.push({ opcode, mnemonic: e.m, operands: (e.a ?? []).join(',') });
  for (let i = 0; i < 256; i++) {
    const e = ONE[i];
    if (e && isFamily(e)) {
      if (!out.some((o) => o.opcode === `${hex2(i & ~7)}+r`)) row(`${hex2(i & ~7)}+r`, e);
    } else if (e) row(hex2(i), e);
    GROUPS[i]?.forEach((e, r) => e && row(`${hex2(i)} /${r}`, e));
  }
  for (let i = 0; i < 256; i++) {
    const e = TWO[i];
    if (e) row(`0F ${hex2(i)}`, e);
    GROUPS[0x10f00 | i]?.forEach((e, r) => e && row(`0F ${hex2(i)} /${r}`, e));
  }
  return out;
}

/** The knownOpcodes() name of a decoded instruction's opcode. */
export function opcodeOf(ins: Instruction): string {
  const b = ins.bytes;
  let p = 0;
  while ([0x66, 0x67, 0xf2, 0xf3, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65].includes(b[p])) p++;
  if (b[p] === 0x0f) {
    const g = GROUPS[0x10f00 | b[p + 1]];
    return `0F ${hex2(b[p + 1])}` + (g ? ` /${(b[p + 2] >> 3) & 7}` : '');
  }
  if (GROUPS[b[p]]) return `${hex2(b[p])} /${(b[p + 1] >> 3) & 7}`;
  return isFamily(ONE[b[p]]) ? `${hex2(b[p] & ~7)}+r` : hex2(b[p]);
}

function operand(kind: OperandKind, size: number): Operand {
  return { kind, size, reg: -1, seg: -1, base: -1, index: -1, scale: 1, disp: 0, value: 0, sel: 0 };
}

const BASE16: [number, number][] = [
  [3, 6],
  [3, 7],
  [5, 6],
  [5, 7],
  [6, -1],
  [7, -1],
  [5, -1],
  [3, -1],
];

/** Reads the byte at code offset `i` from the instruction's start. */
export type Fetch = (i: number) => number;

/**
 * Decode one instruction at offset `eip` of 16- or 32-bit code. `fetch(i)`
 * returns the i-th byte from the start. Never throws: unknown or overlong
 * encodings give mnemonic `unknown` (with the bytes read so far).
 */
export function decode(fetch: Fetch, eip: number, bits: 16 | 32): Instruction {
  let p = 0;
  let osize = bits === 32 ? 4 : 2;
  let asize = osize;
  let rep = 0;
  let seg = -1;
  let o66 = false;
  let a67 = false;
  let b = fetch(p++);
  for (let n = 0; n < 14; n++) {
    if (b === 0x66) ((osize = bits === 32 ? 2 : 4), (o66 = true));
    else if (b === 0x67) ((asize = bits === 32 ? 2 : 4), (a67 = true));
    else if (b === 0xf3 || b === 0xf2) rep = b;
    else if (b === 0x26 || b === 0x2e || b === 0x36 || b === 0x3e) seg = (b >> 3) & 3;
    else if (b === 0x64 || b === 0x65) seg = b - 0x60;
    else break;
    b = fetch(p++);
  }
  let entry: Entry | undefined;
  let modrm = -1;
  const readModrm = () => {
    if (modrm < 0) modrm = fetch(p++);
    return modrm;
  };
  if (b === 0x0f) {
    const b2 = fetch(p++);
    const g = GROUPS[0x10f00 | b2];
    entry = g ? g[(readModrm() >> 3) & 7] : TWO[b2];
    b = 0x0f00 | b2;
  } else {
    const g = GROUPS[b];
    entry = g ? g[(readModrm() >> 3) & 7] : ONE[b];
  }
  const ins: Instruction = {
    eip,
    length: 0,
    bytes: new Uint8Array(0),
    mnemonic: 'unknown',
    operands: [],
    text: '',
    op: 0,
    osize,
    asize,
    rep,
    segOverride: seg,
    cond: b >= 0x70 && b <= 0x7f ? b & 15 : b >= 0x0f80 && b <= 0x0f8f ? b & 15 : -1,
    bits,
  };
  const finish = () => {
    ins.length = p;
    const bytes = new Uint8Array(p);
    for (let i = 0; i < p; i++) bytes[i] = fetch(i);
    ins.bytes = bytes;
    if (ins.op === 0) ins.text = 'db 0x' + bytes[0].toString(16);
    return ins;
  };
  if (!entry || p > 15) return finish();

  const imm = (size: number) => {
    let v = 0;
    for (let i = 0; i < size; i++) v |= fetch(p++) << (8 * i);
    return v >>> 0;
  };
  const sx8 = (v: number) => (v << 24) >> 24;
  const mask = (size: number) => (size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff);

  // ModRM memory operand (mod != 3)
  let dwordTag = '';
  const mem = (size: number): Operand => {
    const m = readModrm();
    const mod = m >> 6;
    const rm = m & 7;
    const o = operand('mem', size);
    let dispSize = 0;
    if (asize === 2) {
      if (mod === 0 && rm === 6) dispSize = 2;
      else {
        [o.base, o.index] = BASE16[rm];
        dispSize = mod === 1 ? 1 : mod === 2 ? 2 : 0;
      }
      if (bits === 32 && mod === 0 && rm === 6) dwordTag = 'word ';
    } else {
      let hasSib = false;
      if (rm === 4) {
        hasSib = true;
        const sib = fetch(p++);
        const base = sib & 7;
        const index = (sib >> 3) & 7;
        o.scale = 1 << (sib >> 6);
        if (index !== 4) o.index = index;
        if (base === 5 && mod === 0) dispSize = 4;
        else o.base = base;
      } else if (rm === 5 && mod === 0) dispSize = 4;
      else o.base = rm;
      if (mod === 1) dispSize = 1;
      else if (mod === 2) dispSize = 4;
      if (bits === 32 ? mod === 0 && rm === 5 : hasSib || (mod === 0 && rm === 5)) dwordTag = 'dword ';
    }
    if (dispSize === 1) o.disp = sx8(imm(1));
    else if (dispSize) o.disp = imm(dispSize);
    o.seg = seg >= 0 ? seg : o.base === 4 || o.base === 5 ? SS : DS;
    o.value = dispSize; // remembered for the text, reset below
    return o;
  };
  const eOp = (size: number): Operand => {
    const m = readModrm();
    if (m >> 6 === 3) {
      const o = operand('reg', size);
      o.reg = m & 7;
      return o;
    }
    return mem(size);
  };
  const regOp = (size: number, r: number) => {
    const o = operand('reg', size);
    o.reg = r;
    return o;
  };

  ins.mnemonic = entry.m;
  ins.op = id(entry.op);
  const ops: Operand[] = [];
  for (const s of entry.a ?? []) {
    let o: Operand;
    switch (s) {
      case 'Eb':
        o = eOp(1);
        break;
      case 'Ev':
        o = eOp(osize);
        break;
      case 'Ew':
        o = eOp(2);
        break;
      case 'Esv': // mov to/from a segment register: a GPR of the operand size, or a word in memory
        o = eOp(readModrm() >> 6 === 3 ? osize : 2);
        break;
      case 'M':
        o = readModrm() >> 6 === 3 ? operand('reg', osize) : mem(0);
        if (o.kind === 'reg') return finishUnknown(ins, finish);
        break;
      case 'Gb':
        o = regOp(1, (readModrm() >> 3) & 7);
        break;
      case 'Gv':
        o = regOp(osize, (readModrm() >> 3) & 7);
        break;
      case 'Sw': {
        const r = (readModrm() >> 3) & 7;
        if (r > 5) return finishUnknown(ins, finish);
        o = operand('sreg', 2);
        o.reg = r;
        break;
      }
      case 'Cd':
      case 'Rd': {
        const m = readModrm();
        if (m >> 6 !== 3) return finishUnknown(ins, finish); // the CPU ignores mod here; ndisasm refuses it, and so do we
        if (s === 'Cd') {
          const r = (m >> 3) & 7;
          if (r !== 0 && r !== 2 && r !== 3 && r !== 4) return finishUnknown(ins, finish);
          o = operand('creg', 4);
          o.reg = r;
        } else o = regOp(4, m & 7);
        break;
      }
      case 'Zb':
        o = regOp(1, b & 7);
        break;
      case 'Zv':
        o = regOp(osize, b & 7);
        break;
      case 'AL':
        o = regOp(1, 0);
        break;
      case 'eAX':
        o = regOp(osize, 0);
        break;
      case 'CL':
        o = regOp(1, 1);
        break;
      case 'DX':
        o = regOp(2, 2);
        break;
      case '1':
        o = operand('imm', 1);
        o.value = 1;
        break;
      case 'Ib':
      case 'Ibs':
        o = operand('imm', 1);
        o.value = imm(1);
        break;
      case 'Ib8': // sign-extended to the operand size
        o = operand('imm', osize);
        o.value = sx8(imm(1)) & mask(osize);
        o.value >>>= 0;
        break;
      case 'Iw':
        o = operand('imm', 2);
        o.value = imm(2);
        break;
      case 'Iv':
        o = operand('imm', osize);
        o.value = imm(osize);
        break;
      case 'Ob':
      case 'Ov': {
        o = operand('mem', s === 'Ob' ? 1 : osize);
        o.disp = imm(asize);
        o.seg = seg >= 0 ? seg : DS;
        break;
      }
      case 'Jb':
      case 'Jv': {
        const rel = s === 'Jb' ? sx8(imm(1)) : osize === 4 ? imm(4) | 0 : (imm(2) << 16) >> 16;
        o = operand('rel', osize);
        o.value = ((eip + p + rel) & mask(osize)) >>> 0;
        break;
      }
      case 'Ap': {
        o = operand('far', osize + 2);
        o.value = imm(osize);
        o.sel = imm(2);
        break;
      }
      case 'ES':
      case 'CS':
      case 'SS':
      case 'DS':
      case 'FS':
      case 'GS':
        o = operand('sreg', 2);
        o.reg = SREG.indexOf(s.toLowerCase());
        break;
      default:
        throw new Error(`internal: operand spec ${s}`);
    }
    ops.push(o);
  }
  if (p > 15) return finishUnknown(ins, finish);
  ins.operands = ops;
  finish();
  ins.text = intelText(ins, entry, o66, a67, dwordTag);
  // string instructions: the mnemonic names the size, as the text does (movsd, stosw)
  if ((entry.op === 'movs' || entry.op === 'stos' || entry.op === 'lods') && !entry.m.endsWith('b'))
    ins.mnemonic = entry.m + (osize === 4 ? 'd' : 'w');
  for (const o of ops) if (o.kind === 'mem') o.value = 0;
  return ins;
}

function finishUnknown(ins: Instruction, finish: () => Instruction): Instruction {
  ins.op = 0;
  ins.mnemonic = 'unknown';
  ins.operands = [];
  return finish();
}
