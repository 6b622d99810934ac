/**
 * "Where it will run" in the page, in Chromium: the demo kernel declares no
 * devices and runs everywhere; a kernel with a block device gets the core's
 * failure for the GCE tar and an ok for qcow2 (QEMU), before Build.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { buildPage, haveChromium, launchChromium, NO_PICKER, startPreview, type Server } from './helpers/browser';
import { tempDir } from './helpers/tools';
import { solo5Kernel } from './helpers/fixtures';

const PORT = 4417;

describe.skipIf(!haveChromium())('where it will run, in the page', () => {
  let server: Server;
  let browser: Browser;
  let page: Page;
  const tmp = tempDir('ukd-where-');

  beforeAll(async () => {
    buildPage();
    server = await startPreview(PORT);
    browser = await launchChromium();
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    await ctx.addInitScript(NO_PICKER);
    page = await ctx.newPage();
    await page.goto(server.origin + '/');
    await page.getByRole('heading', { name: 'Unikernel disk builder' }).waitFor();
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
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    tmp.cleanup();
  });

  const verdict = () => page.locator('#verdict');

  it('the demo kernel declares no devices and runs where its raw image goes', async () => {
    await page.locator('#where-devices', { hasText: 'declares no devices' }).waitFor();
    expect(await verdict().getAttribute('data-level')).toBe('ok');
    expect(await verdict().innerText()).toContain('On QEMU/KVM, where this format goes: it will run.');
    await page.getByLabel('Format').selectOption('tar');
    // every GCE VM has a virtio-net card the demo does not declare: a caution, not a failure
    await page.locator('#verdict', { hasText: 'Google Compute Engine' }).waitFor();
    expect(await verdict().getAttribute('data-level')).toBe('warn');
    expect(await verdict().innerText()).toContain('Every GCE VM has a network card');
  });

  it('a kernel with a block device: GCE fails, naming the device, and QEMU is fine', async () => {
    await page.getByLabel('Unikernel', { exact: true }).setInputFiles(tmp.path('blk.virtio'));
    await page.locator('#where-devices', { hasText: 'storage' }).waitFor();
    expect(await page.locator('#where-devices').innerText()).toBe(
      'The unikernel declares 2 devices: block storage, network service0.',
    );
    await page.getByLabel('Format').selectOption('tar');
    await page.locator('#verdict[data-level="fail"]').waitFor();
    const text = await verdict().innerText();
    expect(text).toContain('On Google Compute Engine, where this format goes: it will not run.');
    expect(text).toContain(
      'GCE has no virtio block devices: storage cannot be attached and the unikernel will abort at start.',
    );
    expect(await verdict().getAttribute('role')).toBe('alert');
    // the next commands for GCE, with the flags that matter
    await page.locator('#next-steps summary').click();
    const steps = await page.locator('#next-steps').innerText();
    expect(steps).toContain('Next commands for Google Compute Engine');
    expect(steps).toContain('gcloud compute images create unikernel --source-uri gs://BUCKET/blk.tar.gz');
    expect(steps).toContain('--machine-type e2-small');
    expect(steps).toContain('Good to know about Google Compute Engine:');
    expect(steps).toContain('--network-interface=nic-type=VIRTIO_NET,network=default');
    // the device names are shown as code
    expect(await verdict().locator('code', { hasText: 'storage' }).count()).toBeGreaterThan(0);
    await page.getByLabel('Format').selectOption('qcow2');
    await page.locator('#verdict[data-level="ok"]').waitFor();
    expect(await verdict().innerText()).toContain('QEMU can attach all of them.');
    // the verdict does not block the build
    expect(await page.getByRole('button', { name: 'Build image' }).isEnabled()).toBe(true);
  });
});
