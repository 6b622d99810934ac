/**
 * The page end to end, in Debian's Chromium against `vite preview` (built
 * once here): choose a kernel, type arguments, build raw and GCE images
 * through both save paths, and read the results back with real tools: the
 * bytes equal the CLI's for the same inputs, GNU tar lists disk.raw, QEMU
 * boots the downloaded raw image and the demo kernel prints the arguments.
 * Also: cancel leaves nothing, a bad kernel shows the core's sentence,
 * offline reloads work, and no request leaves the origin.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import {
  buildPage,
  haveChromium,
  launchChromium,
  NO_PICKER,
  OPFS_PICKER,
  startPreview,
  type Server,
} from './helpers/browser';
import { run, tempDir, tools } from './helpers/tools';
import { solo5Kernel } from './helpers/fixtures';
import { boot } from './helpers/qemu';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { inspectKernel } from '../src/core/kernel';
import { FORMATS } from '../src/core/formats/index';

const BIN = new URL('../bin/solo5-virtio-mkimage.cjs', import.meta.url).pathname;
const PORT = 4391;
const OFFLINE_PORT = 4392;
const SLICE = 16 << 20;
const ARGS = 'hello world';

/** SHA-256 of each 16 MiB slice: compares 1 GiB files without moving them. */
function sliceHashes(path: string): { size: number; hashes: string[] } {
  const size = statSync(path).size;
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(SLICE);
  const hashes: string[] = [];
  try {
    for (let off = 0; off < size; off += SLICE) {
      const n = readSync(fd, buf, 0, Math.min(SLICE, size - off), off);
      hashes.push(createHash('sha256').update(buf.subarray(0, n)).digest('hex'));
    }
  } finally {
    closeSync(fd);
  }
  return { size, hashes };
}

/** The same, computed in the page over a file of the origin-private file system. */
function opfsHashes(page: Page, name: string): Promise<{ size: number; hashes: string[] }> {
  return page.evaluate(
    async ({ name, slice }) => {
      const root = await navigator.storage.getDirectory();
      const file = await (await root.getFileHandle(name)).getFile();
      const hashes: string[] = [];
      for (let off = 0; off < file.size; off += slice) {
        const d = await crypto.subtle.digest('SHA-256', await file.slice(off, off + slice).arrayBuffer());
        hashes.push([...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join(''));
      }
      return { size: file.size, hashes };
    },
    { name, slice: SLICE },
  );
}

function opfsBytes(page: Page, name: string): Promise<Buffer> {
  return page
    .evaluate(async (name) => {
      const root = await navigator.storage.getDirectory();
      const b = new Uint8Array(await (await (await root.getFileHandle(name)).getFile()).arrayBuffer());
      let s = '';
      for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
      return btoa(s);
    }, name)
    .then((b64) => Buffer.from(b64, 'base64'));
}

function opfsNames(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const names: string[] = [];
    const root = (await navigator.storage.getDirectory()) as FileSystemDirectoryHandle & {
      keys(): AsyncIterable<string>;
    };
    for await (const n of root.keys()) names.push(n);
    return names;
  });
}

describe.skipIf(!haveChromium() || !tools('qemu-system-x86_64', 'tar', 'cmp'))('the page in Chromium', () => {
  let server: Server;
  let browser: Browser;
  const tmp = tempDir('ukd-web-');
  const contexts: { ctx: BrowserContext; requests: Request[] }[] = [];
  const cliCache = new Map<string, string>();

  /** The CLI's output for the same inputs (cached per format/size/kernel). */
  function cli(format: string, size: string, kernel: string, args: string, fileName = 'disk'): string {
    const key = `${format}-${size}-${kernel.replace(/\W/g, '_')}-${fileName}`;
    // The file's own name, as in the page: a VMDK records it in its descriptor.
    const dir = tmp.path(`cli-${key.replace(/\W/g, '_')}`);
    mkdirSync(dir, { recursive: true });
    const out = join(dir, fileName);
    if (!cliCache.has(key)) {
      const r = spawnSync(
        process.execPath,
        [BIN, '-q', '-f', format, '--size', size, out, kernel, ...args.split(' ')],
        {
          encoding: 'utf8',
          env: { ...process.env, SOURCE_DATE_EPOCH: '' },
        },
      );
      if (r.status !== 0) throw new Error(`CLI failed: ${r.stderr}`);
      cliCache.set(key, out);
    }
    return out;
  }

  async function open(
    picker: 'opfs' | 'none',
    origin = server.origin,
    serviceWorkers: 'allow' | 'block' = 'allow',
  ): Promise<{ ctx: BrowserContext; page: Page }> {
    const ctx = await browser.newContext({
      acceptDownloads: true,
      viewport: { width: 1100, height: 900 },
      serviceWorkers,
    });
    const requests: Request[] = [];
    ctx.on('request', (r) => requests.push(r));
    contexts.push({ ctx, requests });
    await ctx.addInitScript(picker === 'opfs' ? OPFS_PICKER : NO_PICKER);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.goto(origin + '/');
    await page.getByRole('heading', { name: 'Unikernel disk builder' }).waitFor();
    return { ctx, page };
  }

  /** Wait until the service worker is active and controls the page. */
  async function serviceWorkerReady(page: Page) {
    await page.evaluate(async () => {
      await navigator.serviceWorker.ready;
      if (!navigator.serviceWorker.controller) {
        await new Promise<void>((r) =>
          navigator.serviceWorker.addEventListener('controllerchange', () => r(), { once: true }),
        );
      }
    });
  }

  async function choose(page: Page, path: string, args = ARGS) {
    await page.getByLabel('Unikernel', { exact: true }).setInputFiles(path);
    // The page opens with the demo kernel chosen: wait for this file's own verdict.
    const name = basename(path);
    await page
      .locator('.kernel-info', { hasText: name })
      .or(page.locator('#kernel-error', { hasText: name }))
      .first()
      .waitFor();
    await page.getByLabel('Arguments').fill(args);
    await page.locator('figure.layout figcaption', { hasText: args }).waitFor();
  }

  async function setFormat(page: Page, id: string, size: string) {
    await page.getByLabel('Format').selectOption(id);
    await page.getByLabel('Size').fill(size);
  }

  async function buildAndWait(page: Page): Promise<string> {
    await page.getByRole('button', { name: 'Build image' }).click();
    const outcome = page.locator('#outcome');
    await outcome.waitFor({ timeout: 110_000 });
    return outcome.innerText();
  }

  const demoPath = () => tmp.path('demo.virtio');

  beforeAll(async () => {
    // The CLI bundle may predate the core in this checkout: rebuild it, as the bench does.
    const c = spawnSync(process.execPath, [new URL('../scripts/build-cli.mjs', import.meta.url).pathname], {
      encoding: 'utf8',
    });
    if (c.status !== 0) throw new Error(`CLI bundle failed: ${c.stderr}`);
    buildPage();
    server = await startPreview(PORT);
    browser = await launchChromium();
    writeFileSync(demoPath(), DEMO_KERNEL);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    tmp.cleanup();
  });

  it('serves the strict Content-Security-Policy as a header and as a meta tag', async () => {
    const r = await fetch(server.origin + '/');
    const header = r.headers.get('content-security-policy') ?? '';
    for (const d of [
      "default-src 'none'",
      "script-src 'self'",
      "worker-src 'self'",
      "connect-src 'self'",
      "frame-src 'self'",
      "style-src 'self'",
      "base-uri 'none'",
      "form-action 'none'",
    ]) {
      expect(header).toContain(d);
    }
    const html = await r.text();
    // The meta tag carries the same policy as the header (however the HTML is wrapped).
    expect(/http-equiv="Content-Security-Policy"\s+content="([^"]*)"/.exec(html)?.[1]).toBe(header);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline scripts
    expect(html).toMatch(/rel="manifest"/);
  });

  it("shows what it found in a kernel, and the core's sentence for a bad one", async () => {
    const { page } = await open('opfs');
    await choose(page, demoPath());
    const info = await page.locator('.kernel-info').innerText();
    const k = inspectKernel(DEMO_KERNEL);
    expect(info).toContain('0x' + k.load.entry.toString(16).toUpperCase());
    expect(info).toContain('0x' + k.load.start.toString(16).toUpperCase());
    writeFileSync(tmp.path('hvt.virtio'), solo5Kernel({ abiTarget: 1 }));
    writeFileSync(tmp.path('nomb.virtio'), solo5Kernel({ noMultiboot: true }));
    for (const bad of ['hvt.virtio', 'nomb.virtio']) {
      let expected = '';
      try {
        inspectKernel(new Uint8Array(readFileSync(tmp.path(bad))));
      } catch (e) {
        expected = (e as Error).message;
      }
      expect(expected).not.toBe('');
      await page.getByLabel('Unikernel', { exact: true }).setInputFiles(tmp.path(bad));
      const err = page.locator('#kernel-error');
      await err.waitFor();
      const text = await err.innerText();
      // Commands in `backquotes` are shown as code: the words are the core's.
      expect(text).toContain(expected.replace(/`/g, ''));
      expect(text).not.toMatch(/\bat .*\.(js|ts):\d+/); // no stack
      expect(await page.getByRole('button', { name: 'Build image' }).isDisabled()).toBe(true);
    }
    // Dropping a file anywhere on the page chooses it too.
    const dt = await page.evaluateHandle(
      (b) => {
        const d = new DataTransfer();
        d.items.add(new File([new Uint8Array(b)], 'dropped.virtio'));
        return d;
      },
      [...DEMO_KERNEL],
    );
    await page.dispatchEvent('footer', 'dragover', { dataTransfer: dt });
    await page.dispatchEvent('footer', 'drop', { dataTransfer: dt });
    await page.locator('.kernel-info', { hasText: 'dropped.virtio' }).waitFor();
    expect(await page.getByLabel('File name').inputValue()).toBe('dropped.img');
    // The GCE format wants whole GiB: said live, Build disabled.
    await choose(page, demoPath());
    await setFormat(page, 'tar', '1536M');
    await expect.poll(() => page.locator('#size-hint').innerText()).toMatch(/whole number of GiB/);
    // The format's hint shows its command as code, not as `backquoted` text.
    expect(await page.locator('#format-hint code').innerText()).toBe('gcloud compute images create --source-uri');
    expect(await page.locator('#format-hint').innerText()).not.toContain('`');
    expect(await page.getByRole('button', { name: 'Build image' }).isDisabled()).toBe(true);
  });

  it('builds raw and GCE images through the file picker, byte-identical to the CLI', async () => {
    const { page } = await open('opfs');
    await choose(page, demoPath());
    expect(await page.getByLabel('File name').inputValue()).toBe('demo.img');
    const text = await buildAndWait(page);
    expect(text).toContain('Saved to the file you chose');
    expect(text).toContain('qemu-system-x86_64');
    expect(text).toContain('file=demo.img,format=raw');
    expect(await opfsHashes(page, 'demo.img')).toEqual(sliceHashes(cli('raw', '1G', demoPath(), ARGS)));

    await setFormat(page, 'tar', '1G');
    expect(await page.getByLabel('File name').inputValue()).toBe('demo.tar.gz');
    const gceText = await buildAndWait(page);
    expect(gceText).toContain('gcloud compute images create demo --source-uri gs://');
    const gce = await opfsBytes(page, 'demo.tar.gz');
    const expected = readFileSync(cli('tar', '1G', demoPath(), ARGS));
    expect(gce.equals(expected)).toBe(true);
    writeFileSync(tmp.path('page.tar.gz'), gce);
    const list = run('tar', ['-tvzf', tmp.path('page.tar.gz')])
      .trim()
      .split('\n');
    expect(list).toHaveLength(1);
    expect(list[0]).toMatch(/ 1073741824 .* disk\.raw$/);
  });

  it('builds every other format through the file picker, byte-identical to the CLI (file name included)', async () => {
    const { page } = await open('opfs');
    await choose(page, demoPath());
    // raw and tar are above; 64 MiB suits every container's size rule.
    for (const format of FORMATS.filter((f) => !['raw', 'tar'].includes(f.id))) {
      await setFormat(page, format.id, '64M');
      const name = `demo${format.extension}`;
      expect(await page.getByLabel('File name').inputValue()).toBe(name);
      const text = await buildAndWait(page);
      expect(text, format.id).toContain('Saved to the file you chose');
      if (format.qemuDriver) expect(text, format.id).toContain(`format=${format.qemuDriver}`);
      expect(await opfsHashes(page, name), format.id).toEqual(
        sliceHashes(cli(format.id, '64M', demoPath(), ARGS, name)),
      );
    }
  });

  it('opens with the demo kernel chosen, so one click builds it; the demo button brings it back', async () => {
    const { page } = await open('opfs');
    await page.locator('.kernel-info', { hasText: 'Demo kernel looks good' }).waitFor();
    await page.locator('figure.layout').waitFor();
    expect(await page.getByLabel('File name').inputValue()).toBe('demo.img');
    expect(await page.getByRole('button', { name: 'Build image' }).isEnabled()).toBe(true);
    const text = await buildAndWait(page);
    expect(text).toContain('Saved to the file you chose');
    const r = spawnSync(process.execPath, [BIN, '-q', tmp.path('cli-demo.img'), '--demo'], {
      env: { ...process.env, SOURCE_DATE_EPOCH: '' },
    });
    expect(r.status).toBe(0);
    expect(await opfsHashes(page, 'demo.img')).toEqual(sliceHashes(tmp.path('cli-demo.img')));
    // Another kernel replaces the demo; the button brings the demo back.
    writeFileSync(tmp.path('other.virtio'), solo5Kernel());
    await choose(page, tmp.path('other.virtio'));
    expect(await page.getByLabel('File name').inputValue()).toBe('other.img');
    await page.getByRole('button', { name: 'Use the demo kernel' }).click();
    await page.locator('.kernel-info', { hasText: 'Demo kernel looks good' }).waitFor();
    expect(await page.getByLabel('File name').inputValue()).toBe('demo.img');
  });

  it('streams raw and GCE downloads through the service worker; the raw one boots and prints the arguments', async () => {
    const { page } = await open('none');
    expect(await page.evaluate(() => 'showSaveFilePicker' in window)).toBe(false);
    await serviceWorkerReady(page);
    await choose(page, demoPath());
    const [dl, text] = await Promise.all([page.waitForEvent('download', { timeout: 110_000 }), buildAndWait(page)]);
    expect(text).toContain('Sent to your browser’s downloads as demo.img');
    expect(dl.suggestedFilename()).toBe('demo.img');
    const raw = tmp.path('dl.img');
    await dl.saveAs(raw);
    expect(await dl.failure()).toBeNull();
    expect(run('cmp', [raw, cli('raw', '1G', demoPath(), ARGS)])).toBe('');

    const b = await boot({ disk: raw, timeoutMs: 60_000 });
    expect(b.serial).toContain(`demo: command line '${ARGS}'`);
    expect(b.serial).toContain('demo: SUCCESS');
    expect(b.status).toBe(83);

    await setFormat(page, 'tar', '1G');
    const [dl2] = await Promise.all([page.waitForEvent('download', { timeout: 110_000 }), buildAndWait(page)]);
    expect(dl2.suggestedFilename()).toBe('demo.tar.gz');
    const gce = tmp.path('dl.tar.gz');
    await dl2.saveAs(gce);
    expect(run('cmp', [gce, cli('tar', '1G', demoPath(), ARGS)])).toBe('');
    expect(run('tar', ['-tzf', gce]).trim()).toBe('disk.raw');
  });

  it('falls back to a capped in-memory Blob when there is neither a picker nor a service worker, and says so', async () => {
    const { page } = await open('none', server.origin, 'block');
    await choose(page, demoPath());
    await page.getByLabel('Size').fill('64M');
    const [dl, text] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), buildAndWait(page)]);
    expect(text).toContain('Downloaded from memory as demo.img');
    expect(text).toMatch(/assembled in memory/);
    const file = tmp.path('blob.img');
    await dl.saveAs(file);
    expect(run('cmp', [file, cli('raw', '64M', demoPath(), ARGS)])).toBe('');
    // Over the cap: the core's size is fine, the Blob path refuses with a sentence.
    await page.getByLabel('Size').fill('3G');
    expect(await buildAndWait(page)).toMatch(/limit; choose a smaller Size/);
  });

  it('cancels a service-worker download mid-build and leaves nothing behind', async () => {
    // Service-worker download of a large raw image: zeros are streamed, so it takes a while.
    const { page } = await open('none');
    await serviceWorkerReady(page);
    await choose(page, demoPath());
    await page.getByLabel('Size').fill('64G');
    const dlp = page.waitForEvent('download', { timeout: 60_000 });
    await page.getByRole('button', { name: 'Build image' }).click();
    await expect
      .poll(() => page.locator('#progress').evaluate((p: HTMLProgressElement) => p.value), { timeout: 60_000 })
      .toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => page.locator('#outcome').innerText()).toContain('Cancelled');
    const dl = await dlp;
    expect(await dl.failure()).not.toBeNull();
    expect(await dl.path().catch(() => null)).toBeNull();
  }, 240_000);

  it('cancels a file-picker build mid-way and leaves no file behind', async () => {
    // File picker: a GCE image of a 256 MiB kernel (gzip keeps it busy), cancelled while writing.
    const { page: p2 } = await open('opfs');
    writeFileSync(tmp.path('big.virtio'), solo5Kernel({ dataSize: 256 << 20 }));
    await choose(p2, tmp.path('big.virtio'));
    await setFormat(p2, 'tar', '1G');
    await p2.getByRole('button', { name: 'Build image' }).click();
    await expect
      .poll(() => p2.locator('#progress').evaluate((p: HTMLProgressElement) => p.value), { timeout: 60_000 })
      .toBeGreaterThan(0);
    await p2.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => p2.locator('#outcome').innerText()).toContain('Cancelled');
    expect(await p2.evaluate(() => (window as unknown as { __picked?: string }).__picked)).toBe('big.tar.gz');
    expect(await opfsNames(p2)).not.toContain('big.tar.gz');
  }, 240_000);

  it('works offline after the first visit, building and saving, even with the server stopped', async () => {
    const offline = await startPreview(OFFLINE_PORT);
    const a = await open('opfs', offline.origin);
    const b = await open('none', offline.origin);
    await serviceWorkerReady(a.page);
    await serviceWorkerReady(b.page);

    // 1. The browser is offline.
    await a.ctx.setOffline(true);
    await a.page.reload();
    await choose(a.page, demoPath());
    await setFormat(a.page, 'tar', '1G');
    expect(await buildAndWait(a.page)).toContain('Saved to the file you chose');
    expect((await opfsBytes(a.page, 'demo.tar.gz')).equals(readFileSync(cli('tar', '1G', demoPath(), ARGS)))).toBe(
      true,
    );
    await a.ctx.setOffline(false);

    // 2. The server is gone.
    await offline.stop();
    await a.page.reload();
    await choose(a.page, demoPath());
    expect(await buildAndWait(a.page)).toContain('Saved to the file you chose');
    expect(await opfsHashes(a.page, 'demo.img')).toEqual(sliceHashes(cli('raw', '1G', demoPath(), ARGS)));

    await b.page.reload();
    await serviceWorkerReady(b.page);
    await choose(b.page, demoPath());
    await setFormat(b.page, 'tar', '1G');
    const [dl] = await Promise.all([b.page.waitForEvent('download', { timeout: 110_000 }), buildAndWait(b.page)]);
    const gce = tmp.path('offline.tar.gz');
    await dl.saveAs(gce);
    expect(run('cmp', [gce, cli('tar', '1G', demoPath(), ARGS)])).toBe('');

    // The service worker's own requests (precaching) were seen, so the origin check covers them.
    const all = contexts.flatMap((c) => c.requests);
    expect(all.some((r) => r.serviceWorker() !== null || r.url().endsWith('/sw.js'))).toBe(true);
  });

  it('looks right at desktop and narrow widths (screenshots in test-results/)', async () => {
    const { page } = await open('opfs');
    await choose(page, demoPath());
    await page.screenshot({ path: 'test-results/web-desktop.png', fullPage: true });
    await page.setViewportSize({ width: 360, height: 800 });
    // Nothing wider than the window: no horizontal scrolling on a phone.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    await page.screenshot({ path: 'test-results/web-narrow.png', fullPage: true });
    // Keyboard: Tab reaches the file input, the demo button, every field and Build.
    await page.setViewportSize({ width: 1100, height: 900 });
    await page.locator('body').click({ position: { x: 2, y: 2 } });
    const seen: string[] = [];
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab');
      seen.push(await page.evaluate(() => document.activeElement?.id || document.activeElement?.textContent || ''));
    }
    for (const id of ['kernel-file', 'args', 'format', 'size', 'filename', 'build']) expect(seen).toContain(id);
  });

  it('sent no request outside the origin, from the page, its worker or the service worker (runs last)', () => {
    const urls = contexts.flatMap((c) => c.requests.map((r) => r.url()));
    expect(urls.length).toBeGreaterThan(20);
    expect(urls.some((u) => u.includes('/assets/worker-'))).toBe(true);
    const foreign = urls.filter((u) => !/^http:\/\/127\.0\.0\.1:439[12]\//.test(u) && !/^(blob|data):/.test(u));
    expect(foreign).toEqual([]);
  });
});
