/**
 * A machine's state as plain data, for people and for JSON: the registers
 * as numbers, EFLAGS decoded, the CPU mode, and at the kernel's entry the
 * Multiboot hand-over (the specification's "machine state", section 3.2,
 * checked against the real values) and the information the loader built.
 * Shared by `unikernel-disk trace` and the page's stepper.
 */
import { MBI_ADDR, MBI_FLAGS, MBI_SIZE, MAX_CMDLINE, MMAP_MAX, MULTIBOOT_MAGIC_EAX } from '../boot/loader.generated';
import { MBI, MMAP_ENTRY } from '../boot/mbi';
import { AF, CF, DF, IF, OF, PF, SF, TF, ZF } from './flags';
import type { Machine } from './machine';

/** The registers `trace --json` gives, as unsigned numbers. */
export interface Registers {
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
  esp: number;
  ebp: number;
  esi: number;
  edi: number;
  eip: number;
  eflags: number;
  cs: number;
  ds: number;
  es: number;
  ss: number;
  fs: number;
  gs: number;
  cr0: number;
}

export const REGISTER_NAMES: readonly (keyof Registers)[] = [
  'eax',
  'ebx',
  'ecx',
  'edx',
  'esp',
  'ebp',
  'esi',
  'edi',
  'eip',
  'eflags',
  'cs',
  'ds',
  'es',
  'ss',
  'fs',
  'gs',
  'cr0',
];

/** GPR numbers in encoding order, by name. */
const GPR = { eax: 0, ecx: 1, edx: 2, ebx: 3, esp: 4, ebp: 5, esi: 6, edi: 7 } as const;
/** Segment register numbers in encoding order, by name. */
const SEG = { es: 0, cs: 1, ss: 2, ds: 3, fs: 4, gs: 5 } as const;

export function registers(m: Machine): Registers {
  const c = m.cpu;
  const g = (n: keyof typeof GPR) => c.regs[GPR[n]] >>> 0;
  const s = (n: keyof typeof SEG) => c.seg[SEG[n]].selector;
  return {
    eax: g('eax'),
    ebx: g('ebx'),
    ecx: g('ecx'),
    edx: g('edx'),
    esp: g('esp'),
    ebp: g('ebp'),
    esi: g('esi'),
    edi: g('edi'),
    eip: c.eip >>> 0,
    eflags: c.eflags >>> 0,
    cs: s('cs'),
    ds: s('ds'),
    es: s('es'),
    ss: s('ss'),
    fs: s('fs'),
    gs: s('gs'),
    cr0: c.cr0 >>> 0,
  };
}

/** A segment register with its hidden part, as the panel shows it. */
export interface SegmentState {
  name: 'cs' | 'ds' | 'es' | 'ss' | 'fs' | 'gs';
  selector: number;
  base: number;
  limit: number;
  /** Code: 32-bit (D bit); stack: 32-bit ESP (B bit). */
  big: boolean;
}

export function segments(m: Machine): SegmentState[] {
  return (['cs', 'ds', 'es', 'ss', 'fs', 'gs'] as const).map((name) => {
    const s = m.cpu.seg[SEG[name]];
    return { name, selector: s.selector, base: s.base >>> 0, limit: s.limit >>> 0, big: s.big };
  });
}

export interface FlagState {
  name: string;
  bit: number;
  set: boolean;
  /** What the flag means, in a few words. */
  meaning: string;
}

const FLAGS: readonly [string, number, string][] = [
  ['CF', CF, 'carry'],
  ['PF', PF, 'parity (low byte has an even number of 1 bits)'],
  ['AF', AF, 'adjust (carry out of bit 3)'],
  ['ZF', ZF, 'zero'],
  ['SF', SF, 'sign'],
  ['TF', TF, 'trap (single-step)'],
  ['IF', IF, 'interrupts enabled'],
  ['DF', DF, 'direction (string instructions count down)'],
  ['OF', OF, 'overflow'],
];

/** The EFLAGS bits a program uses, decoded. */
export function decodeFlags(eflags: number): FlagState[] {
  return FLAGS.map(([name, mask, meaning]) => ({ name, bit: Math.log2(mask), set: (eflags & mask) !== 0, meaning }));
}

export type CpuModeId = 'real' | 'protected16' | 'protected32';

export interface CpuMode {
  id: CpuModeId;
  /** "Real mode", "32-bit protected mode, paging off". */
  text: string;
}

/** The mode the CPU runs in (the emulator has no paging and no virtual-8086 mode). */
export function cpuMode(m: Machine): CpuMode {
  if (!m.cpu.protectedMode) return { id: 'real', text: 'Real mode (16-bit)' };
  return m.cpu.seg[SEG.cs].big
    ? { id: 'protected32', text: '32-bit protected mode, paging off' }
    : { id: 'protected16', text: '16-bit protected mode, paging off' };
}

/** One row of the Multiboot machine state (specification, section 3.2): what is required, what the machine has. */
export interface HandoffRow {
  /** The register or state ("EAX", "CS", "A20 gate"). */
  what: string;
  /** What the specification requires, in our words. */
  required: string;
  /** The value found, for people. */
  value: string;
  /** Whether the value meets the requirement (null: the specification leaves it undefined). */
  ok: boolean | null;
}

const h8 = (n: number) => (n >>> 0).toString(16).toUpperCase().padStart(8, '0');
const h4 = (n: number) => (n >>> 0).toString(16).toUpperCase().padStart(4, '0');

/** EBX points at the information the loader built (our loader: MBI_ADDR with MBI_FLAGS). */
function infoAt(m: Machine): boolean {
  const ebx = m.cpu.regs[GPR.ebx] >>> 0;
  return ebx === MBI_ADDR && m.memory.read32(ebx) >>> 0 === MBI_FLAGS;
}

/** The machine state a Multiboot kernel may rely on at its entry, row by row, from the real values. */
export function multibootHandoff(m: Machine): HandoffRow[] {
  const c = m.cpu;
  const eax = c.regs[GPR.eax] >>> 0;
  const ebx = c.regs[GPR.ebx] >>> 0;
  const flat = (n: keyof typeof SEG, code: boolean): HandoffRow => {
    const s = c.seg[SEG[n]];
    const ok =
      s.base === 0 &&
      s.limit >>> 0 === 0xffffffff &&
      (n !== 'cs' || s.big) &&
      (code ? (s.access & 0x0a) === 0x0a : (s.access & 0x0a) === 0x02);
    return {
      what: n.toUpperCase(),
      required: code
        ? '32-bit read/execute code segment, offset 0, limit 0xFFFFFFFF'
        : '32-bit read/write data segment, offset 0, limit 0xFFFFFFFF',
      value: `selector ${h4(s.selector)}, base ${h8(s.base)}, limit ${h8(s.limit)}${n === 'cs' ? (s.big ? ', 32-bit' : ', 16-bit') : ''}`,
      ok,
    };
  };
  return [
    { what: 'EAX', required: 'the magic value 2BADB002', value: h8(eax), ok: eax === MULTIBOOT_MAGIC_EAX },
    {
      what: 'EBX',
      required: 'the physical address of the Multiboot information',
      value: `${h8(ebx)}${infoAt(m) ? ` (flags ${h8(MBI_FLAGS)} there)` : ''}`,
      ok: infoAt(m),
    },
    flat('cs', true),
    flat('ds', false),
    flat('es', false),
    flat('fs', false),
    flat('gs', false),
    flat('ss', false),
    { what: 'A20 gate', required: 'enabled', value: m.memory.a20 ? 'enabled' : 'disabled', ok: m.memory.a20 },
    {
      what: 'CR0',
      required: 'PG (bit 31) clear, PE (bit 0) set',
      value: h8(c.cr0),
      ok: (c.cr0 & 0x80000000) === 0 && (c.cr0 & 1) === 1,
    },
    {
      what: 'EFLAGS',
      required: 'VM (bit 17) clear, IF (bit 9) clear',
      value: h8(c.eflags),
      ok: (c.eflags & 0x20000) === 0 && (c.eflags & IF) === 0,
    },
    {
      what: 'ESP',
      required: 'undefined: the kernel sets up its own stack',
      value: h8(c.regs[GPR.esp]),
      ok: null,
    },
    {
      what: 'GDTR, IDTR',
      required: 'may be invalid: the kernel loads its own',
      value: `GDT at ${h8(c.gdtr.base)} limit ${h4(c.gdtr.limit)}; IDT at ${h8(c.idtr.base)} limit ${h4(c.idtr.limit)}`,
      ok: null,
    },
  ];
}

/** The kernel's entry was reached in the Multiboot state: EAX = 2BADB002h, EBX at the information. */
export function reachedMultiboot(m: Machine): { reached: boolean; reason: string } {
  if (m.stopped?.kind !== 'kernel')
    return { reached: false, reason: m.stopped ? m.stopped.message : 'the kernel was not reached' };
  const eax = m.cpu.regs[GPR.eax] >>> 0;
  if (eax !== MULTIBOOT_MAGIC_EAX)
    return { reached: false, reason: `the kernel's entry was reached with EAX = ${h8(eax)}, not 2BADB002` };
  if (!infoAt(m))
    return {
      reached: false,
      reason: `the kernel's entry was reached but EBX (${h8(m.cpu.regs[GPR.ebx])}) does not point at the Multiboot information`,
    };
  return { reached: true, reason: m.stopped.message };
}

/** The Multiboot information at EBX, its memory map and command line, as bytes (bounded: the loader's own limits). */
export interface MultibootInfo {
  address: number;
  info: Uint8Array;
  mmapAddress: number;
  mmap: Uint8Array;
  cmdlineAddress: number;
  /** Without its NUL, at most MAX_CMDLINE bytes. */
  cmdline: Uint8Array;
}

export function multibootInfo(m: Machine): MultibootInfo {
  const mem = m.memory;
  const address = m.cpu.regs[GPR.ebx] >>> 0;
  const info = mem.readBytes(address, MBI_SIZE);
  const word = (o: number) => (info[o] | (info[o + 1] << 8) | (info[o + 2] << 16) | (info[o + 3] << 24)) >>> 0;
  const mmapAddress = word(MBI.mmapAddr);
  const mmap = mem.readBytes(mmapAddress, Math.min(word(MBI.mmapLength), MMAP_MAX * MMAP_ENTRY.stride));
  const cmdlineAddress = word(MBI.cmdline);
  const raw = mem.readBytes(cmdlineAddress, MAX_CMDLINE + 1);
  const nul = raw.indexOf(0);
  return { address, info, mmapAddress, mmap, cmdlineAddress, cmdline: raw.slice(0, nul < 0 ? MAX_CMDLINE : nul) };
}
