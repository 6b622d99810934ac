/**
 * The interpreter: registers, segment caches, EFLAGS, CR0, GDTR/IDTR, and
 * `execute(instruction)` over the decoded objects of decode.ts. Real mode and
 * 32-bit protected mode without paging, ring 0; no segment limit checks (as
 * QEMU's TCG), no interrupts or exceptions delivered through the IDT: an
 * exception stops the machine (`fault`), a software INT in real mode goes to
 * the BIOS model (`Bus.interrupt`).
 */
import { ES, CS, SS, DS, OP, type Instruction, type Operand } from './decode';
import { CF, DF, FIXED, IF, MASK, OF, OSZAPC, ZF, addFlags, cc, subFlags, szp } from './flags';
import type { Memory } from './memory';
import { divide, multiply1, shift, szpMul } from './arith';

/** What the CPU needs from the PC around it. */
export interface Bus {
  portIn(port: number, size: number): number;
  portOut(port: number, size: number, value: number): void;
  /** A software interrupt in real mode: the BIOS service (may be asynchronous: a disk read). */
  interrupt(vector: number): void | Promise<void>;
  cpuid(leaf: number, subleaf: number): [number, number, number, number];
}

/** A segment register with its hidden part (what a mode switch keeps). */
export interface Segment {
  selector: number;
  base: number;
  limit: number;
  /** D/B bit: 32-bit code (CS) or a 32-bit stack (SS). */
  big: boolean;
  /** Access byte of the descriptor (0x93 for a real-mode data segment). */
  access: number;
}

/** Why `execute` ended the run early. */
export type CpuStop =
  { kind: 'halt' } | { kind: 'fault'; vector: number; message: string } | { kind: 'unsupported'; message: string };

export const GPR_NAMES = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'] as const;
export const SEG_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'] as const;

const O = OP;
/** Iterations of a REP string instruction run before it is fetched again (see `string`). */
export const REP_SLICE = 65536;

export class Cpu {
  /** EAX ECX EDX EBX ESP EBP ESI EDI, as signed 32-bit (read them with `>>> 0`). */
  readonly regs = new Int32Array(8);
  eip = 0;
  eflags = FIXED;
  cr0 = 0x10;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  gdtr = { base: 0, limit: 0xffff };
  idtr = { base: 0, limit: 0x3ff };
  readonly seg: Segment[] = [0, 1, 2, 3, 4, 5].map(() => ({
    selector: 0,
    base: 0,
    limit: 0xffff,
    big: false,
    access: 0x93,
  }));
  /** Set when an instruction ends the run (hlt, a fault, something not modelled). */
  stop: CpuStop | null = null;
  /** Set by an INT whose BIOS service is asynchronous; the machine awaits it before the next instruction. */
  pending: Promise<void> | null = null;

  constructor(
    readonly mem: Memory,
    readonly bus: Bus,
  ) {}

  get bits(): 16 | 32 {
    return this.seg[CS].big ? 32 : 16;
  }
  get protectedMode(): boolean {
    return (this.cr0 & 1) !== 0;
  }

  // ---- registers by size ----
  getReg(r: number, size: number): number {
    if (size === 4) return this.regs[r] >>> 0;
    if (size === 2) return this.regs[r] & 0xffff;
    return r < 4 ? this.regs[r] & 0xff : (this.regs[r - 4] >> 8) & 0xff;
  }
  setReg(r: number, size: number, v: number): void {
    if (size === 4) this.regs[r] = v;
    else if (size === 2) this.regs[r] = (this.regs[r] & ~0xffff) | (v & 0xffff);
    else if (r < 4) this.regs[r] = (this.regs[r] & ~0xff) | (v & 0xff);
    else this.regs[r - 4] = (this.regs[r - 4] & ~0xff00) | ((v & 0xff) << 8);
  }

  // ---- memory operands ----
  /** Offset of a memory operand (address-size wrapped). */
  offset(o: Operand, asize: number): number {
    let a = o.disp;
    if (o.base >= 0) a += this.regs[o.base];
    if (o.index >= 0) a += this.regs[o.index] * o.scale;
    return asize === 4 ? a >>> 0 : a & 0xffff;
  }
  linear(o: Operand, asize: number): number {
    return (this.seg[o.seg].base + this.offset(o, asize)) >>> 0;
  }
  readMem(lin: number, size: number): number {
    if (size === 1) return this.mem.read8(lin);
    if (size === 2) return this.mem.read16(lin);
    return this.mem.read32(lin) >>> 0;
  }
  writeMem(lin: number, size: number, v: number): void {
    if (size === 1) this.mem.write8(lin, v);
    else if (size === 2) this.mem.write16(lin, v);
    else this.mem.write32(lin, v);
  }
  /** An operand's value (unsigned, masked to its size). */
  get(o: Operand, ins: Instruction): number {
    switch (o.kind) {
      case 'reg':
        return this.getReg(o.reg, o.size);
      case 'imm':
        return o.value;
      case 'mem':
        return this.readMem(this.linear(o, ins.asize), o.size);
      case 'sreg':
        return this.seg[o.reg].selector;
      default:
        throw new Error(`internal: read of a ${o.kind} operand`);
    }
  }
  set(o: Operand, ins: Instruction, v: number): void {
    if (o.kind === 'reg') this.setReg(o.reg, o.size, v);
    else if (o.kind === 'mem') this.writeMem(this.linear(o, ins.asize), o.size, v);
    else throw new Error(`internal: write of a ${o.kind} operand`);
  }

  // ---- stack ----
  push(v: number, size: number): void {
    const ss = this.seg[SS];
    if (ss.big) {
      const sp = (this.regs[4] - size) >>> 0;
      this.regs[4] = sp;
      this.writeMem((ss.base + sp) >>> 0, size, v);
    } else {
      const sp = (this.regs[4] - size) & 0xffff;
      this.setReg(4, 2, sp);
      this.writeMem((ss.base + sp) >>> 0, size, v);
    }
  }
  /** Pop a word or dword (a dword as int32). */
  pop(size: number): number {
    const ss = this.seg[SS];
    const sp = ss.big ? this.regs[4] >>> 0 : this.regs[4] & 0xffff;
    const at = (ss.base + sp) >>> 0;
    const v = size === 4 ? this.mem.read32(at) : this.mem.read16(at); // int32 for 32-bit values
    if (ss.big) this.regs[4] = sp + size;
    else this.setReg(4, 2, sp + size);
    return v;
  }

  // ---- segments ----
  /** Load a segment register as `mov sreg`/`pop sreg`/a far jump does in the current mode. */
  loadSegment(r: number, selector: number): boolean {
    const s = this.seg[r];
    if (!this.protectedMode) {
      // real mode (QEMU's rule): base = selector × 16, 64 KiB, a 16-bit writable data segment
      s.selector = selector;
      s.base = selector << 4;
      s.limit = 0xffff;
      s.big = false;
      s.access = r === CS ? 0x9b : 0x93;
      return true;
    }
    if ((selector & ~3) === 0) {
      if (r === CS || r === SS) return this.fault(13, `null selector loaded into ${SEG_NAMES[r]}`);
      s.selector = selector;
      s.base = 0;
      s.limit = 0;
      s.big = false;
      s.access = 0;
      return true;
    }
    if (selector & 4) return this.fault(13, `selector ${hex(selector)} points into an LDT (none is modelled)`);
    const index = selector & ~7;
    if (index + 7 > this.gdtr.limit)
      return this.fault(13, `selector ${hex(selector)} is past the GDT limit ${hex(this.gdtr.limit)}`);
    const at = (this.gdtr.base + index) >>> 0;
    const lo = this.mem.read32(at) >>> 0;
    let hi = this.mem.read32(at + 4) >>> 0;
    const access = (hi >>> 8) & 0xff;
    if (!(access & 0x80)) return this.fault(r === SS ? 12 : 11, `descriptor ${hex(selector)} is not present`);
    if (!(access & 0x10)) return this.fault(13, `descriptor ${hex(selector)} is a system descriptor`);
    const code = (access & 0x08) !== 0;
    if (r === CS ? !code : r === SS ? code || !(access & 2) : code && !(access & 2))
      return this.fault(
        13,
        `descriptor ${hex(selector)} (access ${hex(access)}) cannot be loaded into ${SEG_NAMES[r]}`,
      );
    if (r !== CS && !(access & 1)) {
      // the CPU marks a data segment accessed in the GDT
      hi |= 0x100;
      this.mem.write32(at + 4, hi);
    }
    let limit = (lo & 0xffff) | (hi & 0xf0000);
    if (hi & 0x800000) limit = ((limit << 12) | 0xfff) >>> 0;
    s.selector = selector;
    s.base = ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0;
    s.limit = limit;
    s.big = (hi & 0x400000) !== 0;
    s.access = (hi >>> 8) & 0xff;
    return true;
  }

  fault(vector: number, message: string): false {
    this.stop = { kind: 'fault', vector, message };
    return false;
  }
  private unsupported(message: string): void {
    this.stop = { kind: 'unsupported', message };
  }

  private jumpTo(target: number, osize: number): void {
    this.eip = osize === 4 ? target >>> 0 : target & 0xffff;
  }

  setArith(f: number): void {
    this.eflags = (this.eflags & ~OSZAPC) | f;
  }

  private cond(c: number): boolean {
    const f = this.eflags;
    let r: boolean;
    switch (c >> 1) {
      case 0:
        r = (f & OF) !== 0;
        break;
      case 1:
        r = (f & CF) !== 0;
        break;
      case 2:
        r = (f & ZF) !== 0;
        break;
      case 3:
        r = (f & (CF | ZF)) !== 0;
        break;
      case 4:
        r = (f & 0x80) !== 0;
        break;
      case 5:
        r = (f & 0x4) !== 0;
        break;
      case 6:
        r = ((f & 0x80) !== 0) !== ((f & OF) !== 0);
        break;
      default:
        r = (f & ZF) !== 0 || ((f & 0x80) !== 0) !== ((f & OF) !== 0);
    }
    return c & 1 ? !r : r;
  }

  /** Execute one decoded instruction at CS:EIP (EIP already points at it). */
  execute(ins: Instruction): void {
    const next = this.seg[CS].big ? (this.eip + ins.length) >>> 0 : (this.eip + ins.length) & 0xffff;
    this.eip = next;
    const ops = ins.operands;
    const a = ops[0];
    const b = ops[1];
    switch (ins.op) {
      case O.add:
      case O.or:
      case O.adc:
      case O.sbb:
      case O.and:
      case O.sub:
      case O.xor:
      case O.cmp:
      case O.test: {
        const size = a.size;
        const x = this.get(a, ins);
        const y = this.get(b, ins);
        let r: number;
        switch (ins.op) {
          case O.add:
            r = addFlags(x, y, 0, size);
            break;
          case O.adc:
            r = addFlags(x, y, this.eflags & CF, size);
            break;
          case O.sub:
          case O.cmp:
            r = subFlags(x, y, 0, size);
            break;
          case O.sbb:
            r = subFlags(x, y, this.eflags & CF, size);
            break;
          default:
            r = ins.op === O.or ? x | y : ins.op === O.xor ? x ^ y : x & y;
            r = size === 4 ? r >>> 0 : r & MASK[size];
            cc.f = szp(r, size);
        }
        this.setArith(cc.f);
        if (ins.op !== O.cmp && ins.op !== O.test) this.set(a, ins, r);
        return;
      }
      case O.inc:
      case O.dec: {
        const size = a.size;
        const r = ins.op === O.inc ? addFlags(this.get(a, ins), 1, 0, size) : subFlags(this.get(a, ins), 1, 0, size);
        this.eflags = (this.eflags & ~(OSZAPC & ~CF)) | (cc.f & ~CF);
        this.set(a, ins, r);
        return;
      }
      case O.not:
        this.set(a, ins, ~this.get(a, ins));
        return;
      case O.neg: {
        const r = subFlags(0, this.get(a, ins), 0, a.size);
        this.setArith(cc.f);
        this.set(a, ins, r);
        return;
      }
      case O.rol:
      case O.ror:
      case O.rcl:
      case O.rcr:
      case O.shl:
      case O.shr:
      case O.sar:
        shift(this, ins, a, this.get(b, ins) & 0x1f);
        return;
      case O.mul:
      case O.imul1:
        multiply1(this, ins, a);
        return;
      case O.imul: {
        const size = ins.osize;
        const x = this.get(b, ins);
        const y = ops.length > 2 ? this.get(ops[2], ins) : this.get(a, ins);
        const sx = size === 4 ? x | 0 : (x << 16) >> 16;
        const sy = size === 4 ? y | 0 : (y << 16) >> 16;
        const full = BigInt(sx) * BigInt(sy);
        const lo = size === 4 ? Number(BigInt.asUintN(32, full)) : Number(full) & 0xffff;
        const loSigned = size === 4 ? lo | 0 : (lo << 16) >> 16;
        const over = BigInt(loSigned) !== full;
        this.setArith(szpMul(lo, size) | (over ? CF | OF : 0));
        this.setReg(a.reg, size, lo);
        return;
      }
      case O.div:
      case O.idiv:
        divide(this, ins, a);
        return;
      case O.mov:
        if (a.kind === 'sreg') {
          if (a.reg === CS) {
            this.fault(6, 'mov to CS');
            return;
          }
          this.loadSegment(a.reg, this.get(b, ins) & 0xffff);
        } else if (b.kind === 'sreg') this.set(a, ins, this.seg[b.reg].selector);
        else this.set(a, ins, this.get(b, ins));
        return;
      case O.movzx:
        this.setReg(a.reg, a.size, this.get(b, ins));
        return;
      case O.movsx: {
        const v = this.get(b, ins);
        this.setReg(a.reg, a.size, b.size === 1 ? (v << 24) >> 24 : (v << 16) >> 16);
        return;
      }
      case O.lea:
        this.setReg(a.reg, a.size, this.offset(b, ins.asize));
        return;
      case O.xchg: {
        const x = this.get(a, ins);
        const y = this.get(b, ins);
        this.set(a, ins, y);
        this.set(b, ins, x);
        return;
      }
      case O.push:
        if (a.kind === 'sreg') this.push(this.seg[a.reg].selector, ins.osize);
        else this.push(this.get(a, ins), ins.osize);
        return;
      case O.pop:
        if (a.kind === 'sreg') this.loadSegment(a.reg, this.pop(ins.osize) & 0xffff);
        else {
          const v = this.pop(ins.osize);
          this.set(a, ins, v);
        }
        return;
      case O.pusha: {
        const size = ins.osize;
        const sp = this.getReg(4, size);
        for (let r = 0; r < 8; r++) this.push(r === 4 ? sp : this.getReg(r, size), size);
        return;
      }
      case O.popa: {
        const size = ins.osize;
        for (let r = 7; r >= 0; r--) {
          const v = this.pop(size);
          if (r !== 4) this.setReg(r, size, v);
        }
        return;
      }
      case O.pushf:
        // VM and RF read as 0 in the pushed image
        this.push(ins.osize === 4 ? this.eflags & 0x00fcffff : this.eflags & 0xffff, ins.osize);
        return;
      case O.popf: {
        const v = this.pop(ins.osize);
        const writable = ins.osize === 4 ? 0x00247fd5 : 0x7fd5; // ID AC NT IOPL OF DF IF TF SF ZF AF PF CF
        this.eflags = ((this.eflags & ~writable) | (v & writable) | FIXED) >>> 0;
        return;
      }
      case O.sahf:
        this.eflags = (this.eflags & ~0xd5) | (this.getReg(4, 1) & 0xd5);
        return;
      case O.lahf:
        this.setReg(4, 1, (this.eflags & 0xd5) | FIXED);
        return;
      case O.cbw:
        if (ins.osize === 4) this.regs[0] = (this.regs[0] << 16) >> 16;
        else this.setReg(0, 2, (this.regs[0] << 24) >> 24);
        return;
      case O.cwd:
        if (ins.osize === 4) this.regs[2] = this.regs[0] >> 31;
        else this.setReg(2, 2, (this.regs[0] << 16) >> 31);
        return;
      case O.jcc:
        if (this.cond(ins.cond)) this.jumpTo(a.value, ins.osize);
        return;
      case O.jmp:
        this.jumpTo(a.kind === 'rel' ? a.value : this.get(a, ins), ins.osize);
        return;
      case O.call: {
        const target = a.kind === 'rel' ? a.value : this.get(a, ins);
        this.push(next, ins.osize);
        this.jumpTo(target, ins.osize);
        return;
      }
      case O.ret: {
        const to = this.pop(ins.osize);
        if (a) {
          const ss = this.seg[SS];
          if (ss.big) this.regs[4] = this.regs[4] + a.value;
          else this.setReg(4, 2, this.regs[4] + a.value);
        }
        this.jumpTo(to, ins.osize);
        return;
      }
      case O.jmpfar:
        if (this.loadSegment(CS, a.sel)) this.eip = ins.osize === 4 ? a.value : a.value & 0xffff;
        return;
      case O.loop:
      case O.loope:
      case O.loopne: {
        const cx = ((ins.asize === 4 ? this.regs[1] : this.regs[1] & 0xffff) - 1) >>> 0;
        this.setReg(1, ins.asize, cx);
        const zf = (this.eflags & ZF) !== 0;
        const count = ins.asize === 4 ? cx !== 0 : (cx & 0xffff) !== 0;
        if (count && (ins.op === O.loop || (ins.op === O.loope ? zf : !zf))) this.jumpTo(a.value, ins.osize);
        return;
      }
      case O.jcxz:
        if (this.getReg(1, ins.asize) === 0) this.jumpTo(a.value, ins.osize);
        return;
      case O.int:
        if (this.protectedMode) return this.unsupported(`INT ${hex(a.value)} in protected mode`);
        this.pending = (this.bus.interrupt(a.value) as Promise<void> | undefined) ?? null;
        return;
      case O.hlt:
        this.stop = { kind: 'halt' };
        return;
      case O.cli:
        this.eflags &= ~IF;
        return;
      case O.sti:
        this.eflags |= IF;
        return;
      case O.cld:
        this.eflags &= ~DF;
        return;
      case O.std:
        this.eflags |= DF;
        return;
      case O.clc:
        this.eflags &= ~CF;
        return;
      case O.stc:
        this.eflags |= CF;
        return;
      case O.cmc:
        this.eflags ^= CF;
        return;
      case O.in: {
        const port = b.kind === 'imm' ? b.value : this.regs[2] & 0xffff;
        this.setReg(0, a.size, this.bus.portIn(port, a.size));
        return;
      }
      case O.out: {
        const port = a.kind === 'imm' ? a.value : this.regs[2] & 0xffff;
        this.bus.portOut(port, b.size, this.getReg(0, b.size));
        return;
      }
      case O.movs:
      case O.stos:
      case O.lods:
        this.string(ins);
        return;
      case O.lgdt:
      case O.lidt: {
        const at = this.linear(a, ins.asize);
        const t = ins.op === O.lgdt ? this.gdtr : this.idtr;
        t.limit = this.mem.read16(at);
        t.base = (this.mem.read32(at + 2) & (ins.osize === 4 ? 0xffffffff : 0xffffff)) >>> 0;
        return;
      }
      case O.movcr:
        if (a.kind === 'creg') {
          const v = this.getReg(b.reg, 4);
          if (a.reg === 0) {
            if (v & 0x80000000) return this.unsupported('paging (CR0.PG) is not modelled');
            this.cr0 = (v | 0x10) >>> 0; // ET is hard-wired to 1
          } else if (a.reg === 2) this.cr2 = v;
          else if (a.reg === 3) this.cr3 = v;
          else this.cr4 = v;
        } else {
          const r = b.reg;
          this.setReg(a.reg, 4, r === 0 ? this.cr0 : r === 2 ? this.cr2 : r === 3 ? this.cr3 : this.cr4);
        }
        return;
      case O.cpuid: {
        const [ea, eb, ec, ed] = this.bus.cpuid(this.regs[0] >>> 0, this.regs[1] >>> 0);
        this.regs[0] = ea;
        this.regs[3] = eb;
        this.regs[1] = ec;
        this.regs[2] = ed;
        return;
      }
      case O.bt: {
        const size = a.size;
        const bit = this.get(b, ins) & (size * 8 - 1);
        if (a.kind === 'mem' && b.kind === 'reg') {
          // bit string in memory: the register offset is signed and may leave the operand
          const n = size === 4 ? this.getReg(b.reg, 4) | 0 : (this.getReg(b.reg, 2) << 16) >> 16;
          const at = (this.linear(a, ins.asize) + Math.floor(n / (size * 8)) * size) >>> 0;
          const v = this.readMem(at, size);
          this.eflags = (this.eflags & ~CF) | ((v >>> (n & (size * 8 - 1))) & 1);
          return;
        }
        this.eflags = (this.eflags & ~CF) | ((this.get(a, ins) >>> bit) & 1);
        return;
      }
      case O.nop:
        return;
      default:
        this.eip = (this.eip - ins.length) >>> 0;
        this.fault(6, `unknown instruction ${ins.text} (bytes ${[...ins.bytes].map((x) => hex(x, 2)).join(' ')})`);
    }
  }

  private string(ins: Instruction): void {
    const asize = ins.asize;
    const size = ins.mnemonic.endsWith('b') ? 1 : ins.osize;
    const step = this.eflags & DF ? -size : size;
    const srcSeg = this.seg[ins.segOverride >= 0 ? ins.segOverride : DS].base;
    const es = this.seg[ES].base;
    const m = asize === 4 ? 0xffffffff : 0xffff;
    let count = ins.rep ? this.getReg(1, asize) : 1;
    // A long REP runs in slices, as an interrupt would cut it on a real CPU: the
    // instruction is fetched again with the count left, so every slice counts as
    // an instruction (the run's limit holds) and a run can stop between them.
    let slice = REP_SLICE;
    while (count > 0) {
      if (slice-- === 0) {
        this.eip = (this.eip - ins.length) >>> 0;
        return;
      }
      const si = this.regs[6] & m;
      const di = this.regs[7] & m;
      if (ins.op === O.movs)
        this.writeMem((es + (di >>> 0)) >>> 0, size, this.readMem((srcSeg + (si >>> 0)) >>> 0, size));
      else if (ins.op === O.stos) this.writeMem((es + (di >>> 0)) >>> 0, size, this.getReg(0, size));
      else this.setReg(0, size, this.readMem((srcSeg + (si >>> 0)) >>> 0, size));
      if (ins.op !== O.stos) this.setReg(6, asize, si + step);
      if (ins.op !== O.lods) this.setReg(7, asize, di + step);
      count--;
      if (ins.rep) this.setReg(1, asize, count);
    }
  }
}

export function hex(n: number, width = 0): string {
  return '0x' + (n >>> 0).toString(16).toUpperCase().padStart(width, '0');
}
