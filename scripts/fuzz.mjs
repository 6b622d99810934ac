// npm run fuzz: bundle the kernel fuzzer (scripts/fuzz-run.ts) and the image
// fuzzer (scripts/fuzz-images.ts, structured hostile images) and run each in
// a Node process with a capped heap, so that a parse whose memory grows with
// hostile input aborts (and fails) instead of swapping. Options go to the
// fuzzers; --only kernels|images runs one:
//   npm run fuzz -- --seed 7 --seconds 600 --cases 1000000
// Defaults here are the long local run; test/fuzz.test.ts runs short ones.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const HEAP_MIB = 256;
const work = mkdtempSync(join(tmpdir(), 'ukd-fuzz-'));
try {
  const args = process.argv.slice(2);
  const only = args.indexOf('--only');
  const which = only >= 0 ? [args.splice(only, 2)[1]] : ['kernels', 'images'];
  const defaults = { '--seed': String(Date.now() % 100000), '--seconds': '300', '--cases': '100000000' };
  for (const [k, v] of Object.entries(defaults)) if (!args.includes(k)) args.push(k, v);
  for (const [name, entry] of [
    ['kernels', 'fuzz-run.ts'],
    ['images', 'fuzz-images.ts'],
  ]) {
    if (!which.includes(name)) continue;
    const out = join(work, entry.replace(/\.ts$/, '.mjs'));
    await build({
      entryPoints: [new URL(`./${entry}`, import.meta.url).pathname],
      outfile: out,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'warning',
    });
    const r = spawnSync(process.execPath, [`--max-old-space-size=${HEAP_MIB}`, '--expose-gc', out, ...args], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (r.signal || r.status !== 0) {
      process.stderr.write(
        `fuzz: the ${name} fuzzer ${r.signal ? `was killed by ${r.signal}` : `exited with status ${r.status}`} (heap cap ${HEAP_MIB} MiB); rerun with the same --seed to reproduce.\n`,
      );
      process.exitCode = 1;
      break;
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
