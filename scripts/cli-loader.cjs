// dist-cli/NAME.cjs, copied there by scripts/build-cli.mjs: loads the bundle NAME.bundle.cjs
// with the V8 code cache NAME.cache that the build made for it (scripts/code-cache.cjs).
// A CLI run is short, and without the cache a good part of it went to parsing and
// compiling the bundle's functions. The cache is only a hint:
// - it is used only when the copy of the bundle stored in it is byte for byte the bundle
//   here (V8's own check compares the length of the source, not its bytes), and its two
//   copies of V8's data are equal;
// - V8 refuses it (and compiles as usual) for another Node/V8 version or other V8 flags.
// Either way the bundle's code is what runs: a stale or missing cache costs time, never bytes.
// Nothing is written at run time.
'use strict';
const { readFileSync } = require('node:fs');
const { Script } = require('node:vm');

const base = __filename.slice(0, -'.cjs'.length);
const bundle = `${base}.bundle.cjs`;
let source;
try {
  source = readFileSync(bundle);
} catch (e) {
  process.stderr.write(
    `${bundle} cannot be read (${e.code ?? e}); run \`npm install\` (or \`npm run build:cli\`) in the project first.\n`,
  );
  process.exit(1);
}

/**
 * The cache file: this header, the bundle's length and V8's data's length (u32 LE each),
 * the bundle, then V8's data twice. V8's release builds do not checksum a code cache (a
 * damaged one can crash the process or worse), and a checksum in JavaScript would cost
 * more than the cache saves: a second copy, compared natively, catches any damage.
 */
const MAGIC = 'unikernel-disk V8 code cache 2\n';

function codeCache() {
  let c;
  try {
    c = readFileSync(`${base}.cache`);
  } catch {
    return undefined;
  }
  const at = MAGIC.length + 8;
  if (c.length < at || c.toString('latin1', 0, MAGIC.length) !== MAGIC) return undefined;
  const n = c.readUInt32LE(MAGIC.length);
  const d = c.readUInt32LE(MAGIC.length + 4);
  if (n !== source.length || c.length !== at + n + 2 * d || !c.subarray(at, at + n).equals(source)) return undefined;
  const data = c.subarray(at + n, at + n + d);
  return data.equals(c.subarray(at + n + d)) ? data : undefined;
}

// The same wrapper as Node's own for CommonJS files.
const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
  filename: bundle,
  cachedData: codeCache(),
});
// For scripts/code-cache.cjs (and its test): the compiled bundle.
module.exports = { script, bundle, dir: __dirname, source, MAGIC };
const m = { exports: {} };
script.runInThisContext()(m.exports, require, m, bundle, __dirname);
