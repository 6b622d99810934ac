/**
 * The multi-step arithmetic of the interpreter: shifts and rotates, MUL/IMUL
 * with one operand, DIV/IDIV. Undefined flags as QEMU's TCG leaves them (see
 * flags.ts); test/x86-flags.test.ts measures every case against QEMU.
 */
import { OP, type Instruction, type Operand } from './decode';
import { CF, MASK, OF, OSZAPC, PARITY, SIGN, ZF, szp } from './flags';

/** What these instructions need of the CPU (cpu.ts's Cpu is one): its registers, operands and faults. */
export interface ArithCpu {
  readonly regs: Int32Array;
  eip: number;
  eflags: number;
  get(o: Operand, ins: Instruction): number;
  set(o: Operand, ins: Instruction, v: number): void;
  getReg(r: number, size: number): number;
  setReg(r: number, size: number, v: number): void;
  setArith(f: number): void;
  fault(vector: number, message: string): false;
}

const O = OP;

export function shift(cpu: ArithCpu, ins: Instruction, a: Operand, count: number): void {
  const size = a.size;
  const bits = size * 8;
  const m = MASK[size];
  const v = cpu.get(a, ins);
  let r: number;
  let f = cpu.eflags;
  switch (ins.op) {
    case O.shl: {
      if (count === 0) return;
      // CF: the last bit shifted out; OF: CF xor the result's top bit (QEMU sets it for every count)
      r = count >= bits ? 0 : ((v << count) & m) >>> 0;
      const cf = count <= bits ? (v >>> (bits - count)) & 1 : 0;
      const of = (cf ^ (r >>> (bits - 1))) & 1;
      f = (f & ~OSZAPC) | szp(r, size) | cf | (of ? OF : 0);
      break;
    }
    case O.shr:
    case O.sar: {
      if (count === 0) return;
      const sv = ins.op === O.sar ? (size === 4 ? v | 0 : size === 2 ? (v << 16) >> 16 : (v << 24) >> 24) : v;
      const src = ins.op === O.sar ? sv >> (count - 1) : sv >>> (count - 1);
      r = ((ins.op === O.sar ? src >> 1 : src >>> 1) & m) >>> 0;
      const of = ((((src & m) ^ r) >>> (bits - 1)) & 1) !== 0;
      f = (f & ~OSZAPC) | szp(r, size) | (src & 1) | (of ? OF : 0);
      break;
    }
    case O.rol:
    case O.ror: {
      if (count === 0) return;
      const c = count & (bits - 1);
      r = c === 0 ? v : ins.op === O.rol ? ((v << c) | (v >>> (bits - c))) & m : ((v >>> c) | (v << (bits - c))) & m;
      r >>>= 0;
      let cf: number;
      let of: number;
      if (ins.op === O.rol) {
        cf = r & 1;
        of = ((r >>> (bits - 1)) ^ cf) & 1;
      } else {
        cf = (r >>> (bits - 1)) & 1;
        of = ((r >>> (bits - 1)) ^ (r >>> (bits - 2))) & 1;
      }
      f = (f & ~(CF | OF)) | cf | (of ? OF : 0);
      break;
    }
    default: {
      // rcl, rcr: rotate through CF over bits + 1 positions
      const c = size === 4 ? count : count % (bits + 1);
      if (c === 0) return;
      let x = BigInt(v) | (BigInt(f & CF) << BigInt(bits));
      const w = BigInt(bits + 1);
      const full = (1n << w) - 1n;
      const bc = BigInt(c);
      x = ins.op === O.rcl ? ((x << bc) | (x >> (w - bc))) & full : ((x >> bc) | (x << (w - bc))) & full;
      r = Number(x & BigInt(m));
      const cf = Number(x >> BigInt(bits)) & 1;
      const of = (((v ^ r) >>> (bits - 1)) & 1) !== 0;
      f = (f & ~(CF | OF)) | cf | (of ? OF : 0);
    }
  }
  cpu.eflags = f;
  cpu.set(a, ins, r);
}

export function multiply1(cpu: ArithCpu, ins: Instruction, a: Operand): void {
  const size = a.size;
  const x = cpu.get(a, ins);
  const signedOp = ins.op === O.imul1;
  const acc = cpu.getReg(0, size);
  let lo: number;
  let hi: number;
  let over: boolean;
  if (size === 4) {
    const p = signedOp ? BigInt(acc | 0) * BigInt(x | 0) : BigInt(acc) * BigInt(x);
    lo = Number(BigInt.asUintN(32, p));
    hi = Number(BigInt.asUintN(32, p >> 32n));
    over = signedOp ? BigInt(lo | 0) !== p : hi !== 0;
    cpu.regs[0] = lo;
    cpu.regs[2] = hi;
  } else {
    const bits = size * 8;
    const sx = (n: number) => (size === 1 ? (n << 24) >> 24 : (n << 16) >> 16);
    const p = signedOp ? sx(acc) * sx(x) : acc * x;
    lo = p & MASK[size];
    hi = (p >> bits) & MASK[size];
    over = signedOp ? sx(lo) !== p : hi !== 0;
    if (size === 1) cpu.setReg(0, 2, p);
    else {
      cpu.setReg(0, 2, lo);
      cpu.setReg(2, 2, hi);
    }
  }
  cpu.setArith(szpMul(lo, size) | (over ? CF | OF : 0));
}

export function divide(cpu: ArithCpu, ins: Instruction, a: Operand): void {
  const size = a.size;
  const d = cpu.get(a, ins);
  if (d === 0) {
    cpu.eip = (cpu.eip - ins.length) >>> 0;
    cpu.fault(0, 'divide by zero');
    return;
  }
  const signedOp = ins.op === O.idiv;
  const bits = BigInt(size * 8);
  let n: bigint;
  if (size === 1) n = BigInt(cpu.getReg(0, 2));
  else n = (BigInt(cpu.getReg(2, size)) << bits) | BigInt(cpu.getReg(0, size));
  let dv = BigInt(d);
  if (signedOp) {
    n = BigInt.asIntN(Number(bits) * 2, n);
    dv = BigInt.asIntN(Number(bits), dv);
  }
  const q = n / dv;
  const rem = n % dv;
  const fits = signedOp ? q >= -(1n << (bits - 1n)) && q < 1n << (bits - 1n) : q < 1n << bits;
  if (!fits) {
    cpu.eip = (cpu.eip - ins.length) >>> 0;
    cpu.fault(0, 'divide overflow');
    return;
  }
  const qn = Number(BigInt.asUintN(Number(bits), q));
  const rn = Number(BigInt.asUintN(Number(bits), rem));
  if (size === 1) cpu.setReg(0, 2, qn | (rn << 8));
  else {
    cpu.setReg(0, size, qn);
    cpu.setReg(2, size, rn);
  }
}

/** Flags after a multiply (QEMU's rule for the undefined ones: SF, ZF, PF from the low half, AF = 0). */
export function szpMul(lo: number, size: number): number {
  return (lo === 0 ? ZF : 0) | ((lo & SIGN[size]) !== 0 ? 0x80 : 0) | PARITY[lo & 0xff];
}
