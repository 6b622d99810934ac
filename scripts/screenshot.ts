/**
 * `npm run screenshot`: build the page, serve it, and photograph it in
 * Debian's Chromium (playwright-core) for the README: docs/screenshot.png,
 * 1280×800, light theme, the demo kernel chosen.
 *
 * `npm run screenshot -- --all DIR` also writes desktop (1280×800) and phone
 * (390×844) shots, light and dark, initial and after a build, and of the
 * built image opened in "Inside the image" (`*-inside.png`), into DIR: for
 * looking at the page while changing it.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildPage, launchChromium, OPFS_PICKER, startPreview } from '../test/helpers/browser';

const PORT = 4399;
const all = process.argv.indexOf('--all');
const dir = all >= 0 ? process.argv[all + 1] : undefined;

buildPage();
const server = await startPreview(PORT);
const browser = await launchChromium();
try {
  const shots: { name: string; width: number; height: number; dark: boolean; build: boolean; inside?: boolean }[] = [
    { name: 'docs/screenshot.png', width: 1280, height: 800, dark: false, build: false },
  ];
  if (dir) {
    mkdirSync(dir, { recursive: true });
    for (const [w, h, kind] of [
      [1280, 800, 'desktop'],
      [390, 844, 'phone'],
    ] as const)
      for (const dark of [false, true]) {
        for (const build of [false, true])
          shots.push({
            name: join(dir, `${kind}-${dark ? 'dark' : 'light'}${build ? '-done' : ''}.png`),
            width: w,
            height: h,
            dark,
            build,
          });
        shots.push({
          name: join(dir, `${kind}-${dark ? 'dark' : 'light'}-inside.png`),
          width: w,
          height: h,
          dark,
          build: true,
          inside: true,
        });
      }
  }
  for (const s of shots) {
    const ctx = await browser.newContext({
      viewport: { width: s.width, height: s.height },
      colorScheme: s.dark ? 'dark' : 'light',
      serviceWorkers: 'block',
    });
    await ctx.addInitScript(OPFS_PICKER);
    const page = await ctx.newPage();
    await page.goto(server.origin + '/');
    await page.locator('#verdict').waitFor();
    await page.locator('.sum-sub', { hasText: 'GiB' }).waitFor();
    if (s.build) {
      await page.getByRole('button', { name: 'Build image' }).click();
      await page.locator('#outcome').waitFor();
      if (s.inside) {
        await page.getByRole('button', { name: /^Look inside / }).click();
        await page.locator('#inside-report').waitFor();
        await page.locator('summary', { hasText: 'Every structure, as a table' }).click();
      }
      await page.mouse.move(0, 0);
    }
    await page.screenshot({ path: s.name, fullPage: s.build });
    console.log('wrote', s.name);
    await ctx.close();
  }
} finally {
  await browser.close();
  await server.stop();
}
