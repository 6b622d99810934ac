#!/usr/bin/env node
// Render public/icon.svg (ours) to the PNGs the web manifest and index.html
// list, with Debian's Chromium: `node scripts/web-icons.mjs`. The PNGs are committed.
//   icon-192.png, icon-512.png   the icon as drawn ("any": transparent corners);
//   icon-maskable-512.png        full-bleed background, the drawing inside the
//                                central 80% safe zone (platforms crop to any shape);
//   apple-touch-icon.png         180x180, opaque (iOS fills transparency with black).
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const root = new URL('..', import.meta.url).pathname;
const svg = readFileSync(root + 'public/icon.svg', 'utf8');
const BACKGROUND = '#1d3557'; // the icon's own background colour (and the manifest's theme_color)
const icons = [
  { file: 'icon-192.png', n: 192, inset: 0, fill: false },
  { file: 'icon-512.png', n: 512, inset: 0, fill: false },
  { file: 'icon-maskable-512.png', n: 512, inset: 0.1, fill: true },
  { file: 'apple-touch-icon.png', n: 180, inset: 0.06, fill: true },
];
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
try {
  for (const { file, n, inset, fill } of icons) {
    const page = await browser.newPage({ viewport: { width: n, height: n } });
    const pad = Math.round(n * inset);
    const size = n - 2 * pad;
    const bg = fill ? `background:${BACKGROUND};` : '';
    await page.setContent(
      `<body style="margin:0;${bg}"><div style="padding:${pad}px;line-height:0">${svg.replace('<svg ', `<svg width="${size}" height="${size}" `)}</div></body>`,
    );
    await page.screenshot({ path: `${root}public/${file}`, omitBackground: !fill });
    await page.close();
  }
} finally {
  await browser.close();
}
