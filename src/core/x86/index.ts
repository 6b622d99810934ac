/**
 * Our x86 emulator (docs/emulator.md): the model PC that boots an image as
 * QEMU with SeaBIOS does and runs the boot loader to the kernel's first
 * instruction. This module only gathers the public parts.
 */
export { Machine } from './machine';
export type { MachineOptions, MachineSnapshot, StepRecord, StopReason } from './machine';
export type { Disk, E820Entry } from './pc';
export { e820Map } from './pc';
export { decode, knownOpcodes, opcodeOf, REG8, REG16, REG32, SREG } from './decode';
export type { Instruction, Operand, OperandKind } from './decode';
export type { Segment } from './cpu';
export { GPR_NAMES, SEG_NAMES } from './cpu';
export { CF, PF, AF, ZF, SF, TF, IF, DF, OF } from './flags';
export { LOADER_STEPS } from './steps';
export type { LoaderStep } from './steps';
