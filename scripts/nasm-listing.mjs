// The boot loader as NASM sees it: a NASM listing (`nasm -l`) read for which
// bytes are code (and in which mode, from the `bits` lines) and which are data
// (db/dw/dd/dq, times, align), and where each label is. One parser for
// scripts/build-boot.mjs (the labels and code ranges it exports for the
// emulator's stepper) and test/helpers/nasm-listing.ts (the disassembly and
// QEMU comparison tests).

const DATA = /^(?:db|dw|dd|dq|dt|times|align|alignb|incbin|resb|resw|resd|resq)\b/i;

/**
 * @param {string} text the listing
 * @param {number} length bytes in the assembled file
 * @param {(expr: string) => number} evalOrg the value of an `org` operand (a number or a constant)
 * @returns {{ origin: number, regions: {start: number, end: number, kind: 'code'|'data', bits: 16|32}[], labels: Map<string, number> }}
 *   region offsets are in the file; label values are addresses (origin added); local labels as `parent.local`
 */
export function parseListing(text, length, evalOrg) {
  let bits = 16;
  let origin = 0;
  let parent = '';
  const stmts = [];
  const pendingLabels = [];
  const labels = new Map();
  let lastLine = -1;
  for (const raw of text.split('\n')) {
    const m = /^\s*(\d+) (?:([0-9A-F]{8}) ([0-9A-F[\]()-]+(?:<rep [0-9A-F]+h>)?))?\s*(?:<\d+>)?(.*)$/.exec(raw);
    if (!m) continue;
    const lineNo = Number(m[1]);
    let src = m[4].replace(/;.*$/, '').trim();
    if (m[2] !== undefined && src === '' && lineNo === lastLine) continue; // continuation of a long line
    lastLine = lineNo;
    const bitsM = /^(?:\[\s*)?bits\s+(16|32)/i.exec(src);
    if (bitsM) bits = Number(bitsM[1]);
    const orgM = /^org\s+(\S+)/i.exec(src);
    if (orgM) origin = evalOrg(orgM[1]);
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

  const regions = [];
  for (let i = 0; i < stmts.length; i++) {
    const s = stmts[i];
    const end = i + 1 < stmts.length ? stmts[i + 1].off : length;
    if (end <= s.off) continue;
    const last = regions[regions.length - 1];
    if (last && last.kind === s.kind && last.bits === s.bits && last.end === s.off) last.end = end;
    else regions.push({ start: s.off, end, kind: s.kind, bits: s.bits });
  }
  return { origin, regions, labels };
}

/**
 * The value of `org`'s operand: a number, or a constant of layout.inc.
 * @param {string} s
 * @param {string} layout the text of layout.inc
 * @returns {number}
 */
export function evalOrg(s, layout) {
  if (/^0x[0-9a-f]+$/i.test(s)) return parseInt(s, 16);
  if (/^\d+$/.test(s)) return Number(s);
  const m = new RegExp(`^${s}\\s+equ\\s+(\\S+)`, 'm').exec(layout);
  if (!m) throw new Error(`nasm-listing: cannot evaluate org ${s}`);
  return evalOrg(m[1], layout);
}
