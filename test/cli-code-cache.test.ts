/**
 * The CLI bundles' V8 code cache (scripts/cli-loader.cjs, scripts/code-cache.cjs): used
 * when it matches the bundle, and a stale or damaged cache costs time, never bytes.
 */
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { appendFileSync, copyFileSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { solo5Kernel } from './helpers/fixtures';
import { tempDir } from './helpers/tools';

const tmp = tempDir('ukd-code-cache-');
const p = tmp.path;
const LOADER = p('dist-cli/cli.cjs');
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Run the CLI through its loader in a fresh process; returns the status and what V8 said of the cache. */
function cli(args: string[]) {
  // The loader exports its compiled Script: cachedDataRejected is false (used), true (refused
  // by V8) or undefined (none given: missing, or not this bundle's).
  const probe = `process.argv = [process.argv[0], 'cli', ...${JSON.stringify(args)}];
const { script } = require(${JSON.stringify(LOADER)});
process.on('exit', () => process.stderr.write('\\ncache:' + script.cachedDataRejected + '\\n'));`;
  const r = spawnSync(process.execPath, ['-e', probe], {
    cwd: tmp.dir,
    encoding: 'utf8',
    env: { ...process.env, SOURCE_DATE_EPOCH: '' },
  });
  const m = /\ncache:(\w+)\n$/.exec(r.stderr);
  return { status: r.status, stderr: m ? r.stderr.slice(0, m.index) : r.stderr, cache: m?.[1] };
}

const build = (format: string, out: string) =>
  cli(['-q', '-f', format, '--timestamp', '2024-01-31', out, 'app.virtio', 'hello']);

beforeAll(() => {
  execFileSync(process.execPath, [
    new URL('../scripts/build-cli.mjs', import.meta.url).pathname,
    '--out',
    p('dist-cli'),
  ]);
  for (const d of ['out', 'out/before', 'out/after', 'out/good', 'out/damaged']) mkdirSync(p(d));
  writeFileSync(p('app.virtio'), solo5Kernel({ dataSize: 100 * 1024 }));
});
afterAll(() => tmp.cleanup());

describe('code cache', () => {
  it('is made at build time and used when it matches the bundle', () => {
    const r = build('tar', 'out/a.tar.gz');
    expect(r.status).toBe(0);
    expect(r.cache).toBe('false');
  });

  it('a cache that is not for this bundle is not given to V8, and the bytes are the same', () => {
    const before = ['tar', 'raw', 'vmdk'].map((f) => {
      expect(build(f, `out/before/disk.${f}`).status).toBe(0);
      return sha(p(`out/before/disk.${f}`));
    });
    // The bundle changes (a rebuild without the cache, an edit): same length is not enough.
    copyFileSync(p('dist-cli/cli.bundle.cjs'), p('bundle.orig'));
    try {
      const src = readFileSync(p('bundle.orig'), 'utf8');
      writeFileSync(p('dist-cli/cli.bundle.cjs'), src.replace('solo5-virtio-mkimage', 'solo5-virtio-mkimagE'));
      expect(readFileSync(p('dist-cli/cli.bundle.cjs')).length).toBe(src.length);
      const changed = cli(['--version']);
      expect(changed.cache).toBe('undefined');
      expect(changed.stderr).toBe('');
      appendFileSync(p('dist-cli/cli.bundle.cjs'), '\n// edited\n');
      ['tar', 'raw', 'vmdk'].forEach((f, i) => {
        const r = build(f, `out/after/disk.${f}`);
        expect(r.status).toBe(0);
        expect(r.cache).toBe('undefined');
        expect(sha(p(`out/after/disk.${f}`))).toBe(before[i]);
      });
    } finally {
      copyFileSync(p('bundle.orig'), p('dist-cli/cli.bundle.cjs'));
    }
  });

  it('a damaged cache is not given to V8, and the bytes are the same', () => {
    expect(build('tar', 'out/good/disk.tar.gz').cache).toBe('false');
    const cache = readFileSync(p('dist-cli/cli.cache'));
    const damaged = Buffer.from(cache);
    // V8's data follows the header and the bundle, twice: damage the first copy (the one
    // that would be used; V8's release builds do not check it, and crash on it).
    const dataLength = cache.readUInt32LE(cache.indexOf(0x0a) + 1 + 4); // after the header line and the bundle's length
    const end = cache.length - dataLength;
    for (let i = end - 2000; i < end - 1900; i++) damaged[i] ^= 0x5a;
    writeFileSync(p('dist-cli/cli.cache'), damaged);
    try {
      const r = build('tar', 'out/damaged/disk.tar.gz');
      expect(r.status).toBe(0);
      expect(r.cache).toBe('undefined');
      expect(sha(p('out/damaged/disk.tar.gz'))).toBe(sha(p('out/good/disk.tar.gz')));
    } finally {
      writeFileSync(p('dist-cli/cli.cache'), cache);
    }
  });
});
