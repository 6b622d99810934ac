// Bundle the CLI into one CommonJS file so that Node starts it with a single
// module load (start-up time is most of a run). Measured here (hyperfine, 30
// runs, 1 GiB raw image): CommonJS starts about 15 ms sooner than the same
// bundle as ESM, since Node's ESM loader and its `node:fs` facade (which loads
// the whole streams stack) are never touched. fflate's browser build is the
// same compressor without the `worker_threads` import of its Node build (we
// only use its synchronous classes), so the bytes match the page's.
//
// Each bin's dist-cli/NAME.cjs is a small loader (scripts/cli-loader.cjs) that runs the
// bundle NAME.bundle.cjs with a V8 code cache, NAME.cache, made here by training runs
// (scripts/code-cache.cjs): parsing and compiling the bundle was a good part of a run.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
// `--prepare` (package.json's "prepare", run by `npm install` in a git checkout): npm also
// runs "prepare" for `npm pack` and `npm publish`, right after "prepack" has built the
// bundles for the tarball; nothing is left to do then.
if (process.argv.includes('--prepare') && ['pack', 'publish'].includes(process.env.npm_command ?? '')) process.exit(0);
// `--no-code-cache` ("prepack"): the bundles only. The tarball carries no code cache: one is
// valid only for the Node (V8 version and flags) that made it, which is rarely the one that
// runs an installed package, and a refused cache would be read at every start for nothing.
// (A cache left in dist-cli/ by an earlier build stays usable when the bundle is unchanged.)
const codeCache = !process.argv.includes('--no-code-cache');
// Three bins, one bundle each: solo5-virtio-mkimage (cli.cjs), unikernel-disk (disk.cjs)
// and solo5-virtio-run (run.cjs).
// `--out DIR` writes them elsewhere than dist-cli/ (a test's own copy, so that tests
// running side by side never see a bundle being rewritten).
const outAt = process.argv.indexOf('--out');
const outDir = outAt > 0 ? resolve(process.argv[outAt + 1]) : new URL('../dist-cli', import.meta.url).pathname;
// fflate is evaluated on first use (src/cli/fflate-lazy.ts): every `from 'fflate'` of the
// core resolves to that module, whose `require('fflate-eager')` is fflate's browser build
// cut down to the names that module exports (esbuild keeps all of a module that is
// required, so the cut is made here, by a build of its own).
const lazyFflate = {
  name: 'lazy-fflate',
  setup(b) {
    const shim = new URL('../src/cli/fflate-lazy.ts', import.meta.url).pathname;
    b.onResolve({ filter: /^fflate$/ }, (args) => (args.importer === shim ? undefined : { path: shim }));
    b.onResolve({ filter: /^fflate-eager$/ }, () => ({ path: 'fflate-eager', namespace: 'fflate-eager' }));
    b.onLoad({ filter: /.*/, namespace: 'fflate-eager' }, async () => {
      const names = [...readFileSync(shim, 'utf8').matchAll(/^export const (\w+)/gm)].map((m) => m[1]);
      const sub = await build({
        stdin: { contents: `export { ${names.join(', ')} } from 'fflate/browser';`, resolveDir: dirname(shim) },
        absWorkingDir: new URL('..', import.meta.url).pathname,
        bundle: true,
        format: 'esm',
        target: 'node20',
        legalComments: 'none',
        logLevel: 'warning',
        write: false,
      });
      return { contents: sub.outputFiles[0].text, loader: 'js' };
    });
  },
};
// Training runs for the code cache, per bundle ("{tmp}" is a scratch directory): every
// output format from the demo kernel, then inspecting two of the images made.
const formats = codeCache
  ? JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', await formatList()], { encoding: 'utf8' }))
  : [];
const bins = [
  [
    '../src/cli/mkimage-entry.ts',
    'cli',
    formats.map(([id, ext]) => ['-q', '-f', id, `{tmp}/train${ext}`, '--demo', 'train']),
  ],
  [
    '../src/cli/disk-entry.ts',
    'disk',
    [['--help'], ...formats.slice(0, 2).map(([, ext]) => ['inspect', `{tmp}/train${ext}`])],
  ],
  ['../src/cli/run-entry.ts', 'run', [['--help']]],
];

/** A module that prints the output formats' ids and file extensions as JSON. */
async function formatList() {
  const r = await build({
    stdin: {
      contents: `import { FORMATS } from './src/core/formats/index';
process.stdout.write(JSON.stringify(FORMATS.map((f) => [f.id, f.extension])));`,
      resolveDir: new URL('..', import.meta.url).pathname,
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    alias: { fflate: 'fflate/browser' },
    logLevel: 'warning',
    write: false,
  });
  return r.outputFiles[0].text;
}

const scratch = mkdtempSync(join(tmpdir(), 'ukd-build-cli-'));
try {
  for (const [entry, name, training] of bins) await buildBin(entry, name, training);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

async function buildBin(entry, name, training) {
  const result = await build({
    entryPoints: [new URL(entry, import.meta.url).pathname],
    outfile: join(outDir, `${name}.bundle.cjs`),
    // resolve packages (and the fflate alias) from the project, whatever the current directory
    absWorkingDir: new URL('..', import.meta.url).pathname,
    // The Node runtime's tsconfig (strict, so the bundle starts with "use strict"); the
    // root tsconfig.json only lists the per-runtime ones.
    tsconfig: new URL('../tsconfig.node.json', import.meta.url).pathname,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    minify: true,
    legalComments: 'none',
    plugins: [lazyFflate],
    define: { __VERSION__: JSON.stringify(pkg.version) },
    logLevel: 'warning',
    write: false,
  });
  // To a temporary file renamed into place: a test file building the bins while
  // another one runs them never sees half a bundle.
  for (const f of result.outputFiles) {
    mkdirSync(dirname(f.path), { recursive: true });
    const tmp = `${f.path}.${process.pid}.tmp`;
    writeFileSync(tmp, f.contents);
    renameSync(tmp, f.path);
  }
  const loader = join(outDir, `${name}.cjs`);
  const tmp = `${loader}.${process.pid}.tmp`;
  copyFileSync(new URL('cli-loader.cjs', import.meta.url), tmp);
  renameSync(tmp, loader);
  // The code cache is a speed-up only: without it the bins work, and start slower.
  if (!codeCache) return;
  try {
    execFileSync(
      process.execPath,
      [
        new URL('code-cache.cjs', import.meta.url).pathname,
        loader,
        JSON.stringify(training).replaceAll('{tmp}', scratch),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], cwd: scratch },
    );
  } catch (e) {
    process.stderr.write(
      `build-cli: no code cache for ${name} (${String(e.stderr ?? e).trim()}); the bin works, only starts slower.\n`,
    );
  }
}
