/**
 * ndisasm's spelling of a decoded instruction (Intel syntax as `ndisasm -b
 * 16/32` prints it: sizes only where no register implies them, `byte +0x10`
 * for sign-extended immediates, `[dword ...]` where the address size is not
 * the mode's, `o32`/`a32` for prefixes that change nothing shown).
 * test/x86-disasm.test.ts compares it with ndisasm over the whole loader.
 */
import { REG16, REG32, REG8, SREG, type Instruction } from './isa';

/** What the text needs of a decoder table entry: its mnemonic, operation and operand specs. */
export interface TextEntry {
  m: string;
  op: string;
  a?: string[];
}

const hexv = (n: number) => '0x' + (n >>> 0).toString(16);
const signed = (n: number) => (n < 0 ? '-0x' + (-n).toString(16) : '+0x' + n.toString(16));
const SIZE_WORD = ['', 'byte ', 'word ', '', 'dword '];
/** Operations whose size comes from the operand-size prefix without a v-sized operand. */
/** ndisasm does not name an unused 67h prefix (in 16-bit code) on the shifts and rotates, nor beside an immediate. */
const GROUP_OPS = new Set(['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sar']);
const MODRM_SPECS = new Set(['Eb', 'Ev', 'Ew', 'Esv', 'Gb', 'Gv', 'M', 'Sw', 'Cd', 'Rd']);
const OSIZE_OPS = new Set(['pusha', 'popa', 'pushf', 'popf', 'cbw', 'cwd', 'ret', 'nop', 'jmpfar']);

/** ndisasm's spelling of a decoded instruction. */
export function intelText(ins: Instruction, entry: TextEntry, o66: boolean, a67: boolean, dwordTag: string): string {
  const { osize, asize, operands: ops } = ins;
  let m = entry.m;
  const op = entry.op;
  let pre = '';
  const sizeSuffix = (w: number) => (w === 4 ? 'd' : w === 2 ? 'w' : 'b');
  // string instructions: the size is in the mnemonic
  if (op === 'movs' || op === 'stos' || op === 'lods') {
    if (!m.endsWith('b')) m += sizeSuffix(osize);
    if (ins.segOverride >= 0) pre = SREG[ins.segOverride] + ' ';
    if (a67) pre = (asize === 4 ? 'a32 ' : 'a16 ') + pre;
    if (ins.rep === 0xf3) pre = 'rep ' + pre;
    else if (ins.rep === 0xf2) pre = 'repne ' + pre;
    return pre + m;
  }
  if (op === 'pusha' || op === 'popa') return m + (o66 ? (osize === 4 ? 'd' : 'w') : '');
  if (op === 'pushf' || op === 'popf') return m + (o66 ? (osize === 4 ? 'd' : 'w') : '');
  if (op === 'cbw') return osize === 4 ? 'cwde' : 'cbw';
  if (op === 'cwd') return osize === 4 ? 'cdq' : 'cwd';
  if (op === 'ret' && o66) m = osize === 4 ? 'retd' : ops.length ? 'retnw' : 'retw';
  if (op === 'nop' && o66) return osize === 4 ? 'xchg eax,eax' : 'xchg ax,ax';
  if (op === 'jcxz') m = asize === 4 ? 'jecxz' : 'jcxz';
  const shiftOp = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sar'].includes(op);
  // a register operand implies the size, except a shift's CL count
  const hasRegSize = ops.some((o, i) => o.kind === 'reg' && op !== 'movzx' && op !== 'movsx' && !(shiftOp && i === 1));
  const parts = ops.map((o, i) => {
    switch (o.kind) {
      case 'reg':
        return (o.size === 1 ? REG8 : o.size === 2 ? REG16 : REG32)[o.reg];
      case 'sreg':
        return SREG[o.reg];
      case 'creg':
        return 'cr' + o.reg;
      case 'imm': {
        const specs = entry.a ?? [];
        if (specs[i] === '1') return '1';
        if (specs[i] === 'Ib8') {
          const v = o.size === 4 ? o.value | 0 : o.size === 2 ? (o.value << 16) >> 16 : (o.value << 24) >> 24;
          return 'byte ' + signed(v);
        }
        if (specs[i] === 'Ibs') return 'byte ' + hexv(o.value);
        if (op === 'push') return (osize === 4 ? 'dword ' : 'word ') + hexv(o.value);
        if (op === 'imul' && o.size === 4) return 'dword ' + hexv(o.value);
        if (op === 'imul' && o.size === 2) return 'word ' + hexv(o.value);
        return hexv(o.value);
      }
      case 'rel':
        return hexv(o.value);
      case 'far':
        return `${hexv(o.sel)}:${hexv(o.value)}`;
      case 'mem': {
        let s = '';
        const specs = entry.a ?? [];
        const moffs = specs[i] === 'Ob' || specs[i] === 'Ov';
        const regs = asize === 4 ? REG32 : REG16;
        let body: string;
        if (moffs) body = hexv(o.disp);
        else if (o.base < 0 && o.index < 0) body = hexv(o.disp);
        else {
          body =
            asize === 2 && o.base >= 0 && o.index >= 0
              ? `${regs[o.base]}+${regs[o.index]}`
              : [
                  o.base >= 0 ? regs[o.base] : '',
                  o.index >= 0
                    ? regs[o.index] + (o.scale > 1 || asize === 4 ? (o.scale > 1 ? '*' + o.scale : '') : '')
                    : '',
                ]
                  .filter(Boolean)
                  .join('+');
          const dispSize = o.value;
          if (dispSize) body += signed(dispSize === 1 ? o.disp : asize === 4 ? o.disp | 0 : (o.disp << 16) >> 16);
        }
        // ndisasm: [es:dword 0x...] for a moffs, [word es:0x...] for a ModRM address
        if (moffs) {
          if (asize !== ins.bits / 8) body = (asize === 4 ? 'dword ' : 'word ') + body;
          if (ins.segOverride >= 0) body = SREG[ins.segOverride] + ':' + body;
        } else {
          if (ins.segOverride >= 0) body = SREG[ins.segOverride] + ':' + body;
          body = dwordTag + body;
        }
        const showSize =
          op === 'movzx' || op === 'movsx'
            ? osize === 4
            : !hasRegSize &&
              op !== 'lea' &&
              op !== 'lgdt' &&
              op !== 'lidt' &&
              !(op === 'mov' && ops.some((x) => x.kind === 'sreg')) &&
              !((op === 'call' || op === 'jmp') && ops.length === 1 && !o66);
        if (showSize) s = SIZE_WORD[o.size] ?? '';
        return `${s}[${body}]`;
      }
    }
  });
  // prefixes that change nothing visible
  if (op === 'push' && (entry.a ?? [])[0] === 'Ib8' && o66) pre = osize === 4 ? 'o32 ' : 'o16 ';
  if (op === 'jmp' && (entry.a ?? [])[0] === 'Jb' && o66) pre = osize === 4 ? 'o32 ' : 'o16 ';
  if ((op === 'loop' || op === 'loope' || op === 'loopne' || op === 'jcxz') && o66) pre = osize === 4 ? 'o32 ' : 'o16 ';
  if (op === 'jmp' && (entry.a ?? [])[0] === 'Jb') m = 'jmp short';
  if ((op === 'jmp' || op === 'call') && (entry.a ?? [])[0] === 'Jv' && o66) m += osize === 4 ? ' dword' : ' word';
  if (op === 'jcc' && (entry.a ?? [])[0] === 'Jv') m += o66 ? (osize === 4 ? ' dword' : ' word') : ' near';
  if (op === 'jmpfar' && o66) m += osize === 4 ? ' dword' : ' word';
  if ((op === 'loop' || op === 'loope' || op === 'loopne') && a67) parts.push(asize === 4 ? 'ecx' : 'cx');
  // prefixes that change nothing in this instruction are shown as words, ndisasm's way
  const specs = entry.a ?? [];
  const hasMem = ops.some((o) => o.kind === 'mem');
  const sized =
    specs.some((s, i) => (s === 'Esv' ? ops[i].kind === 'reg' : /v$|^eAX$|^Ib8$|^Ap$/.test(s))) || OSIZE_OPS.has(op);
  let unused = '';
  if (ins.segOverride >= 0 && !hasMem) unused += SREG[ins.segOverride] + ' ';
  if (o66 && !sized && pre === '') unused += osize === 4 ? 'o32 ' : 'o16 ';
  const hasImm = ops.some((o) => o.kind === 'imm');
  const modrm = specs.some((s) => MODRM_SPECS.has(s));
  if (a67 && modrm && !hasMem && ins.bits === 16 && !GROUP_OPS.has(op) && !hasImm) unused += 'a32 ';
  return unused + pre + m + (parts.length ? ' ' + parts.join(',') : '');
}
