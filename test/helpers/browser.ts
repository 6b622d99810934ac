/**
 * Build the page once, serve it with `vite preview`, and drive Debian's
 * Chromium with playwright-core (no downloaded browsers).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const VITE = 'node_modules/.bin/vite';
/** Another config (e.g. with a local shim) for development runs; the default is the project's. */
const CONFIG = process.env.WEB_VITE_CONFIG ? ['-c', process.env.WEB_VITE_CONFIG] : [];

export function haveChromium(): boolean {
  return existsSync(CHROMIUM);
}

/** `vite build` into dist/ (or `outDir`, so test files building at once don't clash); throws with vite's output on failure. */
export function buildPage(outDir?: string): void {
  // vitest sets NODE_ENV=test, which would make vite build a non-production bundle.
  const out = outDir ? ['--outDir', outDir, '--emptyOutDir'] : [];
  const r = spawnSync(VITE, ['build', '--logLevel', 'warn', ...out, ...CONFIG], {
    encoding: 'utf8',
    env: { ...process.env, NODE_ENV: 'production' },
  });
  if (r.status !== 0) throw new Error(`vite build failed:\n${r.stdout}\n${r.stderr}`);
}

export interface Server {
  origin: string;
  stop(): Promise<void>;
}

/** Serve dist/ (or `outDir`) with `vite preview` (CSP header included) on `port`; resolves once it answers. */
export async function startPreview(port: number, outDir?: string): Promise<Server> {
  const out = outDir ? ['--outDir', outDir] : [];
  const child: ChildProcess = spawn(
    VITE,
    ['preview', '--port', String(port), '--strictPort', '--host', '127.0.0.1', ...out, ...CONFIG],
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

/** An init script that removes showSaveFilePicker, forcing the streamsaver download. */
export const NO_PICKER = `delete window.showSaveFilePicker; delete Window.prototype.showSaveFilePicker;`;

/** The bytes of a file the page saved through the OPFS picker (`OPFS_PICKER`). */
export function opfsBytes(page: Page, name: string): Promise<Buffer> {
  return page
    .evaluate(async (name) => {
      // Runs in the page; typed loosely, as this module is also compiled for Node (scripts/screenshot.ts).
      type Opfs = { getFileHandle(n: string): Promise<{ getFile(): Promise<Blob> }> };
      const nav = (globalThis as unknown as { navigator: { storage: { getDirectory(): Promise<Opfs> } } }).navigator;
      const root = await nav.storage.getDirectory();
      const b = new Uint8Array(await (await (await root.getFileHandle(name)).getFile()).arrayBuffer());
      let s = '';
      for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
      return btoa(s);
    }, name)
    .then((b64) => Buffer.from(b64, 'base64'));
}

/** The names of the files in the page's origin private file system (what the OPFS picker saved, or left). */
export function opfsNames(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    // Runs in the page; typed loosely, as in opfsBytes.
    type Opfs = { keys(): AsyncIterable<string> };
    const nav = (globalThis as unknown as { navigator: { storage: { getDirectory(): Promise<Opfs> } } }).navigator;
    const names: string[] = [];
    for await (const n of (await nav.storage.getDirectory()).keys()) names.push(n);
    return names;
  });
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** WCAG 2.0 to 2.2, A and AA (2.2 brings target size), and axe's best practices. */
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'];

/** One axe-core violation, short enough to read in a failed assertion. */
export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/**
 * Run axe-core in the page (WCAG 2.0-2.2 A and AA, and best practices) and
 * return its violations. Injected through the DevTools protocol, so the
 * page's strict CSP needs no exception.
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  // Plain strings: this helper is also compiled without the DOM types (scripts/screenshot.ts uses it).
  if (!(await page.evaluate("typeof axe !== 'undefined'"))) await page.evaluate(AXE_SOURCE + '\n;0');
  return page.evaluate(`(async () => {
    const r = await axe.run(document, {
      runOnly: { type: 'tag', values: ${JSON.stringify(AXE_TAGS)} },
      resultTypes: ['violations'],
    });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((n) => n.target.join(' ')),
    }));
  })()`);
}

/** Pages in a PDF Chromium wrote (`page.pdf()`): its page objects. */
export function pdfPages(pdf: Buffer): number {
  return (pdf.toString('latin1').match(/\/Type\s*\/Page[^s]/g) ?? []).length;
}

/** WCAG contrast ratio of two CSS colours as `getComputedStyle` gives them (rgb()/rgba(), opaque). */
export function contrast(a: string, b: string): number {
  const lum = (c: string) => {
    const [r, g, bl] = (c.match(/[\d.]+/g) ?? []).slice(0, 3).map(Number);
    const f = (v: number) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(bl);
  };
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}
