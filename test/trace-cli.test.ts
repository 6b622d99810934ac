/**
 * `unikernel-disk trace` as users run it (the bundled bin): raw, qcow2 and
 * GCE tar.gz images of the demo kernel reach the kernel's entry (exit 0,
 * the JSON's fields, EAX = 2BADB002h), and the JSON's registers and
 * Multiboot bytes are QEMU's at the same entry (QEMU under gdb: one case,
 * x86-qemu.test.ts compares the rest); a damaged image stops with the
 * loader's own message (exit 1); an image of Solo5's old tool (SYSLINUX)
 * gets the one sentence; --memory and its limits; a loader that never ends
 * stops at the instruction limit, and Ctrl-C interrupts it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { STAGE2_LBA } from '../src/core/boot/index';
import { MBI_SIZE } from '../src/core/boot/loader.generated';
import { LOADER_STEPS } from '../src/core/x86/steps';
import { REGISTER_NAMES } from '../src/core/x86/state';
import { escapeConsole } from '../src/cli/trace';
import { haveOldToolFiles, makeOldToolImage, OLD_TOOL_PROGRAMS } from './helpers/old-tool';
import { qemuStates, STATE_FIELDS } from './helpers/qemu-gdb';
import { tempDir, tools } from './helpers/tools';
import { buildBins } from './helpers/bins';

const tmp = tempDir('ukd-trace-');
const p = tmp.path;
// The bin and its bundle, built into this test's own directory, as inspect-cli.test.ts does.
const BIN = p('bin/unikernel-disk.cjs');
const MKIMAGE = p('bin/solo5-virtio-mkimage.cjs');
const ARGS = ['hello', 'world'];

function bin(path: string, args: string[]) {
  const r = spawnSync(process.execPath, [path, ...args], {
    cwd: tmp.dir,
    encoding: 'utf8',
    env: { ...process.env, SOURCE_DATE_EPOCH: '' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const ukd = (args: string[]) => bin(BIN, args);

beforeAll(() => {
  buildBins(tmp.dir, ['unikernel-disk', 'solo5-virtio-mkimage']);
  writeFileSync(p('demo.virtio'), DEMO_KERNEL);
  for (const [f, name] of [
    ['raw', 'demo.img'],
    ['qcow2', 'demo.qcow2'],
    ['tar', 'demo.tar.gz'],
  ]) {
    const r = bin(MKIMAGE, ['-q', '-f', f, '--size', '1G', name, 'demo.virtio', ...ARGS]);
    if (r.status !== 0) throw new Error(r.stderr);
  }
  // A small raw image to damage (read and written whole).
  const r = bin(MKIMAGE, ['-q', '--size', '64M', 'small.img', 'demo.virtio', ...ARGS]);
  if (r.status !== 0) throw new Error(r.stderr);
}, 120_000);
afterAll(() => tmp.cleanup());

describe('unikernel-disk trace', () => {
  it.each(['demo.img', 'demo.qcow2', 'demo.tar.gz'])(
    '%s reaches the kernel: exit 0, the JSON fields, EAX 2BADB002',
    (name) => {
      const r = ukd(['trace', name, '--json']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      const j = JSON.parse(r.stdout);
      expect(j.reached).toBe(true);
      expect(j.instructions).toBeGreaterThan(10_000);
      expect(j.console).toBe('Loading unikernel.bin... ok\r\n');
      expect(Object.keys(j.registers)).toEqual([...REGISTER_NAMES]);
      for (const k of REGISTER_NAMES) expect(typeof j.registers[k], k).toBe('number');
      expect(j.registers.eax).toBe(0x2badb002);
      expect(j.registers.ebx).toBe(j.multiboot.address);
      expect(j.registers.cs).toBe(0x08);
      expect(j.registers.cr0 & 1).toBe(1);
      expect(j.multiboot.info).toMatch(new RegExp(`^[0-9a-f]{${MBI_SIZE * 2}}$`));
      expect(j.multiboot.mmap).toMatch(/^([0-9a-f]{48})+$/);
      expect(j.multiboot.cmdline).toBe(`unikernel.bin ${ARGS.join(' ')}`);
      expect(j.steps.map((s: { step: string }) => s.step)).toEqual(LOADER_STEPS.map((s) => s.step));
      expect(j.handoff.filter((h: { ok: boolean | null }) => h.ok === false)).toEqual([]);
      expect(j.memoryMiB).toBe(128);
    },
  );

  it('prints the steps, the count, the console and the state as text; options go before or after IMAGE', () => {
    const a = ukd(['trace', 'demo.img']);
    const b = ukd(['trace', '--memory', '128', 'demo.img']);
    expect(a.status).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    const t = a.stdout;
    expect(t).toMatch(/^demo\.img: this project's boot loader, run in the emulator with 128 MiB of RAM\n/);
    for (const s of LOADER_STEPS)
      expect(t).toMatch(new RegExp(`^  ${s.step} +${s.label.replace('.', '\\.')} +at `, 'm'));
    expect(t).toMatch(/^Reached the kernel's first instruction at 00100020 after [\d,]+ instructions\.$/m);
    expect(t).toContain('Console:\n  Loading unikernel.bin... ok\n');
    expect(t).toMatch(/^ {2}EAX 2BADB002 {2}EBX 00001000 /m);
    expect(t).toMatch(/^ {2}ok {2}EAX +2BADB002$/m);
    expect(t).toContain('command line at 00008890: "unikernel.bin hello world"');
    // less memory: the memory map says so
    const small = JSON.parse(ukd(['trace', 'demo.img', '--memory=16', '--json']).stdout);
    expect(small.memoryMiB).toBe(16);
    expect(small.reached).toBe(true);
    const big = JSON.parse(ukd(['trace', '--json', 'demo.img']).stdout);
    expect(small.multiboot.mmap).not.toBe(big.multiboot.mmap);
    expect(small.multiboot.info).not.toBe(big.multiboot.info); // mem_upper
  });

  it('a damaged image stops with the loader’s own message: exit 1', () => {
    const bytes = new Uint8Array(readFileSync(p('small.img')));
    const inspect = JSON.parse(ukd(['inspect', '--json', 'small.img']).stdout);
    const at = inspect.kernel.lba * 512 + 100;
    bytes[at] ^= 0xff;
    writeFileSync(p('bad.img'), bytes);
    const r = ukd(['trace', 'bad.img']);
    expect(r.status).toBe(1);
    const message = 'kernel checksum mismatch: unikernel.bin was changed after the image was built';
    expect(r.stdout).toContain(`Console:\n  Loading unikernel.bin... \n  Boot error: ${message}\n`);
    expect(r.stderr).toBe(
      `unikernel-disk: bad.img: the kernel's entry was not reached: the loader stopped: Boot error: ${message}\n`,
    );
    const j = JSON.parse(ukd(['trace', '--json', 'bad.img']).stdout);
    expect([j.reached, j.loaderError, j.stop.kind, j.multiboot]).toEqual([false, message, 'loader-error', null]);
    expect(j.console).toContain(`Boot error: ${j.loaderError}\r\n`);
    expect(j.steps.map((s: { step: string }) => s.step)).not.toContain('jump');
  });

  it('usage: --memory limits, unknown options, the help', () => {
    for (const m of ['1', '4097', 'lots', '']) {
      const r = ukd(['trace', 'demo.img', '--memory', m]);
      expect(r.status, m).toBe(2);
      expect(r.stderr).toMatch(/--memory ".*" is not a whole number of MiB from 2 to 4096/);
    }
    expect(ukd(['trace', 'demo.img', '--bogus']).stderr).toMatch(/^unikernel-disk: unknown option --bogus for trace/);
    expect(ukd(['trace', 'demo.img', 'other.img']).status).toBe(2);
    const h = ukd(['trace', '--help']);
    expect(h.stdout).toMatch(/^Usage: unikernel-disk trace IMAGE \[--memory MIB\] \[--json\]/);
    expect(h.stdout).toContain('2 to 4096');
    expect(h.stdout).toContain('50,000,000 instructions');
  });

  it('a loader that never ends stops at the instruction limit (exit 1); Ctrl-C interrupts it (exit 130)', async () => {
    const bytes = new Uint8Array(readFileSync(p('small.img')));
    bytes.set([0xeb, 0xfe], STAGE2_LBA * 512); // stage 2's first instruction: jmp $
    writeFileSync(p('loop.img'), bytes);
    const r = ukd(['trace', 'loop.img', '--json']);
    expect(r.status).toBe(1);
    const j = JSON.parse(r.stdout);
    expect([j.reached, j.stop.kind, j.instructions]).toEqual([false, 'limit', 50_000_000]);
    expect(j.steps.map((s: { step: string }) => s.step)).toEqual(['bios', 'stage1']);
    expect(r.stderr).toMatch(/not reached: stopped after the instruction limit/);
    // SIGINT while it runs
    const child = spawn(process.execPath, [BIN, 'trace', 'loop.img'], { cwd: tmp.dir });
    let err = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => (err += s));
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGINT');
    const status = await new Promise<number | null>((done) => child.on('close', (c) => done(c)));
    expect(status).toBe(130);
    expect(err).toContain('Interrupted by SIGINT');
  }, 60_000);

  it('console text is escaped for a terminal', () => {
    expect(escapeConsole('a\r\nb\x1b[2Jc\x07\n')).toBe('  a\n  b\\x1B[2Jc\\x07\n');
    expect(escapeConsole('')).toBe('  (nothing)\n');
  });

  describe.skipIf(!tools(...OLD_TOOL_PROGRAMS) || !haveOldToolFiles())("an image of Solo5's old tool", () => {
    it('gets one sentence: the emulator runs this project’s loader only', () => {
      makeOldToolImage(tmp.dir, p('old.img'), p('demo.virtio'), 'old args', { size: 64 << 20 });
      const r = ukd(['trace', 'old.img']);
      expect(r.status).toBe(1);
      const sentence =
        "This image boots with SYSLINUX (Solo5's old solo5-virtio-mkimage made it); the emulator runs this project's boot loader only, not SYSLINUX.";
      expect(r.stdout).toBe(`old.img: ${sentence}\n`);
      expect(r.stderr).toBe(`unikernel-disk: old.img: ${sentence}\n`);
      const j = JSON.parse(ukd(['trace', 'old.img', '--json']).stdout);
      expect([j.loader, j.emulated, j.reached, j.reason, j.registers]).toEqual([
        'syslinux',
        false,
        false,
        sentence,
        null,
      ]);
    });
  });

  describe.skipIf(!tools('qemu-system-x86_64', 'gdb'))('against QEMU', () => {
    it("the JSON's registers and Multiboot bytes are QEMU's at the kernel's entry", async () => {
      const j = JSON.parse(ukd(['trace', 'demo.qcow2', '--json', '--memory', '256']).stdout);
      expect(j.reached).toBe(true);
      const mmapLength = j.multiboot.mmap.length / 2;
      const cmdLength = new TextEncoder().encode(j.multiboot.cmdline).length;
      const q = await qemuStates({
        dir: tmp.dir,
        disk: p('demo.qcow2'),
        format: 'qcow2',
        memory: '256M',
        breakpoints: [j.stop.entry],
        dumps: [
          ['$ebx', String(MBI_SIZE)],
          ['*(unsigned int *)($ebx + 48)', '*(unsigned int *)($ebx + 44)'],
          ['*(unsigned int *)($ebx + 16)', String(cmdLength)],
        ],
      });
      const at = q.states[0];
      expect(at, q.log).not.toBeNull();
      for (const f of STATE_FIELDS) expect(j.registers[f], f).toBe(at![f]);
      const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
      expect(j.multiboot.info).toBe(hex(q.dumps[0]));
      expect(j.multiboot.mmap).toBe(hex(q.dumps[1]));
      expect(mmapLength).toBe(q.dumps[1].length);
      expect(j.multiboot.cmdline).toBe(new TextDecoder().decode(q.dumps[2]));
    }, 120_000);
  });
});
