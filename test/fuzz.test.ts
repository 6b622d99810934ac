/**
 * The fuzzers in CI (issues 9 and 17): a fixed seed and a bounded time, in a
 * process with a capped heap (scripts/fuzz.mjs). Mutated ELF headers,
 * program headers, notes and Multiboot headers of the test kernels and the
 * demo kernel must give only the core's coded errors, each within a second;
 * structured hostile images (shared table entries, many tar members, shared
 * FAT chains, broken loaders) only coded errors, within each file's time
 * and memory. `npm run fuzz` is the longer local run of both.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { tempDir } from './helpers/tools';

describe('kernel fuzzer', () => {
  it('a fixed seed for 15 s: only coded errors, no hang, bounded memory', () => {
    const tmp = tempDir('ukd-fuzz-test-');
    const r = spawnSync(
      process.execPath,
      [
        new URL('../scripts/fuzz.mjs', import.meta.url).pathname,
        '--seed',
        '20261130',
        '--seconds',
        '15',
        '--cases',
        '3000',
        '--only',
        'kernels',
      ],
      { cwd: tmp.dir, encoding: 'utf8', timeout: 120_000 },
    );
    tmp.cleanup();
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const result = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(result.ok).toBe(true);
    expect(result.cases).toBeGreaterThan(100);
    // It reached both outcomes and many different refusals.
    expect(result.accepted).toBeGreaterThan(0);
    expect(Object.keys(result.codes).length).toBeGreaterThan(10);
    expect(result.maxRssMiB).toBeLessThan(512);
  }, 150_000);

  it('structured hostile images, a fixed seed: coded errors only, each file within its time and memory', () => {
    const tmp = tempDir('ukd-fuzz-img-test-');
    const r = spawnSync(
      process.execPath,
      [
        new URL('../scripts/fuzz.mjs', import.meta.url).pathname,
        '--only',
        'images',
        '--seed',
        '20261205',
        '--seconds',
        '40',
        '--cases',
        '21',
      ],
      { cwd: tmp.dir, encoding: 'utf8', timeout: 240_000 },
    );
    tmp.cleanup();
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const result = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(result.ok).toBe(true);
    // Every generator ran; some images were copied whole, others refused.
    expect(Object.keys(result.perGenerator).length).toBe(7);
    expect(result.copied).toBeGreaterThan(0);
    expect(Object.keys(result.codes).length).toBeGreaterThan(0);
    expect(result.maxCaseMib).toBeLessThan(192);
  }, 300_000);
});
