/**
 * The npm package as a new user gets it: `npm pack` of this checkout (a copy of it without
 * dist-cli/, so that "prepack" builds the bundles as it does in a fresh clone), then
 * `npm install -g --ignore-scripts --offline` of the tarball into an empty prefix with an
 * empty npm cache (nothing may be fetched: the bundles are self-contained, the package has
 * no dependencies), then the three bins, run from that prefix outside the checkout: their
 * versions, a build from the demo kernel, inspect, verify, extract and a dry run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { tempDir } from './helpers/tools';

const ROOT = new URL('..', import.meta.url).pathname;
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const tmp = tempDir('ukd-package-');
const p = tmp.path;
/** The issue's limit for the tarball. */
const MAX_TARBALL = 1.5e6;

/** The environment of a user's shell: none of the `npm test` run's npm_* settings, our own empty npm cache and config. */
function userEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  delete env.NODE_PATH;
  delete env.NODE_OPTIONS;
  return {
    ...env,
    npm_config_cache: p('npm-cache'),
    npm_config_userconfig: p('npmrc'),
    npm_config_update_notifier: 'false',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    SOURCE_DATE_EPOCH: '',
  };
}

function npm(args: string[], cwd: string) {
  const r = spawnSync('npm', args, { cwd, env: userEnv(), encoding: 'utf8', timeout: 300_000, killSignal: 'SIGKILL' });
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  return r.stdout;
}

/** A bin installed in the prefix, run as a user runs it (its #! line finds node on PATH). */
function bin(name: string, args: string[]) {
  const r = spawnSync(p(`prefix/bin/${name}`), args, {
    cwd: p('work'),
    env: { ...userEnv(), PATH: `${p('prefix/bin')}:${dirname(process.execPath)}:/usr/bin:/bin` },
    encoding: 'utf8',
    timeout: 120_000,
    killSignal: 'SIGKILL',
  });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

interface Packed {
  filename: string;
  size: number;
  files: { path: string; size: number }[];
}
let packed: Packed;
let tarball: string;
let installed: Record<string, unknown>;

beforeAll(() => {
  // The checkout as a clone has it: no built bundles, no page build, no test output.
  const skip = new Set(['node_modules', 'dist', 'dist-cli', '.git', 'test-results', '.cache', 'tmp']);
  cpSync(ROOT, p('src'), {
    recursive: true,
    filter: (from) => !skip.has(basename(from)) && !from.endsWith('.tmp'),
  });
  // The project's devDependencies, for "prepack" (esbuild) only.
  symlinkSync(realpathSync(join(ROOT, 'node_modules')), p('src/node_modules'));
  for (const d of ['npm-cache', 'pack', 'prefix', 'work']) mkdirSync(p(d));
  writeFileSync(p('npmrc'), '');
  [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', p('pack')], p('src'))) as Packed[];
  tarball = p(`pack/${packed.filename}`);
  npm(['install', '-g', '--ignore-scripts', '--offline', '--prefix', p('prefix'), tarball], p('work'));
  installed = JSON.parse(readFileSync(p('prefix/lib/node_modules/unikernel-disk/package.json'), 'utf8'));
}, 600_000);
afterAll(() => tmp.cleanup());

describe('the npm package', () => {
  it('holds the bins, their bundles, the README and the LICENSE: no tests, no sources, no code cache', () => {
    const paths = packed.files.map((f) => f.path).sort();
    const names = Object.keys(PKG.bin).map((b) => PKG.bin[b] as string);
    const bundles = ['cli', 'disk', 'run'].flatMap((n) => [`dist-cli/${n}.bundle.cjs`, `dist-cli/${n}.cjs`]);
    expect(paths).toEqual(['LICENSE', 'README.md', 'package.json', 'bin/launch.cjs', ...names, ...bundles].sort());
    expect(readFileSync(p('src/LICENSE'), 'utf8')).toMatch(/^ISC License\n/);
    expect(statSync(tarball).size).toBe(packed.size);
    expect(packed.size).toBeLessThanOrEqual(MAX_TARBALL);
  });

  it('package.json: licence, repository, homepage, keywords, files, engines; not private, nothing to fetch', () => {
    expect(installed.license).toBe('ISC');
    expect(installed.private).toBeUndefined();
    expect(installed.repository).toMatchObject({ type: 'git', url: expect.stringMatching(/^git\+https:\/\//) });
    expect(installed.homepage).toMatch(/^https:\/\//);
    expect(installed.keywords).toEqual(expect.arrayContaining(['unikernel', 'solo5', 'mirageos']));
    expect(installed.files).toEqual(PKG.files);
    expect(installed.engines).toEqual({ node: '>=20' });
    // The bundles carry fflate and everything else: an install needs no registry.
    expect(installed.dependencies ?? {}).toEqual({});
    expect(PKG.scripts.prepack).toMatch(/build-cli/);
    expect(PKG.scripts.prepare).toMatch(/build-cli/);
  });

  it("each bin's --version is package.json's", () => {
    for (const name of Object.keys(PKG.bin)) {
      const r = bin(name, ['--version']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(`${name} ${PKG.version}\n`);
      expect(r.status).toBe(0);
    }
  });

  it('the three bins build, inspect, verify, extract and dry-run the demo kernel from the prefix', () => {
    const made = bin('solo5-virtio-mkimage', ['-f', 'qcow2', 'app.qcow2', '--demo', 'hello']);
    expect(made.stderr).toMatch(/^solo5-virtio-mkimage: wrote app\.qcow2 \(qcow2/);
    expect(made.status).toBe(0);

    const inspect = bin('unikernel-disk', ['inspect', 'app.qcow2', '--json']);
    expect(inspect.status).toBe(0);
    expect(JSON.parse(inspect.stdout)).toMatchObject({ format: 'qcow2', bootloader: { args: 'hello' } });
    const verify = bin('unikernel-disk', ['verify', 'app.qcow2']);
    expect(verify.status).toBe(0);
    expect(bin('unikernel-disk', ['extract', 'app.qcow2', 'app.virtio']).status).toBe(0);
    expect(readFileSync(p('work/app.virtio')).equals(DEMO_KERNEL)).toBe(true);

    const dry = bin('solo5-virtio-run', ['--dry-run', 'app.qcow2']);
    expect(dry.status).toBe(0);
    // The boot image reaches QEMU only as a local file: a json: node with an explicit file driver.
    expect(dry.stdout).toMatch(
      /^qemu-system-x86_64 .*-drive 'file=json:\{"driver":"qcow2",,"backing":null,,"file":\{"driver":"file",,"filename":"app\.qcow2"\}\},/m,
    );
  });
});
