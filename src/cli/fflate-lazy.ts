/**
 * fflate for the CLI bundles, evaluated on first use. scripts/build-cli.mjs
 * resolves every `import ... from 'fflate'` of the core to this module, and
 * `fflate-eager` below to fflate's browser build (the very module the page
 * bundles), which esbuild then wraps so that it runs on the first call here.
 * fflate builds its Huffman and length tables when it is evaluated (some
 * 100,000 loop turns, interpreted at start-up): the raw, qcow2, VHD, VDI and
 * sparse VMDK paths never deflate, so they no longer pay for them. The
 * compressor is the same code either way: same bytes.
 *
 * Only the names the core imports are here; a new one fails the bundle build
 * ("No matching export"), never a run.
 */
import type * as Fflate from 'fflate';

let real: typeof Fflate | undefined;
function fflate(): typeof Fflate {
  if (!real) {
    // A CLI run is one cold pass over the data: the deflate loop runs long enough to be
    // optimised on the stack (OSR), and V8's default compiles that in a background thread
    // while the loop goes on interpreted. Compiling it at once, on the main thread, takes
    // a third off the tar path's CPU time (measured again for issue 9: 189 -> 130 ms of
    // CPU over Node's start-up on a loaded 2-core machine), with the same bytes: only
    // when code is compiled changes, not what it computes. Set here, not at start-up, so
    // that the paths that never deflate do not load node:v8 (which loads Node's streams),
    // and so that the code cache (scripts/code-cache.cjs) is checked against V8's default flags.
    (require('node:v8') as typeof import('node:v8')).setFlagsFromString('--no-concurrent-osr');
    real = require('fflate-eager') as typeof Fflate;
  }
  return real;
}

// `new Gzip(...)` on a function that returns an object yields that object: fflate's own.
export const Gzip = function (...args: ConstructorParameters<typeof Fflate.Gzip>) {
  return new (fflate().Gzip)(...args);
} as unknown as typeof Fflate.Gzip;

export const Gunzip = function (...args: ConstructorParameters<typeof Fflate.Gunzip>) {
  return new (fflate().Gunzip)(...args);
} as unknown as typeof Fflate.Gunzip;

export const zlibSync: typeof Fflate.zlibSync = (...args: Parameters<typeof Fflate.zlibSync>) =>
  fflate().zlibSync(...args);

export const inflateSync = ((...args: Parameters<typeof Fflate.inflateSync>) =>
  fflate().inflateSync(...args)) as typeof Fflate.inflateSync;
