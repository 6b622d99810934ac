/**
 * The boot walkthrough in the real page, in Debian's Chromium against `vite
 * preview` of a build of its own (its own directory and port): an image we
 * built is opened in "Inside the image"; the steps' headings are the core's,
 * in order; a field's decoded value is in its legend table; axe finds
 * nothing, light and dark; and printed (print media emulated) only the
 * walkthrough remains, black on white, on at most 9 A4 pages, axe finding
 * nothing there either, kept in a screenshot and a PDF for a person to look
 * at (WALKTHROUGH_SHOTS=dir keeps them).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import {
  axeViolations,
  buildPage,
  haveChromium,
  launchChromium,
  pdfPages,
  startPreview,
  type Server,
} from './helpers/browser';
import { tempDir } from './helpers/tools';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { planImage } from '../src/core/image';
import { buildWalkthrough } from '../src/core/disk/walkthrough';
import { openDisk } from '../src/core/formats/open';
import type { Walkthrough } from '../src/core/disk/walkthrough/types';
import { writePlanRange } from './helpers/image-files';
import { withFile } from './helpers/disk-read';
import { readImage } from '../src/core/disk/open-image';

// Apart from e2e-web's ports (E2E_PORT, +1), the Inside view's (+20) and the screenshot's; E2E_PORT moves it too.
const PORT = Number(process.env.E2E_PORT ?? 4391) + 30;
const MiB = 1 << 20;
const ARGS = 'page walk --ipv4=10.0.0.2/24';

describe.skipIf(!haveChromium())('the walkthrough in the Inside view, in Chromium', () => {
  let server: Server;
  let browser: Browser;
  let core: Walkthrough;
  const tmp = tempDir('ukd-e2e-walk-');
  const dist = tmp.path('dist');
  const image = tmp.path('walk.img');
  const shots = process.env.WALKTHROUGH_SHOTS ?? tmp.path('shots');

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    writePlanRange(planImage(DEMO_KERNEL, { size: 64 * MiB, args: ARGS }).plan, image);
    core = await withFile(image, async (src) => buildWalkthrough(await readImage(await openDisk(src))));
    buildPage(dist);
    server = await startPreview(PORT, dist);
    browser = await launchChromium();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    tmp.cleanup();
  });

  async function opened(dark = false): Promise<Page> {
    const page = await browser.newPage({
      viewport: { width: 1100, height: 900 },
      colorScheme: dark ? 'dark' : 'light',
    });
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.goto(server.origin + '/#inside');
    await page.getByLabel('Disk image').setInputFiles(image);
    await page.locator('#inside-report').waitFor({ timeout: 60_000 });
    await page.locator('.walkthrough .wt-step').first().waitFor();
    return page;
  }

  it('the steps and a field, as the core has them; axe finds nothing, light and dark', async () => {
    for (const dark of [false, true]) {
      const page = await opened(dark);
      try {
        const boot = page.getByRole('region', { name: 'How it boots' });
        expect(await boot.locator('ol.wt-steps > li h3').allTextContents()).toEqual(
          [...core.steps, ...core.uefi].map((s) => s.title),
        );
        // "Under UEFI" is a disclosure: closed, its steps are out of the way (and of the print); opened, all there.
        const uefi = boot.locator('details.wt-uefi');
        expect(await uefi.getAttribute('open')).toBeNull();
        await uefi.getByText('Under UEFI', { exact: true }).click();
        await expect.poll(() => uefi.getByRole('listitem').count()).toBe(core.uefi.length);
        await uefi.getByText('Under UEFI', { exact: true }).click();
        const row = boot.locator('#walk-params table.wt-legend tr', { hasText: 'Arguments' });
        expect(await row.locator('td').last().textContent()).toBe(`"${ARGS}"`);
        const lba = boot.locator('#walk-stage1 table.wt-legend:not(.wt-code) tr', {
          hasText: "Stage 2's first sector",
        });
        expect(await lba.locator('td').last().textContent()).toBe('LBA 1');
        expect(await axeViolations(page), dark ? 'dark' : 'light').toEqual([]);
        await page.emulateMedia({ media: 'print' });
        expect(await axeViolations(page), `${dark ? 'dark' : 'light'} print`).toEqual([]);
        await page.emulateMedia({ media: 'screen' });
      } finally {
        await page.close();
      }
    }
  }, 120_000);

  it('printed: only the walkthrough, black on white', async () => {
    const page = await opened(true);
    try {
      await page.emulateMedia({ media: 'print' });
      const shown = await page.evaluate(() => {
        const visible = (e: Element | null) => !!e && getComputedStyle(e).display !== 'none';
        // The page's h1 stays for assistive technology, clipped to a pixel.
        const seen = (e: Element | null) => visible(e) && e!.getBoundingClientRect().height > 1;
        const w = document.querySelector('.walkthrough')!;
        return {
          walkthrough: visible(w),
          report: visible(document.querySelector('#inside-report')),
          header: seen(document.querySelector('header')),
          h1: visible(document.querySelector('h1')),
          color: getComputedStyle(w).color,
          background: getComputedStyle(w).backgroundColor,
          steps: document.querySelectorAll('.walkthrough .wt-step').length,
        };
      });
      expect(shown).toEqual({
        walkthrough: true,
        report: false,
        header: false,
        h1: true,
        color: 'rgb(0, 0, 0)',
        background: 'rgb(255, 255, 255)',
        steps: core.steps.length + core.uefi.length,
      });
      await page.screenshot({ path: join(shots, 'page-print.png'), fullPage: true });
      const pdf = await page.pdf({ format: 'A4' });
      writeFileSync(join(shots, 'page-handout.pdf'), pdf);
      expect(pdfPages(pdf)).toBeGreaterThan(3);
      expect(pdfPages(pdf)).toBeLessThanOrEqual(9);
    } finally {
      await page.close();
    }
  }, 60_000);
});
