/**
 * What a user sees under UEFI when something is off, booted under OVMF:
 *   - Secure Boot enforced (Debian's OVMF_CODE_4M.secboot.fd with Microsoft's
 *     keys, OVMF_VARS_4M.ms.fd): the firmware refuses our unsigned loader,
 *     "Access Denied", and waits at "No bootable option or device was found";
 *   - the same loader signed with osslsigncode and Debian's snakeoil key,
 *     under the variable store that trusts that key: it boots;
 *   - a loader assembled for another stage 2 (what verify calls a
 *     stage-2/EFI mismatch): the loader stops with the sentence verify quotes.
 * The secboot build needs SMM, so the machine is q35 with smm=on and a
 * secure pflash.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { planImage } from '../src/core/image';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { EFI_LOADER } from '../src/core/boot/index';
import { CMDLINE_OFF } from '../src/core/boot/loader.generated';
import { verifyImage } from '../src/core/disk/verify';
import { readImage } from '../src/core/disk/open-image';
import { rawDisk } from './helpers/disk-memory';
import { assemble, boot, ovmf, writePlan } from './helpers/qemu';
import { inCI, run, tempDir, tools } from './helpers/tools';

const SECBOOT_CODE = '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd';
const MS_VARS = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';
const SNAKEOIL_VARS = '/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd';
const SNAKEOIL_KEY = '/usr/share/ovmf/PkKek-1-snakeoil.key';
const SNAKEOIL_CERT = '/usr/share/ovmf/PkKek-1-snakeoil.pem';

function secbootFiles(): boolean {
  const ok = [SECBOOT_CODE, MS_VARS, SNAKEOIL_VARS, SNAKEOIL_KEY, SNAKEOIL_CERT].every((f) => existsSync(f));
  if (!ok && inCI) throw new Error('OVMF Secure Boot files missing in CI (the ovmf package)');
  return ok;
}

const t = tempDir('ukd-secboot-');
afterAll(() => t.cleanup());

/**
 * Boot under the Secure Boot build; resolves with the console once QEMU ends
 * or once `until` shows up in it (OVMF then waits for a key forever).
 */
function secureBoot(
  disk: string,
  vars: string,
  until?: RegExp,
): Promise<{ serial: string; status: number | null; stderr: string }> {
  const args = [
    ...['-accel', 'tcg', '-display', 'none', '-serial', 'stdio', '-monitor', 'none', '-nic', 'none'],
    ...['-device', 'isa-debug-exit', '-m', '256M', '-no-reboot', '-machine', 'q35,smm=on'],
    ...['-global', 'driver=cfi.pflash01,property=secure,value=on'],
    ...['-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${SECBOOT_CODE}`],
    ...['-drive', `if=pflash,format=raw,unit=1,snapshot=on,file=${vars}`],
    ...['-drive', `file=${disk},format=raw,if=ide,snapshot=on`],
  ];
  return new Promise((done) => {
    const p = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let serial = '';
    let stderr = '';
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => p.kill('SIGKILL'), 300_000);
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (s: string) => {
      serial += s;
      if (until?.test(serial.replace(/\x1b\[[0-9;=?]*[A-Za-z]/g, ''))) p.kill('SIGTERM');
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      done({ serial: serial.replace(/\x1b\[[0-9;=?]*[A-Za-z]/g, '').replace(/\r\n/g, '\n'), status: code, stderr });
    });
  });
}

describe.skipIf(!tools('qemu-system-x86_64', 'mcopy', 'osslsigncode', 'nasm') || !ovmf() || !secbootFiles())(
  'UEFI: Secure Boot and a mismatched loader, as a user meets them',
  () => {
    const img = planImage(DEMO_KERNEL, { size: 64 * 1024 * 1024, args: 'secure' });
    const disk = writePlan(t.path('disk.img'), img.plan);

    test('Secure Boot on: OVMF refuses the unsigned loader with "Access Denied" and finds nothing to boot', async () => {
      const r = await secureBoot(disk, MS_VARS, /No bootable option or device was found/);
      expect(r.serial).toMatch(/BdsDxe: failed to load Boot\d+ "UEFI QEMU HARDDISK [^"]*" from [^\n]*: Access Denied/);
      expect(r.serial).toContain('BdsDxe: No bootable option or device was found.');
      expect(r.serial).not.toContain('Loading unikernel.bin (UEFI)');
    }, 320_000);

    test('signed with a key the firmware trusts (snakeoil): it boots under Secure Boot', async () => {
      writeFileSync(t.path('BOOTX64.EFI'), EFI_LOADER);
      run('osslsigncode', [
        ...['sign', '-certs', SNAKEOIL_CERT, '-key', SNAKEOIL_KEY, '-pass', 'snakeoil'],
        ...['-in', t.path('BOOTX64.EFI'), '-out', t.path('signed.efi')],
      ]);
      const signed = t.path('signed.img');
      writeFileSync(signed, readFileSync(disk));
      run('mcopy', ['-o', '-i', `${signed}@@1M`, t.path('signed.efi'), '::/EFI/BOOT/BOOTX64.EFI']);
      expect(await verifyImage(await readImage(await rawDisk(new Uint8Array(readFileSync(signed)))))).toEqual([]);
      const r = await secureBoot(signed, SNAKEOIL_VARS);
      expect(r.serial, r.stderr).toContain('Loading unikernel.bin (UEFI)... ok');
      expect(r.serial).toContain("demo: command line 'secure'");
      expect(r.status).toBe(83);
    }, 320_000);

    test('a loader assembled for another stage 2: it stops with the error verify predicts', async () => {
      assemble('efi.asm', t.dir, 'other.efi', { STAGE2_CMDLINE_OFF: CMDLINE_OFF + 0x10 });
      const other = t.path('other.img');
      writeFileSync(other, readFileSync(disk));
      run('mcopy', ['-o', '-i', `${other}@@1M`, t.path('other.efi'), '::/EFI/BOOT/BOOTX64.EFI']);
      const found = await verifyImage(await readImage(await rawDisk(new Uint8Array(readFileSync(other)))));
      const predicted = /"(Boot error: [^"]+)"/.exec(found.find((p) => p.area === 'uefi')!.message)![1];
      const r = await boot({ disk: other, firmware: 'ovmf', timeoutMs: 300_000 });
      expect(r.serial).toContain(predicted);
      expect(r.status).toBe(255); // isa-debug-exit: the loader's failure status
    }, 320_000);
  },
);
