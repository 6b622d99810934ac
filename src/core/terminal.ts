/**
 * Text read from an image (a qcow2 backing name, a VHD parent name, a VMDK
 * parent hint, a FAT long name, the command line...) is untrusted: printed
 * raw, an escape sequence in it drives the reader's terminal (moves the
 * cursor, retitles the window, hides the rest of a line). `terminalSafe` is
 * the one function that makes such text safe to print, for the core's own
 * sentences and for everything the CLIs print (names, the manifest, paths
 * given by the user): every C0 control (U+0000..U+001F), DEL and C1 control
 * (U+0080..U+009F) is shown as an escape (`\t`, `\n`, `\r`, else `\xHH`:
 * ESC is `\x1b`); lone surrogates, the line and paragraph separators
 * (U+2028, U+2029, which forge a line) and the bidirectional marks,
 * embeddings, overrides and isolates (U+061C, U+200E, U+200F,
 * U+202A..U+202E, U+2066..U+2069, which reorder what follows them) as
 * `\u{HHHH}`. Other text, non-ASCII included, is kept as it is. JSON output
 * escapes on its own.
 */

const NAMED: Record<number, string> = { 0x09: '\\t', 0x0a: '\\n', 0x0d: '\\r' };

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** `s` with every character that could act on a terminal shown as an escape (see the module comment). */
export function terminalSafe(s: string): string {
  let out = '';
  let plain = 0; // start of the run of characters kept as they are
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string | undefined;
    if (c < 0x20 || c === 0x7f || (c >= 0x80 && c <= 0x9f)) {
      rep = NAMED[c] ?? `\\x${hex2(c)}`;
    } else if (
      c === 0x061c ||
      c === 0x200e ||
      c === 0x200f ||
      (c >= 0x2028 && c <= 0x202e) ||
      (c >= 0x2066 && c <= 0x2069)
    ) {
      rep = `\\u{${c.toString(16)}}`;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = s.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++; // a valid pair: kept
        continue;
      }
      rep = `\\u{${c.toString(16)}}`;
    }
    if (rep === undefined) continue;
    out += s.slice(plain, i) + rep;
    plain = i + 1;
  }
  return plain === 0 ? s : out + s.slice(plain);
}
