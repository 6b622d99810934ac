#!/usr/bin/env node
// Render public/icon.svg (ours) to the PNG sizes the web manifest lists, with
// Debian's Chromium: `node scripts/web-icons.mjs`. The PNGs are committed.
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const root = new URL('..', import.meta.url).pathname;
const svg = readFileSync(root + 'public/icon.svg', 'utf8');
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
try {
  for (const n of [192, 512]) {
    const page = await browser.newPage({ viewport: { width: n, height: n } });
    await page.setContent(`<body style="margin:0">${svg.replace('<svg ', `<svg width="${n}" height="${n}" `)}</body>`);
    await page.screenshot({ path: `${root}public/icon-${n}.png`, omitBackground: true });
    await page.close();
  }
} finally {
  await browser.close();
}
