/**
 * The vocabulary the decoder, the Intel text and the interpreter share: an
 * `Instruction` and its `Operand`s as plain data (they cross postMessage to
 * the page's stepper), and the register names in encoding order.
 */

export type OperandKind = 'reg' | 'sreg' | 'creg' | 'imm' | 'mem' | 'rel' | 'far';

/** One operand. Every field is present (one object shape), unused ones are 0 or -1. */
export interface Operand {
  kind: OperandKind;
  /** Bytes (1, 2, 4; 0 for memory whose size does not matter: lgdt, lea). */
  size: number;
  /** Register number: GPR 0..7 (AL..BH for size 1), segment 0..5 (ES CS SS DS FS GS), control register. */
  reg: number;
  /** Memory: segment register used (an override, else DS or SS). */
  seg: number;
  /** Memory: base and index GPR numbers or -1, scale 1/2/4/8, displacement (unsigned 32-bit or 16-bit). */
  base: number;
  index: number;
  scale: number;
  disp: number;
  /** Immediate (unsigned, sign-extended to `size` when the encoding says so), branch target offset, far offset. */
  value: number;
  /** Far pointer selector. */
  sel: number;
}

export interface Instruction {
  /** Offset (EIP/IP) of the first byte. */
  eip: number;
  length: number;
  bytes: Uint8Array;
  /** Lower-case mnemonic, as ndisasm prints it (`jnz`, `rep movsd`'s `movsd`, `unknown`). */
  mnemonic: string;
  operands: Operand[];
  /** Intel syntax, ndisasm's spelling (`mov word [es:0x520],0xedcb`). */
  text: string;
  /** Execution: operation id (OPS), operand size (1, 2, 4), address size (2, 4), 0xF3/0xF2 prefix, segment override or -1, condition (Jcc/SETcc), group sub-op. */
  op: number;
  osize: number;
  asize: number;
  rep: number;
  segOverride: number;
  cond: number;
  /** Code size the instruction was decoded in (16 or 32). */
  bits: 16 | 32;
}

export const REG32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
export const REG16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'];
export const REG8 = ['al', 'cl', 'dl', 'bl', 'ah', 'ch', 'dh', 'bh'];
export const SREG = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'];
