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
  axeViolations,
  buildPage,
  contrast,
  haveChromium,
  launchChromium,
  NO_PICKER,
  OPFS_PICKER,
  opfsBytes,
  opfsNames,
  startPreview,
  type Server,
} from './helpers/browser';
import { run, tempDir, tools } from './helpers/tools';
import { solo5Kernel } from './helpers/fixtures';
import { boot } from './helpers/qemu';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { inspectKernel } from '../src/core/kernel';
import { FORMATS } from '../src/core/formats/index';
import { DESTINATIONS, nextSteps, verdict } from '../src/core/platforms';

const BIN = new URL('../bin/solo5-virtio-mkimage.cjs', import.meta.url).pathname;
// E2E_PORT moves both ports, so that two checkouts can run this file at once.
const PORT = Number(process.env.E2E_PORT ?? 4391);
const OFFLINE_PORT = PORT + 1;
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

  /** Wait until the model has previewed the image for these arguments (the layout is behind a disclosure). */
  async function previewed(page: Page, args: string) {
    await page.waitForFunction((a) => {
      const m = (
        window as unknown as { __model: { preview: { value: { status: string; value?: { cmdline: string } } } } }
      ).__model;
      const p = m.preview.value;
      return p.status === 'ok' && p.value!.cmdline === (a ? `unikernel.bin ${a}` : 'unikernel.bin');
    }, args);
  }

  async function choose(page: Page, path: string, args = ARGS) {
    await page.getByLabel('Unikernel', { exact: true }).setInputFiles(path);
    // The page opens with the demo kernel chosen: wait for this file's own status line.
    const name = basename(path);
    await page
      .locator('#kernel-status', { hasText: name })
      .or(page.locator('#kernel-error', { hasText: name }))
      .first()
      .waitFor();
    await page.getByLabel('Arguments').fill(args);
    if (await page.locator('#kernel-status').count()) await previewed(page, args);
  }

  /** Open a disclosure (details) by its summary text, if it is closed. */
  async function disclose(page: Page, summary: string) {
    const s = page.locator('summary', { hasText: summary });
    if (!(await s.evaluate((el) => (el.parentElement as HTMLDetailsElement).open))) await s.click();
  }

  /** The raw format list lives under "Advanced". */
  async function setFormat(page: Page, id: string, size: string) {
    await disclose(page, 'Advanced');
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
    // The meta tag carries the same policy as the header (however the HTML is wrapped), less
    // frame-ancestors: a meta tag cannot carry it (the header alone does).
    expect(header).toContain("frame-ancestors 'none'");
    expect(/http-equiv="Content-Security-Policy"\s+content="([^"]*)"/.exec(html)?.[1]).toBe(
      header.replace("; frame-ancestors 'none'", ''),
    );
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline scripts
    expect(html).toMatch(/rel="manifest"/);
  });

  it("shows what it found in a kernel, and the core's sentence for a bad one", async () => {
    const { page } = await open('opfs');
    await choose(page, demoPath());
    // Internals are behind a disclosure, closed at first.
    expect(await page.locator('.kernel-info').isVisible()).toBe(false);
    await disclose(page, 'Kernel internals');
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
    await page.locator('#kernel-status', { hasText: 'dropped.virtio' }).waitFor();
    expect(await page.getByLabel('File name').inputValue()).toBe('dropped.img');
    // The native picker shows what is loaded, never "No file chosen".
    const shown = () =>
      page.getByLabel('Unikernel', { exact: true }).evaluate((i: HTMLInputElement) => i.files?.[0]?.name ?? '');
    expect(await shown()).toBe('dropped.virtio');
    await page.getByRole('button', { name: 'Use the demo kernel' }).click();
    await page.locator('#kernel-status', { hasText: 'Demo kernel' }).waitFor();
    await expect.poll(shown).toBe('demo.virtio');
    // The GCE format wants whole GiB: said live, Build disabled.
    await choose(page, demoPath());
    await setFormat(page, 'tar', '1536M');
    await expect.poll(() => page.locator('#size-hint').innerText()).toMatch(/whole number of GiB/);
    // Said on the page at once, but not as a live region: the announcer says it once typing pauses.
    expect(await page.locator('#size-hint').getAttribute('role')).toBeNull();
    expect(await page.locator('#size-hint').getAttribute('aria-live')).toBeNull();
    await expect.poll(() => page.locator('#announcer').innerText()).toMatch(/whole number of GiB/);
    // Typed key by key, the intermediate states are shown but never announced.
    const size = page.getByLabel('Size');
    await size.fill('');
    const said: string[] = [];
    for (const key of '2560M') {
      await size.press(key);
      said.push(await page.locator('#announcer').innerText());
      await page.waitForTimeout(150);
    }
    expect(new Set(said).size).toBe(1);
    await expect.poll(() => page.locator('#announcer').innerText()).toMatch(/2560 MiB|2\.5 GiB|whole number of GiB/);
    // The format's hint shows its command as code, not as `backquoted` text.
    expect(await page.locator('#format-hint code').innerText()).toBe('gcloud compute images create --source-uri');
    expect(await page.locator('#format-hint').innerText()).not.toContain('`');
    expect(await page.getByRole('button', { name: 'Build image' }).isDisabled()).toBe(true);
  });

  it('builds raw and GCE images through the file picker, byte-identical to the CLI', async () => {
    const { page } = await open('opfs');
    await choose(page, demoPath());
    expect(await page.getByLabel('File name').inputValue()).toBe('demo.img');
    // The summary says what will be saved and how big, before building.
    expect(await page.locator('#summary').innerText()).toMatch(/1 GiB disk → demo\.img\s+Raw disk image · 1 GiB file/);
    const text = await buildAndWait(page);
    expect(text).toContain('Saved to the file you chose');
    expect(text).toContain('qemu-system-x86_64');
    expect(text).toContain('file=demo.img,format=raw');
    expect(await opfsHashes(page, 'demo.img')).toEqual(sliceHashes(cli('raw', '1G', demoPath(), ARGS)));

    await setFormat(page, 'tar', '1G');
    expect(await page.getByLabel('File name').inputValue()).toBe('demo.tar.gz');
    // A compressed format's size is measured before building ("about"), and the measure is the file's.
    await expect.poll(() => page.locator('.sum-sub').innerText()).toMatch(/about [\d.]+ KiB file/);
    const about = (await page.locator('.sum-sub').innerText()).match(/about ([\d.]+ KiB)/)![1];
    const gceText = await buildAndWait(page);
    expect(gceText).toContain(`: ${about} (`);
    expect(gceText).toContain(
      'gcloud compute images create demo --project PROJECT --source-uri gs://BUCKET/demo.tar.gz',
    );
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
      // The next steps are the destination's: QEMU's command names the driver.
      if (format.qemuDriver && (await page.getByRole('radio', { name: 'QEMU/KVM' }).isChecked()))
        expect(text, format.id).toContain(`format=${format.qemuDriver}`);
      expect(await opfsHashes(page, name), format.id).toEqual(
        sliceHashes(cli(format.id, '64M', demoPath(), ARGS, name)),
      );
    }
  });

  it('opens with the demo kernel chosen, so one click builds it; the demo button brings it back', async () => {
    const { page } = await open('opfs');
    await page.locator('#kernel-status', { hasText: 'Demo kernel' }).waitFor();
    await previewed(page, '');
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
    await page.locator('#kernel-status', { hasText: 'Demo kernel' }).waitFor();
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

    // The page's own QEMU command, as shown, exits when the unikernel does.
    const command = await page.locator('#outcome pre').first().innerText();
    expect(command).toMatch(/^qemu-system-x86_64 /);
    const dir = tmp.path('qemu-run');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'demo.img'), readFileSync(raw));
    const q = spawnSync('sh', ['-c', command], { cwd: dir, encoding: 'utf8', timeout: 90_000, input: '' });
    expect(q.stdout).toContain('demo: SUCCESS');
    expect(q.status, q.stderr).toBe(83);

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
    // The limit is stated before building.
    expect(await page.locator('#blob-limit').innerText()).toMatch(/saves through memory: at most 2 GiB/);
    await page.getByLabel('Size').fill('64M');
    const [dl, text] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), buildAndWait(page)]);
    expect(text).toContain('Downloaded from memory as demo.img');
    expect(text).toMatch(/assembled in memory/);
    const file = tmp.path('blob.img');
    await dl.saveAs(file);
    expect(run('cmp', [file, cli('raw', '64M', demoPath(), ARGS)])).toBe('');
    // Over the cap: the core's size is fine, but the page says before building that memory cannot hold it.
    await page.getByLabel('Size').fill('3G');
    await expect.poll(() => page.locator('#blob-limit').innerText()).toMatch(/stops at 2 GiB .* choose a smaller Size/);
    expect(await page.getByRole('button', { name: 'Build image' }).isDisabled()).toBe(true);
  });

  it('cancels a service-worker download mid-build and leaves nothing behind', async () => {
    // Service-worker download of a large raw image: zeros are streamed, so it takes a while.
    const { page } = await open('none');
    await serviceWorkerReady(page);
    await choose(page, demoPath());
    await page.getByLabel('Size').fill('64G');
    const dlp = page.waitForEvent('download', { timeout: 60_000 });
    await page.getByRole('button', { name: 'Build image' }).click();
    // A large download is confirmed first.
    await page.getByRole('dialog', { name: 'Save a 64 GiB file?' }).waitFor();
    await page.getByRole('button', { name: 'Build the 64 GiB image' }).click();
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

  it("chooses where it will run: each destination picks its format, and the verdict is the core's", async () => {
    const { page } = await open('opfs');
    await page.locator('#verdict').waitFor();
    for (const d of DESTINATIONS) {
      const radio = page.getByRole('radio', { name: d.name.replace(/\s*\(.*\)$/, ''), exact: true });
      await radio.check();
      const fmt = FORMATS.find((f) => f.id === d.formats[0])!;
      expect(await page.getByLabel('Format').inputValue(), d.id).toBe(fmt.id);
      expect(await page.getByLabel('File name').inputValue(), d.id).toBe(`demo${fmt.extension}`);
      const shown = page.locator('#verdict');
      await shown.locator('h2', { hasText: d.name }).waitFor();
      // The core's verdict for the demo kernel there, word for word (code shown as code).
      const v = verdict(inspectKernel(DEMO_KERNEL), d);
      expect(await shown.getAttribute('data-level'), d.id).toBe(v.level);
      for (const sentence of v.sentences) expect(await shown.innerText(), d.id).toContain(sentence.replace(/`/g, ''));
      // Beside the verdict, behind a disclosure: which firmware starts the image there.
      expect(await shown.locator('#verdict-firmware p').allTextContents(), d.id).toEqual(
        v.firmware.map((x) => x.replace(/`/g, '')),
      );
    }
    expect(await page.getByRole('radio', { name: 'Google Compute Engine' }).count()).toBe(1);
    // A format from the Advanced list moves the destination to where it goes, when this one does not take it.
    await setFormat(page, 'vdi', '1G');
    expect(await page.getByRole('radio', { name: 'VirtualBox' }).isChecked()).toBe(true);

    // A kernel with a block device and a network device: GCE cannot attach the disk, QEMU attaches both.
    writeFileSync(
      tmp.path('blk.virtio'),
      solo5Kernel({
        abiTarget: 3,
        devices: [
          { name: 'storage', kind: 'block' },
          { name: 'service0', kind: 'net' },
        ],
      }),
    );
    await choose(page, tmp.path('blk.virtio'));
    expect(await page.locator('#kernel-status').innerText()).toContain(
      'declares 2 devices: block storage, network service0.',
    );
    await page.getByRole('radio', { name: 'Google Compute Engine' }).check();
    await page.locator('#verdict[data-level="fail"]').waitFor();
    const text = await page.locator('#verdict').innerText();
    expect(text).toContain('Will not run on Google Compute Engine');
    expect(text).toContain(
      'GCE has no virtio block devices: storage cannot be attached and the unikernel will abort at start.',
    );
    expect(await page.locator('#verdict code', { hasText: 'storage' }).count()).toBeGreaterThan(0);
    await page.getByRole('radio', { name: 'QEMU/KVM' }).check();
    await page.locator('#verdict[data-level="ok"]').waitFor();
    expect(await page.locator('#verdict').innerText()).toContain('QEMU can attach all of them.');
    // The verdict informs; it does not block the build.
    expect(await page.getByRole('button', { name: 'Build image' }).isEnabled()).toBe(true);
  });

  it('next steps: fields fill the placeholders, Copy copies the command as shown', async () => {
    const { ctx, page } = await open('opfs');
    await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.origin });
    await page.getByRole('radio', { name: 'Google Compute Engine' }).check();
    const text = await buildAndWait(page);
    expect(text).toContain('Next: run it on Google Compute Engine');
    expect(text).toMatch(/Done in [\d.]+ m?s\b/);
    for (const [label, value] of [
      ['Bucket', 'my-bucket'],
      ['Project', 'my-project'],
      ['Zone', 'europe-west1-b'],
    ])
      await page.getByLabel(label, { exact: true }).fill(value);
    const commands = await page.locator('#outcome pre').allInnerTexts();
    expect(commands[0]).toBe('gcloud storage cp demo.tar.gz gs://my-bucket/');
    expect(commands.join('\n')).toContain('--project my-project --zone europe-west1-b');
    expect(commands.join('\n')).not.toMatch(/\b(BUCKET|PROJECT|ZONE)\b/);
    expect(commands.join('\n')).toContain('--machine-type e2-small');
    // The destination's traps follow the commands.
    expect(await page.locator('#traps').innerText()).toContain(
      DESTINATIONS.find((d) => d.id === 'gce')!.traps[0].replace(/`/g, ''),
    );
    const copies = page.locator('#outcome').getByRole('button', { name: 'Copy' });
    expect(await copies.count()).toBe(commands.length);
    await copies.nth(1).click();
    await page.locator('#outcome', { hasText: 'Copied to the clipboard.' }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(commands[1]);
  });

  it('is calm and accessible in every state, desktop and phone, light and dark: axe finds nothing; focus follows the build; Escape cancels', async () => {
    writeFileSync(tmp.path('hvt.virtio'), solo5Kernel({ abiTarget: 1 }));
    const configs = [
      { width: 1280, height: 800, colorScheme: 'light' },
      { width: 1280, height: 800, colorScheme: 'dark' },
      { width: 390, height: 844, colorScheme: 'light' },
      { width: 390, height: 844, colorScheme: 'dark' },
    ] as const;
    for (const [n, c] of configs.entries()) {
      const where = `${c.width}x${c.height} ${c.colorScheme}`;
      const ctx = await browser.newContext({
        acceptDownloads: true,
        viewport: { width: c.width, height: c.height },
        colorScheme: c.colorScheme,
        hasTouch: c.width < 500,
      });
      const requests: Request[] = [];
      ctx.on('request', (r) => requests.push(r));
      contexts.push({ ctx, requests });
      await ctx.addInitScript(NO_PICKER);
      const page = await ctx.newPage();
      await page.goto(server.origin + '/');
      await serviceWorkerReady(page);
      await page.locator('#verdict').waitFor();
      await previewed(page, '');
      const clean = async (state: string) => expect(await axeViolations(page), `${where}, ${state}`).toEqual([]);

      // Initial. The theme follows the system, and Build is in view without scrolling.
      await clean('initial');
      if (n === 0) {
        // axe is really looking: an unlabelled field and grey-on-white text are found.
        await page.evaluate(() => {
          const f = document.createElement('div');
          f.id = 'axe-bait';
          f.style.background = '#fff';
          // (CSSOM, not a style attribute: the page's CSP blocks inline styles)
          f.innerHTML = '<input type="text"><p>faint words</p>';
          f.querySelector('p')!.style.color = '#d0d0d0';
          document.querySelector('header')!.append(f);
        });
        const found = (await axeViolations(page)).map((v) => v.id);
        expect(found).toEqual(expect.arrayContaining(['label', 'color-contrast']));
        await page.evaluate(() => document.getElementById('axe-bait')!.remove());
      }
      const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      expect(contrast(bg, c.colorScheme === 'dark' ? 'rgb(0, 0, 0)' : 'rgb(255, 255, 255)'), where).toBeLessThan(1.3);
      const build = page.getByRole('button', { name: 'Build image' });
      const box = (await build.boundingBox())!;
      expect(box.y + box.height, where).toBeLessThanOrEqual(c.height);
      // Focus rings: at least 3:1 against what surrounds them.
      await page.keyboard.press('Tab');
      for (const target of [build, page.getByRole('radio', { name: 'QEMU/KVM' })]) {
        await target.focus();
        const ring = await target.evaluate((el) => {
          const ringed = el.closest('.dest') ?? el;
          const color = getComputedStyle(ringed).outlineColor;
          let p: Element | null = ringed.parentElement;
          while (p && getComputedStyle(p).backgroundColor === 'rgba(0, 0, 0, 0)') p = p.parentElement;
          return {
            color,
            width: getComputedStyle(ringed).outlineWidth,
            around: getComputedStyle(p ?? document.body).backgroundColor,
          };
        });
        expect(ring.width, where).toBe('3px');
        expect(contrast(ring.color, ring.around), `${where} ${JSON.stringify(ring)}`).toBeGreaterThanOrEqual(3);
      }

      // Details open.
      await disclose(page, 'Kernel internals');
      await disclose(page, 'Regions in detail');
      await disclose(page, 'Advanced');
      await clean('details open');

      // Error.
      await page.getByLabel('Unikernel', { exact: true }).setInputFiles(tmp.path('hvt.virtio'));
      await page.locator('#kernel-error').waitFor();
      await clean('kernel error');
      await page.getByRole('button', { name: 'Use the demo kernel' }).click();
      await page.locator('#kernel-status', { hasText: 'Demo kernel' }).waitFor();
      await page.getByLabel('Size').fill('2.5G');
      await page.getByRole('radio', { name: 'Google Compute Engine' }).check();
      await page.locator('#size-hint.invalid').waitFor();
      await clean('size error');
      await page.getByRole('radio', { name: 'QEMU/KVM' }).check();

      // A large download asks first; building; Escape cancels and focus returns to Build.
      await page.getByLabel('Size').fill('64G');
      await expect.poll(() => page.locator('.sum-sub').innerText()).toContain('64 GiB download');
      const dlp = page.waitForEvent('download', { timeout: 60_000 });
      await build.click();
      await page.getByRole('dialog', { name: 'Save a 64 GiB file?' }).waitFor();
      await clean('asking before a large download');
      if (n === 0) {
        // Count what the progress live region says, against how often the visible text changes.
        await page.evaluate(() => {
          const w = window as unknown as { __said: string[]; __shown: number };
          w.__said = [];
          w.__shown = 0;
          new MutationObserver(() => {
            const live = document.querySelector('#progress-area [role=status]')?.textContent ?? '';
            if (live && live !== w.__said[w.__said.length - 1]) w.__said.push(live);
            w.__shown++;
          }).observe(document.body, { subtree: true, childList: true, characterData: true });
        });
      }
      await page.getByRole('button', { name: 'Build the 64 GiB image' }).click();
      await expect
        .poll(() => page.locator('#progress').evaluate((p: HTMLProgressElement) => p.value), { timeout: 60_000 })
        .toBeGreaterThan(0);
      await expect
        .poll(() => page.evaluate(() => document.activeElement?.id), { message: where })
        .toBe('progress-area');
      await clean('building');
      if (n === 0) {
        await page.waitForTimeout(7000);
        const { said, shown } = await page.evaluate(() => {
          const w = window as unknown as { __said: string[]; __shown: number };
          return { said: w.__said, shown: w.__shown };
        });
        expect(shown).toBeGreaterThan(10); // the visible progress moved all along
        expect(said.length).toBeGreaterThanOrEqual(1);
        expect(said.length).toBeLessThanOrEqual(3); // the live region: once every five seconds at most
      }
      await page.keyboard.press('Escape');
      await expect.poll(() => page.locator('#outcome').innerText()).toContain('Cancelled');
      await expect.poll(() => page.evaluate(() => document.activeElement?.id), { message: where }).toBe('build');
      expect(await (await dlp).failure()).not.toBeNull();
      await clean('cancelled');

      // Done, with the next steps (and their placeholder fields); focus on the result.
      await page.getByLabel('Size').fill('1G');
      await page.getByRole('radio', { name: 'Google Compute Engine' }).check();
      const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 110_000 }), build.click()]);
      await page.locator('#outcome.done').waitFor({ timeout: 110_000 });
      expect(await dl.failure()).toBeNull();
      await expect.poll(() => page.evaluate(() => document.activeElement?.id), { message: where }).toBe('outcome');
      await clean('done');
      // Nothing wider than the window.
      expect(await page.evaluate(() => document.documentElement.scrollWidth), where).toBeLessThanOrEqual(c.width);
    }
  }, 300_000);

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
    for (const id of ['kernel-file', 'dest-qemu', 'size', 'filename', 'args', 'build']) expect(seen).toContain(id);
    // Build comes after the steps, in reading order.
    expect(seen.indexOf('build')).toBeGreaterThan(seen.indexOf('args'));
  });

  /** A page at a viewport, on a phone (390×844) or a desktop (1280×800); service workers as asked. */
  async function openAt(width: number, height: number, serviceWorkers: 'allow' | 'block' = 'block') {
    const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width, height }, serviceWorkers });
    const requests: Request[] = [];
    ctx.on('request', (r) => requests.push(r));
    contexts.push({ ctx, requests });
    await ctx.addInitScript(OPFS_PICKER);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.goto(server.origin + '/');
    await page.getByRole('heading', { name: 'Unikernel disk builder' }).waitFor();
    return { ctx, page };
  }
  const SCREENS = [
    { width: 390, height: 844, phone: true },
    { width: 1280, height: 800, phone: false },
  ] as const;

  /** The page's controls that can be hit at their centre inside the viewport, outside `except`. */
  function reachableControls(page: Page, except: string) {
    return page.evaluate((except) => {
      const out: string[] = [];
      const all = document.querySelectorAll('button, input, select, textarea, a[href], summary');
      all.forEach((el, i) => {
        if (el.closest(except)) return;
        const r = el.getBoundingClientRect();
        const x = r.left + r.width / 2;
        const y = r.top + r.height / 2;
        if (!r.width || !r.height || x < 0 || y < 0 || x >= innerWidth || y >= innerHeight) return;
        const hit = document.elementFromPoint(x, y);
        if (hit && (hit === el || el.contains(hit) || (el as HTMLInputElement).labels?.[0]?.contains(hit)))
          out.push(`${i}:${el.id || el.textContent?.trim().slice(0, 30)}`);
      });
      return out;
    }, except);
  }

  it('notices never cover a control: the offline notice sits under Build on a desktop, in the Build bar on a phone (issue 18)', async () => {
    for (const s of SCREENS) {
      const { page } = await openAt(s.width, s.height, 'allow');
      await page.locator('#kernel-status', { hasText: 'Demo kernel' }).waitFor();
      await page.locator('.sum-sub', { hasText: 'GiB' }).waitFor();
      const before = await reachableControls(page, '.buildbar');
      // The first visit's service worker takes over: "ready to work offline".
      const notice = page.getByRole('status').filter({ hasText: 'Ready to work offline' });
      await notice.waitFor({ timeout: 30_000 });
      const where = await page.evaluate(() => {
        const box = document.querySelector('.pwa-notice')!.getBoundingClientRect();
        const bar = document.querySelector('.buildbar')!.getBoundingClientRect();
        const build = document.getElementById('build')!.getBoundingClientRect();
        const hit = document.elementFromPoint(build.left + build.width / 2, build.top + build.height / 2);
        return {
          inBar: box.left >= bar.left && box.right <= bar.right && box.top >= bar.top && box.bottom <= bar.bottom,
          buildHit: hit?.closest('#build') !== null,
          barTop: bar.top,
          inView: box.top >= 0 && box.bottom <= innerHeight,
        };
      });
      // Part of the Build bar (its first row on a phone, under Build beside the steps): in view, Build usable.
      expect(where, `${s.width}`).toMatchObject({ inBar: true, buildHit: true, inView: true });
      expect(await axeViolations(page), `${s.width}, notice`).toEqual([]);
      const after = await reachableControls(page, '.buildbar');
      if (s.phone) {
        // What the taller bar now hides lies behind the bar, as content scrolls beneath it: never under a card of its own.
        const hidden = before.filter((c) => !after.includes(c));
        for (const c of hidden) {
          const id = Number(c.split(':')[0]);
          const top = await page.evaluate(
            (i) =>
              document.querySelectorAll('button, input, select, textarea, a[href], summary')[i].getBoundingClientRect(),
            id,
          );
          expect(top.top + top.height / 2, c).toBeGreaterThanOrEqual(where.barTop);
        }
      } else {
        expect(after).toEqual(before);
      }
      // Dismissed, it is gone; the live region stays for the next one.
      await notice.getByRole('button', { name: 'Dismiss' }).click();
      await page.locator('.pwa-notice').waitFor({ state: 'detached' });
      expect(await page.locator('#pwa-status[role="status"]').count()).toBe(1);
    }
  });

  it('a disk image chosen as the kernel is named from its first bytes and opens in "Inside an image" (issue 18)', async () => {
    const image = cli('qcow2', '1G', demoPath(), ARGS, 'disk.qcow2');
    for (const s of SCREENS) {
      const { page } = await openAt(s.width, s.height);
      await page.getByLabel('Unikernel', { exact: true }).setInputFiles(image);
      const error = page.locator('#kernel-error', { hasText: 'disk.qcow2' });
      await error.waitFor();
      expect((await error.innerText()).replace(/\n+/g, '\n')).toBe(
        'disk.qcow2 cannot be used: It is a qcow2 disk image, not a unikernel: choose the .virtio file your build produced, or look inside the image.\nLook inside disk.qcow2',
      );
      expect(await page.getByRole('button', { name: 'Build image' }).isDisabled()).toBe(true);
      expect(await axeViolations(page), `${s.width}, a disk image as the kernel`).toEqual([]);
      await error.getByRole('button', { name: 'Look inside disk.qcow2' }).click();
      await page.locator('#inside-report').waitFor();
      expect(new URL(page.url()).hash).toBe('#inside');
      expect(await page.locator('#image-status').innerText()).toBe('disk.qcow2 is open.');
      expect(await page.locator('#inside-report').innerText()).toContain(`unikernel.bin ${ARGS}`);
    }
  });

  it('next steps: long commands wrap on a phone, read as one, and are copied as one; GCE with two network devices gets a network for each (issue 18)', async () => {
    const devices = [
      { name: 'service0', kind: 'net' as const },
      { name: 'service1', kind: 'net' as const },
    ];
    writeFileSync(tmp.path('twonic.virtio'), solo5Kernel({ abiTarget: 3, devices }));
    for (const s of SCREENS) {
      const { ctx, page } = await openAt(s.width, s.height);
      await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.origin });
      await page.getByLabel('Unikernel', { exact: true }).setInputFiles(tmp.path('twonic.virtio'));
      await page.locator('#kernel-status', { hasText: 'twonic.virtio' }).waitFor();
      await page.getByRole('radio', { name: 'Google Compute Engine' }).check();
      await page.locator('#verdict', { hasText: 'GCE refuses a VM with two interfaces on one VPC network' }).waitFor();
      await page.getByRole('button', { name: 'Build image' }).click();
      await page.locator('#outcome pre').first().waitFor({ timeout: 110_000 });
      // A field for each network and the region, filling every command.
      for (const [label, value] of [
        ['Network 1', 'uk-net-a'],
        ['Network 2', 'uk-net-b'],
        ['Region', 'europe-west1'],
      ])
        await page.getByLabel(label, { exact: true }).fill(value);
      const expected = nextSteps({ devices }, 'gce', { file: 'twonic.tar.gz', formatId: 'tar' }).map((x) =>
        x.command
          .replace(/\bNETWORK1\b/g, 'uk-net-a')
          .replace(/\bNETWORK2\b/g, 'uk-net-b')
          .replace(/\bREGION\b/g, 'europe-west1'),
      );
      const shown = await page.locator('#outcome pre').evaluateAll((pres) =>
        pres.map((pre) => {
          const style = getComputedStyle(pre);
          const lines = Math.round(
            (pre.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom)) /
              parseFloat(style.lineHeight),
          );
          // What a selection of the whole command copies.
          const range = document.createRange();
          range.selectNodeContents(pre);
          const sel = getSelection()!;
          sel.removeAllRanges();
          sel.addRange(range);
          const selected = sel.toString();
          sel.removeAllRanges();
          return {
            text: (pre as HTMLElement).innerText,
            selected,
            overflows: pre.scrollWidth > pre.clientWidth,
            lines,
          };
        }),
      );
      // The text is the command, newlines and all, and so is what selecting it copies; nothing scrolls sideways.
      expect(shown.map((x) => x.text)).toEqual(expected);
      expect(shown.map((x) => x.selected)).toEqual(expected);
      expect(shown.filter((x) => x.overflows)).toEqual([]);
      if (s.phone) {
        // On a phone, the long lines take more lines on the screen than the command has.
        const create = expected.findIndex((c) => c.startsWith('gcloud compute instances create'));
        expect(shown[create].lines).toBeGreaterThan(expected[create].split('\n').length);
      }
      // No word is cut where it fits on a line (`--project` stays whole).
      const cut = await page
        .locator('#outcome pre .word')
        .evaluateAll((words) =>
          words
            .filter(
              (w) =>
                w.textContent!.length < 30 &&
                w.getClientRects().length === 1 &&
                w.getBoundingClientRect().height > 1.5 * parseFloat(getComputedStyle(w).lineHeight),
            )
            .map((w) => w.textContent),
        );
      expect(cut).toEqual([]);
      // Copy copies the command, one command, as shown.
      for (const i of [2, 3]) {
        // (A pressed Copy button says so: find each by its command.)
        await page.locator('#outcome .cmd').nth(i).getByRole('button').click();
        await page.waitForFunction((want) => navigator.clipboard.readText().then((t) => t === want), expected[i]);
        expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(expected[i]);
      }
    }
  });

  it('the first screen: a line for MirageOS users, the counter says what its bytes are, GCE without devices says one sentence and keeps the reason behind "Why" (issue 18)', async () => {
    for (const s of SCREENS) {
      const { page } = await openAt(s.width, s.height);
      await page.locator('#kernel-status', { hasText: 'Demo kernel' }).waitFor();
      // MirageOS: in view without scrolling, not under the Build bar.
      const mirage = page.locator('#kernel-mirage');
      expect(await mirage.innerText()).toBe(
        'From MirageOS: mirage configure -t virtio, then make, builds the .virtio file.',
      );
      const seen = await mirage.evaluate((el) => {
        const r = el.getBoundingClientRect();
        const hit = document.elementFromPoint(r.left + 5, r.top + r.height / 2);
        return r.bottom <= innerHeight && hit !== null && el.contains(hit);
      });
      expect(seen).toBe(true);
      expect(await page.locator('#kernel-file').getAttribute('aria-describedby')).toContain('kernel-mirage');
      // The counter for an empty field: the kernel's name is what it counts.
      await page.getByLabel('Arguments').fill('');
      const count = page.locator('#args-count');
      await count.filter({ hasText: `${'unikernel.bin'.length} /` }).waitFor();
      expect(await count.innerText()).toBe(`${'unikernel.bin'.length} / 8,191 bytes with the name (unikernel.bin)`);
      // GCE, and a kernel that declares nothing: one sentence; the reason behind a disclosure, closed.
      await page.getByRole('radio', { name: 'Google Compute Engine' }).check();
      const v = verdict({ devices: [], solo5Manifest: true }, 'gce');
      await page.locator('#verdict[data-level="warn"]').waitFor();
      const said = await page.locator('#verdict > p').allInnerTexts();
      expect(said).toEqual(v.sentences.map((x) => x.replace(/`/g, '')));
      expect(said).toHaveLength(1);
      const why = page.locator('#verdict-why');
      expect(await why.evaluate((d) => (d as HTMLDetailsElement).open)).toBe(false);
      await why.locator('summary', { hasText: 'Why' }).click();
      expect(await why.locator('p').innerText()).toBe(v.why![0]);
      expect(await axeViolations(page), `${s.width}, GCE's Why open`).toEqual([]);
    }
  });

  it('sent no request outside the origin, from the page, its worker or the service worker (runs last)', () => {
    const urls = contexts.flatMap((c) => c.requests.map((r) => r.url()));
    expect(urls.length).toBeGreaterThan(20);
    expect(urls.some((u) => u.includes('/assets/worker-'))).toBe(true);
    const ours = [server.origin, `http://127.0.0.1:${OFFLINE_PORT}`].map((o) => o + '/');
    const foreign = urls.filter((u) => !ours.some((o) => u.startsWith(o)) && !/^(blob|data):/.test(u));
    expect(foreign).toEqual([]);
  });
});
