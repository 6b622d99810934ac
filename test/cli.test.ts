/**
 * The CLI as users run it: the bundled bin, real files, real tools
 * (sfdisk, tar, gzip, cmp), exact one-line errors, nothing half-written.
 */
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { solo5Kernel } from './helpers/fixtures';
import { run, runAll, tempDir, tools } from './helpers/tools';
import { planImage } from '../src/core/image';
import { writePlanRange } from './helpers/image-files';

const BIN = new URL('../bin/solo5-virtio-mkimage.cjs', import.meta.url).pathname;
const tmp = tempDir('ukd-cli-');
const p = tmp.path;
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: tmp.dir,
    encoding: 'utf8',
    env: { ...process.env, SOURCE_DATE_EPOCH: '', ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  execFileSync(process.execPath, [new URL('../scripts/build-cli.mjs', import.meta.url).pathname]);
  writeFileSync(p('app.virtio'), solo5Kernel({ dataSize: 150 * 1024 }));
});
afterAll(() => tmp.cleanup());

/** No temporary files left next to the outputs. */
function noTemps() {
  expect(readdirSync(tmp.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
}

describe('usage', () => {
  it('--help and --version', () => {
    const h = cli(['--help']);
    expect(h.status).toBe(0);
    expect(h.stdout).toMatch(/^Usage: solo5-virtio-mkimage \[OPTIONS\] \[--\] IMAGE UNIKERNEL \[ARGUMENTS \.\.\.\]/);
    for (const id of ['raw', 'tar']) expect(h.stdout).toMatch(new RegExp(`^\\s+${id}\\s`, 'm'));
    const v = cli(['--version']);
    expect(v.status).toBe(0);
    expect(v.stdout).toBe(
      `solo5-virtio-mkimage ${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`,
    );
  });
  it('missing operands and unknown options are usage errors (exit 2)', () => {
    expect(cli([])).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/^solo5-virtio-mkimage: IMAGE and UNIKERNEL are missing\n/),
    });
    expect(cli(['x.img'])).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/^solo5-virtio-mkimage: UNIKERNEL is missing\n/),
    });
    expect(cli(['--bogus', 'x.img', 'app.virtio'])).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/^solo5-virtio-mkimage: unknown option --bogus\n/),
    });
    expect(cli(['-f'])).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/^solo5-virtio-mkimage: option -f needs a value\n/),
    });
  });
  it('-d is accepted with a one-line notice', () => {
    const r = cli(['-d', '-q', 'd.img', 'app.virtio']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(
      'solo5-virtio-mkimage: note: -d (build in Docker) is not needed and is ignored: this tool runs anywhere Node does.\n',
    );
    expect(statSync(p('d.img')).size).toBe(1 << 30);
  });
});

describe.skipIf(!tools('sfdisk', 'tar', 'gzip', 'cmp'))('images', () => {
  it('raw: a sparse 1 GiB file, byte-identical to the core plan and across runs', () => {
    const big = cli(['big.img', 'app.virtio']);
    expect(big.status, big.stderr).toBe(0);
    const st = statSync(p('big.img'));
    expect(st.size).toBe(1 << 30);
    expect(st.blocks * 512).toBeLessThan(4 << 20); // sparse: a few hundred KiB allocated
    // Byte comparisons on a smaller disk: cmp reads every zero.
    const r = cli(['--size', '256M', 'disk.img', 'app.virtio', '--x', 'a  b', "it's"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(`command line "unikernel.bin --x a  b it's"`);
    const ref = planImage(new Uint8Array(readFileSync(p('app.virtio'))), { args: "--x a  b it's", size: 256 << 20 });
    writePlanRange(ref.plan, p('ref.img'));
    expect(runAll('cmp', [p('disk.img'), p('ref.img')]).status).toBe(0);
    expect(cli(['-q', '-s256M', 'disk2.img', 'app.virtio', '--x', 'a  b', "it's"]).status).toBe(0);
    expect(sha(p('disk2.img'))).toBe(sha(p('disk.img')));
    expect(JSON.parse(run('sfdisk', ['-J', p('disk.img')])).partitiontable.partitions[0]).toMatchObject({
      start: 2048,
      bootable: true,
      type: 'e',
    });
    noTemps();
  });

  it('-- ends the options; options after IMAGE belong to the kernel', () => {
    const r = cli(['-q', '--size=128M', '--', 'dash.img', 'app.virtio', '-f', 'tar', '--size', '2G']);
    expect(r.status, r.stderr).toBe(0);
    expect(statSync(p('dash.img')).size).toBe(128 << 20);
    const ref = planImage(new Uint8Array(readFileSync(p('app.virtio'))), { args: '-f tar --size 2G', size: 128 << 20 });
    writePlanRange(ref.plan, p('dash-ref.img'));
    expect(runAll('cmp', [p('dash.img'), p('dash-ref.img')]).status).toBe(0);
  });

  it('tar: GCE tar.gz with exactly disk.raw, sparse, identical to the raw image; reproducible', () => {
    expect(cli(['-q', 'raw.img', 'app.virtio', 'hello']).status).toBe(0);
    const r = cli(['-f', 'tar', 'gce.tar.gz', 'app.virtio', 'hello']);
    expect(r.status, r.stderr).toBe(0);
    expect(runAll('gzip', ['-t', p('gce.tar.gz')]).status).toBe(0);
    expect(statSync(p('gce.tar.gz')).size).toBeLessThan(1 << 20);
    const list = run('tar', ['-tvzf', p('gce.tar.gz')])
      .trim()
      .split('\n');
    expect(list).toHaveLength(1);
    expect(list[0]).toMatch(/^-rw-r--r-- .* 1073741824 1980-01-01 00:00 disk\.raw$/);
    const out = tempDir('ukd-x-');
    run('tar', ['-xSzf', p('gce.tar.gz'), '-C', out.dir]);
    const st = statSync(out.path('disk.raw'));
    expect(st.size).toBe(1 << 30);
    expect(st.blocks * 512).toBeLessThan(8 << 20);
    expect(runAll('cmp', [out.path('disk.raw'), p('raw.img')]).status).toBe(0);
    out.cleanup();
    expect(cli(['-q', '-f', 'tar', 'gce2.tar.gz', 'app.virtio', 'hello']).status).toBe(0);
    expect(sha(p('gce2.tar.gz'))).toBe(sha(p('gce.tar.gz')));
  });

  it('SOURCE_DATE_EPOCH and --timestamp set the stored times', () => {
    expect(cli(['-q', '-f', 'tar', 'ts.tar.gz', 'app.virtio'], { SOURCE_DATE_EPOCH: '1700000000' }).status).toBe(0);
    expect(run('tar', ['-tvzf', p('ts.tar.gz')], { env: { ...process.env, TZ: 'UTC' } })).toContain(
      '2023-11-14 22:13 disk.raw',
    );
    expect(cli(['-q', '--timestamp', '2024-01-31T12:00:00Z', '-f', 'tar', 'ts2.tar.gz', 'app.virtio']).status).toBe(0);
    expect(run('tar', ['-tvzf', p('ts2.tar.gz')], { env: { ...process.env, TZ: 'UTC' } })).toContain(
      '2024-01-31 12:00 disk.raw',
    );
  });
});

describe('bad input: one line, exit 1, nothing written', () => {
  const kernels: Record<string, () => Uint8Array> = {
    'empty.virtio': () => new Uint8Array(0),
    'random.virtio': () => Uint8Array.from({ length: 5000 }, (_, i) => (i * 2654435761) >>> 24),
    'truncated.virtio': () => solo5Kernel().slice(0, 40),
    'nomb.virtio': () => solo5Kernel({ noMultiboot: true }),
    'badsum.virtio': () => solo5Kernel({ badChecksum: true }),
    'app.hvt': () => solo5Kernel({ noMultiboot: true, abiTarget: 1 }),
    'app.spt': () => solo5Kernel({ noMultiboot: true, abiTarget: 2 }),
    'big.virtio': () => solo5Kernel({ dataSize: 70 << 20 }),
  };
  beforeAll(() => {
    for (const [name, make] of Object.entries(kernels)) writeFileSync(p(name), make());
  });
  const cases: [string, string[], RegExp][] = [
    ['empty file', ['out.img', 'empty.virtio'], /^solo5-virtio-mkimage: error: The kernel file is empty \(0 bytes\)\./],
    [
      'random bytes',
      ['out.img', 'random.virtio'],
      /^solo5-virtio-mkimage: error: The kernel file is not a kernel: it is not an ELF file \(it starts with bytes [0-9A-F ]{11}, not 7F 45 4C 46\)/,
    ],
    [
      'truncated ELF',
      ['out.img', 'truncated.virtio'],
      /^solo5-virtio-mkimage: error: The kernel is truncated: an ELF header needs at least 52 bytes but the file has 40\./,
    ],
    [
      'no multiboot header',
      ['out.img', 'nomb.virtio'],
      /^solo5-virtio-mkimage: error: The kernel has no Multiboot header \(magic 0x1BADB002\) in its first 8192 bytes/,
    ],
    [
      'bad checksum',
      ['out.img', 'badsum.virtio'],
      /^solo5-virtio-mkimage: error: The kernel's Multiboot header at file offset 0x1020 has checksum 0xE4514FFC/,
    ],
    [
      'hvt kernel',
      ['out.img', 'app.hvt'],
      /^solo5-virtio-mkimage: error: This is a Solo5 hvt unikernel; rebuild it with the virtio target/,
    ],
    [
      'spt kernel',
      ['out.img', 'app.spt'],
      /^solo5-virtio-mkimage: error: This is a Solo5 spt unikernel; rebuild it with the virtio target/,
    ],
    [
      'kernel larger than the image',
      ['--size', '64M', 'out.img', 'big.virtio'],
      /^solo5-virtio-mkimage: error: A disk of 64 MiB cannot hold this 70 MiB kernel .* use a size of at least 72 MiB \(--size 72M\)\./,
    ],
    [
      'size too small',
      ['--size', '1M', 'out.img', 'app.virtio'],
      /^solo5-virtio-mkimage: error: A disk of 1 MiB cannot hold this .* kernel .*use a size of at least 2 MiB/,
    ],
    [
      'size malformed',
      ['--size', 'big', 'out.img', 'app.virtio'],
      /^solo5-virtio-mkimage: error: The size "big" is not a size: write a number with an optional unit K, M, G or T/,
    ],
    [
      'tar size not whole GiB',
      ['-f', 'tar', '--size', '1536M', 'out.tgz', 'app.virtio'],
      /^solo5-virtio-mkimage: error: Google Compute Engine needs a disk size that is a whole number of GiB/,
    ],
    [
      'unknown format',
      ['-f', 'iso', 'out.img', 'app.virtio'],
      /^solo5-virtio-mkimage: error: Unknown format "iso"; choose one of: raw, tar/,
    ],
    [
      'missing kernel',
      ['out.img', 'nope.virtio'],
      /^solo5-virtio-mkimage: error: The unikernel file nope\.virtio does not exist/,
    ],
    [
      'unwritable output path',
      ['no/such/dir/out.img', 'app.virtio'],
      /^solo5-virtio-mkimage: error: Cannot write no\/such\/dir\/out\.img: the directory .*no\/such\/dir does not exist; create it first\./,
    ],
    ['output is a directory', ['.', 'app.virtio'], /^solo5-virtio-mkimage: error: The output \. is a directory/],
  ];
  for (const [name, args, re] of cases) {
    it(name, () => {
      const r = cli(args);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(re);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(existsSync(p('out.img'))).toBe(false);
      noTemps();
    });
  }
  it('a failed run leaves an existing IMAGE untouched', () => {
    writeFileSync(p('keep.img'), 'precious');
    expect(cli(['keep.img', 'badsum.virtio']).status).toBe(1);
    expect(readFileSync(p('keep.img'), 'utf8')).toBe('precious');
    noTemps();
  });
  it('a read-only directory gives a clear error', () => {
    if (process.getuid?.() === 0) {
      // root ignores directory permissions; use a read-only path instead.
      const r = cli(['/proc/out.img', 'app.virtio']);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^solo5-virtio-mkimage: error: Cannot write \/proc\/out\.img: /);
      return;
    }
  });
});

describe('interrupted run', () => {
  it('SIGINT while writing removes the temporary file and leaves no IMAGE', async () => {
    // A big kernel of random bytes in a deflated container takes seconds: time to interrupt it.
    const big = solo5Kernel({ dataSize: 160 << 20 });
    let x = 12345;
    for (let i = 0x2000; i < big.length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      big[i] = x >>> 24;
    }
    writeFileSync(p('random-big.virtio'), big);
    const child = spawn(process.execPath, [BIN, '-q', '-f', 'vmdk', 'int.vmdk', 'random-big.virtio'], {
      cwd: tmp.dir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Wait until the temporary file exists, then interrupt.
    for (let i = 0; i < 400 && !readdirSync(tmp.dir).some((f) => f.startsWith('.int.vmdk.')); i++)
      await new Promise((r) => setTimeout(r, 25));
    expect(readdirSync(tmp.dir).some((f) => f.startsWith('.int.vmdk.'))).toBe(true);
    child.kill('SIGINT');
    const code = await exited;
    expect(code).toBe(130);
    expect(stderr).toBe('solo5-virtio-mkimage: error: Interrupted by SIGINT; no image was written.\n');
    expect(existsSync(p('int.vmdk'))).toBe(false);
    noTemps();
  });
});

describe('a disk image given as the kernel is named for what it is, from its ends', () => {
  it('qcow2, a 1 GiB raw disk (named before its size is judged), GCE tar.gz, a foreign format', () => {
    for (const [f, name, size] of [
      ['qcow2', 'given.qcow2', '64M'],
      ['raw', 'given disk.img', '1G'],
      ['tar', 'given.tar.gz', '1G'],
    ]) {
      const made = cli(['-q', '-f', f, '-s', size, p(name), '--demo']);
      expect(made.status, made.stderr).toBe(0);
      const r = cli([p('k.img'), p(name)]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(
        /^solo5-virtio-mkimage: error: The unikernel .* is (a qcow2 disk image|a raw disk image|gzip-compressed data)/,
      );
      const quoted = name.includes(' ') ? `'${p(name)}'` : p(name); // as a shell reads it
      expect(r.stderr).toContain(
        `, not a kernel: give the .virtio file your unikernel build produced, or look inside the image with \`unikernel-disk inspect ${quoted}\``,
      );
      expect(r.stderr.split('\n')).toHaveLength(2);
      expect(existsSync(p('k.img'))).toBe(false);
    }
    // VHDX: a format we recognise and do not read
    const vhdx = new Uint8Array(1 << 20);
    vhdx.set(new TextEncoder().encode('vhdxfile'));
    writeFileSync(p('given.vhdx'), vhdx);
    const r = cli([p('k.img'), p('given.vhdx')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /^solo5-virtio-mkimage: error: The unikernel .*given\.vhdx is .*VHDX.*, not a kernel: give the \.virtio file your unikernel build produced \(if it is inside this file, extract it first\)\.\n$/,
    );
  });
});
