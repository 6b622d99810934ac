#!/usr/bin/env node
// The page's speed in headless Chromium (called by scripts/bench.mjs; prints
// Markdown). Builds the page, serves it with `vite preview`, picks the demo
// kernel and times, from the click on "Build image" to the end message:
//   - the GCE tar.gz (1 GiB disk) and the raw image written through the
//     File System Access path (an origin-private file stands in for the picker);
//   - the raw image streamed through the service-worker download, whose
//     holes are real zeros: that is the page's raw throughput.
import { spawn, spawnSync } from 'node:child_process';
import { chromium } from 'playwright-core';

const root = new URL('..', import.meta.url).pathname;
const PORT = 4395;
const RUNS = process.argv.includes('--quick') ? 1 : 3;
const VITE = root + 'node_modules/.bin/vite';
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const b = spawnSync(VITE, ['build', '--logLevel', 'warn'], {
  cwd: root,
  encoding: 'utf8',
  env: { ...process.env, NODE_ENV: 'production' },
});
if (b.status !== 0) throw new Error('vite build failed: ' + b.stderr);
const server = spawn(VITE, ['preview', '--port', String(PORT), '--strictPort', '--host', '127.0.0.1'], {
  cwd: root,
  stdio: 'ignore',
});
const origin = `http://127.0.0.1:${PORT}`;
let browser;
try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(origin + '/')).ok) break;
    } catch {}
    if (i > 100) throw new Error('vite preview did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
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

  async function page(picker) {
    const ctx = await browser.newContext({ acceptDownloads: true });
    await ctx.addInitScript(
      picker
        ? `window.showSaveFilePicker = async (o) => (await navigator.storage.getDirectory()).getFileHandle(o.suggestedName, { create: true });`
        : `delete window.showSaveFilePicker;`,
    );
    const p = await ctx.newPage();
    await p.goto(origin + '/');
    await p.evaluate(async () => {
      await navigator.serviceWorker.ready;
    });
    await p.getByRole('button', { name: 'Use the demo kernel' }).click();
    await p.locator('figure.layout').waitFor();
    return p;
  }

  async function time(p, format, size, download) {
    await p.getByLabel('Format').selectOption(format);
    await p.getByLabel('Size').fill(size);
    await p.locator('#build:not([disabled])').waitFor();
    // Start from an empty origin-private file system (its quota is small in a fresh profile).
    await p.evaluate(async () => {
      const root = await navigator.storage.getDirectory();
      for await (const name of root.keys()) await root.removeEntry(name);
    });
    const t0 = performance.now();
    const dl = download ? p.waitForEvent('download', { timeout: 240_000 }) : null;
    await p.getByRole('button', { name: 'Build image' }).click();
    await p.locator('#outcome').waitFor({ timeout: 240_000 });
    const ms = performance.now() - t0;
    const text = await p.locator('#outcome').innerText();
    if (!/Saved|Sent/.test(text)) throw new Error(text);
    if (dl) await (await dl).delete();
    return ms;
  }

  const fsa = await page(true);
  const sw = await page(false);
  const rows = [];
  const measure = async (label, p, format, size, download, bytes) => {
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await time(p, format, size, download));
    const ms = median(runs);
    rows.push(
      `| ${label} | ${ms >= 1000 ? (ms / 1000).toFixed(2) + ' s' : ms.toFixed(0) + ' ms'} | ${bytes ? (bytes / 2 ** 20 / (ms / 1000)).toFixed(0) + ' MiB/s' : ''} |`,
    );
  };
  await measure('GCE tar.gz, 1 GiB disk, file picker (OPFS)', fsa, 'tar', '1G', false);
  await measure('raw, 1 GiB, file picker (OPFS; zeros skipped)', fsa, 'raw', '1G', false);
  await measure('GCE tar.gz, 1 GiB disk, service-worker download', sw, 'tar', '1G', true);
  await measure('raw, 1 GiB, service-worker download (every byte streamed)', sw, 'raw', '1G', true, 2 ** 30);
  process.stdout.write(
    [
      `Demo kernel, click to end message, median of ${RUNS}; Chromium ${browser.version()}.`,
      '',
      '| what | time | throughput |',
      '|---|---|---|',
      ...rows,
    ].join('\n') + '\n',
  );
} finally {
  await browser?.close();
  server.kill('SIGTERM');
}
