/**
 * The boot loader as NASM sees it: assemble stage 1 and stage 2 with a
 * listing (`nasm -l`) and read from it which bytes are code (and in which
 * mode, from the `bits` lines) and which are data (db/dw/dd/dq, times, align),
 * and where each label is. The emulator's tests use this to walk the code as
 * ndisasm does, data regions excluded, and to find the walkthrough's labels.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const BOOT_SRC = resolve(__dirname, '../../src/boot');

export interface Region {
  /** Offset in the assembled file. */
  start: number;
  end: number;
  kind: 'code' | 'data';
  /** Operand size of code regions (16 or 32). */
  bits: 16 | 32;
}

export interface Listing {
  bytes: Uint8Array;
  /** The `org`: the address of the file's first byte. */
  origin: number;
  regions: Region[];
  /** Label → address (local labels as `parent.local`). */
  labels: Map<string, number>;
}

const DATA = /^(?:db|dw|dd|dq|dt|times|align|alignb|incbin|resb|resw|resd|resq)\b/i;

/** Assemble `src` (stage1.asm, stage2.asm) into `dir` and parse its listing. */
export function assembleListing(dir: string, src: string): Listing {
  const out = join(dir, src.replace(/\.asm$/, '.bin'));
  const lst = join(dir, src.replace(/\.asm$/, '.lst'));
  execFileSync('nasm', ['-f', 'bin', '-I', BOOT_SRC + '/', '-l', lst, '-o', out, join(BOOT_SRC, src)]);
  const bytes = new Uint8Array(readFileSync(out));
  const text = readFileSync(lst, 'utf8');

  let bits: 16 | 32 = 16;
  let origin = 0;
  let parent = '';
  const stmts: { off: number; kind: 'code' | 'data'; bits: 16 | 32 }[] = [];
  const pendingLabels: string[] = [];
  const labels = new Map<string, number>();
  let lastLine = -1;
  for (const raw of text.split('\n')) {
    const m = /^\s*(\d+) (?:([0-9A-F]{8}) ([0-9A-F[\]()-]+(?:<rep [0-9A-F]+h>)?))?\s*(?:<\d+>)?(.*)$/.exec(raw);
    if (!m) continue;
    const lineNo = Number(m[1]);
    let src = m[4].replace(/;.*$/, '').trim();
    if (m[2] !== undefined && src === '' && lineNo === lastLine) continue; // continuation of a long line
    lastLine = lineNo;
    const bitsM = /^(?:\[\s*)?bits\s+(16|32)/i.exec(src);
    if (bitsM) bits = Number(bitsM[1]) as 16 | 32;
    const orgM = /^org\s+(\S+)/i.exec(src);
    if (orgM) origin = evalNum(orgM[1]);
    const lab = /^([.A-Za-z_%$?@][\w.%$?@]*):\s*(.*)$/.exec(src);
    if (lab) {
      let name = lab[1];
      if (name.startsWith('%%')) name = '';
      else if (name.startsWith('.')) name = parent + name;
      else parent = name;
      if (name) pendingLabels.push(name);
      src = lab[2];
    }
    if (m[2] === undefined) continue;
    const off = parseInt(m[2], 16);
    for (const l of pendingLabels.splice(0)) labels.set(l, off);
    stmts.push({ off, kind: DATA.test(src) ? 'data' : 'code', bits });
  }
  for (const [k, v] of labels) labels.set(k, v + origin);

  const regions: Region[] = [];
  for (let i = 0; i < stmts.length; i++) {
    const s = stmts[i];
    const end = i + 1 < stmts.length ? stmts[i + 1].off : bytes.length;
    if (end <= s.off) continue;
    const last = regions[regions.length - 1];
    if (last && last.kind === s.kind && last.bits === s.bits && last.end === s.off) last.end = end;
    else regions.push({ start: s.off, end, kind: s.kind, bits: s.bits });
  }
  return { bytes, origin, regions, labels };
}

function evalNum(s: string): number {
  if (/^0x[0-9a-f]+$/i.test(s)) return parseInt(s, 16);
  if (/^\d+$/.test(s)) return Number(s);
  // `org STAGE2_ADDR`: look the constant up in layout.inc
  const layout = readFileSync(join(BOOT_SRC, 'layout.inc'), 'utf8');
  const m = new RegExp(`^${s}\\s+equ\\s+(\\S+)`, 'm').exec(layout);
  if (!m) throw new Error(`nasm-listing: cannot evaluate org ${s}`);
  return evalNum(m[1]);
}

/** ndisasm's text for a slice, one `{address, bytes, text}` per instruction (continuation lines joined). */
export function ndisasm(
  dir: string,
  bytes: Uint8Array,
  bits: 16 | 32,
  origin: number,
): { address: number; hex: string; text: string }[] {
  const f = join(dir, `slice-${origin.toString(16)}.bin`);
  execFileSync('sh', ['-c', 'cat > "$0"', f], { input: bytes });
  const out = execFileSync('ndisasm', ['-b', String(bits), '-o', String(origin), f], { encoding: 'utf8' });
  const rows: { address: number; hex: string; text: string }[] = [];
  for (const line of out.split('\n')) {
    if (!line.trim()) continue;
    const cont = /^\s+-([0-9A-F]+)\s*$/.exec(line);
    if (cont) {
      rows[rows.length - 1].hex += cont[1];
      continue;
    }
    const m = /^([0-9A-F]{8})\s+([0-9A-F]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`ndisasm: unexpected line ${JSON.stringify(line)}`);
    rows.push({ address: parseInt(m[1], 16), hex: m[2], text: m[3].trim().replace(/\s+/g, ' ') });
  }
  return rows;
}
