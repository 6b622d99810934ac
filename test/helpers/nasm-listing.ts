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
import { evalOrg, parseListing, type ListingRegion } from '../../scripts/nasm-listing.mjs';

const BOOT_SRC = resolve(__dirname, '../../src/boot');

export type Region = ListingRegion;

export interface Listing {
  bytes: Uint8Array;
  /** The `org`: the address of the file's first byte. */
  origin: number;
  regions: Region[];
  /** Label → address (local labels as `parent.local`). */
  labels: Map<string, number>;
}

/** Assemble `src` (stage1.asm, stage2.asm) into `dir` and parse its listing (scripts/nasm-listing.mjs). */
export function assembleListing(dir: string, src: string): Listing {
  const out = join(dir, src.replace(/\.asm$/, '.bin'));
  const lst = join(dir, src.replace(/\.asm$/, '.lst'));
  execFileSync('nasm', ['-f', 'bin', '-I', BOOT_SRC + '/', '-l', lst, '-o', out, join(BOOT_SRC, src)]);
  const bytes = new Uint8Array(readFileSync(out));
  const layout = readFileSync(join(BOOT_SRC, 'layout.inc'), 'utf8');
  const parsed = parseListing(readFileSync(lst, 'utf8'), bytes.length, (s) => evalOrg(s, layout));
  return { bytes, ...parsed };
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
