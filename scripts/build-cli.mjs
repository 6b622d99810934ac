// Bundle the CLI into one CommonJS file so that Node starts it with a single
// module load (start-up time is most of a run). Measured here (hyperfine, 30
// runs, 1 GiB raw image): CommonJS starts about 15 ms sooner than the same
// bundle as ESM, since Node's ESM loader and its `node:fs` facade (which loads
// the whole streams stack) are never touched. fflate's browser build is the
// same compressor without the `worker_threads` import of its Node build (we
// only use its synchronous classes), so the bytes match the page's.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
// Two bins, one bundle each: solo5-virtio-mkimage (cli.cjs) and unikernel-disk (disk.cjs).
// `--out DIR` writes them elsewhere than dist-cli/ (a test's own copy, so that tests
// running side by side never see a bundle being rewritten).
const outAt = process.argv.indexOf('--out');
const outDir = outAt > 0 ? resolve(process.argv[outAt + 1]) : new URL('../dist-cli', import.meta.url).pathname;
const bins = [
  ['../src/cli/entry.ts', 'cli.cjs'],
  ['../src/cli/disk-entry.ts', 'disk.cjs'],
];
for (const [entry, out] of bins)
  await build({
    entryPoints: [new URL(entry, import.meta.url).pathname],
    outfile: join(outDir, out),
    // The Node runtime's tsconfig (strict, so the bundle starts with "use strict"); the
    // root tsconfig.json only lists the per-runtime ones.
    tsconfig: new URL('../tsconfig.node.json', import.meta.url).pathname,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    minify: true,
    legalComments: 'none',
    alias: { fflate: 'fflate/browser' },
    define: { __VERSION__: JSON.stringify(pkg.version) },
    logLevel: 'warning',
  });
