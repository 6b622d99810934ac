/**
 * A real image (planImage with the demo kernel) in every container format:
 * qemu-img converts each one back to exactly our raw disk, and QEMU boots each
 * container directly (QEMU reading qcow2/vpc/vmdk/vdi as the boot disk) to
 * the demo kernel's SUCCESS line with our command line.
 */
import { describe, expect, it } from 'vitest';
import { tempDir, tools } from './helpers/tools';
import { qemuCheck, qemuInfo, qemuRoundTrip, writeFormat, writeRaw, MiB, GiB } from './helpers/containers';
import { qemuArgs } from './helpers/qemu';
import { planImage } from '../src/core/image';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { nextSteps } from '../src/core/platforms';
import { qcow2Format } from '../src/core/formats/qcow2';
import { vhdFormat, vhdDynamicFormat } from '../src/core/formats/vhd';
import { vmdkFormat, vmdkSparseFormat } from '../src/core/formats/vmdk';
import { vdiFormat } from '../src/core/formats/vdi';
import type { OutputFormat } from '../src/core/formats/types';
import { spawn } from 'node:child_process';

// [format, qemu driver name, does `qemu-img check` support it]
const CASES: [OutputFormat, string, boolean][] = [
  [qcow2Format, 'qcow2', true],
  [vhdFormat, 'vpc', false],
  [vhdDynamicFormat, 'vpc', false],
  [vmdkFormat, 'vmdk', true],
  [vmdkSparseFormat, 'vmdk', true],
  [vdiFormat, 'vdi', true],
];

const ARGS = 'formats test --with args';

describe.skipIf(!tools('qemu-img', 'qemu-system-x86_64'))('real images in every container', () => {
  for (const [format, driver, checkable] of CASES) {
    it(`${format.id}: converts back to our raw disk and boots the demo kernel in QEMU`, async () => {
      const t = tempDir();
      try {
        const img = planImage(DEMO_KERNEL, { size: 64 * MiB, args: ARGS });
        const file = t.path(`disk${format.extension}`);
        const w = await writeFormat(format, img.plan, file, { timestamp: img.timestamp, seed: img.seed });
        // The descriptor's driver is the one QEMU really opens this file with (the page and --help print it).
        expect(format.qemuDriver).toBe(driver);
        expect(
          nextSteps({ devices: [] }, 'qemu', { file, formatId: format.id })
            .map((s) => s.command)
            .join('\n'),
        ).toContain(`format=${driver},`);
        if (checkable) qemuCheck(file, driver);
        expect(qemuInfo(file, driver)['virtual-size']).toBe(64 * MiB);
        writeRaw(img.plan, t.path('ref.raw'));
        qemuRoundTrip(file, driver, t.path('ref.raw'), t.path('back.raw'));
        expect(w.length).toBeGreaterThan(0);
        // Boot the container itself: same QEMU arguments as the raw boot tests, with the driver swapped.
        const args = qemuArgs({ disk: file }).map((a) => a.replace('format=raw', `format=${driver}`));
        expect(args.join(' ')).toContain(`format=${driver}`);
        const r = await bootArgs(args, 90_000);
        expect(r.serial, r.stderr).toContain('demo: SUCCESS');
        expect(r.serial).toContain(`demo: command line '${ARGS}'`);
        expect(r.status).toBe(83);
      } finally {
        t.cleanup();
      }
    });
  }

  it('a 16 GiB real image stays small in every container', async () => {
    const t = tempDir();
    try {
      const img = planImage(DEMO_KERNEL, { size: 16 * GiB });
      for (const [format, driver] of CASES) {
        const w = await writeFormat(format, img.plan, t.path(`big${format.extension}`), {
          timestamp: img.timestamp,
          seed: img.seed,
        });
        expect(qemuInfo(w.path, driver)['virtual-size']).toBe(16 * GiB);
        // Fixed VHD is 16 GiB long but sparse; the others are short files: few blocks either way.
        expect(w.allocated, format.id).toBeLessThan(40 * MiB);
        // Bounded memory: one cluster/block/grain (or one plan piece, for fixed VHD) per part.
        const largestPiece = Math.max(...img.plan.pieces.map((p) => p.bytes.length));
        expect(w.maxPart, format.id).toBeLessThanOrEqual(Math.max(2 * MiB + 512, largestPiece));
      }
    } finally {
      t.cleanup();
    }
  });
});

/** Like boot() in helpers/qemu.ts, for an argument list we adjusted (the container's driver). */
function bootArgs(
  args: string[],
  timeoutMs: number,
): Promise<{ status: number | null; serial: string; stderr: string }> {
  return new Promise((done) => {
    const p = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let serial = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, timeoutMs);
    p.stdout.setEncoding('latin1');
    p.stdout.on('data', (s: string) => (serial += s));
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (s: string) => (stderr += s));
    p.on('close', (code) => {
      clearTimeout(timer);
      done({ status: timedOut ? null : code, serial: serial.replace(/\r\n/g, '\n'), stderr });
    });
  });
}
