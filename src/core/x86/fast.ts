/**
 * Speed: the commonest instruction forms compiled once, when first decoded,
 * into closures with their operands resolved (register numbers, address
 * arithmetic, condition), so running them is a call instead of a walk over
 * the decoded object. Same semantics as Cpu.execute, which every other form
 * falls back to; the instruction tests run both paths (x86-flags.test.ts).
 */
import { OP, type Instruction, type Operand } from './decode';
import type { Cpu } from './cpu';
import { CF, MASK, OF, OSZAPC, ZF, add32, addFlags, cc, sub32, subFlags, szp } from './flags';

export type Run = (c: Cpu) => void;
type Rd = (c: Cpu) => number;
type Wr = (c: Cpu, v: number) => void;

// 32-bit values stay int32 here (registers, memory reads, results): a number at or
// above 2^31 crossing a call would be a heap allocation per instruction.

/** Linear address of a memory operand. */
function address(o: Operand, asize: number): Rd {
  const { seg, base, index, scale, disp } = o;
  if (asize === 4) {
    if (base < 0 && index < 0) return (c) => (c.seg[seg].base + disp) >>> 0;
    if (index < 0) return (c) => (c.seg[seg].base + ((c.regs[base] + disp) >>> 0)) >>> 0;
    if (base < 0) return (c) => (c.seg[seg].base + ((c.regs[index] * scale + disp) >>> 0)) >>> 0;
    return (c) => (c.seg[seg].base + ((c.regs[base] + c.regs[index] * scale + disp) >>> 0)) >>> 0;
  }
  if (base < 0) return (c) => (c.seg[seg].base + (disp & 0xffff)) >>> 0;
  if (index < 0) return (c) => (c.seg[seg].base + ((c.regs[base] + disp) & 0xffff)) >>> 0;
  return (c) => (c.seg[seg].base + ((c.regs[base] + c.regs[index] + disp) & 0xffff)) >>> 0;
}

function reader(o: Operand, asize: number): Rd | null {
  if (o.kind === 'reg') {
    const r = o.reg;
    if (o.size === 4) return (c) => c.regs[r];
    if (o.size === 2) return (c) => c.regs[r] & 0xffff;
    if (r < 4) return (c) => c.regs[r] & 0xff;
    return (c) => (c.regs[r - 4] >> 8) & 0xff;
  }
  if (o.kind === 'imm') {
    const v = o.size === 4 ? o.value | 0 : o.value;
    return () => v;
  }
  if (o.kind === 'mem') {
    const ea = address(o, asize);
    if (o.size === 4) return (c) => c.mem.read32(ea(c));
    if (o.size === 2) return (c) => c.mem.read16(ea(c));
    if (o.size === 1) return (c) => c.mem.read8(ea(c));
  }
  return null;
}

function writer(o: Operand, asize: number): Wr | null {
  if (o.kind === 'reg') {
    const r = o.reg;
    if (o.size === 4) return (c, v) => void (c.regs[r] = v);
    if (o.size === 2) return (c, v) => void (c.regs[r] = (c.regs[r] & ~0xffff) | (v & 0xffff));
    if (r < 4) return (c, v) => void (c.regs[r] = (c.regs[r] & ~0xff) | (v & 0xff));
    const h = r - 4;
    return (c, v) => void (c.regs[h] = (c.regs[h] & ~0xff00) | ((v & 0xff) << 8));
  }
  if (o.kind === 'mem') {
    const ea = address(o, asize);
    if (o.size === 4) return (c, v) => c.mem.write32(ea(c), v);
    if (o.size === 2) return (c, v) => c.mem.write16(ea(c), v);
    if (o.size === 1) return (c, v) => c.mem.write8(ea(c), v);
  }
  return null;
}

/** EFLAGS → taken? for each Jcc condition. */
const CONDS: ((f: number) => boolean)[] = [
  (f) => (f & OF) !== 0,
  (f) => (f & OF) === 0,
  (f) => (f & CF) !== 0,
  (f) => (f & CF) === 0,
  (f) => (f & ZF) !== 0,
  (f) => (f & ZF) === 0,
  (f) => (f & (CF | ZF)) !== 0,
  (f) => (f & (CF | ZF)) === 0,
  (f) => (f & 0x80) !== 0,
  (f) => (f & 0x80) === 0,
  (f) => (f & 0x4) !== 0,
  (f) => (f & 0x4) === 0,
  (f) => ((f & 0x80) !== 0) !== ((f & OF) !== 0),
  (f) => ((f & 0x80) !== 0) === ((f & OF) !== 0),
  (f) => (f & ZF) !== 0 || ((f & 0x80) !== 0) !== ((f & OF) !== 0),
  (f) => (f & ZF) === 0 && ((f & 0x80) !== 0) === ((f & OF) !== 0),
];

/** A closure for `ins` decoded at its `eip` in `bits`-bit code, or the interpreter's generic path. */
export function compile(ins: Instruction, bits: 16 | 32): Run {
  const next = bits === 32 ? (ins.eip + ins.length) >>> 0 : (ins.eip + ins.length) & 0xffff;
  const generic: Run = (c) => c.execute(ins);
  const [a, b] = ins.operands;
  const asize = ins.asize;
  switch (ins.op) {
    case OP.add:
    case OP.or:
    case OP.adc:
    case OP.sbb:
    case OP.and:
    case OP.sub:
    case OP.xor:
    case OP.cmp:
    case OP.test: {
      const ra = reader(a, asize);
      const rb = reader(b, asize);
      const wa = ins.op === OP.cmp || ins.op === OP.test ? (_c: Cpu, _v: number) => {} : writer(a, asize);
      if (!ra || !rb || !wa) return generic;
      const size = a.size;
      const m = MASK[size];
      switch (ins.op) {
        case OP.add:
          if (size === 4)
            return (c) => {
              c.eip = next;
              const r = add32(ra(c), rb(c), 0);
              c.eflags = (c.eflags & ~OSZAPC) | cc.f;
              wa(c, r);
            };
          return (c) => {
            c.eip = next;
            const r = addFlags(ra(c), rb(c), 0, size);
            c.eflags = (c.eflags & ~OSZAPC) | cc.f;
            wa(c, r);
          };
        case OP.adc:
          if (size === 4)
            return (c) => {
              c.eip = next;
              const r = add32(ra(c), rb(c), c.eflags & CF);
              c.eflags = (c.eflags & ~OSZAPC) | cc.f;
              wa(c, r);
            };
          return (c) => {
            c.eip = next;
            const r = addFlags(ra(c), rb(c), c.eflags & CF, size);
            c.eflags = (c.eflags & ~OSZAPC) | cc.f;
            wa(c, r);
          };
        case OP.sub:
        case OP.cmp:
          if (size === 4)
            return (c) => {
              c.eip = next;
              const r = sub32(ra(c), rb(c), 0);
              c.eflags = (c.eflags & ~OSZAPC) | cc.f;
              wa(c, r);
            };
          return (c) => {
            c.eip = next;
            const r = subFlags(ra(c), rb(c), 0, size);
            c.eflags = (c.eflags & ~OSZAPC) | cc.f;
            wa(c, r);
          };
        case OP.sbb:
          if (size === 4)
            return (c) => {
              c.eip = next;
              const r = sub32(ra(c), rb(c), c.eflags & CF);
              c.eflags = (c.eflags & ~OSZAPC) | cc.f;
              wa(c, r);
            };
          return (c) => {
            c.eip = next;
            const r = subFlags(ra(c), rb(c), c.eflags & CF, size);
            c.eflags = (c.eflags & ~OSZAPC) | cc.f;
            wa(c, r);
          };
        case OP.or:
          return (c) => {
            c.eip = next;
            const r = (ra(c) | rb(c)) & m;
            c.eflags = (c.eflags & ~OSZAPC) | szp(r, size);
            wa(c, r);
          };
        case OP.xor:
          return (c) => {
            c.eip = next;
            const r = (ra(c) ^ rb(c)) & m;
            c.eflags = (c.eflags & ~OSZAPC) | szp(r, size);
            wa(c, r);
          };
        default:
          return (c) => {
            c.eip = next;
            const r = ra(c) & rb(c) & m;
            c.eflags = (c.eflags & ~OSZAPC) | szp(r, size);
            wa(c, r);
          };
      }
    }
    case OP.inc:
    case OP.dec: {
      const ra = reader(a, asize);
      const wa = writer(a, asize);
      if (!ra || !wa) return generic;
      const size = a.size;
      const keep = ~(OSZAPC & ~CF);
      if (size === 4)
        return ins.op === OP.inc
          ? (c) => {
              c.eip = next;
              const r = add32(ra(c), 1, 0);
              c.eflags = (c.eflags & keep) | (cc.f & ~CF);
              wa(c, r);
            }
          : (c) => {
              c.eip = next;
              const r = sub32(ra(c), 1, 0);
              c.eflags = (c.eflags & keep) | (cc.f & ~CF);
              wa(c, r);
            };
      if (ins.op === OP.inc)
        return (c) => {
          c.eip = next;
          const r = addFlags(ra(c), 1, 0, size);
          c.eflags = (c.eflags & keep) | (cc.f & ~CF);
          wa(c, r);
        };
      return (c) => {
        c.eip = next;
        const r = subFlags(ra(c), 1, 0, size);
        c.eflags = (c.eflags & keep) | (cc.f & ~CF);
        wa(c, r);
      };
    }
    case OP.mov:
    case OP.movzx: {
      if (a.kind === 'sreg' || b.kind === 'sreg') return generic;
      const rb = reader(b, asize);
      const wa = writer(a, asize);
      if (!rb || !wa) return generic;
      return (c) => {
        c.eip = next;
        wa(c, rb(c));
      };
    }
    case OP.lea: {
      if (b.kind !== 'mem') return generic;
      const wa = writer(a, asize);
      const { base, index, scale, disp } = b;
      if (!wa) return generic;
      const m = asize === 4 ? 0xffffffff : 0xffff;
      return (c) => {
        c.eip = next;
        let v = disp;
        if (base >= 0) v += c.regs[base];
        if (index >= 0) v += c.regs[index] * scale;
        wa(c, v & m);
      };
    }
    case OP.shl:
    case OP.shr: {
      if (b.kind !== 'imm') return generic;
      const count = b.value & 0x1f;
      const size = a.size;
      const bits = size * 8;
      if (count === 0 || count >= bits) return generic;
      const ra = reader(a, asize);
      const wa = writer(a, asize);
      if (!ra || !wa) return generic;
      const m = MASK[size];
      if (ins.op === OP.shr)
        return (c) => {
          c.eip = next;
          const v = ra(c);
          const src = v >>> (count - 1);
          const r = (src >>> 1) & m;
          const of = ((src ^ r) >>> (bits - 1)) & 1;
          c.eflags = (c.eflags & ~OSZAPC) | szp(r, size) | (src & 1) | (of ? OF : 0);
          wa(c, r);
        };
      return (c) => {
        c.eip = next;
        const v = ra(c);
        const r = (v << count) & m;
        const cf = (v >>> (bits - count)) & 1;
        const of = (cf ^ (r >>> (bits - 1))) & 1;
        c.eflags = (c.eflags & ~OSZAPC) | szp(r, size) | cf | (of ? OF : 0);
        wa(c, r);
      };
    }
    case OP.jcc: {
      const test = CONDS[ins.cond];
      const target = a.value;
      return (c) => {
        c.eip = test(c.eflags) ? target : next;
      };
    }
    case OP.jmp: {
      if (a.kind !== 'rel') return generic;
      const target = a.value;
      return (c) => {
        c.eip = target;
      };
    }
    case OP.push: {
      if (a.kind === 'sreg') return generic;
      const ra = reader(a, asize);
      const size = ins.osize;
      if (!ra) return generic;
      return (c) => {
        c.eip = next;
        c.push(ra(c), size);
      };
    }
    case OP.pop: {
      if (a.kind !== 'reg') return generic;
      const wa = writer(a, asize);
      const size = ins.osize;
      if (!wa) return generic;
      return (c) => {
        c.eip = next;
        wa(c, c.pop(size));
      };
    }
    case OP.call: {
      if (a.kind !== 'rel') return generic;
      const target = a.value;
      const size = ins.osize;
      return (c) => {
        c.push(next, size);
        c.eip = target;
      };
    }
    case OP.ret: {
      if (a) return generic;
      const size = ins.osize;
      const m = size === 4 ? -1 : 0xffff;
      return (c) => {
        c.eip = (c.pop(size) & m) >>> 0;
      };
    }
    case OP.loop: {
      const target = a.value;
      if (asize === 4)
        return (c) => {
          const n = (c.regs[1] = c.regs[1] - 1);
          c.eip = n !== 0 ? target : next;
        };
      return (c) => {
        const n = (c.regs[1] - 1) & 0xffff;
        c.regs[1] = (c.regs[1] & ~0xffff) | n;
        c.eip = n !== 0 ? target : next;
      };
    }
    default:
      return generic;
  }
}
