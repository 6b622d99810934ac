/**
 * Issue 17 for unikernel-disk, as users run the bundled bin: it never writes
 * over the image it reads (extract and convert, by device and inode), `-`
 * is standard output, a path that is not a file (a FIFO, a character device,
 * a directory) is refused before it is opened and a block device is read as
 * the disk it is, convert's --size makes the size advice true, and names
 * read from an image reach the terminal escaped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { have, inCI, runAll, tempDir, tools } from './helpers/tools';
import { terminalSafe } from '../src/core/terminal';
import { buildBins } from './helpers/bins';

const tmp = tempDir('ukd-disk-hostile-');
const p = tmp.path;
// The bins, built into this test's own directory (another test file rebuilding dist-cli/ never hands us half a bundle).
const DISK = p('bin/unikernel-disk.cjs');
const MKIMAGE = p('bin/solo5-virtio-mkimage.cjs');
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const isRoot = process.getuid?.() === 0;

function ukd(args: string[], opts: { encoding?: 'buffer' } = {}) {
  const r = spawnSync(process.execPath, [DISK, ...args], {
    cwd: tmp.dir,
    encoding: opts.encoding ?? 'utf8',
    env: { ...process.env, SOURCE_DATE_EPOCH: '' },
    timeout: 60_000,
    killSignal: 'SIGKILL',
    maxBuffer: 256 << 20,
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** A shell line in the temp dir, with $NODE and $DISK. */
function sh(script: string) {
  return runAll('sh', ['-c', script], {
    cwd: tmp.dir,
    timeout: 60_000,
    env: { ...process.env, SOURCE_DATE_EPOCH: '', NODE: process.execPath, DISK },
  });
}

function oneError(stderr: string, re: RegExp) {
  expect(stderr.trimEnd().split('\n'), stderr).toHaveLength(1);
  expect(stderr).toMatch(/^unikernel-disk: error: /);
  expect(stderr).toMatch(re);
}

const temps = () => readdirSync(tmp.dir).filter((f) => f.endsWith('.tmp'));

beforeAll(() => {
  buildBins(tmp.dir, ['unikernel-disk', 'solo5-virtio-mkimage']);
  writeFileSync(p('demo.virtio'), DEMO_KERNEL);
  const r = spawnSync(process.execPath, [MKIMAGE, '-q', '-s', '64M', 'demo.img', 'demo.virtio', 'hi'], {
    cwd: tmp.dir,
    encoding: 'utf8',
  });
  expect(r.status, r.stderr).toBe(0);
}, 180_000);
afterAll(() => tmp.cleanup());

describe('never write over the image being read', () => {
  it('extract and convert to IMAGE itself, a symbolic link to it or a hard link: refused, the image unchanged', () => {
    copyFileSync(p('demo.img'), p('self.img'));
    symlinkSync('self.img', p('self-link.img'));
    linkSync(p('self.img'), p('self-hard.img'));
    const before = sha(p('self.img'));
    for (const out of ['self.img', 'self-link.img', 'self-hard.img', './self.img']) {
      for (const args of [
        ['extract', 'self.img', out],
        ['convert', '-f', 'qcow2', 'self.img', out],
        ['convert', '-f', 'raw', 'self-link.img', out],
      ]) {
        const r = ukd(args);
        expect(r.status, args.join(' ')).toBe(1);
        oneError(
          r.stderr,
          new RegExp(
            `^unikernel-disk: error: OUT ${out.replace('.', '\\.')} and IMAGE self(-link)?\\.img are the same file( \\(.*/self(-hard)?\\.img\\))?; writing the (kernel|converted image) there would destroy the image it is read from\\. Give OUT another name, or - for standard output \\(\`unikernel-disk (extract|convert -f \\w+) self(-link)?\\.img - > .*\`\\)\\.\\n$`,
          ),
        );
      }
    }
    expect(sha(p('self.img'))).toBe(before);
    expect(lstatSync(p('self-link.img')).isSymbolicLink()).toBe(true);
    expect(temps()).toEqual([]);
  });

  it('another file is still replaced (extract over an older kernel file)', () => {
    writeFileSync(p('old.virtio'), 'old');
    expect(ukd(['extract', 'demo.img', 'old.virtio']).status).toBe(0);
    expect(sha(p('old.virtio'))).toBe(sha(p('demo.virtio')));
  });
});

describe('OUT - is standard output', () => {
  it('extract IMG - gives the kernel byte for byte, and creates no file named -', () => {
    const r = ukd(['extract', 'demo.img', '-'], { encoding: 'buffer' });
    expect(r.status, r.stderr).toBe(0);
    expect(Buffer.compare(r.stdout as Buffer, readFileSync(p('demo.virtio')))).toBe(0);
    expect(existsSync(p('-'))).toBe(false);
  });

  it('convert … - gives the bytes of the file convert writes (raw, qcow2, vhd, tar)', () => {
    for (const [f, size] of [
      ['raw', '64M'],
      ['qcow2', '64M'],
      ['vhd', '64M'],
      ['tar', '1G'],
    ]) {
      expect(ukd(['convert', '-f', f, '--size', size, 'demo.img', `file.${f}`]).status, f).toBe(0);
      const r = sh(`"$NODE" "$DISK" convert -f ${f} --size ${size} demo.img - > piped.${f}`);
      expect(r.status, r.stderr).toBe(0);
      expect(sha(p(`piped.${f}`)), f).toBe(sha(p(`file.${f}`)));
    }
    expect(existsSync(p('-'))).toBe(false);
  });

  it('- on a terminal: refused with the sentence that says how', () => {
    if (!have('script')) return expect(inCI).toBe(false);
    const r = sh(`script -qec '"$NODE" "$DISK" extract demo.img -' /dev/null`);
    expect(r.stdout).toContain(
      'unikernel-disk: error: Standard output is a terminal, and a kernel is binary: redirect it (`unikernel-disk extract demo.img - > app.virtio`) or pipe it to a program.',
    );
    const c = sh(`script -qec '"$NODE" "$DISK" convert -f qcow2 demo.img -' /dev/null`);
    expect(c.stdout).toContain('Standard output is a terminal, and a disk image is binary');
    expect(existsSync(p('-'))).toBe(false);
  });
});

describe('IMAGE must be a file or a disk', () => {
  it('a FIFO with no writer, /dev/zero, a directory: refused before opening, in every command, never hanging', () => {
    execFileSync('mkfifo', [p('pipe.img')]);
    mkdirSync(p('folder.img'));
    const cases: [string, string][] = [
      ['pipe.img', 'is a named pipe \\(FIFO\\), not a file, so reading it might never end'],
      ['/dev/zero', 'is a character device, not a file, so reading it might never end'],
      ['folder.img', 'is a directory; give the image file inside it\\.'],
    ];
    for (const [image, words] of cases) {
      for (const args of [
        ['inspect', image],
        ['inspect', '--json', image],
        ['verify', image],
        ['extract', image, 'k.out'],
        ['convert', '-f', 'qcow2', image, 'c.out'],
        ['set-args', image, 'x'],
      ]) {
        const r = ukd(args);
        expect(r.signal, args.join(' ')).toBeNull();
        expect(r.status, args.join(' ')).toBe(1);
        oneError(r.stderr, new RegExp(`^unikernel-disk: error: The image ${image.replace('.', '\\.')} ${words}`));
      }
    }
    expect(lstatSync(p('pipe.img')).isFIFO()).toBe(true);
    expect(existsSync(p('k.out')) || existsSync(p('c.out'))).toBe(false);
    expect(temps()).toEqual([]);
  });

  // A loop device is a block device holding the image's bytes (needs root and losetup).
  const loopOk = isRoot && have('losetup');
  it.skipIf(!loopOk)('a block device (a loop device over the image): read as the disk it holds', () => {
    const dev = execFileSync('losetup', ['--find', '--show', '--read-only', p('demo.img')], {
      encoding: 'utf8',
    }).trim();
    try {
      expect(lstatSync(dev).isBlockDevice()).toBe(true);
      const i = ukd(['inspect', dev]);
      expect(i.status, i.stderr).toBe(0);
      expect(i.stdout).toMatch(new RegExp(`^${dev}: Raw disk image \\(\\.img\\), 64 MiB disk \\(67108864 bytes\\)\\n`));
      expect(i.stdout).toContain('Command line: "unikernel.bin hi"');
      expect(ukd(['verify', dev]).stdout).toBe(`${dev}: ok\n`);
      expect(ukd(['extract', dev, 'from-dev.virtio']).status).toBe(0);
      expect(sha(p('from-dev.virtio'))).toBe(sha(p('demo.virtio')));
      expect(ukd(['convert', '-f', 'raw', dev, 'from-dev.img']).status).toBe(0);
      expect(sha(p('from-dev.img'))).toBe(sha(p('demo.img')));
    } finally {
      execFileSync('losetup', ['-d', dev]);
    }
  });
});

describe('convert --size: the size advice is one convert takes', () => {
  it('a 96 MiB disk to GCE: the sentence says --size 1G, and --size 1G converts it (zeros added at the end)', () => {
    copyFileSync(p('demo.img'), p('odd.img'));
    truncateSync(p('odd.img'), 96 << 20);
    const r = ukd(['convert', '-f', 'tar', 'odd.img', 'odd.tar.gz']);
    expect(r.status).toBe(1);
    oneError(
      r.stderr,
      /Google Compute Engine needs a disk size that is a whole number of GiB, .* use 1 GiB \(--size 1G\) instead\.\n$/,
    );
    const ok = ukd(['convert', '-f', 'tar', '--size', '1G', 'odd.img', 'odd.tar.gz']);
    expect(ok.status, ok.stderr).toBe(0);
    const i = ukd(['inspect', 'odd.tar.gz']);
    expect(i.stdout).toMatch(/^odd\.tar\.gz: Google Compute Engine \(tar\.gz\), 1 GiB disk \(1073741824 bytes\)\n/);
    expect(ukd(['verify', 'odd.tar.gz']).status).toBe(0);
    // The same disk bytes, then zeros: back to raw, the first 96 MiB are the input's.
    expect(ukd(['convert', '-f', 'raw', 'odd.tar.gz', 'back.img']).status).toBe(0);
    expect(lstatSync(p('back.img')).size).toBe(2 ** 30);
    const cmp = runAll('cmp', ['-n', String(96 << 20), 'odd.img', 'back.img'], { cwd: tmp.dir });
    expect(cmp.status, cmp.stdout).toBe(0);
    const zeros = runAll('cmp', ['-i', `${96 << 20}:0`, '-n', String(928 << 20), 'back.img', '/dev/zero'], {
      cwd: tmp.dir,
    });
    expect(zeros.status, zeros.stdout).toBe(0);
  });

  it('-s in a cluster (-s128M), and a size below the disk: refused, the smallest size the format takes named', () => {
    expect(ukd(['convert', '-f', 'raw', '-s128M', 'demo.img', 'grown.img']).status).toBe(0);
    expect(lstatSync(p('grown.img')).size).toBe(128 << 20);
    const r = ukd(['convert', '-f', 'tar', '-s', '64M', 'odd.img', 'small.tar.gz']);
    expect(r.status).toBe(1);
    oneError(
      r.stderr,
      /--size 64M \(64 MiB\) is smaller than the disk in odd\.img \(96 MiB, 100663296 bytes\), and convert never cuts a disk; give --size 1G or more, or leave it out to keep the disk's size\.\n$/,
    );
    expect(existsSync(p('small.tar.gz'))).toBe(false);
  });

  it('set-args on a disk its format refuses to write at that size: says to convert it with --size first', () => {
    mkdirSync(p('gce'));
    copyFileSync(p('odd.img'), p('gce/disk.raw'));
    if (!tools('tar')) return;
    execFileSync('tar', ['-C', p('gce'), '-Sczf', p('other.tar.gz'), 'disk.raw']);
    const before = sha(p('other.tar.gz'));
    const r = ukd(['set-args', 'other.tar.gz', 'new']);
    expect(r.status).toBe(1);
    oneError(
      r.stderr,
      /use 1 GiB \(--size 1G\) instead\. set-args keeps the disk's size, so convert it first with a size the format takes \(`unikernel-disk convert -f tar --size SIZE other\.tar\.gz NEW`\) and set the arguments of NEW\.\n$/,
    );
    expect(sha(p('other.tar.gz'))).toBe(before);
  });
});

describe('names from the image reach the terminal escaped', () => {
  it('terminalSafe: controls, DEL, C1, line separators and tab and bidi controls escaped; other text as it is', () => {
    expect(terminalSafe('a\x1b[2Jb\tc\nd\re\x00\x7f\x9b\u2028\u202e\u2066é日本')).toBe(
      'a\\x1b[2Jb\\tc\\nd\\re\\x00\\x7f\\x9b\\u{2028}\\u{202e}\\u{2066}é日本',
    );
    expect(terminalSafe('plain text, "quoted" \\ back')).toBe('plain text, "quoted" \\ back');
  });
  it("solo5-virtio-mkimage's success line shows the arguments escaped", () => {
    const m = spawnSync(process.execPath, [MKIMAGE, '-s', '64M', 'esc2.img', 'demo.virtio', 'a\x1b]0;x\x07'], {
      cwd: tmp.dir,
      encoding: 'utf8',
    });
    expect(m.status, m.stderr).toBe(0);
    expect(m.stderr).toMatch(/; command line "unikernel\.bin a\\x1b\]0;x\\x07"\n$/);
    expect(m.stderr).not.toMatch(/[\x00-\x09\x0b-\x1f]/);
  });

  const ESC_ARGS = 'a\x1b[31mRED\x1b]0;owned\x07\u202eb';
  it('a command line and a FAT long name holding escape sequences: inspect and set-args show them escaped; --json keeps them', () => {
    const m = spawnSync(process.execPath, [MKIMAGE, '-q', '-s', '64M', 'esc.img', 'demo.virtio', ESC_ARGS], {
      cwd: tmp.dir,
      encoding: 'utf8',
    });
    expect(m.status, m.stderr).toBe(0);
    if (tools('mcopy')) {
      // A file with a long name, then an ESC and a newline put into that name's directory entry (mtools refuses them).
      writeFileSync(p('f.txt'), 'x');
      const c = runAll('mcopy', ['-i', `${p('esc.img')}@@1M`, p('f.txt'), '::evilXnameY.txt'], {
        env: { ...process.env, MTOOLS_SKIP_CHECK: '1' },
      });
      expect(c.status, c.stderr).toBe(0);
      const img = readFileSync(p('esc.img'));
      const at = img.indexOf(Buffer.from('evilX', 'utf16le'));
      expect(at).toBeGreaterThan(0);
      img.writeUInt16LE(0x1b, at + 8);
      const y = img.indexOf(Buffer.from('Y.', 'utf16le'));
      img.writeUInt16LE(0x0a, y);
      writeFileSync(p('esc.img'), img);
    }
    const i = ukd(['inspect', 'esc.img']);
    expect(i.status, i.stderr).toBe(0);
    expect(i.stdout).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f\u202e]/);
    expect(i.stdout).toContain('Command line: "unikernel.bin a\\x1b[31mRED\\x1b]0;owned\\x07\\u{202e}b"\n');
    if (have('mcopy')) expect(i.stdout).toContain('  /evil\\x1bname\\n.txt  1 bytes\n');
    const j = ukd(['inspect', '--json', 'esc.img']);
    const json = JSON.parse(j.stdout as string);
    expect(json.bootloader.cmdline).toBe(`unikernel.bin ${ESC_ARGS}`);
    if (have('mcopy'))
      expect(json.filesystem.files.map((f: { path: string }) => f.path)).toContain('/evil\x1bname\n.txt');
    const s = ukd(['set-args', 'esc.img', 'plain']);
    expect(s.status, s.stderr).toBe(0);
    expect(s.stderr).toBe(
      'unikernel-disk: esc.img: command line was "unikernel.bin a\\x1b[31mRED\\x1b]0;owned\\x07\\u{202e}b", now "unikernel.bin plain"\n',
    );
    // A file name given on the command line is shown escaped in errors too.
    const n = ukd(['inspect', 'no\x1b[2Jsuch.img']);
    expect(n.stderr).toBe('unikernel-disk: error: The image file no\\x1b[2Jsuch.img does not exist; check the path.\n');
  });
});
