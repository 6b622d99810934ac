/**
 * The walkthrough's "check it yourself with QEMU and gdb" box, run as written:
 * its QEMU command (with `-s` moved to a free port and no window) and its gdb
 * session in batch mode. gdb must stop at 0x7C00 with LBA 0's bytes there and
 * DL = 0x80, then at the kernel's entry with the Multiboot magic in EAX, the
 * information's address in EBX, the Multiboot information equal to the
 * walkthrough's example (QEMU with -m 128 is the example machine) and the
 * bytes of the entry dump at EIP. Our loader's image, raw and qcow2.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { planImage } from '../src/core/image';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { buildWalkthrough } from '../src/core/disk/walkthrough';
import type { Walkthrough } from '../src/core/disk/walkthrough/types';
import { GDB_PORT } from '../src/core/disk/walkthrough/check';
import { openDisk } from '../src/core/formats/open';
import { requireFormat } from '../src/core/formats/index';
import { readImage } from '../src/core/disk/open-image';
import { shellQuote } from '../src/core/shell';
import { writePlanRange } from './helpers/image-files';
import { containerDisk } from './helpers/disk-memory';
import { withFile } from './helpers/disk-read';
import { freePort, haveGdb } from './helpers/qemu-gdb';
import { tempDir, tools } from './helpers/tools';
import { readAt } from './helpers/qemu';

const MiB = 1 << 20;
const tmp = tempDir('ukd-walkcheck-');
afterAll(() => tmp.cleanup());

/** Run the box: QEMU as it says (its gdb server on `port`, no window), gdb's lines in batch mode. */
async function runBox(w: Walkthrough, cwd: string): Promise<string> {
  const port = await freePort();
  const [qemuLine, gdbLine, ...session] = w.check.lines;
  expect(qemuLine.prompt).toBe('$');
  expect(qemuLine.command).toMatch(/ -s -S$/);
  expect(gdbLine.command).toContain(`localhost:${GDB_PORT}`);
  expect(session.every((l) => l.prompt === '(gdb)')).toBe(true);
  const qemuCommand =
    qemuLine.command.replace(/ -s -S$/, ` -S -gdb tcp:127.0.0.1:${port}`) +
    ' -display none -serial none -monitor none -nic none';
  const qemu = spawn('sh', ['-c', `exec ${qemuCommand}`], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  let qemuErr = '';
  qemu.stderr.setEncoding('utf8');
  qemu.stderr.on('data', (s: string) => (qemuErr += s));
  const closed = new Promise<void>((done) => qemu.on('close', () => done()));
  try {
    const gdbCommand = [
      gdbLine.command.replace(`localhost:${GDB_PORT}`, `localhost:${port}`).replace(/^gdb /, 'gdb -nx -batch '),
      ...session.map((l) => `-ex ${shellQuote(l.command)}`),
    ].join(' ');
    const out = await new Promise<string>((done) => {
      const g = spawn('sh', ['-c', gdbCommand], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
      let s = '';
      g.stdout.setEncoding('utf8');
      g.stderr.setEncoding('utf8');
      g.stdout.on('data', (d: string) => (s += d));
      g.stderr.on('data', (d: string) => (s += d));
      const timer = setTimeout(() => g.kill('SIGKILL'), 90_000);
      g.on('close', () => {
        clearTimeout(timer);
        done(s);
      });
    });
    return out + qemuErr;
  } finally {
    qemu.kill('SIGKILL');
    await closed;
  }
}

/** The bytes gdb's `x/Nxb` lines print. */
const xbytes = (lines: string[]) =>
  lines.flatMap((l) => l.split(':')[1].trim().split(/\s+/)).map((h) => parseInt(h, 16));
/** The little-endian bytes of gdb's `x/Nwx` lines. */
const xwords = (lines: string[]) =>
  lines.flatMap((l) =>
    l
      .split(':')[1]
      .trim()
      .split(/\s+/)
      .flatMap((h) => {
        const v = parseInt(h, 16);
        return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
      }),
  );

function checkSession(w: Walkthrough, out: string, lba0: Uint8Array) {
  const lines = out.split('\n');
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
  // Stopped where the BIOS jumps: LBA 0's first bytes there, the boot drive in DL.
  const bp1 = at(/^Breakpoint 1, 0x0+7c00 /);
  expect(bp1, out).toBeGreaterThanOrEqual(0);
  expect(xbytes(lines.slice(bp1 + 1, bp1 + 3))).toEqual([...lba0.subarray(0, 16)]);
  expect(lines[bp1 + 3]).toBe('$1 = 0x80');
  const head = w.steps[0].dumps[0];
  expect([...lba0.subarray(0, head.bytes.length)]).toEqual([...head.bytes]);
  // Stopped at the kernel's entry: EAX, EBX, the Multiboot information, the entry's bytes.
  const entry = w.steps.find((s) => s.id === 'jump')!.dumps.at(-1)!;
  const bp2 = at(new RegExp(`^Breakpoint 2, 0x0+${entry.memoryAddress!.toString(16)} `));
  expect(bp2, out).toBeGreaterThan(bp1);
  expect(lines[bp2 + 1]).toMatch(/^eax\s+0x2badb002\s/);
  expect(lines[bp2 + 2]).toMatch(/^ebx\s+0x1000\s/);
  const mbi = w.steps.find((s) => s.id === 'mbi')!.dumps[0];
  expect(xwords(lines.slice(bp2 + 3, bp2 + 9))).toEqual([...mbi.bytes]);
  expect(xbytes(lines.slice(bp2 + 9, bp2 + 11))).toEqual([...entry.bytes.subarray(0, 16)]);
}

describe.skipIf(!tools('qemu-system-x86_64', 'gdb') || !haveGdb())(
  'check it yourself: the QEMU + gdb box as written',
  () => {
    const img = planImage(DEMO_KERNEL, { size: 64 * MiB, args: 'check me' });

    it('a raw image: stops at 0x7C00 and at the kernel entry, with what the steps show', async () => {
      const dir = tmp.path('raw');
      writePlanRange(img.plan, `${dir}.img`);
      const w = await withFile(`${dir}.img`, async (src) =>
        buildWalkthrough(await readImage(await openDisk(src)), { fileName: 'raw.img' }),
      );
      expect(w.check.lines[0].command).toBe('qemu-system-x86_64 -m 128 -drive file=raw.img,format=raw -s -S');
      const out = await runBox(w, tmp.dir);
      checkSession(w, out, readAt(`${dir}.img`, 0, 512));
    }, 120_000);

    it('a qcow2 image: QEMU boots the file itself, and the session is the same', async () => {
      const format = requireFormat('qcow2');
      const { file, disk } = await containerDisk(img, format);
      writeFileSync(tmp.path('check me.qcow2'), file);
      const w = await buildWalkthrough(await readImage(disk), { fileName: 'check me.qcow2' });
      expect(w.check.lines[0].command).toBe(
        "qemu-system-x86_64 -m 128 -drive file='check me.qcow2',format=qcow2 -s -S",
      );
      const out = await runBox(w, tmp.dir);
      writePlanRange(img.plan, tmp.path('lba0.img'), 0, 512);
      checkSession(w, out, readAt(tmp.path('lba0.img'), 0, 512));
    }, 120_000);
  },
);
