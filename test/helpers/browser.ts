/**
 * Build the page once, serve it with `vite preview`, and drive Debian's
 * Chromium with playwright-core (no downloaded browsers).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const VITE = 'node_modules/.bin/vite';
/** Another config (e.g. with a local shim) for development runs; the default is the project's. */
const CONFIG = process.env.WEB_VITE_CONFIG ? ['-c', process.env.WEB_VITE_CONFIG] : [];

export function haveChromium(): boolean {
  return existsSync(CHROMIUM);
}

/** `vite build` into dist/; throws with vite's output on failure. */
export function buildPage(): void {
  // vitest sets NODE_ENV=test, which would make vite build a non-production bundle.
  const r = spawnSync(VITE, ['build', '--logLevel', 'warn', ...CONFIG], {
    encoding: 'utf8',
    env: { ...process.env, NODE_ENV: 'production' },
  });
  if (r.status !== 0) throw new Error(`vite build failed:\n${r.stdout}\n${r.stderr}`);
}

export interface Server {
  origin: string;
  stop(): Promise<void>;
}

/** Serve dist/ with `vite preview` (CSP header included) on `port`; resolves once it answers. */
export async function startPreview(port: number): Promise<Server> {
  const child: ChildProcess = spawn(
    VITE,
    ['preview', '--port', String(port), '--strictPort', '--host', '127.0.0.1', ...CONFIG],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const origin = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`vite preview exited:\n${log}`);
    try {
      const r = await fetch(origin + '/');
      if (r.ok) break;
    } catch {
      /* not yet */
    }
    if (i > 150) throw new Error(`vite preview did not answer on ${origin}:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    origin,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * An init script that replaces showSaveFilePicker with one returning a file in
 * the origin-private file system (no dialog in headless Chromium).
 */
export const OPFS_PICKER = `
  window.showSaveFilePicker = async (opts) => {
    const root = await navigator.storage.getDirectory();
    window.__picked = opts && opts.suggestedName;
    return root.getFileHandle(opts.suggestedName, { create: true });
  };
`;

/** An init script that removes showSaveFilePicker, forcing the service-worker download. */
export const NO_PICKER = `delete window.showSaveFilePicker; delete Window.prototype.showSaveFilePicker;`;
