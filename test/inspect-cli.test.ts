/**
 * unikernel-disk as users run it (the bundled bin): an image made the way
 * Solo5's old shell tool makes it (SYSLINUX) and our own images in every
 * format are inspected, get new arguments with set-args, and boot in QEMU
 * with them; extract gives the kernel byte for byte; convert gives files
 * qemu-img finds identical to the source; failures leave the image as it was.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { planImage } from '../src/core/image';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { FORMATS } from '../src/core/formats/index';
import { EFI_LOADER } from '../src/core/boot/index';
import { EFI_VERSION_MAJOR, EFI_VERSION_MINOR } from '../src/core/boot/efi.generated';
import { CMDLINE_OFF, PARAMS_VERSION } from '../src/core/boot/loader.generated';
import { writeFormat } from './helpers/containers';
import { boot, patchAt } from './helpers/qemu';
import { haveOldToolFiles, makeOldToolImage, OLD_TOOL_PROGRAMS } from './helpers/old-tool';
import { run, runAll, tempDir, tools } from './helpers/tools';
import { buildBins } from './helpers/bins';

const tmp = tempDir('ukd-disk-');
const p = tmp.path;
// The bin and its bundle, built into this test's own directory (bin/ + dist-cli/), so that
// other test files rebuilding dist-cli/ at the same time never hand us a half-written bundle.
const BIN = p('bin/unikernel-disk.cjs');
const MiB = 1 << 20;
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

function ukd(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: tmp.dir,
    encoding: 'utf8',
    env: { ...process.env, SOURCE_DATE_EPOCH: '' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function noTemps() {
  expect(readdirSync(tmp.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
}

beforeAll(() => {
  buildBins(tmp.dir, ['unikernel-disk']);
  writeFileSync(p('demo.virtio'), DEMO_KERNEL);
});
afterAll(() => tmp.cleanup());

describe('usage', () => {
  it('--help per command, --version, usage errors exit 2', () => {
    const h = ukd(['--help']);
    expect(h.status).toBe(0);
    for (const c of ['inspect', 'verify', 'set-args', 'extract', 'convert', 'trace']) {
      expect(h.stdout).toMatch(new RegExp(`^  ${c}\\s`, 'm'));
      const ch = ukd([c, '--help']);
      expect(ch.status).toBe(0);
      expect(ch.stdout).toMatch(new RegExp(`^Usage: unikernel-disk ${c} `));
    }
    const version = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
    expect(ukd(['--version']).stdout).toBe(`unikernel-disk ${version}\n`);
    for (const [args, line] of [
      [[], 'unikernel-disk: a COMMAND is missing'],
      [
        ['frobnicate'],
        'unikernel-disk: unknown command "frobnicate"; the commands are inspect, verify, set-args, extract, convert, trace',
      ],
      [['extract', 'x.img'], 'unikernel-disk: OUT is missing'],
      [['convert', 'a', 'b'], 'unikernel-disk: -f FORMAT is missing'],
      [['inspect', '--bogus', 'x'], 'unikernel-disk: unknown option --bogus for inspect'],
    ] as [string[], string][]) {
      const r = ukd(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr.split('\n')[0]).toBe(line);
      expect(r.stderr.split('\n')[1]).toMatch(/^Usage: unikernel-disk /);
    }
  });

  it('bad images: one line, exit 1', () => {
    writeFileSync(p('empty.img'), new Uint8Array(0));
    writeFileSync(p('zeros.img'), new Uint8Array(4096));
    for (const [args, re] of [
      [
        ['inspect', 'missing.img'],
        /^unikernel-disk: error: The image file missing.img does not exist; check the path\.\n$/,
      ],
      [['inspect', 'empty.img'], /^unikernel-disk: error: The image file is empty \(0 bytes\)/],
      // Neither a partition table nor a FAT volume: not a disk image, the same sentence as the page's.
      [['set-args', 'zeros.img', 'x'], /^unikernel-disk: error: LBA 0 ends with 0x0 0x0 .*not a disk image\)\.\n$/],
      [['extract', 'zeros.img', 'k'], /^unikernel-disk: error: LBA 0 ends with 0x0 0x0 .*not a disk image\)\.\n$/],
      [['convert', '-f', 'nope', 'zeros.img', 'o'], /^unikernel-disk: error: Unknown format "nope"/],
    ] as [string[], RegExp][]) {
      const r = ukd(args);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(re);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    // zeros.img untouched, nothing else written.
    expect(readFileSync(p('zeros.img')).every((b) => b === 0)).toBe(true);
    expect(readdirSync(tmp.dir)).not.toContain('k');
    noTemps();
  });

  it('convert takes any disk, one without a partition table too (a data disk): qemu-img finds the copy identical', () => {
    const data = new Uint8Array(MiB);
    data.set(new TextEncoder().encode('a data disk, no MBR'), 4096);
    writeFileSync(p('data.img'), data);
    const r = ukd(['convert', '-f', 'qcow2', 'data.img', 'data.qcow2']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    if (tools('qemu-img')) run('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', p('data.img'), p('data.qcow2')]);
    // The tools that read the image as ours refuse it with LBA 0's sentence.
    expect(ukd(['inspect', 'data.img']).stderr).toMatch(/not 0x55 0xAA: the disk has no MBR partition table/);
  });
});

describe.skipIf(!tools(...OLD_TOOL_PROGRAMS, 'qemu-system-x86_64', 'mtype', 'fsck.fat') || !haveOldToolFiles())(
  "an image made the way Solo5's old tool makes it (SYSLINUX)",
  () => {
    it('is recognised, its arguments read, changed with set-args, and it boots with the new ones', async () => {
      const img = p('old.img');
      const { mtoolsImage } = makeOldToolImage(tmp.dir, img, p('demo.virtio'), 'Hello_Solo5 --old=1');
      const i = JSON.parse(ukd(['inspect', '--json', img]).stdout);
      expect(i).toMatchObject({
        format: 'raw',
        size: 1024 * MiB,
        partitions: [{ index: 1, start: 2048, sectors: 2095104, type: 0x0c, active: true }],
        filesystem: { type: 'FAT32', partition: 1, clusterBytes: 4096 },
        bootloader: {
          kind: 'syslinux',
          cmdline: 'unikernel.bin Hello_Solo5 --old=1',
          args: 'Hello_Solo5 --old=1',
          config: '/syslinux.cfg',
          options: ['-aout'],
        },
        kernel: { path: '/unikernel.bin', size: DEMO_KERNEL.length, sha256: sha(p('demo.virtio')) },
      });
      const paths = i.filesystem.files.map((f: { path: string }) => f.path);
      for (const f of [
        '/ldlinux.sys',
        '/ldlinux.c32',
        '/syslinux.cfg',
        '/mboot.c32',
        '/libcom32.c32',
        '/unikernel.bin',
      ]) {
        expect(paths).toContain(f);
      }
      const text = ukd(['inspect', img]).stdout;
      expect(text).toContain('Command line: "unikernel.bin Hello_Solo5 --old=1"');
      expect(text).toContain('UEFI loader: none (no \\EFI\\BOOT\\BOOTX64.EFI: UEFI firmware finds nothing to start)\n');
      const v = ukd(['verify', img]);
      expect(v.stdout + v.stderr).toBe(`${img}: ok\n`);
      expect(v.status).toBe(0);

      const ext = ukd(['extract', img, 'k.bin']);
      expect(ext.status, ext.stderr).toBe(0);
      expect(sha(p('k.bin'))).toBe(sha(p('demo.virtio')));

      const s = ukd(['set-args', img, '--ipv4=10.0.0.2/24', 'new args']);
      expect(s.status, s.stderr).toBe(0);
      expect(s.stderr).toBe(
        `unikernel-disk: ${img}: command line was "unikernel.bin Hello_Solo5 --old=1", now "unikernel.bin --ipv4=10.0.0.2/24 new args"\n`,
      );
      // mtools reads the new config; the rest of it is as the old tool wrote it.
      expect(run('mtype', ['-i', mtoolsImage, '::/syslinux.cfg'])).toBe(
        'SERIAL 0 115200\nDEFAULT unikernel\nLABEL unikernel\n  KERNEL mboot.c32\n  APPEND -aout unikernel.bin --ipv4=10.0.0.2/24 new args\n',
      );
      expect(ukd(['verify', img]).status).toBe(0);
      noTemps();
      const r = await boot({ disk: img, timeoutMs: 90_000 });
      expect(r.serial, r.stderr).toContain('SYSLINUX');
      expect(r.serial).toContain("demo: command line '--ipv4=10.0.0.2/24 new args'");
      expect(r.serial).toContain('demo: SUCCESS');
      expect(r.status).toBe(83);
    });

    it("the old tool's GCE tar.gz (tar -Sczf of disk.raw): set-args, then GNU tar extracts a disk that boots", async () => {
      const dir = p('gce');
      run('mkdir', ['-p', dir]);
      makeOldToolImage(tmp.dir, `${dir}/disk.raw`, p('demo.virtio'), 'from the old tar');
      run('tar', ['-Sczf', p('old.tar.gz'), '-C', dir, 'disk.raw']);
      const i = JSON.parse(ukd(['inspect', '--json', 'old.tar.gz']).stdout);
      expect(i).toMatchObject({ format: 'tar', bootloader: { kind: 'syslinux', args: 'from the old tar' } });
      const s = ukd(['set-args', 'old.tar.gz', 'Hello_Solo5']);
      expect(s.status, s.stderr).toBe(0);
      noTemps();
      run('rm', ['-f', `${dir}/disk.raw`]);
      run('tar', ['-xSzf', p('old.tar.gz'), '-C', dir]);
      const r = await boot({ disk: `${dir}/disk.raw`, timeoutMs: 90_000 });
      expect(r.serial, r.stderr).toContain("demo: command line 'Hello_Solo5'");
      expect(r.status).toBe(83);
    });

    it('set-args grows syslinux.cfg across clusters (fsck.fat passes) and SYSLINUX boots it', async () => {
      const img = p('old-small.img');
      // Made as on a loop device: 0 hidden sectors, which verify warns about but SYSLINUX does not need.
      makeOldToolImage(tmp.dir, img, p('demo.virtio'), 'short', {
        size: 64 * MiB,
        clusterSectors: 1,
        hiddenSectors: 0,
      });
      const v = ukd(['verify', img]);
      expect(v.status).toBe(0);
      expect(v.stdout).toBe(
        `${img}: warning: fat: The boot sector's hidden-sector count is 0 but the partition starts at LBA 2048; DOS, Windows and some boot code locate the volume through this field.\n${img}: ok\n`,
      );
      const long = Array.from({ length: 120 }, (_, k) => `--arg${k}=v${k}`).join(' ');
      expect(long.length).toBeGreaterThan(1024); // 512-byte clusters: the file grows from 1 to 3+
      const s = ukd(['set-args', img, ...long.split(' ')]);
      expect(s.status, s.stderr).toBe(0);
      run('dd', [`if=${img}`, `of=${p('part.img')}`, 'bs=512', 'skip=2048', 'status=none']);
      const fsck = runAll('fsck.fat', ['-n', p('part.img')]);
      expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
      expect(run('mtype', ['-i', p('part.img'), '::/syslinux.cfg'])).toContain(`APPEND -aout unikernel.bin ${long}\n`);
      const r = await boot({ disk: img, timeoutMs: 90_000 });
      expect(r.serial, r.stderr).toContain(`demo: command line '${long}'`);
      expect(r.status).toBe(83);
    });
  },
);

describe.skipIf(!tools('qemu-system-x86_64', 'qemu-img', 'tar'))('our images in every format', () => {
  for (const format of FORMATS) {
    it(`${format.id}: set-args in place, then it boots with the new arguments`, async () => {
      // GCE wants whole GiB (the CLI refuses to write anything else); the others are tested at 64 MiB.
      const built = planImage(DEMO_KERNEL, { size: format.checkSize ? 1024 * MiB : 64 * MiB, args: 'before' });
      const file = p(`ours${format.extension}`);
      await writeFormat(format, built.plan, file, { timestamp: built.timestamp, seed: built.seed });
      const args = ['after', '--net=tap0', 'x'.repeat(900)];
      const s = ukd(['set-args', file, ...args]);
      expect(s.status, s.stderr).toBe(0);
      noTemps();
      const i = JSON.parse(ukd(['inspect', '--json', file]).stdout);
      expect(i.format).toBe(format.id);
      expect(i.bootloader).toMatchObject({ kind: 'unikernel-disk', args: args.join(' ') });
      expect(i.uefi).toMatchObject({ build: 'this', version: `${EFI_VERSION_MAJOR}.${EFI_VERSION_MINOR}` });
      expect(ukd(['inspect', file]).stdout).toContain(
        `UEFI loader: \\EFI\\BOOT\\BOOTX64.EFI, ${EFI_LOADER.length} bytes: unikernel-disk's, version ${EFI_VERSION_MAJOR}.${EFI_VERSION_MINOR} (this version's, byte for byte), for stage 2 code of 0x${CMDLINE_OFF.toString(16).toUpperCase()} bytes and parameter block version ${PARAMS_VERSION}; unsigned (Secure Boot refuses it)\n`,
      );
      expect(ukd(['verify', file]).status).toBe(0);
      // Boot the container itself when QEMU opens it; GCE's tar.gz through GNU tar.
      let disk = file;
      let driver = format.qemuDriver;
      if (!driver) {
        run('tar', ['-xSzf', file, '-C', tmp.dir]);
        disk = p('disk.raw');
        driver = 'raw';
      } else {
        // qemu-img reads what we wrote back as a sound image.
        if (['qcow2', 'vmdk', 'vdi'].includes(driver)) run('qemu-img', ['check', '-f', driver, file]);
      }
      const r = await boot({ disk, diskFormat: driver, timeoutMs: 90_000 });
      expect(r.serial, r.stderr).toContain(`demo: command line '${args.join(' ')}'`);
      expect(r.status).toBe(83);
    });
  }

  it('an image qemu-img compressed (qcow2 -c): inspect, set-args, boot', async () => {
    const built = planImage(DEMO_KERNEL, { size: 64 * MiB, args: 'qemu-img made me' });
    await writeFormat(FORMATS[0], built.plan, p('q.img'), { timestamp: built.timestamp, seed: built.seed });
    run('qemu-img', ['convert', '-c', '-f', 'raw', '-O', 'qcow2', p('q.img'), p('q.qcow2')]);
    expect(JSON.parse(ukd(['inspect', '--json', 'q.qcow2']).stdout).bootloader.args).toBe('qemu-img made me');
    expect(ukd(['set-args', 'q.qcow2', 'rewritten']).status).toBe(0);
    run('qemu-img', ['check', '-f', 'qcow2', p('q.qcow2')]);
    const r = await boot({ disk: p('q.qcow2'), diskFormat: 'qcow2', timeoutMs: 90_000 });
    expect(r.serial, r.stderr).toContain("demo: command line 'rewritten'");
    expect(r.status).toBe(83);
  });

  it('verify names a flipped kernel byte; extract and convert', async () => {
    const built = planImage(DEMO_KERNEL, { size: 64 * MiB, args: 'v' });
    const raw = p('v.img');
    await writeFormat(FORMATS[0], built.plan, raw, { timestamp: built.timestamp, seed: built.seed });
    const ext = ukd(['extract', raw, 'v.kernel']);
    expect(ext.status, ext.stderr).toBe(0);
    expect(sha(p('v.kernel'))).toBe(sha(p('demo.virtio')));
    // A size the format refuses: exit 1, nothing written.
    const gce = FORMATS.find((f) => !f.qemuDriver)!;
    const refused = ukd(['convert', '-f', gce.id, raw, `conv${gce.extension}`]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/whole number of GiB/);
    expect(readdirSync(tmp.dir)).not.toContain(`conv${gce.extension}`);
    for (const f of FORMATS.filter((x) => x !== gce)) {
      const out = p(`conv${f.extension}`);
      const c = ukd(['convert', '-f', f.id, raw, out]);
      expect(c.status, c.stderr).toBe(0);
      const first = sha(out);
      expect(ukd(['convert', `-f${f.id}`, raw, out]).status).toBe(0);
      expect(sha(out), `${f.id} reproducible`).toBe(first);
      if (f.qemuDriver) {
        expect(run('qemu-img', ['compare', '-f', 'raw', '-F', f.qemuDriver, raw, out])).toContain(
          'Images are identical',
        );
      }
      // And back: the converted file converts to the same raw disk.
      expect(ukd(['convert', '-f', 'raw', out, 'back.img']).status).toBe(0);
      expect(run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', raw, p('back.img')])).toContain(
        'Images are identical',
      );
    }
    noTemps();
    patchAt(raw, built.kernelLba * 512 + 1000, Uint8Array.of(readFileSync(raw)[built.kernelLba * 512 + 1000] ^ 0x40));
    const v = ukd(['verify', raw]);
    expect(v.status).toBe(1);
    expect(v.stdout).toMatch(
      /^.*v\.img: kernel: The kernel's CRC-32 is 0x[0-9A-F]+ but the parameter block says 0x[0-9A-F]+/m,
    );
  });
});
