/**
 * QEMU (TCG) under gdb: boot a disk image stopped at the reset vector, set a
 * hardware breakpoint at each address in turn (linear; first hit each, in
 * the order given), and at each one read every general register, EFLAGS,
 * the segment selectors and CR0; at the last one also dump memory ranges.
 * The oracle for the emulator's faithfulness tests.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Registers } from '../../src/core/x86/state';

/** The machine state read through gdb: the same fields as the emulator's `Registers`. */
export type CpuState = Registers;

export const STATE_FIELDS: (keyof CpuState)[] = [
  'eax',
  'ecx',
  'edx',
  'ebx',
  'esp',
  'ebp',
  'esi',
  'edi',
  'eip',
  'eflags',
  'cs',
  'ss',
  'ds',
  'es',
  'fs',
  'gs',
  'cr0',
];

/** A free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => done(port));
    });
  });
}

export interface GdbRun {
  /** State at each breakpoint, in order; null where QEMU never got there. */
  states: (CpuState | null)[];
  /** Memory dumped at the last breakpoint: [address, bytes]. */
  dumps: Uint8Array[];
  log: string;
}

/**
 * Boot `disk` (QEMU format `format`) with `-machine pc -m <memory>` under TCG
 * and gdb; stop at each of `breakpoints`; at the last, dump `dumps` ranges
 * (each `[address expression, length expression]` in gdb syntax, evaluated there).
 */
export async function qemuStates(o: {
  dir: string;
  disk: string;
  format: string;
  memory: string;
  breakpoints: number[];
  dumps?: [string, string][];
  timeoutMs?: number;
}): Promise<GdbRun> {
  const port = await freePort();
  const qemu = spawn(
    'qemu-system-x86_64',
    [
      '-accel',
      'tcg',
      '-machine',
      'pc',
      '-m',
      o.memory,
      '-display',
      'none',
      '-serial',
      'none',
      '-monitor',
      'none',
      '-nic',
      'none',
      '-device',
      'isa-debug-exit',
      '-no-reboot',
      '-drive',
      `file=${o.disk},format=${o.format},if=ide,snapshot=on`,
      '-S',
      '-gdb',
      `tcp:127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let qemuErr = '';
  qemu.stderr.setEncoding('utf8');
  qemu.stderr.on('data', (s: string) => (qemuErr += s));
  const closed = new Promise<void>((done) => qemu.on('close', () => done()));
  try {
    const lines = [
      'set pagination off',
      'set confirm off',
      `target remote 127.0.0.1:${port}`,
      'set architecture i8086',
      'define state',
      'printf "STATE %x %x %x %x %x %x %x %x %x %x %x %x %x %x %x %x %x\\n", $eax, $ecx, $edx, $ebx, $esp, $ebp, $esi, $edi, $pc, $eflags, $cs, $ss, $ds, $es, $fs, $gs, $cr0',
      'end',
    ];
    o.breakpoints.forEach((a, i) => {
      lines.push(`hbreak *0x${a.toString(16)}`, 'continue', 'state', 'delete');
      if (i === o.breakpoints.length - 1) lines.push('set architecture i386'); // C types of 32-bit code in dump expressions
      if (i === o.breakpoints.length - 1)
        (o.dumps ?? []).forEach(([addr, len], k) =>
          lines.push(
            `set $dumpa = (unsigned int)(${addr})`,
            `set $dumpn = (unsigned int)(${len})`,
            `dump binary memory ${join(o.dir, `dump${k}.bin`)} $dumpa $dumpa+$dumpn`,
          ),
        );
    });
    lines.push('kill', 'quit');
    const script = join(o.dir, `gdb-${port}.gdb`);
    writeFileSync(script, lines.join('\n') + '\n');
    const r = await new Promise<{ out: string }>((done) => {
      const g = spawn('gdb', ['-nx', '-batch', '-x', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      g.stdout.setEncoding('utf8');
      g.stderr.setEncoding('utf8');
      g.stdout.on('data', (s: string) => (out += s));
      g.stderr.on('data', (s: string) => (out += s));
      const timer = setTimeout(() => g.kill('SIGKILL'), o.timeoutMs ?? 120_000);
      g.on('close', () => {
        clearTimeout(timer);
        done({ out });
      });
    });
    const states = r.out
      .split('\n')
      .filter((l) => l.startsWith('STATE '))
      .map((l) => {
        const v = l
          .slice(6)
          .trim()
          .split(' ')
          .map((x) => parseInt(x, 16));
        return Object.fromEntries(STATE_FIELDS.map((f, i) => [f, v[i]])) as unknown as CpuState;
      });
    const all: (CpuState | null)[] = o.breakpoints.map((_, i) => states[i] ?? null);
    const dumps = (o.dumps ?? []).map((_, k) => {
      try {
        return new Uint8Array(readFileSync(join(o.dir, `dump${k}.bin`)));
      } catch {
        return new Uint8Array(0);
      }
    });
    return { states: all, dumps, log: r.out + qemuErr };
  } finally {
    qemu.kill('SIGKILL');
    await closed;
  }
}

/** gdb is installed and can talk to QEMU's stub (the x86 target is built in). */
export function haveGdb(): boolean {
  return spawnSync('gdb', ['-nx', '-batch', '-ex', 'set architecture i8086'], { stdio: 'ignore' }).status === 0;
}
