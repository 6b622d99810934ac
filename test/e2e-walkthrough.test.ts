/**
 * WalkthroughView in Chromium, on its own: the walkthroughs of a real image
 * of ours (and of an old-tool SYSLINUX image) are built by the core here,
 * drawn by the component in a small page bundled with esbuild (the page's
 * own style.css included, inside some page chrome), and checked: the steps'
 * headings, a field in a legend table, the disassembly tables, the `xxd`
 * commands, the table of contents and the skip link, axe (WCAG 2.2 AA and
 * best practices) at desktop and phone widths in light and dark and with
 * print media, nothing wider than a phone, and the print layout (no chrome,
 * black on white, fields outlined, at most 9 A4 pages), with screenshots and
 * the PDF kept in the test's directory (WALKTHROUGH_SHOTS=dir keeps them).
 * The Inside view's own e2e test mounts it in the real page.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { planImage } from '../src/core/image';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { buildWalkthrough } from '../src/core/disk/walkthrough';
import type { Walkthrough } from '../src/core/disk/walkthrough/types';
import { openDisk } from '../src/core/formats/open';
import { readImage } from '../src/core/disk/open-image';
import { axeViolations, haveChromium, launchChromium, pdfPages } from './helpers/browser';
import { serveStatic, type StaticServer } from './helpers/static-server';
import { writePlanRange } from './helpers/image-files';
import { withFile } from './helpers/disk-read';
import { haveOldToolFiles, makeOldToolImage, OLD_TOOL_PROGRAMS } from './helpers/old-tool';
import { have, inCI, tempDir } from './helpers/tools';

const MiB = 1 << 20;
const ARGS = 'print me --ipv4=10.0.0.2/24';
const tmp = tempDir('ukd-walkview-');
const ROOT = new URL('..', import.meta.url).pathname;

/** The harness: some page chrome around the component, and a function to show a walkthrough. */
const ENTRY = `
import { h, render } from 'preact';
import { WalkthroughView } from './src/web/inside/walkthrough';
import './src/web/style.css';
window.__show = (json) => {
  const w = JSON.parse(json, (k, v) => (v && v.__bytes ? new Uint8Array(v.__bytes) : v));
  render(
    h('div', null,
      h('header', null, h('h1', null, 'Page chrome'), h('p', { class: 'lede' }, 'Not in the handout.')),
      h('main', { style: 'display:block' },
        h('section', { class: 'step', 'aria-labelledby': 'walk-h' },
          h('h2', { id: 'walk-h' }, 'How it boots'),
          h(WalkthroughView, { walkthrough: w }))),
      h('footer', null, h('p', null, 'Footer chrome'))),
    document.getElementById('app'),
  );
};
`;

const HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Walkthrough</title><link rel="stylesheet" href="entry.css"></head>
<body><div id="app"></div><script src="entry.js"></script></body></html>`;

/** Our loader's walkthrough of the demo image, printed on A4, fits in this many pages (issue 19: about 8). */
const MAX_PAGES = 9;

const toJson = (w: Walkthrough) =>
  JSON.stringify(w, (k, v) => (v instanceof Uint8Array ? { __bytes: Array.from(v) } : v));

async function walkOf(path: string, fileName?: string): Promise<Walkthrough> {
  return withFile(path, async (src) => buildWalkthrough(await readImage(await openDisk(src)), { fileName }));
}

const ok = haveChromium();
if (!ok && inCI) throw new Error('chromium is missing in CI');

describe.skipIf(!ok)('WalkthroughView in Chromium', () => {
  let server: StaticServer;
  let browser: Browser;
  let ours: Walkthrough;
  const shots = process.env.WALKTHROUGH_SHOTS ?? tmp.path('shots');

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    const img = planImage(DEMO_KERNEL, { size: 64 * MiB, args: ARGS });
    writePlanRange(img.plan, tmp.path('ours.img'));
    ours = await walkOf(tmp.path('ours.img'), 'ours.img');
    const site = tmp.path('site');
    mkdirSync(site);
    await build({
      stdin: { contents: ENTRY, resolveDir: ROOT, loader: 'tsx', sourcefile: 'harness.tsx' },
      bundle: true,
      outdir: site,
      entryNames: 'entry',
      format: 'iife',
      jsx: 'automatic',
      jsxImportSource: 'preact',
      logLevel: 'error',
    });
    writeFileSync(join(site, 'index.html'), HTML);
    server = await serveStatic(site, '/');
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    tmp.cleanup();
  });

  async function open(w: Walkthrough, width = 1280, height = 800): Promise<Page> {
    const page = await browser.newPage({ viewport: { width, height } });
    await page.goto(server.url);
    await page.evaluate((json) => (window as unknown as { __show(j: string): void }).__show(json), toJson(w));
    await page.locator('.wt-step').first().waitFor();
    return page;
  }

  it('our image: the steps in order, a field in its legend, code from backticks, the hex grid hidden from screen readers', async () => {
    const page = await open(ours);
    try {
      const all = [...ours.steps, ...ours.uefi];
      expect(ours.uefi.map((s) => s.id)).toEqual(['uefi-find', 'uefi-pe', 'uefi-ident', 'uefi-loader']);
      expect(await page.locator('ol.wt-steps > li.wt-step').count()).toBe(all.length);
      expect(await page.locator('.wt-step h3').allTextContents()).toEqual(all.map((s) => s.title));
      expect(await page.locator('.wt-uefi > summary > h3').textContent()).toBe('Under UEFI');
      const ident = page.locator('#walk-uefi-ident table.wt-legend tr', { hasText: 'Stage 2 code size' });
      expect(await ident.locator('td').last().textContent()).toMatch(
        /^0x[0-9A-F]+: it reads the command line at this offset in stage 2, where this image has it$/,
      );
      const row = page.locator('#walk-stage1 table.wt-legend:not(.wt-code) tr', { hasText: "Stage 2's first sector" });
      await expect.poll(() => row.locator('td').last().textContent()).toBe('LBA 1');
      expect(await row.locator('td.wt-mono').first().textContent()).toBe('0x005A');
      expect(await row.locator('.wt-legend-bytes').textContent()).toBe('01 00 00 00');
      const args = page.locator('#walk-params table.wt-legend tr', { hasText: 'Arguments' });
      expect(await args.locator('td').last().textContent()).toBe(`"${ARGS}"`);
      expect(await page.locator('#walk-bios p code', { hasText: '0x7C00' }).count()).toBeGreaterThan(0);
      // Every data dump: a hidden grid with one cell per byte, a numbered badge per field, and a legend row per
      // field; every code dump: a table, one row per instruction (address, bytes, instruction, what it does).
      const dumps = all.flatMap((s) => s.dumps);
      const data = dumps.filter((d) => d.code === null);
      const code = dumps.filter((d) => d.code !== null);
      expect(code.length).toBeGreaterThan(5);
      expect(await page.locator('.wt-hex[aria-hidden="true"]').count()).toBe(data.length);
      expect(await page.locator('.wt-hex .wt-b').count()).toBe(data.reduce((n, d) => n + d.bytes.length, 0));
      const fields = (ds: typeof dumps) => ds.reduce((n, d) => n + d.fields.length, 0);
      expect(await page.locator('.wt-hex .wt-n').count()).toBe(fields(data));
      expect(await page.locator('table.wt-legend:not(.wt-code) tbody tr').count()).toBe(fields(data));
      expect(await page.locator('table.wt-code').count()).toBe(code.length);
      expect(await page.locator('table.wt-code tbody tr').count()).toBe(fields(code));
      // The kernel's first instruction, disassembled beside its bytes.
      const cmp = page.locator('#walk-jump table.wt-code tr', { hasText: 'cmp eax,0x2badb002' });
      expect(await cmp.locator('td').allTextContents()).toEqual([
        '0x100021',
        '3D 02 B0 AD 2B',
        'compare EAX with 0x2BADB002, the Multiboot magic: was this kernel started by a Multiboot loader?',
      ]);
      // Each dump read from the disk gives the xxd command for its bytes.
      expect(await page.locator('.wt-xxd code').count()).toBe(dumps.filter((d) => d.diskOffset !== null).length);
      expect(await page.locator('#walk-partition .wt-xxd code').textContent()).toBe('xxd -g1 -s 0x1B0 -l 80 ours.img');
      await page.screenshot({ path: join(shots, 'screen-light.png'), fullPage: true });
    } finally {
      await page.close();
    }
  }, 60_000);

  it('axe finds nothing at 1280 and 390 wide, light and dark; nothing is wider than a phone', async () => {
    for (const [width, height] of [
      [1280, 800],
      [390, 844],
    ]) {
      for (const colorScheme of ['light', 'dark'] as const) {
        const page = await open(ours, width, height);
        try {
          await page.emulateMedia({ colorScheme });
          expect(await axeViolations(page), `${width} ${colorScheme}`).toEqual([]);
          await page.emulateMedia({ colorScheme, media: 'print' });
          expect(await axeViolations(page), `${width} ${colorScheme} print`).toEqual([]);
          await page.emulateMedia({ colorScheme, media: 'screen' });
          if (width < 400) {
            const wide = await page.evaluate(() => document.documentElement.scrollWidth);
            expect(wide, `${width} ${colorScheme}: page width`).toBeLessThanOrEqual(width);
          }
          if (colorScheme === 'dark' && width > 1000) {
            await page.screenshot({ path: join(shots, 'screen-dark.png'), fullPage: true });
          }
          if (width < 400 && colorScheme === 'light') {
            await page.locator('#walk-partition').screenshot({ path: join(shots, 'phone-partition.png') });
            await page.locator('#walk-stage1').screenshot({ path: join(shots, 'phone-stage1.png') });
            await page.locator('.wt-check').screenshot({ path: join(shots, 'phone-check.png') });
          }
        } finally {
          await page.close();
        }
      }
    }
    // axe is really looking: grey-on-grey text in a legend is found.
    const page = await open(ours);
    try {
      await page.evaluate(() => {
        const td = document.querySelector('.wt-legend td:last-child') as HTMLElement;
        td.style.color = '#bbb';
        td.style.background = '#fff';
      });
      expect((await axeViolations(page)).map((v) => v.id)).toContain('color-contrast');
    } finally {
      await page.close();
    }
  }, 120_000);

  it('a phone (375 wide): 8 bytes a row, bytes and field numbers at least 11px; 16 a row on a desktop', async () => {
    const measure = (page: Page) =>
      page.evaluate(() => {
        const grid = document.querySelector('#walk-params .wt-hex') as HTMLElement;
        const bytes = [...grid.querySelectorAll('.wt-b')].map((b) => b.getBoundingClientRect());
        const rowTops = [...new Set(bytes.map((r) => Math.round(r.top)))];
        const shownOffsets = [...grid.querySelectorAll('.wt-off')]
          .filter((e) => getComputedStyle(e).display !== 'none')
          .map((e) => e.textContent);
        return {
          byteFont: parseFloat(getComputedStyle(grid.querySelector('.wt-b')!).fontSize),
          badgeFont: parseFloat(getComputedStyle(grid.querySelector('.wt-n')!).fontSize),
          perRow: bytes.filter((r) => Math.round(r.top) === rowTops[0]).length,
          offsets: shownOffsets.slice(0, 3),
          gridWidth: grid.getBoundingClientRect().width,
          scrollWidth: grid.scrollWidth,
          clientWidth: grid.clientWidth,
        };
      });
    const phone = await open(ours, 375, 812);
    try {
      const m = await measure(phone);
      expect(m.byteFont).toBeGreaterThanOrEqual(11);
      expect(m.badgeFont).toBeGreaterThanOrEqual(11);
      expect(m.perRow).toBe(8);
      const base = ours.steps.find((s) => s.id === 'params')!.dumps.find((d) => d.code === null)!.diskOffset!;
      const addr = (n: number) => '0x' + n.toString(16).toUpperCase().padStart(4, '0');
      expect(m.offsets).toEqual([addr(base), addr(base + 8), addr(base + 16)]);
      expect(m.scrollWidth).toBeLessThanOrEqual(m.clientWidth);
      expect(m.gridWidth).toBeLessThanOrEqual(375);
      await phone.locator('#walk-params').screenshot({ path: join(shots, 'phone-params.png') });
    } finally {
      await phone.close();
    }
    const desktop = await open(ours);
    try {
      const m = await measure(desktop);
      expect(m.perRow).toBe(16);
      expect(m.byteFont).toBeGreaterThanOrEqual(11);
    } finally {
      await desktop.close();
    }
  }, 60_000);

  it("the contents link to the steps and the skip link past them, without leaving the page's view", async () => {
    const page = await open(ours);
    try {
      const links = page.locator('nav.wt-toc ol a');
      expect(await links.allTextContents()).toEqual(ours.steps.map((s) => s.title));
      expect(await links.evaluateAll((as) => as.map((a) => a.getAttribute('href')))).toEqual(
        ours.steps.map((s) => `#walk-${s.id}`),
      );
      const hash = await page.evaluate(() => location.hash);
      await page.locator('nav.wt-toc a', { hasText: 'Protected mode' }).click();
      expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Protected mode');
      expect(await page.evaluate(() => location.hash)).toBe(hash);
      // The skip link is the first thing the keyboard reaches, shown when focused, and lands after the walkthrough.
      await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
      await page.locator('.wt-skip').focus();
      expect(await page.locator('.wt-skip').isVisible()).toBe(true);
      await page.keyboard.press('Enter');
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('walk-end');
    } finally {
      await page.close();
    }
  }, 60_000);

  it('printed: only the walkthrough, black on white, fields outlined in black and numbered', async () => {
    const page = await open(ours, 900, 1200);
    try {
      await page.emulateMedia({ media: 'print', colorScheme: 'dark' });
      const style = await page.evaluate(() => {
        const cs = (sel: string) => getComputedStyle(document.querySelector(sel) as Element);
        // Out of sight: not displayed, or clipped to a pixel (the page's h1 and the section's heading stay for
        // assistive technology).
        const unseen = (sel: string) => {
          const e = document.querySelector(sel) as HTMLElement;
          const r = e.getBoundingClientRect();
          return getComputedStyle(e).display === 'none' || (r.width <= 1 && r.height <= 1);
        };
        return {
          header: unseen('header'),
          lede: cs('header .lede').display,
          footer: cs('footer').display,
          h1: cs('h1').display,
          h2: unseen('#walk-h'),
          title: cs('.wt-print-title').display,
          fg: cs('.walkthrough').color,
          bg: cs('.walkthrough').backgroundColor,
          fieldBorder: cs('.wt-in').borderTopColor,
          fieldStyle: cs('.wt-in').borderTopStyle,
          fieldTint: cs('.wt-in').backgroundColor,
          badge: cs('.wt-hex .wt-n').color,
          badgeBorder: cs('.wt-hex .wt-n').borderTopStyle,
          hexBreak: cs('.wt-hex').breakInside,
          toc: cs('.wt-toc').display,
        };
      });
      expect(style).toEqual({
        header: true,
        lede: 'none',
        footer: 'none',
        h1: 'block',
        h2: true,
        title: 'block',
        fg: 'rgb(0, 0, 0)',
        bg: 'rgb(255, 255, 255)',
        fieldBorder: 'rgb(0, 0, 0)',
        fieldStyle: 'solid',
        fieldTint: 'rgb(255, 255, 255)',
        badge: 'rgb(0, 0, 0)',
        badgeBorder: 'solid',
        hexBreak: 'avoid-page',
        toc: 'none',
      });
      await page.screenshot({ path: join(shots, 'print.png'), fullPage: true });
      // Hidden (another view, a closed panel), it leaves the page to print as it would without it.
      const chrome = await page.evaluate(() => {
        (document.querySelector('section') as HTMLElement).hidden = true;
        const shown = [
          getComputedStyle(document.querySelector('header')!).display,
          document.querySelector('header')!.getBoundingClientRect().height > 10,
        ];
        (document.querySelector('section') as HTMLElement).hidden = false;
        return shown;
      });
      expect(chrome).toEqual(['block', true]);
      const pdf = await page.pdf({ format: 'A4', printBackground: false });
      writeFileSync(join(shots, 'handout.pdf'), pdf);
      expect(pdf.length).toBeGreaterThan(10_000);
      expect(pdfPages(pdf)).toBeGreaterThan(3);
      expect(pdfPages(pdf)).toBeLessThanOrEqual(MAX_PAGES);
    } finally {
      await page.close();
    }
  }, 60_000);

  it.skipIf(!OLD_TOOL_PROGRAMS.every(have) || !haveOldToolFiles())(
    'an old-tool SYSLINUX image: its steps and the APPEND line',
    async () => {
      const kernel = tmp.path('old.virtio');
      writeFileSync(kernel, DEMO_KERNEL);
      makeOldToolImage(tmp.dir, tmp.path('old.img'), kernel, 'from syslinux', { size: 64 * MiB });
      const w = await walkOf(tmp.path('old.img'));
      const page = await open(w);
      try {
        expect(await page.locator('.wt-step h3').allTextContents()).toEqual(w.steps.map((s) => s.title));
        const row = page.locator('#walk-config table.wt-legend tr', { hasText: 'APPEND line' });
        expect(await row.locator('td').last().textContent()).toBe('its arguments: -aout unikernel.bin from syslinux');
        expect(await axeViolations(page)).toEqual([]);
        await page.emulateMedia({ media: 'print' });
        expect(await axeViolations(page), 'print').toEqual([]);
        await page.emulateMedia({ media: 'screen' });
        await page.screenshot({ path: join(shots, 'syslinux.png'), fullPage: true });
      } finally {
        await page.close();
      }
    },
    60_000,
  );
});
