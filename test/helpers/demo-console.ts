/**
 * Reading the demo kernel's serial console (src/boot/demo-kernel.asm): its
 * command line, the Multiboot memory map it walked, the loader's name and
 * flags, and the checks every successful boot must show, whichever firmware
 * and loader started it.
 */
import { expect } from 'vitest';
import type { BootResult } from './qemu';

export interface MapEntry {
  start: bigint;
  end: bigint; // inclusive
  type: number;
}

export function parseDemo(r: BootResult) {
  const lines = r.serial.split('\n');
  const cmd = lines.find((l) => l.startsWith('demo: command line '));
  const map: MapEntry[] = [];
  for (const l of lines) {
    const m = /^demo: {3}0x([0-9a-f]{16})-0x([0-9a-f]{16}) type 0x([0-9a-f]{8})/.exec(l);
    if (m) map.push({ start: BigInt('0x' + m[1]), end: BigInt('0x' + m[2]), type: parseInt(m[3], 16) });
  }
  return {
    cmdline: cmd === undefined ? undefined : cmd.slice('demo: command line '.length),
    map,
    loader: /demo: boot loader '([^']*)'/.exec(r.serial)?.[1],
    flags: /demo: multiboot info flags (0x[0-9a-f]+)/.exec(r.serial)?.[1],
    available: map.filter((e) => e.type === 1).reduce((n, e) => n + (e.end - e.start + 1n), 0n),
    /** Bytes of the AVAILABLE entry at exactly 1 MiB: all the memory Solo5 takes. */
    solo5Memory: map
      .filter((e) => e.type === 1 && e.start === 0x100000n)
      .reduce((n, e) => n + e.end + 1n - e.start, 0n),
  };
}

/** Everything a successful boot of the demo kernel must show. */
export function expectDemoSuccess(r: BootResult, args: string) {
  const ctx = `qemu ${r.args.join(' ')}\n--- serial ---\n${r.serial}\n--- stderr ---\n${r.stderr}`;
  expect(r.timedOut, ctx).toBe(false);
  expect(r.status, ctx).toBe(83);
  expect(r.serial, ctx).toContain('demo: hello from the unikernel-disk demo kernel');
  const p = parseDemo(r);
  expect(p.cmdline, ctx).toBe(`'${args}'`);
  expect(p.flags).toBe('0x0000024f');
  // BIOS drive 0x80 (DL as the BIOS gave it), first partition, like QEMU's 0x8000ffff
  expect(r.serial).toContain('demo: boot device 0x8000ffff');
  expect(r.serial).toContain('demo: check available memory at 0x100000: ok');
  expect(r.serial).toMatch(/demo: check bss zero \(0x[0-9a-f]+ bytes\): ok/);
  expect(r.serial).toContain('demo: check end of loaded image: ok');
  expect(r.serial).toContain('demo: SUCCESS');
  expect(p.map.some((e) => e.start === 0x100000n && e.type === 1)).toBe(true);
  return p;
}
