/**
 * solo5-virtio-run: device matching, the hypervisor command, the exit status
 * read from the console (pure), and the bundled bin as users run it: checks
 * that refuse before anything starts, --dry-run and bhyve as text, and real
 * QEMU (TCG) boots of the demo kernel and its variants, as a kernel and as
 * raw and qcow2 images built by our own CLI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { matchDevices, describeAttachment } from '../src/core/run/devices';
import { bhyveCommands, qemuCommand, shellLine, shellQuote, type RunPlan } from '../src/core/run/command';
import {
  classifyLine,
  ConsoleWatcher,
  endedThroughExitPort,
  exitStatus,
  hypervisorStop,
  LineWatcher,
  LOADER_DONE,
} from '../src/core/run/console';
import { isImageError } from '../src/core/errors';
import { parseMem, parseRunArgs } from '../src/cli/run-args';
import type { Solo5Device } from '../src/core/solo5';
import { solo5Kernel } from './helpers/fixtures';
import { DEMO_VARIANTS } from './helpers/demo-variants';
import { assembleDemo } from './helpers/qemu';
import { haveOldToolFiles, makeOldToolImage, OLD_TOOL_PROGRAMS } from './helpers/old-tool';
import { have, runAll, tempDir, tools } from './helpers/tools';

const RUN = new URL('../bin/solo5-virtio-run.cjs', import.meta.url).pathname;
const MKIMAGE = new URL('../bin/solo5-virtio-mkimage.cjs', import.meta.url).pathname;
const tmp = tempDir('ukd-run-');
const p = tmp.path;

function run(args: string[], opts: { timeout?: number } = {}) {
  const r = spawnSync(process.execPath, [RUN, ...args], {
    cwd: tmp.dir,
    encoding: 'utf8',
    timeout: opts.timeout ?? 60_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { status: r.status, stdout: r.stdout.replace(/\r\n/g, '\n'), stderr: r.stderr };
}

/** The error thrown by fn, which must be an ImageError. */
function errorOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    if (isImageError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('expected an ImageError, got none');
}

const blk = (name: string): Solo5Device => ({ name, kind: 'block' });
const net = (name: string): Solo5Device => ({ name, kind: 'net' });

beforeAll(() => {
  execFileSync(process.execPath, [new URL('../scripts/build-cli.mjs', import.meta.url).pathname]);
  writeFileSync(p('data0.img'), new Uint8Array(1 << 20));
  writeFileSync(p('data1.img'), new Uint8Array(1 << 20));
  writeFileSync(p('data2.img'), new Uint8Array(1 << 20));
  // Synthetic kernels (not bootable): for the checks that refuse before any boot.
  writeFileSync(p('blk.virtio'), solo5Kernel({ abiTarget: 3, devices: [blk('storage')] }));
  writeFileSync(p('none.virtio'), solo5Kernel({ abiTarget: 3, devices: [] }));
  writeFileSync(p('two.virtio'), solo5Kernel({ abiTarget: 3, devices: [blk('first'), blk('second')] }));
  writeFileSync(
    p('mixed.virtio'),
    solo5Kernel({ abiTarget: 3, devices: [net('service0'), blk('storage'), net('admin')] }),
  );
});
afterAll(() => tmp.cleanup());

describe('devices go to the manifest by kind and order', () => {
  it('the n-th block device gets the n-th -d, the n-th net device the n-th -n, at consecutive slots in manifest order', () => {
    const a = matchDevices(
      [net('service0'), blk('storage0'), net('service1'), blk('storage1')],
      ['a.img', 'b.img'],
      ['tap0', 'tap1'],
    );
    expect(a).toEqual([
      { kind: 'net', host: 'tap0', name: 'service0', slot: 2 },
      { kind: 'block', host: 'a.img', name: 'storage0', slot: 3 },
      { kind: 'net', host: 'tap1', name: 'service1', slot: 4 },
      { kind: 'block', host: 'b.img', name: 'storage1', slot: 5 },
    ]);
    expect(describeAttachment(a[1])).toBe('`storage0` (block device) <- disk a.img, virtio-blk at PCI 00:03');
    expect(matchDevices([], [], [])).toEqual([]);
    // A bhyve disk image takes slot 2: the devices start at 3.
    expect(matchDevices([blk('storage')], ['a.img'], [], 3)[0].slot).toBe(3);
  });
  it('a declared device without -d/-n is an error that names it', () => {
    const e = errorOf(() => matchDevices([blk('storage'), net('service0')], ['a.img'], []));
    expect(e.code).toBe('RUN_DEVICE_MISSING');
    expect(e.message).toBe(
      'The unikernel declares network device `service0` (1st of 1 network device: `service0`) but no -n was given; Solo5 aborts at start when a declared device is missing. Add `-n NETIF` for it (in manifest order).',
    );
    const e2 = errorOf(() => matchDevices([blk('a'), blk('b'), blk('c')], ['x', 'y'], []));
    expect(e2.message).toMatch(
      /^The unikernel declares block device `c` \(3rd of 3 block devices: `a`, `b`, `c`\) but only 2 -d were given;/,
    );
  });
  it('an extra -d/-n is an error: Solo5 aborts on a device not in its manifest', () => {
    const e = errorOf(() => matchDevices([], ['boot.img'], []));
    expect(e.code).toBe('RUN_DEVICE_EXTRA');
    expect(e.message).toBe(
      '-d boot.img has no block device to attach to: the unikernel declares no block devices and 1 -d option was given; Solo5 aborts on a virtio device that is not in its manifest. Remove the extra -d.',
    );
    expect(errorOf(() => matchDevices([net('service0')], [], ['tap0', 'tap1'])).message).toMatch(
      /^-n tap1 has no network device to attach to: the unikernel declares 1 network device \(`service0`\) and 2 -n options were given;/,
    );
  });
  it('without a manifest, devices go in the order given, disks first', () => {
    expect(matchDevices(undefined, ['a', 'b'], ['t']).map((d) => [d.kind, d.host, d.slot])).toEqual([
      ['block', 'a', 2],
      ['block', 'b', 3],
      ['net', 't', 4],
    ]);
  });
  it('at most 30 devices fit on PCI bus 0 (slots 2 to 31)', () => {
    const many = Array.from({ length: 31 }, (_, i) => blk(`s${i}`));
    const e = errorOf(() =>
      matchDevices(
        many,
        many.map((d) => d.name),
        [],
      ),
    );
    expect(e.code).toBe('RUN_TOO_MANY_DEVICES');
    expect(e.message).toBe('31 devices to attach, but PCI bus 0 has 30 free slots (2 to 31); attach at most 30.');
    expect(
      matchDevices(
        many.slice(0, 30),
        many.slice(0, 30).map((d) => d.name),
        [],
      ).at(-1)?.slot,
    ).toBe(31);
  });
});

describe('the exit status comes from the console', () => {
  // Lines as Solo5 prints them (bindings/exit.c, abort.c, cpu_x86_64.c), with its \r\n.
  const cases: [string, number][] = [
    ['Solo5: solo5_exit(0) called', 0],
    ['Solo5: solo5_exit(1) called', 1],
    ['Solo5: solo5_exit(42) called', 42],
    ['Solo5: solo5_exit(-1) called', 255],
    ['Solo5: solo5_exit(256) called', 1],
    ['Solo5: solo5_abort() called', 255],
    ["Solo5: ABORT: mft.c:73: Assertion `e->attached' failed", 255],
    ['Solo5: ABORT: cpu_x86_64.c:181: Fatal trap', 255],
    ['Solo5: trap: type=#GP ec=0x0 rip=0x10b2c4 rsp=0x1ffff8 rflags=0x10046', 255],
    ['demo: SUCCESS, exiting through isa-debug-exit (status 83)', 0],
    ['demo: FAILURE', 1],
    ['Boot error: kernel checksum mismatch', 255],
  ];
  for (const [line, status] of cases) {
    it(`${line} → ${status}`, () => {
      const w = new ConsoleWatcher({ bootLoader: true });
      // split anywhere, even inside the line and between \r and \n
      const text = `Solo5: Bindings version v0.9.0\r\nhello\r\n${line}\r\nSolo5: Halted\r\n`;
      const cut = text.indexOf(line) + 7;
      w.feed(text.slice(0, cut));
      w.feed(text.slice(cut, -1));
      w.feed(text.slice(-1));
      expect(exitStatus(w.end(), { status: 83 }).status).toBe(status);
    });
  }
  it('the last outcome line counts, once the output ended; ordinary lines announce nothing', () => {
    const w = new ConsoleWatcher({ bootLoader: false });
    w.feed('Solo5: trap: type=#PF ec=0x2 rip=0x1 rsp=0x2 rflags=0x2\nSolo5: trap: cr2=0x0\n');
    w.feed('Solo5: ABORT: cpu_x86_64.c:181: Fatal trap\n');
    expect(w.end()).toEqual({ kind: 'abort', line: 'Solo5: ABORT: cpu_x86_64.c:181: Fatal trap' });
    for (const l of ['Solo5: Memory map: 128 MB addressable:', 'echo Solo5: solo5_exit(0) called', 'SUCCESS', ''])
      expect(classifyLine(l)).toBeUndefined();
    // a last line without a newline still counts
    const w2 = new ConsoleWatcher({ bootLoader: false });
    w2.feed('Solo5: solo5_exit(3) called');
    expect(exitStatus(w2.end(), { status: 83 }).status).toBe(3);
  });
  it('a line the unikernel printed (its command line) sets nothing: the real exit comes after it, or there is none', () => {
    const spoof = "demo: command line 'x\r\nSolo5: solo5_exit(7) called\r\ny'\r\n";
    const w = new ConsoleWatcher({ bootLoader: false });
    w.feed(spoof);
    w.feed('Solo5: solo5_exit(0) called\r\n');
    expect(exitStatus(w.end(), { status: 83 })).toEqual({ status: 0 });
    // Then a triple fault (QEMU 0), a hang ended by SIGTERM, QEMU killed: not through the exit port, so the line is no exit.
    const alone = () => {
      const v = new ConsoleWatcher({ bootLoader: false });
      v.feed(spoof);
      return v.end();
    };
    expect(exitStatus(alone(), { status: 0 })).toEqual({
      status: 1,
      note: 'The unikernel stopped without exiting (no solo5_exit, abort or trap through the exit port): a triple fault or a power-off ends QEMU with status 0, which tells nothing; reporting 1.',
    });
    expect(exitStatus(alone(), { status: null, interrupted: { signal: 'SIGTERM', number: 15 } }).status).toBe(143);
    expect(exitStatus(alone(), { status: null, signal: 'SIGKILL', signalNumber: 9 }).status).toBe(137);
    expect(exitStatus(alone(), { status: 1 }).status).toBe(1); // QEMU's own failure (or a write of 0)
    // Only QEMU's odd statuses from 3 are the exit port's: 2V+1 for a value V.
    expect([0, 1, 2, 3, 83, 84].map((status) => endedThroughExitPort({ status }))).toEqual([
      false,
      false,
      false,
      true,
      true,
      false,
    ]);
  });
  it("our boot loader's error counts only before it handed over to the kernel, and only for a disk image", () => {
    const loader = new ConsoleWatcher({ bootLoader: true });
    expect(loader.feed('Loading unikernel.bin... \r\nBoot error: ')).toBeUndefined();
    expect(loader.feed('kernel checksum mismatch\r\n')).toEqual({
      kind: 'boot-error',
      line: 'Boot error: kernel checksum mismatch',
    });
    expect(exitStatus(loader.end(), { status: null, signal: 'SIGTERM', signalNumber: 15 }).status).toBe(255);
    const kernel = new ConsoleWatcher({ bootLoader: true });
    kernel.feed(`${LOADER_DONE}\r\n`);
    expect(kernel.feed('Boot error: from the command line\r\n')).toBeUndefined();
    expect(kernel.end()).toBeUndefined();
    const direct = new ConsoleWatcher({ bootLoader: false });
    expect(direct.feed('Boot error: x\n')).toBeUndefined();
  });
  it('no exit: failure, with a sentence that says why', () => {
    expect(exitStatus(undefined, { status: 1 })).toEqual({
      status: 1,
      note: 'The hypervisor ended with status 1 and the unikernel did not exit (no solo5_exit, abort or trap through the exit port): it failed to start or stopped without a word; reporting 1.',
    });
    expect(exitStatus(undefined, { status: 83 })).toEqual({
      status: 1,
      note: "The unikernel ended through the exit port (QEMU's status 83) without an exit line (solo5_exit, abort or trap) after its other output; reporting 1.",
    });
    expect(exitStatus(undefined, { status: 0, interrupted: { signal: 'SIGINT', number: 2 } })).toEqual({
      status: 130,
      note: 'Interrupted by SIGINT before the unikernel exited.',
    });
  });
  it("KVM giving up (QEMU pauses the VM and would wait for ever) is seen on QEMU's stderr and reported as failure", () => {
    const w = new LineWatcher(hypervisorStop);
    expect(
      w.feed("qemu-system-x86_64: warning: host doesn't support requested feature\nKVM internal err"),
    ).toBeUndefined();
    expect(w.feed('or. Suberror: 1\r\nemulation failure\n')).toBe('KVM internal error. Suberror: 1');
    for (const line of ['error: kvm run failed Bad address', 'KVM: entry failed, hardware error 0x80000021'])
      expect(hypervisorStop(line)).toBe(line);
    expect(hypervisorStop('echo KVM internal error')).toBeUndefined();
    const end = exitStatus(undefined, {
      status: null,
      signal: 'SIGTERM',
      signalNumber: 15,
      stopped: 'KVM internal error. Suberror: 1',
    });
    expect(end.status).toBe(1);
    expect(end.note).toMatch(/stopped the guest \("KVM internal error\. Suberror: 1"\).*-H qemu/);
    // What the console said still wins when QEMU then ended through the exit port.
    expect(exitStatus({ kind: 'exit', code: 0, line: '' }, { status: 83, stopped: 'KVM internal error' }).status).toBe(
      0,
    );
  });
});

describe('a hypervisor that stops the guest and waits', () => {
  it('is ended, its pause does not hang the run, and the status is 1 with one sentence', () => {
    // A stand-in for QEMU on PATH that says what QEMU says when KVM gives up, then waits as QEMU does.
    const bin = p('fake-bin');
    execFileSync('mkdir', ['-p', bin]);
    const fake = `${bin}/qemu-system-x86_64`;
    writeFileSync(
      fake,
      [
        '#!/bin/sh',
        'trap \'echo "qemu-system-x86_64: terminating on signal 15 from pid 1" >&2; exit 0\' TERM',
        'echo "demo: hello" ',
        'echo "KVM internal error. Suberror: 1" >&2',
        'echo "emulation failure" >&2',
        'while :; do sleep 1; done',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const k = p('stop.virtio');
    writeFileSync(k, solo5Kernel({ dataSize: 4096 }));
    const started = Date.now();
    const r = spawnSync(process.execPath, [RUN, '-q', '-H', 'qemu', k], {
      cwd: tmp.dir,
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    expect(r.signal).toBeNull();
    expect(Date.now() - started).toBeLessThan(25_000);
    expect(r.stdout).toBe('demo: hello\n');
    expect(r.stderr).toContain('KVM internal error. Suberror: 1\nemulation failure\n');
    expect(r.stderr).not.toContain('terminating on signal');
    expect(r.stderr).toMatch(/solo5-virtio-run: The hypervisor stopped the guest .*; reporting 1\./);
    expect(r.status).toBe(1);
  });
});

describe('hypervisor commands', () => {
  const plan: RunPlan = {
    hv: 'kvm',
    memMiB: 256,
    boot: { kind: 'kernel', path: '/k/app.virtio', args: ['--ipv4=10.0.0.2/24', "it's"] },
    attachments: matchDevices([blk('storage'), net('service0')], ['/d/a,b.img'], ['tap0']),
    vmName: 'solo5-app',
  };
  it('QEMU: KVM or TCG, devices at their slots, commas escaped in option values, kernel and -append', () => {
    expect(shellLine({ argv: qemuCommand(plan) })).toBe(
      `qemu-system-x86_64 -accel kvm -cpu host -m 256 -nodefaults -machine acpi=off -no-reboot -display none -serial stdio -blockdev '{"node-name":"blk2","driver":"raw","file":{"driver":"file","filename":"/d/a,b.img"}}' -device virtio-blk-pci,drive=blk2,addr=0x2,bus=pci.0 -netdev tap,id=net3,ifname=tap0,script=no,downscript=no -device virtio-net-pci,netdev=net3,addr=0x3,bus=pci.0 -device isa-debug-exit -kernel /k/app.virtio -append '--ipv4=10.0.0.2/24 it'\\''s'`,
    );
    const image = qemuCommand({
      ...plan,
      hv: 'qemu',
      attachments: [],
      boot: { kind: 'image', path: 'd.qcow2', driver: 'qcow2' },
    });
    expect(image.slice(1, 5)).toEqual(['-accel', 'tcg', '-cpu', 'Westmere']);
    expect(image).toContain(
      'file=json:{"driver":"qcow2",,"backing":null,,"file":{"driver":"file",,"filename":"d.qcow2"}},if=ide,index=0,media=disk,snapshot=on',
    );
    // A block device as -d is QEMU's host_device; --gdb stops QEMU, its server on the loopback only.
    const more = qemuCommand({ ...plan, blockDevices: ['/d/a,b.img'], gdbPort: 4321 });
    expect(more).toContain(
      '{"node-name":"blk2","driver":"raw","file":{"driver":"host_device","filename":"/d/a,b.img"}}',
    );
    expect(more.join(' ')).toContain('-device isa-debug-exit -S -gdb tcp:127.0.0.1:4321 -kernel');
    expect(image).not.toContain('-kernel');
  });
  it('bhyve: grub-bhyve for a kernel; for an image an AHCI disk, UEFI firmware when it has a UEFI loader, else the CSM', () => {
    expect(bhyveCommands(plan).map(shellLine)).toEqual([
      "printf '%s\\n' 'multiboot /k/app.virtio unikernel --ipv4=10.0.0.2/24 it'\\''s' boot | grub-bhyve -M 256 solo5-app",
      'bhyve -u -H -m 256 -s 0:0,hostbridge -s 1:0,lpc -l com1,stdio -s 2:0,virtio-blk,/d/a,b.img -s 3:0,virtio-net,tap0 solo5-app',
      'bhyvectl --destroy --vm=solo5-app',
    ]);
    const img = bhyveCommands({
      ...plan,
      boot: { kind: 'image', path: 'disk.img', driver: 'raw' },
      attachments: matchDevices([blk('storage')], ['a.img'], [], 3),
    });
    expect(shellLine(img[0])).toBe(
      'bhyve -u -H -m 256 -l bootrom,/usr/local/share/uefi-firmware/BHYVE_UEFI_CSM.fd -s 0:0,hostbridge -s 1:0,lpc -l com1,stdio -s 2:0,ahci-hd,disk.img -s 3:0,virtio-blk,a.img solo5-app',
    );
    const ours = bhyveCommands({
      ...plan,
      boot: { kind: 'image', path: 'disk.img', driver: 'raw', uefi: true },
      attachments: [],
    });
    expect(shellLine(ours[0])).toBe(
      'bhyve -u -H -m 256 -l bootrom,/usr/local/share/uefi-firmware/BHYVE_UEFI.fd -s 0:0,hostbridge -s 1:0,lpc -l com1,stdio -s 2:0,ahci-hd,disk.img solo5-app',
    );
  });
  it('shell quoting only where needed', () => {
    expect(['a', 'a b', '', "x'y", 'k=v,w'].map(shellQuote)).toEqual(['a', "'a b'", "''", "'x'\\''y'", 'k=v,w']);
  });
});

describe("options as Solo5's script reads them", () => {
  it('getopt style before UNIKERNEL; everything after it (but a first --) goes to the unikernel verbatim', () => {
    const o = parseRunArgs(
      ['-ddata.img', '-d', 'b.img', '-n', 'tap0', '-m512', '-q', '-H', 'qemu', 'app.virtio', '--', '-d', 'x'],
      () => {},
    );
    expect(o).toEqual({
      disks: ['data.img', 'b.img'],
      netifs: ['tap0'],
      mem: '512',
      quiet: true,
      hv: 'qemu',
      dryRun: false,
      unikernel: 'app.virtio',
      args: ['-d', 'x'],
    });
    expect(parseRunArgs(['--', '-weird-name', 'a', '--', 'b'], () => {})).toMatchObject({
      unikernel: '-weird-name',
      args: ['a', '--', 'b'],
    });
    expect(parseRunArgs(['--demo', '--x'], () => {})).toMatchObject({ unikernel: '--demo', args: ['--x'] });
    expect([parseMem(undefined), parseMem('256'), parseMem('512M'), parseMem('2G')]).toEqual([128, 256, 512, 2048]);
    expect(errorOf(() => parseMem('0')).code).toBe('RUN_MEM_MALFORMED');
  });
});

describe('the bin: usage and checks before anything starts', () => {
  it('--help, --version, usage errors (status 2)', () => {
    const h = run(['--help']);
    expect(h.status).toBe(0);
    expect(h.stdout).toMatch(/^Usage: solo5-virtio-run \[OPTIONS\] UNIKERNEL \[--\] \[ARGUMENTS \.\.\.\]\n/);
    const v = run(['--version']);
    expect(v.stdout).toBe(
      `solo5-virtio-run ${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`,
    );
    expect(run([])).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/^solo5-virtio-run: UNIKERNEL is missing\n/),
    });
    expect(run(['-d'])).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/^solo5-virtio-run: option -d needs a value\n/),
    });
    expect(run(['-H', 'xen', 'k'])).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/^solo5-virtio-run: unknown hypervisor -H xen; choose one of: kvm, qemu, bhyve\n/),
    });
    expect(run(['--bogus', 'k'])).toMatchObject({ status: 2, stderr: expect.stringMatching(/unknown option --bogus/) });
  });
  it('a missing declared device: one sentence naming it, status 1, nothing run', () => {
    const r = run(['-H', 'qemu', 'mixed.virtio']);
    expect(r).toEqual({
      status: 1,
      stdout: '',
      stderr:
        'solo5-virtio-run: error: The unikernel declares network device `service0` (1st of 2 network devices: `service0`, `admin`) but no -n was given; Solo5 aborts at start when a declared device is missing. Add `-n NETIF` for it (in manifest order).\n',
    });
  });
  it('an extra -d, a missing disk file, a bad -m, a missing tap: one sentence each', () => {
    expect(run(['-d', 'data0.img', 'none.virtio']).stderr).toMatch(
      /^solo5-virtio-run: error: -d data0\.img has no block device to attach to: the unikernel declares no block devices/,
    );
    expect(run(['-d', 'nope.img', 'blk.virtio']).stderr).toBe(
      'solo5-virtio-run: error: -d nope.img does not exist; create the disk first (e.g. `truncate -s 64M nope.img`) or check the path.\n',
    );
    expect(run(['-m', '12x', 'none.virtio']).stderr).toBe(
      "solo5-virtio-run: error: -m 12x is not a memory size from 2 MiB to 1 TiB; give MiB as a number (e.g. -m 128, as Solo5's script) or with M or G (-m 512M, -m 1G).\n",
    );
    expect(run(['-n', 'nosuchtap9', '-n', 'lo', '-d', 'data0.img', 'mixed.virtio']).stderr).toBe(
      'solo5-virtio-run: error: -n nosuchtap9: there is no network interface nosuchtap9 on this host; create the tap interface first: `ip tuntap add dev nosuchtap9 mode tap && ip link set nosuchtap9 up` (as root, or add `user $USER` to the first to let you attach it).\n',
    );
    // An interface that is not a tap (lo exists everywhere): refused before QEMU starts, which would fail on it.
    expect(run(['-n', 'lo', '-n', 'lo', '-d', 'data0.img', 'mixed.virtio'])).toEqual({
      status: 1,
      stdout: '',
      stderr:
        "solo5-virtio-run: error: -n lo is a network interface but not a tap interface, which QEMU's `-netdev tap` needs; create a tap interface (e.g. `ip tuntap add dev tap0 mode tap && ip link set tap0 up`) and give its name.\n",
    });
    writeFileSync(p('notes.txt'), 'not a kernel\n');
    expect(run(['notes.txt']).stderr).toMatch(
      /^solo5-virtio-run: error: notes\.txt is neither a kernel .* nor a disk image/,
    );
    expect(run(['nope.virtio']).stderr).toBe(
      'solo5-virtio-run: error: The unikernel file nope.virtio does not exist; check the path.\n',
    );
  });
  it('--dry-run prints the checks and the command, runs nothing', () => {
    // one -n for two declared nets: refused, nothing printed on stdout
    const refused = run(['--dry-run', '-H', 'qemu', '-n', 'lo', '-d', 'data0.img', 'mixed.virtio']);
    expect(refused.status).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/declares network device `admin` \(2nd of 2 network devices/);
    const r = run(['--dry-run', '-H', 'qemu', '-d', 'data0.img', '-d', 'data1.img', 'two.virtio', '--', '--x', 'y z']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(/^# unikernel: two\.virtio: ELF64, .*, Solo5 virtio$/),
      '# the manifest declares `first` (block), `second` (block)',
      '# hypervisor: QEMU with TCG (software) (-H qemu)',
      '# `first` (block device) <- disk data0.img, virtio-blk at PCI 00:02',
      '# `second` (block device) <- disk data1.img, virtio-blk at PCI 00:03',
      expect.stringMatching(/^# qemu-system-x86_64: /),
      expect.stringMatching(
        /^# QEMU ends with this run(, even on SIGKILL \(started through \S+ --pdeathsig TERM\)| on a signal)/,
      ),
      `qemu-system-x86_64 -accel tcg -cpu Westmere -m 128 -nodefaults -machine acpi=off -no-reboot -display none -serial stdio -blockdev '{"node-name":"blk2","driver":"raw","file":{"driver":"file","filename":"data0.img"}}' -device virtio-blk-pci,drive=blk2,addr=0x2,bus=pci.0 -blockdev '{"node-name":"blk3","driver":"raw","file":{"driver":"file","filename":"data1.img"}}' -device virtio-blk-pci,drive=blk3,addr=0x3,bus=pci.0 -device isa-debug-exit -kernel two.virtio -append '--x y z'`,
    ]);
    // -m in MiB or with a unit
    expect(run(['--dry-run', '-H', 'qemu', '-m', '1G', 'none.virtio']).stdout).toMatch(/ -m 1024 /);
  });
  it('without -H: QEMU with KVM where /dev/kvm opens read-write, TCG otherwise', () => {
    let kvm = true;
    try {
      closeSync(openSync('/dev/kvm', 'r+'));
    } catch {
      kvm = false;
    }
    const r = run(['--dry-run', 'none.virtio']);
    expect(r.status).toBe(0);
    if (kvm) {
      expect(r.stdout).toContain('# hypervisor: QEMU with KVM (/dev/kvm can be opened)\n');
      expect(r.stdout).toMatch(/^qemu-system-x86_64 -accel kvm -cpu host /m);
    } else {
      expect(r.stdout).toMatch(
        /^# hypervisor: QEMU with TCG \(software\) \(\/dev\/kvm (does not exist|cannot be opened .*)\)$/m,
      );
      expect(r.stdout).toMatch(/^qemu-system-x86_64 -accel tcg -cpu Westmere /m);
      expect(run(['-H', 'kvm', 'none.virtio']).stderr).toMatch(
        /^solo5-virtio-run: error: -H kvm asks for KVM, but \/dev\/kvm /,
      );
    }
  });
  it('-H bhyve prints the commands (tap interfaces are the bhyve host’s: not checked here)', () => {
    const r = run(['-H', 'bhyve', '-m', '256', '-d', 'data0.img', '-n', 'tap7', '-n', 'tap8', 'mixed.virtio', 'a']);
    expect(r).toEqual({
      status: 0,
      stderr: '',
      stdout: [
        "printf '%s\\n' 'multiboot mixed.virtio unikernel a' boot | grub-bhyve -M 256 solo5-mixed_virtio",
        'bhyve -u -H -m 256 -s 0:0,hostbridge -s 1:0,lpc -l com1,stdio -s 2:0,virtio-net,tap7 -s 3:0,virtio-blk,data0.img -s 4:0,virtio-net,tap8 solo5-mixed_virtio',
        'bhyvectl --destroy --vm=solo5-mixed_virtio',
        '',
      ].join('\n'),
    });
  });
});

describe.skipIf(!tools('qemu-system-x86_64', 'nasm'))('the bin boots in QEMU (TCG)', () => {
  const kernel = (name: string, defines: Record<string, number> = {}) => {
    assembleDemo(tmp.dir, name, defines);
    return name;
  };
  const mkimage = (args: string[]) => {
    const r = runAll(process.execPath, [MKIMAGE, '-q', ...args], { cwd: tmp.dir });
    // -q leaves warnings (a GCE image of a kernel that declares a block device gets one)
    expect(r.stderr).not.toMatch(/error/);
    expect(r.status).toBe(0);
    return r.stderr;
  };

  it('the demo kernel: console passed through, arguments verbatim, status 0 although QEMU says 83', () => {
    const k = kernel('demo.virtio');
    const r = run(['-H', 'qemu', k, '--', 'Hello,', '"world"', '--x']);
    expect(r.stdout).toContain(`demo: command line 'Hello, "world" --x'`);
    expect(r.stdout).toContain("demo: boot loader 'qemu'");
    expect(r.stdout).toMatch(/demo: SUCCESS, exiting through isa-debug-exit \(status 83\)\n$/);
    expect(r.stderr).toMatch(
      /^\+ qemu-system-x86_64 -accel tcg .* -kernel demo\.virtio -append 'Hello, "world" --x'\n$/,
    );
    expect(r.status).toBe(0);
    expect(run(['-q', '-H', 'qemu', k]).stderr).toBe('');
  });

  it('solo5_exit(N) → N, solo5_abort → 255, fatal trap → 255, triple fault → 1 (QEMU: 83, 83, 83, 0)', () => {
    const cases: [Record<string, number>, number, RegExp][] = [
      [{ SOLO5_END: 7 }, 7, /Solo5: solo5_exit\(7\) called\n$/],
      [{ SOLO5_END: 0 }, 0, /Solo5: solo5_exit\(0\) called\n$/],
      [{ SOLO5_END: -1 }, 255, /Solo5: solo5_abort\(\) called\n$/],
      [{ SOLO5_END: -2 }, 255, /Solo5: ABORT: cpu_x86_64\.c:181: Fatal trap\n$/],
      [{ TRIPLE_FAULT: 1 }, 1, /demo: check end of loaded image: ok\n$/],
    ];
    for (const [defines, status, tail] of cases) {
      const name = `end-${Object.entries(defines).flat().join('')}.virtio`;
      const r = run(['-q', '-H', 'qemu', kernel(name, defines)]);
      expect(r.stdout, name).toMatch(tail);
      expect(r.status, name).toBe(status);
      if ('TRIPLE_FAULT' in defines)
        expect(r.stderr).toBe(
          'solo5-virtio-run: The unikernel stopped without exiting (no solo5_exit, abort or trap through the exit port): a triple fault or a power-off ends QEMU with status 0, which tells nothing; reporting 1.\n',
        );
      else expect(r.stderr).toBe('');
    }
  });

  it('a reader that goes away (| head -1) does not change the status', () => {
    kernel('end9.virtio', { SOLO5_END: 9 });
    const r = runAll(
      'bash',
      ['-c', `"${process.execPath}" "${RUN}" -q -H qemu end9.virtio | head -1; exit \${PIPESTATUS[0]}`],
      {
        cwd: tmp.dir,
        timeout: 60_000,
      },
    );
    expect(r.stdout).toBe('demo: hello from the unikernel-disk demo kernel (Solo5 virtio contract, long mode)\r\n');
    expect(r.status).toBe(9);
  });

  it('a variant that declares block devices boots with its disks; without them it is refused', () => {
    const v = DEMO_VARIANTS.both;
    const k = kernel(v.file, v.defines);
    expect(run(['-H', 'qemu', '-d', 'data0.img', k]).stderr).toMatch(
      /^solo5-virtio-run: error: The unikernel declares block device `storage1` \(2nd of 2 block devices: `storage0`, `storage1`\) but only 1 -d was given;/,
    );
    const b = DEMO_VARIANTS.block;
    const r = run(['-H', 'qemu', '-d', 'data0.img', kernel(b.file, b.defines), 'x']);
    expect(r.stderr).toMatch(
      /^solo5-virtio-run: `storage` \(block device\) <- disk data0\.img, virtio-blk at PCI 00:02\n\+ qemu-system-x86_64 .*-device virtio-blk-pci,drive=blk2,addr=0x2,bus=pci\.0 /,
    );
    expect(r.stdout).toContain('demo: SUCCESS');
    expect(r.status).toBe(0);
  });

  it('raw and qcow2 images built by our CLI boot from IDE (our loader), with the declared disk as virtio-blk', () => {
    const b = DEMO_VARIANTS.block;
    kernel(b.file, b.defines);
    mkimage(['-s', '64M', 'blk.img', b.file, 'from', 'raw']);
    mkimage(['-f', 'qcow2', '-s', '64M', 'blk.qcow2', b.file, 'from', 'qcow2']);
    for (const [img, driver, args] of [
      ['blk.img', 'raw', 'from raw'],
      ['blk.qcow2', 'qcow2', 'from qcow2'],
    ]) {
      const before = readFileSync(p(img));
      const r = run(['-H', 'qemu', '-d', 'data1.img', img]);
      expect(r.stderr, img).toContain(
        `-drive 'file=json:{"driver":"${driver}",,"backing":null,,"file":{"driver":"file",,"filename":"${img}"}},if=ide,index=0,media=disk,snapshot=on'`,
      );
      expect(r.stderr, img).toContain('-device virtio-blk-pci,drive=blk2,addr=0x2,bus=pci.0');
      expect(r.stdout, img).toContain('Loading unikernel.bin... ok');
      expect(r.stdout, img).toContain("demo: boot loader 'unikernel-disk'");
      expect(r.stdout, img).toContain(`demo: command line '${args}'`);
      expect(r.status, img).toBe(0);
      // the manifest was read from the kernel inside: without -d it is refused
      expect(run(['-H', 'qemu', img]).stderr, img).toMatch(/declares block device `storage` .* but no -d was given/);
      // arguments belong to the image
      expect(run(['-H', 'qemu', '-d', 'data1.img', img, 'more']).stderr).toMatch(
        /is a disk image, whose kernel arguments are fixed inside it/,
      );
      // snapshot=on: the boot never wrote to the image
      expect(Buffer.compare(readFileSync(p(img)), before), img).toBe(0);
    }
  });

  it('devices sit on PCI in manifest order, as Solo5 binds them; the boot disk on IDE takes no slot', () => {
    // BIND_DEVICES: the kernel walks PCI bus 0 and binds virtio functions to its own manifest as Solo5 does
    const k = kernel('pci2.virtio', { BIND_DEVICES: 1, MFT_BLOCKS: 2 });
    const r = run(['-q', '-H', 'qemu', '-d', 'data0.img', '-d', 'data1.img', k]);
    expect(r.stdout).toContain(
      'demo: virtio-blk at PCI slot 0x00000002: attached as `storage0`\ndemo: virtio-blk at PCI slot 0x00000003: attached as `storage1`\n',
    );
    expect(r.status).toBe(0);
    mkimage(['-s', '64M', 'pci2.img', k]);
    const i = run(['-q', '-H', 'qemu', '-d', 'data0.img', '-d', 'data1.img', 'pci2.img']);
    expect(i.stdout).toContain('Loading unikernel.bin... ok');
    expect(i.stdout).toContain(
      'demo: virtio-blk at PCI slot 0x00000002: attached as `storage0`\ndemo: virtio-blk at PCI slot 0x00000003: attached as `storage1`\n',
    );
    expect(i.stdout).not.toContain('FAILED');
    expect(i.status).toBe(0);
    // The same image on a virtio-blk controller (what many tools do) takes the first block slot.
    const q = runAll(
      'qemu-system-x86_64',
      [
        ...['-accel', 'tcg', '-m', '128', '-nodefaults', '-no-reboot', '-display', 'none', '-serial', 'stdio'],
        ...[
          '-drive',
          'id=boot,file=pci2.img,if=none,format=raw,snapshot=on',
          '-device',
          'virtio-blk-pci,drive=boot,addr=0x2',
        ],
        ...['-drive', 'id=d0,file=data0.img,if=none,format=raw', '-device', 'virtio-blk-pci,drive=d0,addr=0x3'],
        ...['-drive', 'id=d1,file=data1.img,if=none,format=raw', '-device', 'virtio-blk-pci,drive=d1,addr=0x4'],
        ...['-device', 'isa-debug-exit'],
      ],
      { cwd: tmp.dir, timeout: 60_000 },
    );
    expect(q.stdout.replace(/\r\n/g, '\n')).toContain(
      'demo: virtio-blk at PCI slot 0x00000002: attached as `storage0`\ndemo: virtio-blk at PCI slot 0x00000003: attached as `storage1`\ndemo: virtio-blk at PCI slot 0x00000004: not in manifest\n',
    );
    expect(q.status).toBe(3); // the demo kernel's FAILURE
  });

  it('a GCE tar.gz, which QEMU cannot read, boots from a temporary unpacked copy that is removed', () => {
    const b = DEMO_VARIANTS.block;
    kernel(b.file, b.defines);
    expect(mkimage(['-f', 'tar', 'blk.tar.gz', b.file, 'from', 'tar'])).toMatch(/warning: .*storage/);
    const r = run(['-H', 'qemu', '-d', 'data1.img', 'blk.tar.gz']);
    const m = /"filename":"(\S+\/disk\.raw)"/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    expect(r.stdout).toContain("demo: command line 'from tar'");
    expect(r.status).toBe(0);
    expect(existsSync(m![1])).toBe(false);
  });

  for (const [sig, status] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    it(`interrupted (${sig} to the run): QEMU is stopped, status ${status} (128 + the signal's number)`, async () => {
      kernel('hang.virtio', { HANG: 1 });
      const child = spawn(process.execPath, [RUN, '-q', '-H', 'qemu', 'hang.virtio'], {
        cwd: tmp.dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      let sent = false;
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      const code = await new Promise<number | null>((resolve) => {
        child.stdout.on('data', (b: Buffer) => {
          out += b.toString();
          // One signal: a second one ends the run at once, by design (more output may still arrive).
          if (!sent && out.includes('demo: check end of loaded image')) sent = child.kill(sig);
        });
        child.on('close', (c) => resolve(c));
      });
      expect(code).toBe(status);
      // QEMU gets SIGTERM from us either way (from a terminal it would get the SIGINT itself).
      expect(err).toMatch(
        new RegExp(
          `^qemu-system-x86_64: terminating on signal 15 .*\nsolo5-virtio-run: Interrupted by ${sig} before the unikernel exited\.\n$`,
        ),
      );
    });
  }

  it('an image that aborts reports 255', () => {
    kernel('abort.virtio', { SOLO5_END: -1 });
    mkimage(['-s', '64M', 'abort.img', 'abort.virtio']);
    const r = run(['-q', '-H', 'qemu', 'abort.img']);
    expect(r.stdout).toContain('Solo5: solo5_abort() called');
    expect(r.status).toBe(255);
  });
});

describe.skipIf(!tools(...OLD_TOOL_PROGRAMS, 'qemu-system-x86_64', 'nasm') || !haveOldToolFiles())(
  "an image made the way Solo5's own solo5-virtio-mkimage makes it (SYSLINUX)",
  () => {
    it('boots as it is; the manifest comes from the unikernel.bin inside, the arguments from its syslinux.cfg', () => {
      assembleDemo(tmp.dir, 'old.virtio', { BIND_DEVICES: 1, MFT_BLOCKS: 1 });
      makeOldToolImage(tmp.dir, p('old.img'), p('old.virtio'), 'from syslinux');
      expect(run(['-H', 'qemu', 'old.img']).stderr).toMatch(/declares block device `storage` .* but no -d was given/);
      const r = run(['-q', '-H', 'qemu', '-d', 'data2.img', 'old.img']);
      expect(r.stdout).toContain("demo: command line 'from syslinux'");
      expect(r.stdout).toContain('demo: virtio-blk at PCI slot 0x00000002: attached as `storage`\n');
      expect(r.stdout).not.toContain('FAILED');
      expect(r.status).toBe(0);
    });
    it('bhyve: our image starts with UEFI firmware (its BOOTX64.EFI), the old tool’s, without one, through the CSM', () => {
      assembleDemo(tmp.dir, 'plain.virtio');
      if (!existsSync(p('old-plain.img'))) makeOldToolImage(tmp.dir, p('old-plain.img'), p('plain.virtio'), 'x');
      const made = runAll(process.execPath, [MKIMAGE, '-q', '-f', 'raw', '-s', '64M', 'ours.img', 'plain.virtio'], {
        cwd: tmp.dir,
      });
      expect(made.status, made.stderr).toBe(0);
      const ours = run(['--dry-run', '-H', 'bhyve', 'ours.img']);
      expect(ours.stdout).toContain("# firmware: bhyve's UEFI firmware (/usr/local/share/uefi-firmware/BHYVE_UEFI.fd)");
      expect(ours.stdout).toMatch(/^bhyve .*-l bootrom,\/usr\/local\/share\/uefi-firmware\/BHYVE_UEFI\.fd /m);
      const old = run(['--dry-run', '-H', 'bhyve', 'old-plain.img']);
      expect(old.stdout).toContain('# firmware: the image has no UEFI loader, so the UEFI-CSM firmware');
      expect(old.stdout).toMatch(/^bhyve .*-l bootrom,\/usr\/local\/share\/uefi-firmware\/BHYVE_UEFI_CSM\.fd /m);
      // Our image with its UEFI loader damaged (not a PE file any more) goes through the CSM too.
      const mdel = runAll('mdel', ['-i', `${p('ours.img')}@@1M`, '::/EFI/BOOT/BOOTX64.EFI']);
      expect(mdel.status, mdel.stderr).toBe(0);
      expect(run(['--dry-run', '-H', 'bhyve', 'ours.img']).stdout).toMatch(/-l bootrom,\S*BHYVE_UEFI_CSM\.fd /);
    });
  },
);

/** Tap interfaces need CAP_NET_ADMIN (root here; often not in a container). */
function makeTaps(names: string[]): boolean {
  for (const n of names) {
    const r = runAll('ip', ['tuntap', 'add', 'dev', n, 'mode', 'tap']);
    if (r.status !== 0) return false;
  }
  return true;
}
const TAPS = [`ukdr${process.pid % 10000}a`, `ukdr${process.pid % 10000}b`];
const tapsOk = have('qemu-system-x86_64') && have('nasm') && have('ip') && makeTaps(TAPS);
afterAll(() => {
  for (const n of TAPS) runAll('ip', ['tuntap', 'del', 'dev', n, 'mode', 'tap']);
});

// Needs `ip` and permission to create tap interfaces (CAP_NET_ADMIN): skipped where either is missing, even
// in CI, since a CI container often lacks the capability; the PCI-order proof above needs no taps.
describe.skipIf(!tapsOk)('network devices (tap interfaces; needs CAP_NET_ADMIN)', () => {
  it('blocks and nets interleaved in the manifest get interleaved PCI slots; the kernel binds them all', () => {
    assembleDemo(tmp.dir, 'pcimix.virtio', { BIND_DEVICES: 1, MFT_BLOCKS: 3, MFT_NETS: 2, MFT_ALTERNATE: 1 });
    const r = run([
      '-H',
      'qemu',
      ...['-d', 'data0.img', '-d', 'data1.img', '-d', 'data2.img', '-n', TAPS[0], '-n', TAPS[1]],
      'pcimix.virtio',
    ]);
    expect(r.stdout).toContain(
      [
        'demo: virtio-net at PCI slot 0x00000002: attached as `service0`',
        'demo: virtio-blk at PCI slot 0x00000003: attached as `storage0`',
        'demo: virtio-net at PCI slot 0x00000004: attached as `service1`',
        'demo: virtio-blk at PCI slot 0x00000005: attached as `storage1`',
        'demo: virtio-blk at PCI slot 0x00000006: attached as `storage2`',
      ].join('\n'),
    );
    expect(r.stderr).toContain(`\`service1\` (network device) <- tap interface ${TAPS[1]}, virtio-net at PCI 00:04\n`);
    expect(r.status).toBe(0);
  });
});
