/**
 * The kernel fuzzer in CI (issue 9): a fixed seed and a bounded time, in a
 * process with a capped heap (scripts/fuzz.mjs). Mutated ELF headers,
 * program headers, notes and Multiboot headers of the test kernels and the
 * demo kernel must give only the core's coded errors, each within a second.
 * `npm run fuzz` is the longer local run.
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
});
