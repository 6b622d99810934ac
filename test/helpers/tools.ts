/**
 * The real programs our tests read images back with. Locally a missing tool
 * skips the tests that need it; in CI (CI=true) a missing tool is a failure,
 * because a skipped oracle proves nothing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cache = new Map<string, boolean>();

export function have(tool: string): boolean {
  let ok = cache.get(tool);
  if (ok === undefined) {
    ok = spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
    cache.set(tool, ok);
  }
  return ok;
}

export const inCI = process.env.CI === 'true' || process.env.CI === '1';

/**
 * Use as `describe.skipIf(!tools('qemu-system-x86_64'))(...)`. In CI it throws
 * instead of returning false, so the suite fails rather than skips.
 */
export function tools(...names: string[]): boolean {
  const missing = names.filter((n) => !have(n));
  if (missing.length === 0) return true;
  if (inCI) throw new Error(`required test tool(s) missing in CI: ${missing.join(', ')} (install them in .ci/run)`);
  return false;
}

/** Run a program, return stdout; throws with stderr on a non-zero exit. */
export function run(
  cmd: string,
  args: string[],
  opts: { input?: Uint8Array | string; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 256 << 20, ...opts });
}

/** Run a program and return everything, never throwing. */
export function runAll(
  cmd: string,
  args: string[],
  opts: { input?: Uint8Array | string; cwd?: string; timeout?: number; env?: NodeJS.ProcessEnv } = {},
) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20, ...opts });
  return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

/** A fresh temporary directory, removed by the returned cleanup function. */
export function tempDir(prefix = 'ukd-'): { dir: string; path: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: (n) => join(dir, n), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
