/**
 * Saving, hosting and the installable app, in Debian's Chromium:
 *  - downloads through the streamsaver package (its mitm.html from our
 *    origin under a CSP hash, its service-worker logic in ours), with the
 *    WritableStream transferred to the build worker, and pumped from the page
 *    where streams cannot be transferred; bytes equal to the CLI's;
 *  - dist/ served unchanged from a sub-path by a plain static server (no
 *    headers): both save paths, offline, deep links;
 *  - PWA details: notices, file handler + launchQueue, icons, headers.
 * The page is driven through the names that stay ("Build image") and the
 * model (window.__model), so the page's redesign does not move these tests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync, type Dirent } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative } from 'node:path';
import type { Browser, BrowserContext, Download, Page } from 'playwright-core';
import {
  buildPage,
  haveChromium,
  launchChromium,
  NO_PICKER,
  OPFS_PICKER,
  opfsBytes,
  startPreview,
  type Server,
} from './helpers/browser';
import { serveStatic, type StaticServer } from './helpers/static-server';
import { run, tempDir, tools } from './helpers/tools';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';

const BIN = new URL('../bin/solo5-virtio-mkimage.cjs', import.meta.url).pathname;
const SUB = '/unikernel-disk/';
const ARGS = 'hello world';

/** Where streams cannot be transferred (older Safari/Firefox): posting a WritableStream fails, as there. */
const NO_TRANSFERABLE_WRITABLE = `
  for (const C of [MessagePort, Worker]) {
    const post = C.prototype.postMessage;
    C.prototype.postMessage = function (m, t) {
      const list = Array.isArray(t) ? t : (t && t.transfer) || [];
      if (list.some((x) => x instanceof WritableStream)) throw new DOMException('not transferable here', 'DataCloneError');
      return post.apply(this, arguments);
    };
  }
`;

/** Where no stream can be transferred (Firefox before 103): streamsaver then posts each chunk to its service worker itself. */
const NO_TRANSFERABLE_STREAMS = NO_TRANSFERABLE_WRITABLE.replace(
  'x instanceof WritableStream',
  'x instanceof WritableStream || x instanceof ReadableStream',
);

/** Records what the page transfers to its build worker. */
const RECORD_TRANSFERS = `
  window.__transferred = [];
  const post = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (m, t) {
    for (const x of (Array.isArray(t) ? t : [])) window.__transferred.push(x.constructor.name);
    return post.apply(this, arguments);
  };
`;

/** A port nobody listens on now (other worktrees run their own previews on this machine). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

type Outcome = { phase: string; code?: string; message?: string; where?: string; fileName?: string };

describe.skipIf(!haveChromium() || !tools('cmp', 'tar'))('saving, hosting and the app in Chromium', () => {
  const tmp = tempDir('ukd-save-');
  const dist = tmp.path('dist');
  let preview: Server;
  let site: StaticServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const outside: string[] = [];
  const cliCache = new Map<string, string>();

  function cli(format: string, size: string, fileName: string): string {
    const key = `${format}-${size}-${fileName}`;
    if (!cliCache.has(key)) {
      const dir = tmp.path(`cli-${key.replace(/\W/g, '_')}`);
      mkdirSync(dir, { recursive: true });
      const out = join(dir, fileName);
      const r = spawnSync(
        process.execPath,
        [BIN, '-q', '-f', format, '--size', size, out, tmp.path('demo.virtio'), ...ARGS.split(' ')],
        { encoding: 'utf8', env: { ...process.env, SOURCE_DATE_EPOCH: '' } },
      );
      if (r.status !== 0) throw new Error(`CLI failed: ${r.stderr}`);
      cliCache.set(key, out);
    }
    return cliCache.get(key)!;
  }

  async function open(
    url: string,
    inits: string[] = [],
  ): Promise<{ ctx: BrowserContext; page: Page; violations: string[] }> {
    const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 900 } });
    contexts.push(ctx);
    const origin = new URL(url).origin;
    ctx.on('request', (r) => {
      if (!r.url().startsWith(origin + '/') && !/^(data|blob):/.test(r.url())) outside.push(r.url());
    });
    for (const s of inits) await ctx.addInitScript(s);
    const page = await ctx.newPage();
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
    });
    page.on('pageerror', (e) => violations.push('page error: ' + e.message));
    await page.goto(url);
    await page.getByRole('button', { name: 'Build image' }).waitFor();
    return { ctx, page, violations };
  }

  /** Until the service worker is active and controls the page. */
  async function swReady(page: Page) {
    await page.evaluate(async () => {
      await navigator.serviceWorker.ready;
      if (!navigator.serviceWorker.controller)
        await new Promise<void>((r) =>
          navigator.serviceWorker.addEventListener('controllerchange', () => r(), { once: true }),
        );
    });
  }

  /** Choose format, size and the arguments through the model, then wait for the demo kernel to be read. */
  async function configure(page: Page, formatId: string, size: string) {
    await page.waitForFunction(() => {
      const m = (window as never as { __model?: { kernel: { value: { status: string } } } }).__model;
      return m?.kernel.value.status === 'ok';
    });
    await page.evaluate(
      ({ formatId, size, args }) => {
        const m = (window as never as { __model: Record<string, { value: unknown }> }).__model;
        m.formatId.value = formatId;
        m.sizeText.value = size;
        m.args.value = args;
      },
      { formatId, size, args: ARGS },
    );
    await page.locator('button:has-text("Build image"):not([disabled])').first().waitFor();
  }

  /** Press Build image (and confirm, where the page asks first for a large image). */
  async function clickBuild(page: Page) {
    await page.evaluate(() => {
      const w = window as never as { __model: { build: { value: unknown } }; __before: unknown };
      w.__before = w.__model.build.value;
    });
    await page.getByRole('button', { name: 'Build image' }).click();
    await page.waitForFunction(() => {
      const w = window as never as { __model: { build: { value: unknown } }; __before: unknown };
      return w.__model.build.value !== w.__before || document.querySelector('dialog[open]') !== null;
    });
    const confirm = page.locator('dialog[open]').getByRole('button', { name: /^Build the .* image$/ });
    if (await confirm.count()) await confirm.click();
  }

  /** Build; resolves with the model's end state (done, error or cancelled) of this build. */
  async function buildAndWait(page: Page, timeout = 110_000): Promise<Outcome> {
    await clickBuild(page);
    const h = await page.waitForFunction(
      () => {
        const w = window as never as { __model: { build: { value: Outcome } }; __before: unknown };
        const b = w.__model.build.value;
        return b === w.__before || b.phase === 'idle' || b.phase === 'building' ? null : b;
      },
      undefined,
      { timeout },
    );
    return (await h.jsonValue()) as Outcome;
  }

  async function download(page: Page, name: string): Promise<{ outcome: Outcome; file: string; dl: Download }> {
    const [dl, outcome] = await Promise.all([page.waitForEvent('download', { timeout: 110_000 }), buildAndWait(page)]);
    const file = tmp.path(`${Math.random().toString(36).slice(2)}-${name}`);
    await dl.saveAs(file);
    return { outcome, file, dl };
  }

  beforeAll(async () => {
    const c = spawnSync(process.execPath, [new URL('../scripts/build-cli.mjs', import.meta.url).pathname], {
      encoding: 'utf8',
    });
    if (c.status !== 0) throw new Error(`CLI bundle failed: ${c.stderr}`);
    writeFileSync(tmp.path('demo.virtio'), DEMO_KERNEL);
    buildPage(dist);
    preview = await startPreview(await freePort(), dist);
    site = await serveStatic(dist, SUB);
    browser = await launchChromium();
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await preview?.stop();
    await site?.stop();
    tmp.cleanup();
  });

  it("serves streamsaver's mitm.html from our origin, its inline script allowed by a hash in the CSP, framed only by us", async () => {
    const index = await fetch(preview.origin + '/');
    const mitm = await fetch(preview.origin + '/mitm.html');
    const pkg = readFileSync(new URL('../node_modules/streamsaver/mitm.html', import.meta.url), 'utf8');
    const script = /<script>([\s\S]*?)<\/script>/.exec(pkg)![1];
    const hash = `'sha256-${createHash('sha256').update(script).digest('base64')}'`;
    const body = await mitm.text();
    // The package's script, byte for byte; the policy names its hash (header and meta tag).
    expect(body).toContain(`<script>${script}</script>`);
    expect(body).toContain(`script-src ${hash}`);
    expect(mitm.headers.get('content-security-policy')).toContain(`script-src ${hash}`);
    expect(mitm.headers.get('content-security-policy')).toContain("frame-ancestors 'self'");
    expect(index.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(index.headers.get('content-security-policy')).not.toContain("'unsafe-inline'");
    expect(index.headers.get('permissions-policy')).toContain('camera=()');

    // In the browser: our page frames mitm.html (its script runs), but nobody may frame the page itself.
    const { page, violations } = await open(preview.origin + '/');
    // As when saving: the service worker is active before mitm.html is framed (the package's
    // script expects an installing, waiting or active worker, not one that is activating).
    await swReady(page);
    const framed = await page.evaluate(async () => {
      const load = (src: string) =>
        new Promise<boolean>((resolve) => {
          const f = document.createElement('iframe');
          f.hidden = true;
          f.src = src;
          f.onload = () => {
            let ok = false;
            try {
              ok = f.contentDocument?.location.href.endsWith(src) ?? false;
            } catch {
              ok = false;
            }
            resolve(ok);
          };
          document.body.appendChild(f);
        });
      return { mitm: await load('mitm.html'), self: await load('index.html') };
    });
    expect(framed).toEqual({ mitm: true, self: false });
    const policy = await page.evaluate(() => {
      const fp = (document as unknown as { featurePolicy?: { allowsFeature(f: string): boolean } }).featurePolicy;
      return fp
        ? {
            camera: fp.allowsFeature('camera'),
            geolocation: fp.allowsFeature('geolocation'),
            clipboardWrite: fp.allowsFeature('clipboard-write'),
          }
        : null;
    });
    // Chromium reports the policy in force (document.featurePolicy).
    expect(policy).toEqual({ camera: false, geolocation: false, clipboardWrite: true });
    // The frame-ancestors refusal is the only policy message.
    expect(violations.filter((v) => !/frame-ancestors/.test(v))).toEqual([]);
  });

  it("dist/_headers (Netlify, Cloudflare Pages): for / and every file, one rule with exactly the preview's headers", async () => {
    // The hosts' format: a path at the start of a line, then indented `Name: value` lines.
    const rules = new Map<string, Record<string, string>>();
    let current: Record<string, string> | undefined;
    for (const line of readFileSync(join(dist, '_headers'), 'utf8').split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const h = /^ {2}([A-Za-z-]+): (.+)$/.exec(line);
      if (h) current![h[1]] = h[2];
      else {
        expect(line).toMatch(/^\/\S*$/);
        expect(rules.has(line)).toBe(false);
        rules.set(line, (current = {}));
      }
    }
    // No wildcard: every path is matched by its own rule alone, however a host merges rules.
    expect([...rules.keys()].filter((p) => p.includes('*'))).toEqual([]);
    const files = (readdirSync(dist, { recursive: true, withFileTypes: true }) as Dirent[])
      .filter((e) => e.isFile() && e.name !== '_headers')
      .map((e) => '/' + relative(dist, join(e.parentPath, e.name)));
    expect(files).toContain('/sw.js');
    expect(files).toContain('/mitm.html');
    expect([...rules.keys()].sort()).toEqual(['/', ...files].sort());
    for (const [path, headers] of rules) {
      const res = await fetch(preview.origin + path, { method: 'HEAD' });
      expect(res.status, path).toBe(200);
      const sent = Object.fromEntries(Object.keys(headers).map((k) => [k, res.headers.get(k)]));
      expect(headers, path).toEqual(sent);
      for (const k of ['Content-Security-Policy', 'Permissions-Policy']) expect(headers[k], path).toBeTruthy();
    }
    expect(rules.get('/mitm.html')!['Content-Security-Policy']).toContain("frame-ancestors 'self'");
    expect(rules.get('/index.html')!['Content-Security-Policy']).toContain("frame-ancestors 'none'");
    // The page's service worker never precaches the file (it is for the host, not the browser).
    expect(readFileSync(join(dist, 'sw.js'), 'utf8')).not.toContain('_headers');
  });

  it("the GitHub Pages workflow publishes `npm run build`'s dist/, which this suite serves from a sub-path", () => {
    const yml = readFileSync(new URL('../.github/workflows/pages.yml', import.meta.url), 'utf8');
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    const steps = [...yml.matchAll(/^ +(?:- )?(?:run|uses): (.+)$/gm)].map((m) => m[1]);
    expect(steps).toEqual([
      expect.stringMatching(/^actions\/checkout@/),
      expect.stringMatching(/^actions\/setup-node@/),
      'npm ci --no-audit --no-fund',
      'npm run build',
      expect.stringMatching(/^actions\/upload-pages-artifact@/),
      expect.stringMatching(/^actions\/deploy-pages@/),
    ]);
    expect(pkg.scripts.build).toBe('vite build');
    expect(yml).toMatch(/^ +path: dist$/m);
    expect(yml).toMatch(/^ +node-version: 20$/m);
    expect(yml).toMatch(/^ +pages: write$/m);
  });

  it('downloads through streamsaver with the WritableStream transferred to the worker: raw and GCE equal the CLI', async () => {
    const { page, violations } = await open(preview.origin + '/', [NO_PICKER, RECORD_TRANSFERS]);
    await swReady(page);
    await configure(page, 'raw', '64M');
    const raw = await download(page, 'demo.img');
    expect(raw.outcome).toMatchObject({ phase: 'done', where: 'download' });
    expect(raw.dl.suggestedFilename()).toBe('demo.img');
    expect(run('cmp', [raw.file, cli('raw', '64M', 'demo.img')])).toBe('');
    // The download came from the package's service-worker URL (scope + host + /n/name), via its mitm.html.
    expect(raw.dl.url()).toMatch(
      new RegExp(`^${preview.origin}/127\\.0\\.0\\.1:${new URL(preview.origin).port}/\\d+/demo\\.img$`),
    );
    expect(await page.locator('iframe[src$="/mitm.html"]').count()).toBe(1);
    expect(await page.evaluate(() => (window as never as { __transferred: string[] }).__transferred)).toContain(
      'WritableStream',
    );

    await configure(page, 'tar', '1G');
    const gce = await download(page, 'demo.tar.gz');
    expect(gce.outcome).toMatchObject({ phase: 'done', where: 'download' });
    expect(run('cmp', [gce.file, cli('tar', '1G', 'demo.tar.gz')])).toBe('');
    expect(run('tar', ['-tzf', gce.file]).trim()).toBe('disk.raw');
    expect(violations).toEqual([]);
  });

  it('pumps the bytes from the page where a WritableStream cannot be transferred: equal to the CLI', async () => {
    const { page, violations } = await open(preview.origin + '/', [
      NO_PICKER,
      NO_TRANSFERABLE_WRITABLE,
      RECORD_TRANSFERS,
    ]);
    await swReady(page);
    await configure(page, 'raw', '64M');
    const raw = await download(page, 'demo.img');
    expect(raw.outcome).toMatchObject({ phase: 'done', where: 'download' });
    expect(run('cmp', [raw.file, cli('raw', '64M', 'demo.img')])).toBe('');
    await configure(page, 'vhd', '64M');
    const vhd = await download(page, 'demo.vhd');
    expect(run('cmp', [vhd.file, cli('vhd', '64M', 'demo.vhd')])).toBe('');
    const sent = await page.evaluate(() => (window as never as { __transferred: string[] }).__transferred);
    expect(sent).toContain('MessagePort');
    expect(sent).not.toContain('WritableStream');
    expect(violations).toEqual([]);
  });

  it('writes the zeros in the page where streamsaver posts each chunk itself (no stream can be transferred): equal to the CLI', async () => {
    const { page, violations } = await open(preview.origin + '/', [NO_PICKER, NO_TRANSFERABLE_STREAMS]);
    await swReady(page);
    await configure(page, 'raw', '64M');
    const raw = await download(page, 'demo.img');
    expect(raw.outcome).toMatchObject({ phase: 'done', where: 'download' });
    expect(raw.dl.url()).toMatch(/\/\d+\/demo\.img$/);
    expect(run('cmp', [raw.file, cli('raw', '64M', 'demo.img')])).toBe('');
    // The package's own test (transferring a ReadableStream) fails here, so it took the path that posts chunks.
    const transferable = await page.evaluate(() => {
      const r = new ReadableStream();
      const ch = new MessageChannel();
      try {
        ch.port1.postMessage(r, [r]);
        return true;
      } catch {
        return false;
      } finally {
        ch.port1.close();
      }
    });
    expect(transferable).toBe(false);
    expect(violations).toEqual([]);
  });

  it("uses the page's capped in-memory path, not the package's uncapped one, where streamsaver would collect in memory (Safari)", async () => {
    // The package's own test for Safari is `window.safari`; it then keeps every chunk in memory, with no limit.
    const { page } = await open(preview.origin + '/', [NO_PICKER, 'window.safari = {};']);
    await swReady(page);
    await configure(page, 'raw', '64M');
    const raw = await download(page, 'demo.img');
    expect(raw.outcome).toMatchObject({ phase: 'done', where: 'blob' });
    expect(raw.dl.url()).toMatch(/^blob:/);
    expect(run('cmp', [raw.file, cli('raw', '64M', 'demo.img')])).toBe('');
    expect(await page.locator('iframe[src$="/mitm.html"]').count()).toBe(0);
  });

  it('stops the build with one sentence when the download is cancelled in the browser', async () => {
    const { page } = await open(preview.origin + '/', [NO_PICKER]);
    await swReady(page);
    await configure(page, 'raw', '64G');
    const dlp = page.waitForEvent('download', { timeout: 60_000 });
    const outcome = buildAndWait(page, 120_000);
    const dl = await dlp;
    await dl.cancel();
    expect(await outcome).toMatchObject({ phase: 'error', code: 'DOWNLOAD_CANCELLED' });
    expect((await outcome).message).toMatch(/cancelled in the browser/);
    expect(await dl.failure()).not.toBeNull();
  }, 180_000);

  it('works from a sub-path of a plain static server (no headers): both save paths, the service worker, the notice', async () => {
    // Download path.
    const d = await open(site.url, [NO_PICKER]);
    await d.page.getByRole('status').filter({ hasText: 'Ready to work offline' }).waitFor({ timeout: 30_000 });
    await swReady(d.page);
    expect(await d.page.evaluate(() => navigator.serviceWorker.controller?.scriptURL)).toBe(site.url + 'sw.js');
    await configure(d.page, 'raw', '64M');
    const raw = await download(d.page, 'demo.img');
    expect(raw.outcome).toMatchObject({ phase: 'done', where: 'download' });
    expect(raw.dl.url().startsWith(site.url)).toBe(true);
    expect(run('cmp', [raw.file, cli('raw', '64M', 'demo.img')])).toBe('');
    // File picker path.
    const f = await open(site.url, [OPFS_PICKER]);
    await configure(f.page, 'tar', '1G');
    expect(await buildAndWait(f.page)).toMatchObject({ phase: 'done', where: 'file' });
    expect((await opfsBytes(f.page, 'demo.tar.gz')).equals(readFileSync(cli('tar', '1G', 'demo.tar.gz')))).toBe(true);
    // Nothing was asked of the server outside the sub-path, and the CSP meta tag held.
    expect(site.requests.filter((p) => !p.startsWith(SUB))).toEqual([]);
    expect([...d.violations, ...f.violations]).toEqual([]);
  });

  it('works offline from the sub-path after the first visit: both save paths, and deep links get the app', async () => {
    const d = await open(site.url, [NO_PICKER]);
    await swReady(d.page);
    const f = await open(site.url, [OPFS_PICKER]);
    await swReady(f.page);
    await d.ctx.setOffline(true);
    await f.ctx.setOffline(true);
    await d.page.reload();
    await d.page.getByRole('button', { name: 'Build image' }).waitFor();
    await configure(d.page, 'tar', '1G');
    const gce = await download(d.page, 'demo.tar.gz');
    expect(gce.outcome).toMatchObject({ phase: 'done', where: 'download' });
    expect(run('cmp', [gce.file, cli('tar', '1G', 'demo.tar.gz')])).toBe('');

    await f.page.reload();
    await f.page.getByRole('button', { name: 'Build image' }).waitFor();
    await configure(f.page, 'raw', '64M');
    expect(await buildAndWait(f.page)).toMatchObject({ phase: 'done', where: 'file' });
    expect((await opfsBytes(f.page, 'demo.img')).equals(readFileSync(cli('raw', '64M', 'demo.img')))).toBe(true);

    // A deep link under the scope, offline: the app.
    await d.page.goto(site.url + 'some/deep/link?x=1');
    await d.page.getByRole('button', { name: 'Build image' }).waitFor();
    expect(d.page.url()).toBe(site.url);
    await d.ctx.setOffline(false);
    await f.ctx.setOffline(false);
    // Online, a deep link the static server does not know (404): the app too.
    await f.page.goto(site.url + 'not/here');
    await f.page.getByRole('button', { name: 'Build image' }).waitFor();
    expect(f.page.url()).toBe(site.url);
  });

  it('says when an update is ready, with a Reload button', async () => {
    // A copy of dist/ whose sw.js changes while the page is open.
    const copy = tmp.path('site2');
    cpSync(dist, copy, { recursive: true });
    const s2 = await serveStatic(copy, SUB);
    try {
      const { page } = await open(s2.url);
      await swReady(page);
      appendFileSync(join(copy, 'sw.js'), '\n// a new version\n');
      await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())!.update());
      const status = page.getByRole('status').filter({ hasText: 'A new version of this page is ready.' });
      await status.waitFor({ timeout: 30_000 });
      await Promise.all([page.waitForEvent('load'), status.getByRole('button', { name: 'Reload' }).click()]);
      await page.getByRole('button', { name: 'Build image' }).waitFor();
    } finally {
      await s2.stop();
    }
  });

  it('opens a .virtio file the installed app is launched with (file_handlers, launchQueue)', async () => {
    const manifest = (await (await fetch(site.url + 'manifest.webmanifest')).json()) as {
      scope: string;
      file_handlers: { action: string; accept: Record<string, string[]> }[];
      icons: { src: string; sizes: string; purpose?: string }[];
    };
    const handler = manifest.file_handlers[0];
    expect(Object.values(handler.accept).flat()).toContain('.virtio');
    expect(new URL(handler.action, site.url + 'manifest.webmanifest').href).toBe(site.url);
    // The launch: Chromium hands the page file handles through launchQueue (stood in for here).
    const fake = `
      const consumer = { setConsumer(fn) { window.__launch = fn; } };
      if (window.LaunchQueue) LaunchQueue.prototype.setConsumer = consumer.setConsumer;
      else window.launchQueue = consumer;`;
    const { page } = await open(site.url, [fake]);
    await page.evaluate(async (b64) => {
      const root = await navigator.storage.getDirectory();
      const h = await root.getFileHandle('hello.virtio', { create: true });
      const w = await h.createWritable();
      await w.write(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
      await w.close();
      (window as never as { __launch: (p: unknown) => void }).__launch({ files: [h] });
    }, Buffer.from(DEMO_KERNEL).toString('base64'));
    await page.waitForFunction(() => {
      const k = (window as never as { __model: { kernel: { value: { status: string; name: string } } } }).__model.kernel
        .value;
      return k.status === 'ok' && k.name === 'hello.virtio';
    });
    expect(await page.evaluate(() => document.title)).toBe('Unikernel disk builder');
  });

  it('has a maskable icon and an Apple touch icon, both opaque PNGs of the right size', async () => {
    const { page } = await open(site.url);
    const manifest = (await (await fetch(site.url + 'manifest.webmanifest')).json()) as {
      icons: { src: string; sizes: string; purpose?: string }[];
    };
    const maskable = manifest.icons.find((i) => i.purpose === 'maskable');
    expect(maskable?.sizes).toBe('512x512');
    const apple = await page.locator('link[rel="apple-touch-icon"]').getAttribute('href');
    const probe = (src: string) =>
      page.evaluate(async (src) => {
        const img = new Image();
        img.src = src;
        await img.decode();
        const c = document.createElement('canvas');
        c.width = img.naturalWidth;
        c.height = img.naturalHeight;
        const g = c.getContext('2d')!;
        g.drawImage(img, 0, 0);
        const corner = g.getImageData(0, 0, 1, 1).data;
        return { w: img.naturalWidth, h: img.naturalHeight, cornerAlpha: corner[3] };
      }, src);
    expect(await probe(maskable!.src)).toEqual({ w: 512, h: 512, cornerAlpha: 255 });
    expect(await probe(apple!)).toEqual({ w: 180, h: 180, cornerAlpha: 255 });
  });

  it('sent no request outside the origin (runs last)', () => {
    expect(outside).toEqual([]);
  });
});
