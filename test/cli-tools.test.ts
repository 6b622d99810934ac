/**
 * What the three bins share (src/cli/tool.ts), checked on the bundled bins
 * as users run them: the same version, the same usage errors; a signal during
 * long work (unikernel-disk reading or writing, solo5-virtio-run unpacking)
 * ends it with 128 + the signal's number and leaves no temporary file; and a
 * failed write (ulimit -f, /dev/full, a directory we may not write, a name too
 * long) is one coded sentence naming the file and the fix, exit 1. The same
 * for solo5-virtio-mkimage's own long work is in cli-hostile.test.ts, for
 * QEMU's in run.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type StdioOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  truncateSync,
  watch,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { assembleDemo } from './helpers/qemu';
import { tempDir, tools } from './helpers/tools';
import { buildBins } from './helpers/bins';

const tmp = tempDir('ukd-cli-tools-');
const p = tmp.path;
const VERSION = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
// The bins and their bundles, built into this test's own directory (bin/ + dist-cli/), so
// that other test files rebuilding dist-cli/ at the same time never hand us a half-written bundle.
const BINS = {
  mkimage: ['solo5-virtio-mkimage', p('bin/solo5-virtio-mkimage.cjs')],
  disk: ['unikernel-disk', p('bin/unikernel-disk.cjs')],
  run: ['solo5-virtio-run', p('bin/solo5-virtio-run.cjs')],
} as const;
type Bin = keyof typeof BINS;
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

function cli(bin: Bin, args: string[], opts: { env?: NodeJS.ProcessEnv; stdio?: StdioOptions } = {}) {
  const r = spawnSync(process.execPath, [BINS[bin][1], ...args], {
    cwd: tmp.dir,
    encoding: 'utf8',
    env: { ...process.env, SOURCE_DATE_EPOCH: '', ...opts.env },
    stdio: opts.stdio,
    timeout: 120_000,
    killSignal: 'SIGKILL',
  });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** A bash command line in the temp dir, with $NODE and $MKIMAGE, $DISK, $RUN (ulimit, redirections). */
function bash(script: string, env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync('bash', ['-c', script], {
    cwd: tmp.dir,
    encoding: 'utf8',
    env: {
      ...process.env,
      SOURCE_DATE_EPOCH: '',
      NODE: process.execPath,
      MKIMAGE: BINS.mkimage[1],
      DISK: BINS.disk[1],
      RUN: BINS.run[1],
      ...env,
    },
    timeout: 120_000,
    killSignal: 'SIGKILL',
  });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Temporary files (ours: .NAME.PID.N.tmp) left in `dir`. */
function temps(dir = tmp.dir): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.tmp'));
}

/** Pseudo-random bytes (deflate cannot shrink them: writing them compressed takes a while). */
function noise(n: number, seed = 12345): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** Whether process `pid` has `path` open. */
function hasOpen(pid: number, path: string): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === path;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/**
 * Start `bin`, wait (polling, no time limit of ours) until `ready(pid)`
 * says the long work is under way, send `sig`, and resolve with how it ended.
 */
async function interrupt(bin: Bin, args: string[], sig: NodeJS.Signals, ready: (pid: number) => boolean, env = {}) {
  const child = spawn(process.execPath, [BINS[bin][1], ...args], {
    cwd: tmp.dir,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let running = true;
  void exited.then(() => (running = false));
  while (running && !ready(child.pid!)) await new Promise((r) => setTimeout(r, 20));
  expect(running, `${BINS[bin][0]} ended before its work was under way: ${stderr}`).toBe(true);
  child.kill(sig);
  const end = await exited;
  return { ...end, stderr };
}

beforeAll(() => {
  buildBins(tmp.dir, ['solo5-virtio-mkimage', 'unikernel-disk', 'solo5-virtio-run']);
  writeFileSync(p('demo.virtio'), DEMO_KERNEL);
  expect(cli('mkimage', ['-q', '-s', '64M', 'small.img', 'demo.virtio', 'x']).status).toBe(0);
}, 180_000);
afterAll(() => tmp.cleanup());

describe('the three bins speak alike', () => {
  it("--version: each is package.json's version", () => {
    for (const bin of Object.keys(BINS) as Bin[]) {
      const r = cli(bin, ['--version']);
      expect(r.status, bin).toBe(0);
      expect(r.stdout).toBe(`${BINS[bin][0]} ${VERSION}\n`);
      expect(cli(bin, ['-V']).stdout).toBe(r.stdout);
    }
  });

  it('a usage error: the problem, the usage line, exit 2; the same shape in all three', () => {
    const cases: [Bin, string[], string, string][] = [
      [
        'mkimage',
        ['--bogus', 'x.img', 'k'],
        'unknown option --bogus',
        '[OPTIONS] [--] IMAGE UNIKERNEL [ARGUMENTS ...]',
      ],
      ['disk', ['inspect', '--bogus', 'x.img'], 'unknown option --bogus for inspect', 'inspect [--json] IMAGE'],
      [
        'disk',
        ['frobnicate'],
        'unknown command "frobnicate"; the commands are inspect, verify, set-args, extract, convert, trace',
        'COMMAND ...',
      ],
      ['run', ['--bogus', 'k'], 'unknown option --bogus', '[OPTIONS] UNIKERNEL [--] [ARGUMENTS ...]'],
    ];
    for (const [bin, args, message, usage] of cases) {
      const prog = BINS[bin][0];
      expect(cli(bin, args), args.join(' ')).toEqual({
        status: 2,
        stdout: '',
        stderr: `${prog}: ${message}\nUsage: ${prog} ${usage}  (try --help)\n`,
      });
    }
  });

  it('--help to a full standard output: exit 1 with one sentence, in all three', () => {
    const full = openSync('/dev/full', 'w');
    try {
      for (const bin of Object.keys(BINS) as Bin[]) {
        const r = cli(bin, ['--help'], { stdio: ['ignore', full, 'pipe'] });
        expect(r.status, bin).toBe(1);
        expect(r.stderr).toBe(
          `${BINS[bin][0]}: error: could not write to standard output (closed, or its disk is full).\n`,
        );
      }
      // The job's own output too: inspect's description, --dry-run's command.
      expect(cli('disk', ['inspect', 'small.img'], { stdio: ['ignore', full, 'pipe'] })).toMatchObject({
        status: 1,
        stderr: 'unikernel-disk: error: could not write to standard output (closed, or its disk is full).\n',
      });
      expect(cli('run', ['--dry-run', '-H', 'qemu', 'demo.virtio'], { stdio: ['ignore', full, 'pipe'] })).toMatchObject(
        {
          status: 1,
          stderr: 'solo5-virtio-run: error: could not write to standard output (closed, or its disk is full).\n',
        },
      );
    } finally {
      closeSync(full);
    }
  });

  it('an argument that is not UTF-8: the same sentence in all three', () => {
    const bad = `"$(printf 'a\\377b')"`;
    for (const [bin, args] of [
      ['MKIMAGE', `-q x.img demo.virtio ${bad}`],
      ['DISK', `set-args small.img ${bad}`],
      ['RUN', `--dry-run -H qemu demo.virtio ${bad}`],
    ]) {
      const r = bash(`exec "$NODE" "$${bin}" ${args}`);
      expect(r.status, bin).toBe(1);
      expect(r.stderr).toMatch(
        /^[a-z0-9-]+: error: Argument \d on the command line is not valid UTF-8 \(byte 0xFF at position 2\); file names and kernel arguments must be UTF-8 text/,
      );
    }
    expect(existsSync(p('x.img'))).toBe(false);
  });
});

describe('unikernel-disk: a signal stops the work, exit 128 + its number, nothing left behind', () => {
  beforeAll(() => {
    // 8 GiB, sparse, with data at 4 GiB: reading it all takes long (a raw disk is read whole).
    writeFileSync(p('huge.img'), '');
    truncateSync(p('huge.img'), 8 * 2 ** 30);
    const fd = openSync(p('huge.img'), 'r+');
    writeSync(fd, noise(1 << 20), 0, 1 << 20, 4 * 2 ** 30);
    closeSync(fd);
    // 128 MiB holding 96 MiB that deflate cannot shrink: writing it as a stream-optimized VMDK takes a while.
    const fd2 = openSync(p('noisy.img'), 'w');
    writeSync(fd2, noise(96 << 20));
    closeSync(fd2);
    truncateSync(p('noisy.img'), 128 << 20);
  });

  for (const [sig, status] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
    ['SIGHUP', 129],
  ] as const) {
    it(`${sig} while the image is read: the read stops (no output file is ever started), exit ${status}`, async () => {
      const made: string[] = [];
      const watcher = watch(tmp.dir, (_, name) => {
        if (name) made.push(name);
      });
      try {
        const r = await interrupt('disk', ['convert', '-f', 'qcow2', 'huge.img', 'huge.qcow2'], sig, (pid) =>
          hasOpen(pid, p('huge.img')),
        );
        expect(r).toEqual({
          code: status,
          signal: null,
          stderr: `unikernel-disk: error: Interrupted by ${sig}; nothing was changed.\n`,
        });
      } finally {
        watcher.close();
      }
      expect(made.filter((n) => n.includes('huge.qcow2'))).toEqual([]);
      expect(existsSync(p('huge.qcow2'))).toBe(false);
    }, 120_000);
  }

  for (const [sig, status] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
    ['SIGHUP', 129],
  ] as const) {
    it(`${sig} while the output is written: the temporary file is removed, exit ${status}`, async () => {
      const out = `noisy-${sig}.vmdk`;
      const r = await interrupt('disk', ['convert', '-f', 'vmdk', 'noisy.img', out], sig, () =>
        temps().some((f) => f.startsWith(`.${out}.`)),
      );
      expect(r).toEqual({
        code: status,
        signal: null,
        stderr: `unikernel-disk: error: Interrupted by ${sig}; nothing was changed.\n`,
      });
      expect(existsSync(p(out))).toBe(false);
      expect(temps()).toEqual([]);
    }, 120_000);
  }

  it('set-args interrupted while writing: the image keeps its bytes', async () => {
    // The demo image with noise after its partition, as a stream-optimized VMDK: rewriting it deflates the noise.
    copyFileSync(p('noisy.img'), p('keep.img'));
    const head = readFileSync(p('small.img'));
    const fd = openSync(p('keep.img'), 'r+');
    writeSync(fd, head, 0, head.length, 0);
    closeSync(fd);
    expect(cli('disk', ['convert', '-f', 'vmdk', 'keep.img', 'keep.vmdk']).status).toBe(0);
    const before = sha(p('keep.vmdk'));
    const r = await interrupt('disk', ['set-args', 'keep.vmdk', 'new'], 'SIGTERM', () =>
      temps().some((f) => f.startsWith('.keep.vmdk.')),
    );
    expect(r).toEqual({
      code: 143,
      signal: null,
      stderr: 'unikernel-disk: error: Interrupted by SIGTERM; nothing was changed.\n',
    });
    expect(sha(p('keep.vmdk'))).toBe(before);
    expect(temps()).toEqual([]);
  }, 120_000);
});

describe.skipIf(!tools('qemu-system-x86_64', 'nasm'))('solo5-virtio-run: a signal while it unpacks or runs', () => {
  for (const [sig, status] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    it(`${sig}: exit ${status}, the temporary directory is removed`, async () => {
      // A kernel that never ends, in a GCE tar.gz (unpacked for QEMU to a temporary file).
      assembleDemo(tmp.dir, 'hang.virtio', { HANG: 1 });
      expect(cli('mkimage', ['-q', '-f', 'tar', 'hang.tar.gz', 'hang.virtio']).status).toBe(0);
      const tmpdir = p(`tmp-${sig}`);
      mkdirSync(tmpdir);
      const r = await interrupt(
        'run',
        ['-q', '-H', 'qemu', 'hang.tar.gz'],
        sig,
        () => readdirSync(tmpdir).some((f) => f.startsWith('solo5-virtio-run-')),
        { TMPDIR: tmpdir },
      );
      expect(r.code).toBe(status);
      // Stopped while unpacking, or (if the unpacking won the race) QEMU stopped.
      expect(r.stderr).toMatch(
        new RegExp(
          `(^solo5-virtio-run: error: Interrupted by ${sig}; nothing was run\\.|solo5-virtio-run: Interrupted by ${sig} before the unikernel exited\\.)\\n$`,
        ),
      );
      expect(readdirSync(tmpdir)).toEqual([]);
    }, 120_000);
  }
});

describe('a failed write is one coded sentence naming the file and the fix (exit 1, nothing left)', () => {
  const EFBIG =
    "failed: it cannot grow that large \\(EFBIG\\): the file size limit \\(ulimit -f\\) or the file system's largest file is smaller; raise the limit \\(ulimit -f unlimited\\) or write it to another file system\\.";

  it('EFBIG (ulimit -f): solo5-virtio-mkimage, unikernel-disk convert and set-args, solo5-virtio-run unpacking', () => {
    let r = bash('ulimit -f 1024; exec "$NODE" "$MKIMAGE" -q -s 64M limited.img demo.virtio');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`^solo5-virtio-mkimage: error: Writing limited\\.img ${EFBIG} Nothing was left behind\\.\\n$`),
    );
    expect(existsSync(p('limited.img'))).toBe(false);

    r = bash('ulimit -f 1024; exec "$NODE" "$DISK" convert -f raw small.img limited.img');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`^unikernel-disk: error: Writing limited\\.img ${EFBIG} Nothing was left behind\\.\\n$`),
    );
    expect(existsSync(p('limited.img'))).toBe(false);

    copyFileSync(p('small.img'), p('args.img'));
    const before = sha(p('args.img'));
    r = bash('ulimit -f 1024; exec "$NODE" "$DISK" set-args args.img new');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`^unikernel-disk: error: Writing args\\.img ${EFBIG} The file args\\.img was left as it was\\.\\n$`),
    );
    expect(sha(p('args.img'))).toBe(before);

    expect(cli('mkimage', ['-q', '-f', 'tar', 'demo.tar.gz', 'demo.virtio']).status).toBe(0);
    mkdirSync(p('run-tmp'));
    r = bash('ulimit -f 1024; exec "$NODE" "$RUN" -H qemu demo.tar.gz', { TMPDIR: p('run-tmp') });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^solo5-virtio-run: error: Writing the unpacked copy of demo\\.tar\\.gz \\(${p('run-tmp')}/solo5-virtio-run-\\w+/disk\\.raw; TMPDIR sets where\\) ${EFBIG} Nothing was left behind\\.\\n$`,
      ),
    );
    expect(readdirSync(p('run-tmp'))).toEqual([]);
    expect(temps()).toEqual([]);
  });

  it('ENOSPC (/dev/full as standard output): NO_SPACE, the image there is incomplete', () => {
    const r = bash('exec "$NODE" "$MKIMAGE" -q -s 64M - demo.virtio > /dev/full');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      'solo5-virtio-mkimage: error: Writing the image to standard output failed: the disk that holds it is full (ENOSPC); free some space or write it to another disk. The image on standard output is incomplete.\n',
    );
  });

  it('a directory we may not write (EACCES or EPERM, or EROFS where /sys is read-only): every bin says which and what to do', () => {
    const refused = (where: string, name: string) =>
      new RegExp(
        `Cannot write ${name}: (no permission to create or write files in ${where} \\((EACCES|EPERM)\\)|${where} is on a read-only file system \\(EROFS\\)); choose another location\\.\\n$`,
      );
    let r = cli('mkimage', ['-q', '/sys/out.img', 'demo.virtio']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^solo5-virtio-mkimage: error: /);
    expect(r.stderr).toMatch(refused('/sys', '/sys/out\\.img'));
    r = cli('disk', ['convert', '-f', 'raw', 'small.img', '/sys/out.img']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^unikernel-disk: error: /);
    expect(r.stderr).toMatch(refused('/sys', '/sys/out\\.img'));
    r = cli('run', ['--dry-run', '--demo'], { env: { TMPDIR: '/sys' } });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^solo5-virtio-run: error: /);
    expect(r.stderr).toMatch(refused('/sys', 'a temporary directory in /sys \\(set TMPDIR to use another\\)'));
  });

  it('ENAMETOOLONG: a name longer than the file system takes', () => {
    const name = 'x'.repeat(300) + '.img';
    for (const [bin, args] of [
      ['mkimage', ['-q', name, 'demo.virtio']],
      ['disk', ['extract', 'small.img', name]],
    ] as [Bin, string[]][]) {
      const r = cli(bin, args);
      expect(r.status, bin).toBe(1);
      expect(r.stderr).toBe(
        `${BINS[bin][0]}: error: Cannot write ${name}: the name is too long for the file system (ENAMETOOLONG); choose a shorter one.\n`,
      );
    }
    expect(temps()).toEqual([]);
  });
});
