/**
 * Our BIOS loader as the stepper reads it: its labels and code ranges (from
 * NASM's listing, exported by scripts/build-boot.mjs), the walkthrough's
 * steps at their addresses, whether an image carries this build's loader
 * (only then do the labels fit its bytes), and the disassembly of a window
 * of memory around an address.
 */
import {
  CMDLINE_OFF,
  LOADER_CODE,
  LOADER_LABELS,
  PARAMS_OFF,
  PARAMS_SIZE,
  STAGE1_CODE,
  STAGE1_FIELDS_OFF,
  STAGE2_ADDR,
  STAGE2_CODE,
} from '../boot/loader.generated';
import { decode } from './decode';
import { LOADER_STEPS } from './steps';

/** A walkthrough step with the address of its first instruction. */
export interface StepAddress {
  step: string;
  label: string;
  address: number;
}

const BY_NAME = new Map(LOADER_LABELS.map(([a, n]) => [n, a]));

/** Every walkthrough step that has code, at its address (LOADER_STEPS order). */
export const STEP_ADDRESSES: readonly StepAddress[] = LOADER_STEPS.map((s) => {
  const address = BY_NAME.get(s.label);
  if (address === undefined) throw new Error(`internal: no label ${s.label} in the loader's listing`);
  return { step: s.step, label: s.label, address };
});

/** The labels at an address (`gdt_end`, `gdtr` share one), in source order; empty when none. */
export function labelsAt(address: number): string[] {
  const out: string[] = [];
  for (const [a, n] of LOADER_LABELS) if (a === address) out.push(n);
  return out;
}

/** The nearest label at or below `address` inside the loader, and the distance from it, or null. */
export function labelBefore(address: number): { label: string; offset: number } | null {
  let best: readonly [number, string] | null = null;
  for (const l of LOADER_LABELS) if (l[0] <= address && (!best || l[0] > best[0])) best = l;
  if (!best || address >= STAGE2_ADDR + CMDLINE_OFF || (address >= 0x7e00 && address < STAGE2_ADDR)) return null;
  return { label: best[1], offset: address - best[0] };
}

/** LBA 0's boot code is this build's stage 1, its two patched fields (stage 2's LBA and sectors) aside. */
export function isOurStage1(lba0: Uint8Array): boolean {
  if (lba0.length < STAGE1_CODE.length) return false;
  for (let i = 0; i < STAGE1_CODE.length; i++) {
    if (i >= STAGE1_FIELDS_OFF && i < STAGE1_FIELDS_OFF + 6) continue;
    if (lba0[i] !== STAGE1_CODE[i]) return false;
  }
  return true;
}

/**
 * Whether LBA 0 and stage 2 (as read from the disk) hold this build's loader
 * code: stage 1 apart from its two patched fields, stage 2 apart from its
 * parameter block and what follows its code (the command line). Only then
 * do this build's labels and steps fit the bytes the emulator runs.
 */
export function isThisLoader(lba0: Uint8Array, stage2: Uint8Array | null): boolean {
  if (!isOurStage1(lba0) || !stage2 || stage2.length < CMDLINE_OFF) return false;
  for (let i = 0; i < CMDLINE_OFF; i++) {
    if (i >= PARAMS_OFF && i < PARAMS_OFF + PARAMS_SIZE) continue;
    if (stage2[i] !== STAGE2_CODE[i]) return false;
  }
  return true;
}

/** One line of a disassembly: an instruction, or a run of data bytes between the loader's code. */
export interface DisasmLine {
  address: number;
  /** The bytes, as hex pairs without spaces ("EA7C000000"). */
  bytes: string;
  /** Intel syntax, ndisasm's spelling; for data, `db` and the first bytes. */
  text: string;
  /** The labels at this address (empty for none). */
  labels: string[];
  kind: 'code' | 'data';
}

/** Longest data line: a gap in the code longer than this shows its first bytes and its length. */
const DATA_SHOWN = 4;

const hexBytes = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).toUpperCase().padStart(2, '0')).join('');

/** The code range of this build's loader holding `address`, or null. */
function codeRange(address: number): readonly [number, number, 16 | 32] | null {
  for (const r of LOADER_CODE) if (address >= r[0] && address < r[1]) return r;
  return null;
}

/**
 * The loader's code ranges next to `address` (the one holding it, and its
 * neighbours) disassembled from memory as it is now, with the data between
 * them as one line each. `read` gives a byte at a linear address; code
 * segment base 0 (the loader's, in both modes).
 */
function loaderLines(read: (a: number) => number, address: number): DisasmLine[] | null {
  const at = LOADER_CODE.findIndex((r) => address >= r[0] && address < r[1]);
  if (at < 0) return null;
  const lines: DisasmLine[] = [];
  const from = Math.max(0, at - 2);
  const to = Math.min(LOADER_CODE.length, at + 3);
  for (let k = from; k < to; k++) {
    const [start, end, bits] = LOADER_CODE[k];
    for (let a = start; a < end;) {
      const ins = decode((i) => read(a + i), a, bits);
      lines.push({ address: a, bytes: hexBytes(ins.bytes), text: ins.text, labels: labelsAt(a), kind: 'code' });
      a += ins.length;
    }
    const next = LOADER_CODE[k + 1];
    if (k + 1 < to && next[0] > end) lines.push(dataLine(read, end, next[0]));
  }
  return lines;
}

function dataLine(read: (a: number) => number, start: number, end: number): DisasmLine {
  const n = Math.min(DATA_SHOWN, end - start);
  const shown = Array.from({ length: n }, (_, i) => read(start + i));
  const text =
    `db ${shown.map((b) => '0x' + b.toString(16).padStart(2, '0')).join(',')}` +
    (end - start > n ? ` … (${end - start} bytes of data)` : '');
  return { address: start, bytes: hexBytes(new Uint8Array(shown)), text, labels: labelsAt(start), kind: 'data' };
}

/**
 * Up to `before` lines before the instruction at `address` and `after`
 * lines from it. Inside this build's loader (`known`) the lines come from
 * its code ranges, so they start on instruction boundaries and data is shown
 * as data; elsewhere (another build's loader, the kernel's entry) the window
 * starts at `address`, decoded in `bits`.
 */
export function disassembleAround(
  read: (a: number) => number,
  address: number,
  csBase: number,
  bits: 16 | 32,
  known: boolean,
  before = 8,
  after = 12,
): { lines: DisasmLine[]; current: number } {
  const loader = known && csBase === 0 && codeRange(address) ? loaderLines(read, address) : null;
  if (loader) {
    const i = loader.findIndex((l) => l.address === address && l.kind === 'code');
    if (i >= 0) {
      const from = Math.max(0, i - before);
      return { lines: loader.slice(from, i + after), current: i - from };
    }
  }
  const lines: DisasmLine[] = [];
  for (let a = address, n = 0; n < after; n++) {
    const eip = (a - csBase) >>> 0;
    const ins = decode((i) => read(a + i), eip, bits);
    lines.push({
      address: a,
      bytes: hexBytes(ins.bytes),
      text: ins.text,
      labels: known ? labelsAt(a) : [],
      kind: 'code',
    });
    a = (a + ins.length) >>> 0;
  }
  return { lines, current: 0 };
}
