/**
 * "Inside the image" end to end, in Debian's Chromium against `vite preview`
 * of a build of its own (its own directory and port, so it can run beside
 * the other e2e files): drop images we built (raw, qcow2, VMDK), see the
 * inspection and the map, change the arguments, save a copy (through the
 * file picker and through the streamsaver download), and read the copies
 * back with the real tools (`unikernel-disk inspect --json`, `qemu-img
 * info`); wrong files give the core's sentence and leave the view usable;
 * the image just built opens with one click; a copy is cancelled as a build is
 * (focus, Escape, no file left); axe finds nothing in any state,
 * desktop and phone, light and dark.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  axeViolations,
  buildPage,
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
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { PARAMS_OFF, P_KERNEL_SIZE } from '../src/core/boot/loader.generated';
import { requireFormat } from '../src/core/formats/index';

const MKIMAGE = new URL('../bin/solo5-virtio-mkimage.cjs', import.meta.url).pathname;
const DISK = new URL('../bin/unikernel-disk.cjs', import.meta.url).pathname;
// Apart from e2e-web's ports (E2E_PORT, +1) and the screenshot's; E2E_PORT moves it too.
const PORT = Number(process.env.E2E_PORT ?? 4391) + 20;

function cli(bin: string, args: string[]): string {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, SOURCE_DATE_EPOCH: '' },
  });
  if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

describe.skipIf(!haveChromium() || !tools('qemu-img'))('Inside the image, in Chromium', () => {
  let server: Server;
  let browser: Browser;
  const tmp = tempDir('ukd-e2e-inside-');
  const dist = tmp.path('dist');
  const contexts: BrowserContext[] = [];
  const img = (name: string) => tmp.path(name);
  const kernelSha = createHash('sha256').update(DEMO_KERNEL).digest('hex');

  async function open(picker: 'opfs' | 'none', opts: { width?: number; height?: number; dark?: boolean } = {}) {
    const ctx = await browser.newContext({
      acceptDownloads: true,
      viewport: { width: opts.width ?? 1100, height: opts.height ?? 900 },
      colorScheme: opts.dark ? 'dark' : 'light',
      hasTouch: (opts.width ?? 1100) < 500,
    });
    contexts.push(ctx);
    await ctx.addInitScript(picker === 'opfs' ? OPFS_PICKER : NO_PICKER);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.goto(server.origin + '/#inside');
    await page.getByRole('heading', { name: 'Open an image' }).waitFor();
    return page;
  }

  async function openImage(page: Page, path: string) {
    await page.getByLabel('Disk image').setInputFiles(path);
    await page.locator('#inside-report, #image-error').first().waitFor({ timeout: 60_000 });
  }

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

  beforeAll(async () => {
    const c = spawnSync(process.execPath, [new URL('../scripts/build-cli.mjs', import.meta.url).pathname], {
      encoding: 'utf8',
    });
    if (c.status !== 0) throw new Error(`CLI bundle failed: ${c.stderr}`);
    buildPage(dist);
    server = await startPreview(PORT, dist);
    browser = await launchChromium();
    writeFileSync(img('demo.virtio'), DEMO_KERNEL);
    cli(MKIMAGE, ['-q', '--size', '64M', img('demo.img'), img('demo.virtio'), 'hello', 'world']);
    cli(MKIMAGE, ['-q', '-f', 'qcow2', img('demo.qcow2'), img('demo.virtio'), 'hello', 'world']);
    cli(MKIMAGE, ['-q', '-f', 'vmdk', img('demo.vmdk'), img('demo.virtio'), 'hello', 'world']);
  }, 240_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await server?.stop();
    tmp.cleanup();
  });

  /** The inspection and the map of an opened image, as the page shows them. */
  async function expectShown(page: Page, label: RegExp) {
    const report = await page.locator('#inside-report').innerText();
    expect(report).toMatch(label);
    expect(report).toContain('unikernel.bin hello world');
    expect(report).toContain(kernelSha);
    expect(report).toMatch(/this project’s boot loader, parameter block version 1/);
    expect(await page.locator('#inside-verify').innerText()).toMatch(/Everything checked is sound/);
    // The map: the whole disk and the zoomed insets, each labelled; the same ranges as a table.
    for (const h of ['LBA 0 and the boot loader', "The FAT volume's first sectors", "The kernel's clusters"])
      await expect.poll(() => page.getByRole('heading', { name: h }).count()).toBe(1);
    expect(await page.locator('.disk-map .track').count()).toBeGreaterThanOrEqual(4);
    await page.locator('summary', { hasText: 'Every structure, as a table' }).click();
    const table = await page.getByRole('region', { name: 'Every structure on the disk' }).innerText();
    for (const s of [
      'LBA 0: master boot record',
      'Stage 2 boot loader',
      'Parameter block',
      'FAT 1',
      'FAT 2',
      '/unikernel.bin',
    ])
      expect(table).toContain(s);
  }

  it('opens qcow2 and VMDK images, shows them, and saves copies with new arguments through the file picker', async () => {
    const page = await open('opfs');
    for (const [file, label, qemuFmt] of [
      ['demo.qcow2', /qcow2 \(QEMU, OpenStack, Proxmox\) · .* holding a 1 GiB disk/, 'qcow2'],
      ['demo.vmdk', /VMDK.* holding a 1 GiB disk/, 'vmdk'],
    ] as const) {
      await openImage(page, img(file));
      await expectShown(page, label);
      const ext = file.slice(file.indexOf('.'));
      expect(await page.getByLabel('Name of the copy').inputValue()).toBe(`demo-args${ext}`);
      expect(await page.getByLabel('New arguments').inputValue()).toBe('hello world');
      await page.getByLabel('New arguments').fill('--ipv4=10.0.0.2/24 changed');
      await page.getByRole('button', { name: 'Save a copy' }).click();
      await page.locator('#copy-outcome.done').waitFor({ timeout: 60_000 });
      expect(await page.locator('#copy-outcome').innerText()).toContain('now unikernel.bin --ipv4=10.0.0.2/24 changed');
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('copy-outcome');
      const saved = img(`saved-demo-args${ext}`);
      writeFileSync(saved, await opfsBytes(page, `demo-args${ext}`));
      const j = JSON.parse(cli(DISK, ['inspect', '--json', saved]));
      expect(j.format).toBe(file === 'demo.qcow2' ? 'qcow2' : 'vmdk');
      expect(j.bootloader.cmdline).toBe('unikernel.bin --ipv4=10.0.0.2/24 changed');
      expect(j.kernel.sha256).toBe(kernelSha);
      expect(cli(DISK, ['verify', saved])).toMatch(/ok/);
      expect(JSON.parse(run('qemu-img', ['info', '--output=json', saved])).format).toBe(qemuFmt);
      run('qemu-img', ['check', '-f', qemuFmt, saved]);
      // The same bytes as the CLI's set-args on a copy of the input with the page's name (VMDK's descriptor names its file).
      mkdirSync(img('cli'), { recursive: true });
      const cliCopy = img(`cli/demo-args${ext}`);
      copyFileSync(img(file), cliCopy);
      cli(DISK, ['set-args', '-q', cliCopy, '--ipv4=10.0.0.2/24', 'changed']);
      expect(readFileSync(cliCopy).equals(readFileSync(saved)), file).toBe(true);
    }
  });

  it('opens a raw image and saves the copy through the streamsaver download; the copy differs only in the loader', async () => {
    const page = await open('none');
    await serviceWorkerReady(page);
    await openImage(page, img('demo.img'));
    await expectShown(page, /Raw disk image \(\.img\) · 64 MiB file holding a 64 MiB disk/);
    await page.getByLabel('New arguments').fill('raw copy');
    const [dl] = await Promise.all([
      page.waitForEvent('download', { timeout: 60_000 }),
      page.getByRole('button', { name: 'Save a copy' }).click(),
    ]);
    expect(dl.suggestedFilename()).toBe('demo-args.img');
    const saved = img('saved-demo-args.img');
    await dl.saveAs(saved);
    await page.locator('#copy-outcome.done').waitFor({ timeout: 60_000 });
    const j = JSON.parse(cli(DISK, ['inspect', '--json', saved]));
    expect(j.format).toBe('raw');
    expect(j.bootloader.cmdline).toBe('unikernel.bin raw copy');
    expect(JSON.parse(run('qemu-img', ['info', '--output=json', saved])).format).toBe('raw');
    const a = readFileSync(img('demo.img'));
    const b = readFileSync(saved);
    expect(b.length).toBe(a.length);
    expect(b.subarray(1 << 20).equals(a.subarray(1 << 20))).toBe(true);
    // The same bytes as the CLI's set-args on a copy of the input.
    const cliCopy = img('cli-set-args.img');
    copyFileSync(img('demo.img'), cliCopy);
    cli(DISK, ['set-args', '-q', cliCopy, 'raw', 'copy']);
    expect(readFileSync(cliCopy).equals(b)).toBe(true);
  });

  it('a copy follows the build: focus to its progress, Escape cancels it, focus back to Save, no file left', async () => {
    // A 16 GiB raw image (sparse): the copy first reads every byte of it, long enough to cancel.
    const page = await open('opfs');
    cli(MKIMAGE, ['-q', '--size', '16G', img('big.img'), img('demo.virtio'), 'hello']);
    await openImage(page, img('big.img'));
    await page.getByLabel('New arguments').fill('never saved');
    await page.getByRole('button', { name: 'Save a copy' }).click();
    await expect
      .poll(() => page.locator('#copy-progress progress').evaluate((p: HTMLProgressElement) => p.value), {
        timeout: 60_000,
      })
      .toBeGreaterThan(0);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('copy-progress');
    expect(await page.getByRole('progressbar', { name: /^Reading the image/ }).count()).toBe(1);
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('#copy-outcome').innerText()).toBe('Cancelled. Nothing was saved.');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('save-copy');
    expect(await page.evaluate(() => (window as unknown as { __picked?: string }).__picked)).toBe('big-args.img');
    expect(await opfsNames(page)).not.toContain('big-args.img');
  }, 240_000);

  it("says what verify finds in a damaged image, in the core's words", async () => {
    const page = await open('opfs');
    // One byte of the kernel changed: its CRC no longer matches the parameter block.
    const j = JSON.parse(cli(DISK, ['inspect', '--json', img('demo.img')]));
    const bad = img('damaged.img');
    const bytes = readFileSync(img('demo.img'));
    bytes[j.kernel.lba * 512 + 100] ^= 0xff;
    writeFileSync(bad, bytes);
    const r = spawnSync(process.execPath, [DISK, 'verify', bad], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    const line = r.stdout.split('\n').find((l) => l.includes('kernel:'))!;
    const sentence = line.slice(line.indexOf('kernel:') + 'kernel:'.length).trim();
    await openImage(page, bad);
    const verify = await page.locator('#inside-verify').innerText();
    expect(verify).toMatch(/^1 problem:/);
    expect(verify.replace(/\s+/g, ' ')).toContain(`kernel: ${sentence}`.replace(/\s+/g, ' '));
    expect(await axeViolations(page)).toEqual([]);
  });

  it("says why the arguments cannot change, previews the image's command line, and prints a heading naming the image", async () => {
    const page = await open('opfs');
    // The parameter block damaged: its command line still decodes, but the core refuses to rewrite it.
    const bytes = readFileSync(img('demo.img'));
    bytes[512 + PARAMS_OFF + P_KERNEL_SIZE] ^= 0x10;
    writeFileSync(img('damaged-params.img'), bytes);
    await openImage(page, img('damaged-params.img'));
    expect(await page.locator('#inside-cmdline').innerText()).toBe('unikernel.bin hello world');
    expect(await page.locator('#args-refused').innerText()).toMatch(/parameter block is damaged \(see Checks above\)/);
    expect(await page.locator('#args-refused').innerText()).not.toMatch(/GRUB/);
    expect(await page.getByLabel('New arguments').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Save a copy' }).count()).toBe(0);

    await openImage(page, img('demo.qcow2'));
    await page.getByLabel('New arguments').fill('new ones');
    expect(await page.locator('#new-cmdline').innerText()).toBe('unikernel.bin new ones');
    // The handout names the image: shown in print only.
    const head = page.locator('#inside-print-head');
    expect(await head.isVisible()).toBe(false);
    await page.emulateMedia({ media: 'print' });
    try {
      expect(await head.isVisible()).toBe(true);
      const text = (await head.innerText()).replace(/\s+/g, ' ');
      expect(text).toContain('How demo.qcow2 boots');
      expect(text).toContain(requireFormat('qcow2').label);
      expect(text).toContain('unikernel.bin hello world');
      expect(await page.locator('#report-h').isVisible()).toBe(false);
    } finally {
      await page.emulateMedia({ media: 'screen' });
    }
  });

  it('opens an image dropped anywhere on the view', async () => {
    const page = await open('opfs');
    const b64 = readFileSync(img('demo.vmdk')).toString('base64');
    const dt = await page.evaluateHandle((b64) => {
      const bin = atob(b64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      const d = new DataTransfer();
      d.items.add(new File([bytes], 'dropped.vmdk'));
      return d;
    }, b64);
    await page.dispatchEvent('footer', 'dragover', { dataTransfer: dt });
    await page.dispatchEvent('footer', 'drop', { dataTransfer: dt });
    await page.locator('#inside-report').waitFor({ timeout: 60_000 });
    expect(await page.getByRole('heading', { name: 'What is inside dropped.vmdk' }).count()).toBe(1);
    expect(await page.locator('#inside-cmdline').innerText()).toBe('unikernel.bin hello world');
    // The native picker shows what is open.
    expect(await page.getByLabel('Disk image').evaluate((i: HTMLInputElement) => i.files?.[0]?.name)).toBe(
      'dropped.vmdk',
    );
    expect(await page.getByLabel('Name of the copy').inputValue()).toBe('dropped-args.vmdk');
  });

  it("wrong files show the core's one sentence, never a stack, and the view stays usable", async () => {
    const page = await open('opfs');
    writeFileSync(img('notes.txt'), 'Shopping list: bread, milk.\n'.repeat(40));
    const cut = img('cut.qcow2');
    copyFileSync(img('demo.qcow2'), cut);
    truncateSync(cut, Math.floor(statSync(cut).size / 3 / 512) * 512);
    const top = img('top.qcow2');
    run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', img('demo.qcow2'), '-F', 'qcow2', top]);
    for (const [file, words] of [
      ['notes.txt', /not a disk image/],
      ['cut.qcow2', /truncated/],
      ['top.qcow2', /demo\.qcow2/],
    ] as const) {
      await openImage(page, img(file));
      const err = page.locator('#image-error');
      await err.waitFor();
      const text = await err.innerText();
      expect(text).toContain(`${file} cannot be read:`);
      expect(text).toMatch(words);
      expect(text).not.toMatch(/\bat .*\.(js|ts):\d+|Error:/);
      expect(await page.locator('#inside-report').count()).toBe(0);
    }
    // The sentences are the core's, word for word: the CLI prints the same for the same files.
    for (const file of ['cut.qcow2', 'top.qcow2']) {
      await openImage(page, img(file));
      await page.locator('#image-error', { hasText: file }).waitFor();
      const r = spawnSync(process.execPath, [DISK, 'inspect', img(file)], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      const sentence = r.stderr.replace(/^unikernel-disk: (error: )?/, '').trim();
      expect(sentence.length).toBeGreaterThan(20);
      expect((await page.locator('#image-error').innerText()).replace(/\s+/g, ' ')).toContain(
        sentence.replace(/`/g, '').replace(/\s+/g, ' '),
      );
    }
    // Still usable: a good image opens.
    await openImage(page, img('demo.qcow2'));
    await page.locator('#inside-report').waitFor();
    expect(await page.locator('#image-error').count()).toBe(0);
  });

  // Saved to a file: read back through its handle. Downloaded: built again in memory (the same bytes).
  for (const picker of ['opfs', 'none'] as const) {
    it(`opens the image just built with one click, from the build outcome (${picker === 'opfs' ? 'saved to a file' : 'downloaded'})`, async () => {
      const ctx = await browser.newContext({ viewport: { width: 1100, height: 900 }, acceptDownloads: true });
      contexts.push(ctx);
      await ctx.addInitScript(picker === 'opfs' ? OPFS_PICKER : NO_PICKER);
      const page = await ctx.newPage();
      await page.goto(server.origin + '/');
      if (picker === 'none') await serviceWorkerReady(page);
      await page.locator('#verdict').waitFor();
      await page.getByLabel('Size').fill('64M');
      await page.getByLabel('Arguments').fill('built here');
      await page.waitForFunction(() => {
        const m = (
          window as unknown as {
            __model: { preview: { value: { status: string; value?: { cmdline: string; size: number } } } };
          }
        ).__model;
        const p = m.preview.value;
        return p.status === 'ok' && p.value!.cmdline === 'unikernel.bin built here' && p.value!.size === 64 << 20;
      });
      const downloaded = picker === 'none' ? page.waitForEvent('download', { timeout: 110_000 }) : null;
      await page.getByRole('button', { name: 'Build image' }).click();
      await page.locator('#outcome.done').waitFor({ timeout: 110_000 });
      if (downloaded) await (await downloaded).path();
      await page.getByRole('button', { name: 'Look inside demo.img' }).click();
      await page.locator('#inside-report').waitFor({ timeout: 60_000 });
      expect(page.url()).toMatch(/#inside$/);
      expect(await page.locator('#inside-cmdline').innerText()).toBe('unikernel.bin built here');
      expect(await page.locator('#inside-format').innerText()).toMatch(/64 MiB file holding a 64 MiB disk/);
      // the UEFI loader in inspect's words (the core's describeUefi)
      expect(await page.locator('#inside-uefi').innerText()).toMatch(
        /^\\EFI\\BOOT\\BOOTX64\.EFI, [\d,]+ bytes: unikernel-disk's, version \d+\.\d+ \(this version's, byte for byte\), .*; unsigned \(Secure Boot refuses it\)$/,
      );
      // And back to the builder, which kept its state.
      await page.getByRole('link', { name: 'Build an image' }).click();
      expect(await page.getByLabel('Arguments').inputValue()).toBe('built here');
      // Focus moves to the view switched to, so a screen reader starts there.
      expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Build an image');
      await page.getByRole('link', { name: 'Inside an image' }).focus();
      await page.keyboard.press('Enter');
      await expect
        .poll(() => page.evaluate(() => document.activeElement?.getAttribute('aria-label')))
        .toBe('Inside an image');
      // The image opened before is still open.
      expect(await page.locator('#inside-cmdline').innerText()).toBe('unikernel.bin built here');
    });
  }

  it('is calm and accessible in every state, desktop and phone, light and dark: axe finds nothing', async () => {
    writeFileSync(img('notes.txt'), 'Shopping list: bread, milk.\n'.repeat(40));
    for (const c of [
      { width: 1280, height: 800, dark: false },
      { width: 1280, height: 800, dark: true },
      { width: 390, height: 844, dark: false },
      { width: 390, height: 844, dark: true },
    ]) {
      const where = `${c.width}x${c.height} ${c.dark ? 'dark' : 'light'}`;
      const page = await open('opfs', c);
      const clean = async (state: string) => expect(await axeViolations(page), `${where}, ${state}`).toEqual([]);
      await clean('initial');
      // The view is reachable by keyboard from the page's navigation.
      expect(await page.getByRole('navigation', { name: 'Views' }).getByRole('link').count()).toBe(2);
      expect(await page.getByRole('link', { name: 'Inside an image' }).getAttribute('aria-current')).toBe('page');
      await openImage(page, img('notes.txt'));
      await page.locator('#image-error').waitFor();
      await clean('error');
      await openImage(page, img('demo.qcow2'));
      await page.locator('#inside-report').waitFor();
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('inside-report');
      await page.locator('summary', { hasText: 'Every structure, as a table' }).click();
      await clean('opened');
      await page.getByLabel('New arguments').fill('x'.repeat(8200));
      await expect.poll(() => page.locator('#new-args-hint').innerText()).toMatch(/limit is 8191/);
      expect(await page.getByRole('button', { name: 'Save a copy' }).isDisabled()).toBe(true);
      await clean('arguments too long');
      await page.getByLabel('New arguments').fill('axe check');
      await page.getByRole('button', { name: 'Save a copy' }).click();
      await page.locator('#copy-outcome.done').waitFor({ timeout: 60_000 });
      await clean('saving done');
      if (process.env.INSIDE_SHOTS) {
        await page.screenshot({
          path: `${process.env.INSIDE_SHOTS}/inside-${where.replace(/\W+/g, '-')}.png`,
          fullPage: true,
        });
      }
      await page.context().close();
    }
  });
});
