/**
 * Issues 17 and 18 for solo5-virtio-run, with the bundled bin and real QEMU
 * (TCG): what reaches QEMU means only what the user meant (file names that
 * look like QEMU protocols are local files; a line the unikernel prints sets
 * no status), QEMU never outlives the run (SIGKILL, SIGTERM, SIGINT), a full
 * disk while unpacking is one sentence, KVM that cannot start falls back to
 * TCG (a stand-in QEMU on PATH, since this machine may have no KVM),
 * --gdb is driven by gdb to the end, and -n and UNIKERNEL are checked
 * before QEMU starts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { assembleDemo } from './helpers/qemu';
import { freePort, haveGdb } from './helpers/qemu-gdb';
import { have, runAll, tempDir, tools } from './helpers/tools';
import { buildBins } from './helpers/bins';

const tmp = tempDir('ukd-run-hostile-');
const p = tmp.path;
// The bins, built into this test's own directory (another test file rebuilding dist-cli/ never hands us half a bundle).
const RUN = p('bin/solo5-virtio-run.cjs');
const MKIMAGE = p('bin/solo5-virtio-mkimage.cjs');
const QEMU = 'qemu-system-x86_64';
const isRoot = process.getuid?.() === 0;

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [RUN, ...args], {
    cwd: tmp.dir,
    encoding: 'utf8',
    timeout: 120_000,
    killSignal: 'SIGKILL',
    env: { ...process.env, ...env },
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout.replace(/\r\n/g, '\n'), stderr: r.stderr };
}

function mkimage(args: string[]) {
  const r = spawnSync(process.execPath, [MKIMAGE, '-q', ...args], { cwd: tmp.dir, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
}

/** The processes whose parent is `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'latin1');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Whether `pid` is still a running process (a zombie nobody reaped has ended). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Start the run, wait (polling, no time limit of ours) until its console
 * shows `marker` and QEMU is its child, then resolve with the child process
 * and QEMU's pid; `done` resolves with how the run ended and what it said.
 */
async function startRun(args: string[], marker: string, env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [RUN, ...args], {
    cwd: tmp.dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  started.push(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>(
    (resolve) => child.on('close', (code, signal) => resolve({ code, signal, out, err })),
  );
  let ended = false;
  void done.then(() => (ended = true));
  let qemu: number | undefined;
  while (!ended && !(out.includes(marker) && qemu !== undefined)) {
    await pause(20);
    qemu ??= childrenOf(child.pid!).find((c) => {
      try {
        return readlinkSync(`/proc/${c}/exe`).endsWith(QEMU);
      } catch {
        return false; // gone, or not yet QEMU
      }
    });
  }
  expect(ended, `the run ended before "${marker}": ${out}${err}`).toBe(false);
  return { child, qemu: qemu!, done, output: () => out, errors: () => err };
}

/** Every run startRun began: one a failed test left running is ended (with it QEMU, by its parent-death signal). */
const started: ChildProcess[] = [];
afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
});

beforeAll(() => {
  buildBins(tmp.dir, ['solo5-virtio-run', 'solo5-virtio-mkimage']);
  writeFileSync(p('demo.virtio'), DEMO_KERNEL);
  writeFileSync(p('data.img'), new Uint8Array(1 << 20));
}, 180_000);
afterAll(() => tmp.cleanup());

describe('checked before QEMU starts: what is not a file', () => {
  it('UNIKERNEL a FIFO with no writer, /dev/zero; -d a FIFO: one sentence naming what it is, never a hang', () => {
    execFileSync('mkfifo', [p('k.fifo')]);
    for (const [args, re] of [
      [['k.fifo'], /^solo5-virtio-run: error: The unikernel k\.fifo is a named pipe \(FIFO\), not a file;/],
      [['/dev/zero'], /^solo5-virtio-run: error: The unikernel \/dev\/zero is a character device, not a file;/],
      [
        ['-d', 'k.fifo', '-H', 'qemu', 'blk.virtio'],
        /^solo5-virtio-run: error: -d k\.fifo is a named pipe \(FIFO\), not a disk file or a block device;/,
      ],
    ] as [string[], RegExp][]) {
      if (args.includes('blk.virtio')) assembleDemo(tmp.dir, 'blk.virtio', { MFT_BLOCKS: 1 });
      const r = run(args);
      expect(r.signal, args.join(' ')).toBeNull();
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(re);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    }
  });
});

describe('what reaches the terminal', () => {
  it('--dry-run and the printed command show the arguments with control characters escaped', () => {
    const r = run(['--dry-run', '-H', 'qemu', 'demo.virtio', 'a\x1b[2Jb\nSolo5: solo5_exit(7) called']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/ -append 'a\\x1b\[2Jb\\nSolo5: solo5_exit\(7\) called'\n$/);
    expect(r.stdout).not.toMatch(/[\x00-\x09\x0b-\x1f]/);
  });
});

describe.skipIf(!tools(QEMU, 'nasm'))('file names that look like QEMU protocols are local files', () => {
  let server: Server;
  let port = 0;
  let connections = 0;
  beforeAll(async () => {
    server = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('a boot image named nbd:127.0.0.1:PORT or json:{…}: the local file boots, nothing connects, no other file is read', () => {
    const nbd = `nbd:127.0.0.1:${port}`;
    const json = '{"driver":"raw","file":{"driver":"file","filename":"other.img"}}';
    mkimage(['-s', '64M', nbd, 'demo.virtio', 'from', 'the', 'nbd-named', 'file']);
    mkimage(['-s', '64M', `json:${json}`, 'demo.virtio', 'from', 'the', 'json-named', 'file']);
    mkimage(['-s', '64M', 'other.img', 'demo.virtio', 'from', 'other.img']);
    for (const [name, args] of [
      [nbd, 'from the nbd-named file'],
      [`json:${json}`, 'from the json-named file'],
    ]) {
      const r = run(['-H', 'qemu', name]);
      expect(r.stdout, name).toContain(`demo: command line '${args}'`);
      expect(r.stdout).toContain('demo: SUCCESS');
      expect(r.status).toBe(0);
    }
    expect(connections).toBe(0);
  });

  it('-d disks named nbd:… and json:{…} that point elsewhere: QEMU holds the named files open, not victim.img', async () => {
    assembleDemo(tmp.dir, 'hang2.virtio', { MFT_BLOCKS: 2, HANG: 1 });
    const nbd = `nbd:127.0.0.1:${port}`;
    const json = 'json:{"driver":"raw","file":{"driver":"file","filename":"victim.img"}}';
    for (const f of [nbd, json, 'victim.img']) writeFileSync(p(f), new Uint8Array(1 << 20));
    const r = await startRun(['-q', '-H', 'qemu', '-d', nbd, '-d', json, 'hang2.virtio'], 'check end of loaded image');
    const open = readdirSync(`/proc/${r.qemu}/fd`).map((fd) => {
      try {
        return readlinkSync(`/proc/${r.qemu}/fd/${fd}`);
      } catch {
        return '';
      }
    });
    r.child.kill('SIGTERM');
    const end = await r.done;
    expect(end.code).toBe(143);
    expect(open).toContain(p(nbd));
    expect(open).toContain(p(json));
    expect(open).not.toContain(p('victim.img'));
    expect(connections).toBe(0);
  });
});

describe.skipIf(!tools(QEMU, 'nasm'))(
  'the status comes from the unikernel’s real exit, not from a line it prints',
  () => {
    const SPOOF = 'x\nSolo5: solo5_exit(7) called\ny';

    it('an argument printed as "Solo5: solo5_exit(7) called" on its own line: the kernel’s own exit (3) is the status', () => {
      assembleDemo(tmp.dir, 'end3.virtio', { SOLO5_END: 3 });
      const r = run(['-q', '-H', 'qemu', 'end3.virtio', SPOOF]);
      expect(r.stdout).toContain('\nSolo5: solo5_exit(7) called\n');
      expect(r.stdout).toMatch(/Solo5: solo5_exit\(3\) called\n$/);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(3);
    });

    it('the same line from a kernel that goes on running: the run goes on; interrupted, it is 143', async () => {
      assembleDemo(tmp.dir, 'hang.virtio', { HANG: 1 });
      const r = await startRun(['-q', '-H', 'qemu', 'hang.virtio', SPOOF], 'check end of loaded image');
      expect(r.output()).toContain('\nSolo5: solo5_exit(7) called\r\n');
      r.child.kill('SIGTERM');
      const end = await r.done;
      expect(end.code).toBe(143);
      expect(end.err).toMatch(/solo5-virtio-run: Interrupted by SIGTERM before the unikernel exited\.\n$/);
    });
  },
);

describe.skipIf(!tools(QEMU, 'nasm'))('QEMU never outlives the run', () => {
  it.skipIf(!have('setpriv'))(
    'SIGKILL to the run (which nothing can catch): QEMU ends too (parent-death signal)',
    async () => {
      assembleDemo(tmp.dir, 'hang.virtio', { HANG: 1 });
      mkimage(['-s', '64M', 'hang.img', 'hang.virtio']);
      for (const target of ['hang.virtio', 'hang.img']) {
        const r = await startRun(['-q', '-H', 'qemu', target], 'check end of loaded image');
        expect(alive(r.qemu)).toBe(true);
        r.child.kill('SIGKILL');
        expect((await r.done).signal).toBe('SIGKILL');
        while (alive(r.qemu)) await pause(20);
        expect(alive(r.qemu), target).toBe(false);
      }
    },
  );

  for (const [sig, status] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    it(`${sig} to the run: QEMU has ended by the time the run exits ${status}`, async () => {
      assembleDemo(tmp.dir, 'hang.virtio', { HANG: 1 });
      const r = await startRun(['-q', '-H', 'qemu', 'hang.virtio'], 'check end of loaded image');
      r.child.kill(sig);
      const end = await r.done;
      expect(end.code).toBe(status);
      expect(alive(r.qemu)).toBe(false);
      expect(end.err).toMatch(new RegExp(`solo5-virtio-run: Interrupted by ${sig} before the unikernel exited\\.\\n$`));
    });
  }
});

/** A 16 KiB tmpfs for TMPDIR: needs permission to mount (root, CAP_SYS_ADMIN; often not in a container, so skipped there even in CI). */
const SMALL = p('small');
const smallOk =
  isRoot && (mkdirSync(SMALL), true) && runAll('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', SMALL]).status === 0;
afterAll(() => {
  if (smallOk) runAll('umount', [SMALL]);
});

describe.skipIf(!smallOk)('a full disk while a GCE image is unpacked for QEMU (needs a tmpfs mount)', () => {
  it('ENOSPC: the coded sentence naming the copy, TMPDIR and the fix; nothing left', () => {
    mkimage(['-f', 'tar', 'demo.tar.gz', 'demo.virtio']);
    const r = run(['-H', 'qemu', 'demo.tar.gz'], { TMPDIR: SMALL });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /^solo5-virtio-run: error: Writing the unpacked copy of demo\.tar\.gz \(.*\/small\/solo5-virtio-run-\w+\/disk\.raw; TMPDIR sets where\) failed: the disk that holds it is full \(ENOSPC\); free some space or write it to another disk\. Nothing was left behind\.\n$/,
    );
    expect(readdirSync(SMALL)).toEqual([]);
  });
});

describe.skipIf(!tools(QEMU))('KVM that opens but cannot start QEMU (a stand-in QEMU that aborts with KVM)', () => {
  // As measured on a nested-virtualisation host: QEMU's KVM code fails an MSR write and aborts.
  const STANDIN = [
    '#!/bin/sh',
    'case " $* " in *" -accel kvm "*)',
    '  echo "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69" >&2',
    '  echo "qemu-system-x86_64: ../target/i386/kvm/kvm.c:3300: kvm_buf_set_msrs: Assertion \\`ret == cpu->kvm_msr_buf->nmsrs\' failed." >&2',
    '  kill -ABRT $$;;',
    'esac',
    `exec ${execFileSync('sh', ['-c', `command -v ${QEMU}`], { encoding: 'utf8' }).trim()} "$@"`,
    '',
  ].join('\n');
  const env = () => ({ PATH: `${p('standin')}:${process.env.PATH}`, UKD_TEST_KVM_DEVICE: p('fake-kvm') });
  beforeAll(() => {
    mkdirSync(p('standin'), { recursive: true });
    writeFileSync(p(`standin/${QEMU}`), STANDIN, { mode: 0o755 });
    writeFileSync(p('fake-kvm'), '');
  });

  it('KVM chosen by default: one warning line, then the same run with TCG, and the unikernel’s status', () => {
    const dry = run(['--dry-run', 'demo.virtio'], env());
    expect(dry.stdout).toContain(`# hypervisor: QEMU with KVM (${p('fake-kvm')} can be opened)\n`);
    const r = run(['demo.virtio'], env());
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(/^\+ qemu-system-x86_64 -accel kvm -cpu host /),
      'solo5-virtio-run: warning: QEMU with KVM was killed by SIGABRT before the unikernel printed anything (QEMU said: "../target/i386/kvm/kvm.c:3300: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs\' failed."); running it again with TCG (software, slower); -H qemu skips KVM.',
      expect.stringMatching(/^\+ qemu-system-x86_64 -accel tcg -cpu Westmere /),
    ]);
    expect(r.stdout).toMatch(/^demo: hello from the unikernel-disk demo kernel/);
    expect(r.stdout).toContain('demo: SUCCESS');
    expect(r.status).toBe(0);
  });

  it('-H kvm: QEMU’s own lines, then one sentence that names -H qemu; status 1, no second run', () => {
    const r = run(['-q', '-H', 'kvm', 'demo.virtio'], env());
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\nqemu-system-x86_64: ../target/i386/kvm/kvm.c:3300: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.\nsolo5-virtio-run: error: QEMU with KVM was killed by SIGABRT before the unikernel printed anything (QEMU said: \"../target/i386/kvm/kvm.c:3300: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.\"); this host's KVM cannot run it (often a nested-virtualisation host whose KVM lacks what QEMU asks for): run it without KVM, with -H qemu (TCG, slower).\n",
    );
    expect(r.status).toBe(1);
  });

  it('a failure at start that is not KVM’s (QEMU refuses an option): no second run, QEMU’s words and one sentence', () => {
    mkdirSync(p('standin2'), { recursive: true });
    writeFileSync(
      p(`standin2/${QEMU}`),
      '#!/bin/sh\necho "qemu-system-x86_64: -netdev tap: could not open /dev/net/tun: Permission denied" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    const r = run(['-q', 'demo.virtio'], { ...env(), PATH: `${p('standin2')}:${process.env.PATH}` });
    expect(r.stderr).toBe(
      'qemu-system-x86_64: -netdev tap: could not open /dev/net/tun: Permission denied\nsolo5-virtio-run: The hypervisor ended with status 1 and the unikernel did not exit (no solo5_exit, abort or trap through the exit port): it failed to start or stopped without a word; reporting 1.\n',
    );
    expect(r.status).toBe(1);
  });
});

describe.skipIf(!tools(QEMU, 'nasm', 'gdb') || !haveGdb())(
  '--gdb: QEMU waits for gdb, which runs the unikernel to its end',
  () => {
    /** Start the run with --gdb-port, read the gdb command it prints, run gdb with it (batch) and more commands. */
    async function underGdb(target: string, expectBreaks: number[]) {
      const port = await freePort();
      const r = await startRun(['-q', '-H', 'qemu', `--gdb-port=${port}`, target], '');
      while (!r.errors().includes('gdb -ex')) await pause(20);
      const err = r.errors();
      const line = /^solo5-virtio-run: {3}(gdb .*)$/m.exec(err)![1];
      // The printed command, run as it is, with `p/x $pc` after each stop and `continue` to the end.
      const extra = expectBreaks.flatMap(() => ['-ex', 'p/x $pc', '-ex', 'continue']);
      const g = runAll(
        'sh',
        ['-c', `${line.replace(/^gdb /, 'gdb -nx -batch ')} ${extra.map((a) => `'${a}'`).join(' ')}`],
        {
          cwd: tmp.dir,
          timeout: 60_000,
        },
      );
      const end = await r.done;
      return { err, line, gdb: g.stdout + g.stderr, end };
    }

    it('a kernel: a hardware breakpoint at its entry, then on to solo5_exit; the status is the unikernel’s', async () => {
      assembleDemo(tmp.dir, 'end5.virtio', { SOLO5_END: 5 });
      const { err, line, gdb, end } = await underGdb('end5.virtio', [0x100020]);
      expect(err).toContain('QEMU is stopped before its first instruction, its gdb server on localhost:');
      expect(line).toMatch(/^gdb -ex 'target remote localhost:\d+' -ex 'hbreak \*0x100020' -ex continue end5\.virtio$/);
      expect(gdb).toMatch(/Breakpoint 1, 0x0+100020 in /);
      expect(gdb).toContain('$1 = 0x100020');
      expect(end.out).toMatch(/Solo5: solo5_exit\(5\) called\r\n$/);
      expect(end.code).toBe(5);
    });

    it('a disk image: breakpoints at 0x7C00 (the boot sector) and at the kernel’s entry, then on to the end', async () => {
      assembleDemo(tmp.dir, 'end6.virtio', { SOLO5_END: 6 });
      mkimage(['-s', '64M', 'end6.img', 'end6.virtio']);
      const { line, gdb, end } = await underGdb('end6.img', [0x7c00, 0x100020]);
      expect(line).toMatch(
        /^gdb -ex 'target remote localhost:\d+' -ex 'hbreak \*0x7C00' -ex 'hbreak \*0x100020' -ex continue$/,
      );
      expect(gdb).toMatch(/Breakpoint 1, 0x0+7c00 in /);
      expect(gdb).toContain('$1 = 0x7c00');
      expect(gdb).toMatch(/Breakpoint 2, 0x0+100020 in /);
      expect(gdb).toContain('$2 = 0x100020');
      expect(end.out).toContain('Loading unikernel.bin... ok');
      expect(end.code).toBe(6);
    });

    it('a port in use: one sentence before QEMU starts', async () => {
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as { port: number }).port;
      try {
        const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
          const c = spawn(process.execPath, [RUN, '-H', 'qemu', `--gdb-port=${port}`, 'demo.virtio'], { cwd: tmp.dir });
          let err = '';
          c.stderr.on('data', (b: Buffer) => (err += b.toString()));
          c.on('close', (code) => resolve({ code, err }));
        });
        expect(r.code).toBe(1);
        expect(r.err).toBe(
          `solo5-virtio-run: error: --gdb-port ${port}: the port is in use on localhost (another QEMU under gdb?); give another one, e.g. --gdb-port=${port + 1}.\n`,
        );
      } finally {
        server.close();
      }
    });
  },
);

/** Tap interfaces need CAP_NET_ADMIN (root here; often not in a container). */
const TAP = `ukdh${process.pid % 10000}`;
const tapOk = have('ip') && runAll('ip', ['tuntap', 'add', 'dev', TAP, 'mode', 'tap']).status === 0;
afterAll(() => {
  if (tapOk) runAll('ip', ['tuntap', 'del', 'dev', TAP, 'mode', 'tap']);
});

describe.skipIf(!tapOk)('-n: a tap interface that is down (needs CAP_NET_ADMIN)', () => {
  it('is said before QEMU starts, with the command that brings it up; once up, nothing is said', () => {
    assembleDemo(tmp.dir, 'net.virtio', { MFT_NETS: 1 });
    const down = run(['--dry-run', '-H', 'qemu', '-n', TAP, 'net.virtio']);
    expect(down.stdout).toContain(`; tap interface ${TAP} exists (down)\n`);
    expect(down.stdout).toContain(
      `# warning: -n ${TAP}: the tap interface is down, so no packet will pass; bring it up: \`ip link set ${TAP} up\`.\n`,
    );
    expect(runAll('ip', ['link', 'set', TAP, 'up']).status).toBe(0);
    const up = run(['--dry-run', '-H', 'qemu', '-n', TAP, 'net.virtio']);
    expect(up.stdout).toContain(`; tap interface ${TAP} exists\n`);
    expect(up.stdout).not.toContain('warning');
  });
});
