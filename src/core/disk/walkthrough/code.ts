/**
 * Machine code in the walkthrough: bytes read by the emulator's one decoder
 * (`x86/decode.ts`: Intel syntax, spelled as ndisasm prints it) and shown as
 * a code dump, one field per instruction, the instruction as its label and
 * what it does as its value. What it does comes from the notes a step gives
 * for its own code (our loader's, matched on the instruction's text), or else
 * from a plain reading of the instruction (another loader's code, a kernel's).
 */
import { decode, type Instruction } from '../../x86/decode';
import { hex } from '../../units';
import { MULTIBOOT_MAGIC_EAX } from '../../boot/loader.generated';
import type { HexDump } from './types';
import { Dump } from './dump';

export type Bits = 16 | 32;

/**
 * What a step says about its own instructions, in code order: an instruction
 * takes the first note after the last one used whose pattern matches its
 * text; one with none gets the plain reading.
 */
export type Notes = readonly (readonly [RegExp, string])[];

/** What registers hold where the code runs, for the plain reading ("EBX, the Multiboot information's address"). */
export type RegisterRoles = Readonly<Record<string, string>>;

/**
 * Instructions from `bytes[from]` on, the first one at `address`: whole
 * instructions inside `bytes` only, at most `max`; stops after the one
 * `until` accepts, and before one the decoder does not know.
 */
export function disassemble(
  bytes: Uint8Array,
  from: number,
  address: number,
  bits: Bits,
  opts: { until?: (ins: Instruction) => boolean; max?: number } = {},
): Instruction[] {
  const out: Instruction[] = [];
  const max = opts.max ?? 64;
  for (let at = from; at < bytes.length && out.length < max;) {
    const ins = decode((i) => (at + i < bytes.length ? bytes[at + i] : 0), address + (at - from), bits);
    if (ins.mnemonic === 'unknown' || at + ins.length > bytes.length) break;
    out.push(ins);
    at += ins.length;
    if (opts.until?.(ins)) break;
  }
  return out;
}

/** A jump that does not come back and does not fall through: the code after it is not reached in order. */
export const endsFlow = (ins: Instruction) => ins.mnemonic === 'jmp' || ins.mnemonic === 'ret';

/**
 * The dump of `code` (consecutive instructions, as `disassemble` gives them):
 * `diskOffset` is where the first one's bytes are on the disk (or null).
 */
export function codeDump(
  caption: string,
  diskOffset: number | null,
  code: Instruction[],
  bits: Bits,
  notes: Notes = [],
  roles: RegisterRoles = {},
): HexDump {
  if (code.length === 0) throw new Error('internal: an empty code dump');
  const length = code.reduce((n, i) => n + i.length, 0);
  const bytes = new Uint8Array(length);
  const d = new Dump(caption, diskOffset, code[0].eip, bytes).asCode(bits);
  let at = 0;
  let next = 0;
  for (const ins of code) {
    bytes.set(ins.bytes, at);
    // Notes are in code order: each instruction takes the first matching note after the last one used.
    const k = notes.findIndex(([pattern], i) => i >= next && pattern.test(ins.text));
    if (k >= 0) next = k + 1;
    d.f(at, ins.length, ins.text, k >= 0 ? notes[k][1] : describe(ins, roles));
    at += ins.length;
  }
  return d.done();
}

const REGISTER = /^(e?[abcd]x|[abcd][lh]|e?[sd]i|e?[sb]p|[cdefgs]s|cr[0-4])$/;
const BIOS_SERVICES: Record<number, string> = {
  0x10: 'the BIOS video service',
  0x12: "the BIOS's memory size",
  0x13: 'the BIOS disk service',
  0x15: 'the BIOS system service',
  0x16: 'the BIOS keyboard service',
  0x18: 'the BIOS: no bootable disk',
  0x19: 'the BIOS: boot again',
};
const CONDITIONS: Record<string, string> = {
  jo: 'on overflow (OF = 1)',
  jno: 'without overflow (OF = 0)',
  jc: 'if the carry flag is set (CF = 1: below, unsigned; after a BIOS call, an error)',
  jnc: 'if the carry flag is clear (CF = 0)',
  jz: 'if equal (ZF = 1)',
  jnz: 'if not equal (ZF = 0)',
  jna: 'if not above (unsigned)',
  ja: 'if above (unsigned)',
  js: 'if negative (SF = 1)',
  jns: 'if not negative (SF = 0)',
  jpe: 'if the parity is even',
  jpo: 'if the parity is odd',
  jl: 'if less (signed)',
  jnl: 'if not less (signed)',
  jng: 'if not greater (signed)',
  jg: 'if greater (signed)',
};
const ARITH: Record<string, string> = { add: '+', sub: '−', and: 'AND', or: 'OR', adc: '+ CF +', sbb: '− CF −' };

/** One operand, as words: registers in capitals (with their role), numbers in hex, memory by its address. */
function word(o: string, roles: RegisterRoles): string {
  const s = o.replace(/^(byte|word|dword|qword|short|near|far) /, '').replace(/^\+/, '');
  if (REGISTER.test(s)) return roles[s] ? `${s.toUpperCase()} (${roles[s]})` : s.toUpperCase();
  if (/^-?0x[0-9a-f]+$/.test(s)) return s.startsWith('-') ? `−${hex(parseInt(s.slice(1), 16))}` : hex(parseInt(s, 16));
  const m = /^\[(?:(?:byte|word|dword) )?(.*)\]$/.exec(s);
  if (m) {
    const inner = m[1].replace(/\b[a-z]{2,3}\b/g, (r) => (REGISTER.test(r) ? r.toUpperCase() : r));
    return /^0x[0-9a-f]+$/.test(m[1]) ? `the memory at ${hex(parseInt(m[1], 16))}` : `the memory at [${inner}]`;
  }
  return s;
}

/** The plain reading of one instruction: what any code gets that its step has no note for. */
export function describe(ins: Instruction, roles: RegisterRoles = {}): string {
  const body = ins.text.replace(/^(o32|o16|a32|a16|rep|repe|repne) /, '');
  const space = body.indexOf(' ');
  const ops = space < 0 ? [] : body.slice(space + 1).split(',');
  const [a, b] = ops.map((o) => word(o, roles));
  const target = () => {
    const o = ins.operands[0];
    if (o?.kind === 'rel') return hex(o.value);
    if (o?.kind === 'far') return `${hex(o.sel)}:${hex(o.value)}`;
    return a;
  };
  const m = ins.mnemonic;
  const str = /^(movs|stos|lods)([bwd]?)$/.exec(m);
  if (str) {
    const unit = { b: 'a byte', w: 'a word', d: 'a dword', '': 'an item' }[str[2]];
    const what = {
      movs: `copy ${unit} from DS:SI to ES:DI`,
      stos: `store AL/AX/EAX as ${unit} at ES:DI`,
      lods: `load ${unit} from DS:SI`,
    }[str[1]];
    return `${what}${ins.rep ? ', repeated CX (ECX) times' : ''}`;
  }
  if (ins.cond >= 0 && CONDITIONS[m]) return `jump to ${target()} ${CONDITIONS[m]}`;
  switch (m) {
    case 'mov':
      if (ops[0].includes('[')) return `store ${b} in ${a}`;
      return b.startsWith('the memory') ? `${a} = the value in ${b.slice(4)}` : `${a} = ${b}`;
    case 'movzx':
    case 'movsx':
      return `${a} = ${b}, ${m === 'movzx' ? 'zero' : 'sign'}-extended`;
    case 'xor':
      return ops[0] === ops[1] ? `${a} = 0 (a value XOR itself; shorter than moving a 0)` : `${a} = ${a} XOR ${b}`;
    case 'add':
    case 'sub':
    case 'and':
    case 'or':
    case 'adc':
    case 'sbb':
      return `${a} = ${a} ${ARITH[m]} ${b}`;
    case 'inc':
      return `${a} = ${a} + 1`;
    case 'dec':
      return `${a} = ${a} − 1`;
    case 'cmp': {
      const magic = ins.operands[1]?.kind === 'imm' && ins.operands[1].value >>> 0 === MULTIBOOT_MAGIC_EAX;
      if (magic)
        return `compare ${word(ops[0], {})} with ${b}, the Multiboot magic: was this kernel started by a Multiboot loader?`;
      return `compare ${a} with ${b} (sets the flags for the jump after it)`;
    }
    case 'test':
      return ops[0] === ops[1] ? `is ${a} zero? (ZF = 1 if so)` : `test the bits ${b} of ${a} (ZF = 1 if none is set)`;
    case 'jcxz':
      return `jump to ${target()} if CX is 0`;
    case 'jmp':
      if (ins.operands[0]?.kind === 'far')
        return `a far jump: CS = ${hex(ins.operands[0].sel)}, and on at ${hex(ins.operands[0].value)}`;
      if (ins.operands[0]?.kind === 'rel') return `jump to ${target()}`;
      return `jump to the address held in ${a.replace(/^the memory at /, '')}`;
    case 'call':
      return ins.operands[0]?.kind === 'rel'
        ? `call the routine at ${target()}`
        : `call the routine whose address is in ${a}`;
    case 'ret':
      return 'return to the caller';
    case 'push':
      return `push ${a} onto the stack`;
    case 'pop':
      return `pop the top of the stack into ${a}`;
    case 'int': {
      const n = ins.operands[0]?.value ?? -1;
      return `call interrupt ${hex(n)}: ${BIOS_SERVICES[n] ?? 'a software interrupt'}`;
    }
    case 'lea':
      return `${a} = the address ${b.replace(/^the memory at /, '')} (nothing is read; no flag changes)`;
    case 'lgdt':
      return `load the GDTR (the GDT's size and address) from ${a}`;
    case 'lidt':
      return `load the IDTR (the interrupt table's size and address) from ${a}`;
    case 'in':
      return `read I/O port ${b} into ${a}`;
    case 'out':
      return `write ${b} to I/O port ${a}`;
    case 'shl':
    case 'shr':
    case 'sar':
      return `shift ${a} ${m === 'shl' ? 'left' : 'right'} by ${b}`;
    case 'cli':
      return 'interrupts off (IF = 0)';
    case 'sti':
      return 'interrupts on (IF = 1)';
    case 'cld':
      return 'clear the direction flag: string instructions count upwards';
    case 'std':
      return 'set the direction flag: string instructions count downwards';
    case 'clc':
      return 'clear the carry flag';
    case 'stc':
      return 'set the carry flag';
    case 'hlt':
      return 'halt until the next interrupt';
    case 'nop':
      return 'no operation';
    case 'cpuid':
      return 'ask the processor what it is and what it has (the question in EAX)';
    default:
      return `${m}: see the Intel SDM, volume 2, for what it does`;
  }
}
