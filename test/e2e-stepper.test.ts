/**
 * "How it boots", run: the stepper end to end in Debian's Chromium against
 * `vite preview` of a build of its own (its own directory and port). The
 * demo image is opened in the Inside view and, with the keyboard only
 * (Tab to the controls, Enter, and the stepper's own keys), stepped, run to
 * the next walkthrough step and to the kernel, and back to the start; the
 * "Registers" region shows EAX = 2BADB002 at the kernel's entry, with the
 * Multiboot machine state table. Desktop (1280×800) and phone (390×844),
 * light and dark; axe finds nothing in any state.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { axeViolations, buildPage, haveChromium, launchChromium, startPreview, type Server } from './helpers/browser';
import { tempDir } from './helpers/tools';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { STAGE2_LBA } from '../src/core/boot/index';

const MKIMAGE = new URL('../bin/solo5-virtio-mkimage.cjs', import.meta.url).pathname;
// Apart from e2e-web's ports (E2E_PORT, +1), the Inside view's (+20), the screenshot's (+30).
const PORT = Number(process.env.E2E_PORT ?? 4391) + 40;
/** Set to a directory to keep the screenshots of each state (for people to look at). */
const SHOTS = process.env.STEPPER_SHOTS;

describe.skipIf(!haveChromium())('the stepper, in Chromium', () => {
  let server: Server;
  let browser: Browser;
  const tmp = tempDir('ukd-e2e-stepper-');
  const dist = tmp.path('dist');
  const contexts: BrowserContext[] = [];
  const image = tmp.path('demo.img');
  const loop = tmp.path('loop.img');

  beforeAll(async () => {
    const c = spawnSync(process.execPath, [new URL('../scripts/build-cli.mjs', import.meta.url).pathname], {
      encoding: 'utf8',
    });
    if (c.status !== 0) throw new Error(`CLI bundle failed: ${c.stderr}`);
    buildPage(dist);
    server = await startPreview(PORT, dist);
    browser = await launchChromium();
    writeFileSync(tmp.path('demo.virtio'), DEMO_KERNEL);
    const r = spawnSync(process.execPath, [MKIMAGE, '-q', '--size', '64M', image, tmp.path('demo.virtio'), 'hello'], {
      encoding: 'utf8',
      env: { ...process.env, SOURCE_DATE_EPOCH: '' },
    });
    if (r.status !== 0) throw new Error(`mkimage failed: ${r.stderr}`);
    // A loader that never ends: stage 2's first instruction becomes `jmp $` (outside its CRC).
    const bytes = new Uint8Array(readFileSync(image));
    bytes.set([0xeb, 0xfe], STAGE2_LBA * 512);
    writeFileSync(loop, bytes);
    if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  }, 240_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await server?.stop();
    tmp.cleanup();
  });

  async function open(width: number, height: number, dark: boolean, file = image): Promise<Page> {
    const ctx = await browser.newContext({
      viewport: { width, height },
      colorScheme: dark ? 'dark' : 'light',
      hasTouch: width < 500,
    });
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.goto(server.origin + '/#inside');
    await page.getByRole('heading', { name: 'Open an image' }).waitFor();
    await page.getByLabel('Disk image').setInputFiles(file);
    await page.locator('#inside-report').waitFor({ timeout: 60_000 });
    return page;
  }

  async function axeClean(page: Page, state: string) {
    expect(await axeViolations(page), state).toEqual([]);
  }

  async function shot(page: Page, name: string) {
    if (SHOTS) {
      await page.screenshot({ path: `${SHOTS}/${name}-view.png` });
      for (const part of ['.st-controls', '.st-top', '.st-mid', '.st-handoff', '.st-mem'])
        if (await page.locator(part).count())
          await page.locator(part).screenshot({ path: `${SHOTS}/${name}-${part.slice(4)}.png` });
    }
  }

  /** Tab (forwards) until the focus is on the button named `name`; the keyboard only. */
  async function tabTo(page: Page, name: string) {
    for (let i = 0; i < 300; i++) {
      const on = await page.evaluate(() => {
        const a = document.activeElement;
        return a instanceof HTMLButtonElement ? (a.getAttribute('aria-label') ?? a.firstChild?.textContent ?? '') : '';
      });
      if (on === name) return;
      await page.keyboard.press('Tab');
    }
    throw new Error(`Tab never reached the button ${name}`);
  }

  const status = (page: Page) => page.locator('.st-status').innerText();
  const registers = (page: Page) => page.getByRole('region', { name: 'Registers' });

  async function until(page: Page, test: (s: string) => boolean, what: string) {
    for (let i = 0; i < 300; i++) {
      const s = await status(page);
      if (test(s)) return s;
      await page.waitForTimeout(100);
    }
    throw new Error(`the status never said ${what}: ${await status(page)}`);
  }

  for (const [label, width, height, dark] of [
    ['desktop, light', 1280, 800, false],
    ['phone, dark', 390, 844, true],
    ['desktop, dark', 1280, 800, true],
    ['phone, light', 390, 844, false],
  ] as const) {
    it(`steps to the kernel with the keyboard only (${label})`, async () => {
      const page = await open(width, height, dark);
      const tag = label.replace(/\W+/g, '-');
      // Powered on: the first instruction of stage 1, SeaBIOS's registers.
      await until(page, (s) => s.startsWith('Next: jmp short 0x7c60'), 'the first instruction');
      await expect.poll(() => registers(page).innerText()).toMatch(/EAX\s+0000AA55/);
      await expect.poll(() => page.getByRole('button', { name: 'Step', exact: true }).count()).toBe(1);
      await expect.poll(() => page.getByRole('button', { name: 'Run to the kernel', exact: true }).count()).toBe(1);
      await axeClean(page, `${label}: powered on`);

      // Step with Enter on the focused button, then with the stepper's key.
      await tabTo(page, 'Step');
      await page.keyboard.press('Enter');
      await until(page, (s) => s.startsWith('Next: cli at 0x7C60 (s1_main)'), 'the second instruction');
      await expect.poll(() => registers(page).innerText()).toMatch(/EIP\s+00007C60\s*•?/);
      expect(await page.locator('.st-cpu .st-is-changed').count()).toBeGreaterThan(0);
      await page.keyboard.press('s');
      await until(page, (s) => /^Next: xor ax,ax .*2 instructions run/.test(s), 'the third instruction');
      expect(await page.locator('.st-disasm [aria-current="step"]').innerText()).toContain('xor ax,ax');
      await shot(page, `${tag}-stepped`);
      await axeClean(page, `${label}: stepped`);

      // Run to the next walkthrough step: the prose beside the code follows.
      await tabTo(page, 'Run to the next step');
      await page.keyboard.press('Enter');
      await until(page, (s) => s.includes('(check_params)'), 'the parameter check');
      await expect.poll(() => page.locator('#st-prose-h').innerText()).toMatch(/^Step 3 of 10: /);
      expect(await page.locator('.mm-written').count()).toBeGreaterThan(0);
      expect(await page.locator('.st-console pre').innerText()).toBe('Loading unikernel.bin... ');
      await page.keyboard.press('n');
      await until(page, (s) => s.includes('(a20_enable)'), 'the A20 step');
      await shot(page, `${tag}-next-step`);
      await axeClean(page, `${label}: at a step`);

      // Run to the kernel: EAX = 2BADB002 in the Registers region, the hand-over table.
      await tabTo(page, 'Run to the kernel');
      await page.keyboard.press('Enter');
      await until(page, (s) => s.startsWith("At the kernel's first instruction"), "the kernel's entry");
      await expect.poll(() => registers(page).innerText()).toMatch(/EAX\s+2BADB002/);
      const table = page.getByRole('table', { name: /Multiboot machine state/ });
      expect(await table.innerText()).toMatch(/EBX\s+the physical address of the Multiboot information\s+00001000/);
      expect(await table.locator('td', { hasText: '✗' }).count()).toBe(0);
      expect(await page.locator('.st-console pre').innerText()).toContain('Loading unikernel.bin... ok');
      await shot(page, `${tag}-kernel`);
      await axeClean(page, `${label}: at the kernel`);
      // The page stayed one page: the walkthrough is still there under the stepper.
      expect(await page.locator('#walk-jump').count()).toBe(1);

      // Back to the start with its key (the focus is still inside the stepper).
      await page.keyboard.press('r');
      await until(page, (s) => s.startsWith('Next: jmp short 0x7c60') && s.includes('0 instructions run'), 'power-on');
      await expect.poll(() => registers(page).innerText()).toMatch(/EAX\s+0000AA55/);
      await axeClean(page, `${label}: back at the start`);
    }, 180_000);
  }

  it('a long run shows its progress and Escape stops it where it is; the machine goes on from there', async () => {
    const page = await open(1280, 800, false, loop);
    await until(page, (s) => s.startsWith('Next: jmp short 0x7c60'), 'the first instruction');
    expect(await page.locator('.stepper').innerText()).toContain('built by another version of this tool');
    await tabTo(page, 'Run to the kernel');
    await page.keyboard.press('Enter');
    const running = await until(page, (s) => /^Running… [\d,]*[1-9][\d,]* instructions$/.test(s), 'progress');
    expect(await page.getByRole('button', { name: 'Stop', exact: true }).count()).toBe(1);
    await page.keyboard.press('Escape');
    const stopped = await until(page, (s) => s.startsWith('Stopped by you.'), 'stopped');
    const n = Number(/([\d,]+) instructions run/.exec(stopped)![1].replace(/,/g, ''));
    expect(n).toBeGreaterThanOrEqual(Number(/[\d,]+/.exec(running)![0].replace(/,/g, '')));
    expect(stopped).toContain('Next: jmp short 0x8000 at 0x8000');
    // The focus stayed on the button; a step goes on from where the run stopped.
    expect(await page.evaluate(() => document.activeElement?.textContent)).toMatch(/^Run to the kernel/);
    await page.keyboard.press('s');
    await until(page, (s) => s.includes(`${(n + 1).toLocaleString('en')} instructions run`), 'one more instruction');
    await axeClean(page, 'stopped');
  }, 120_000);
});
