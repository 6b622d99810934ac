/**
 * The words for an inspection's UEFI loader, shared by `unikernel-disk
 * inspect` and the page's Inside report (types only from inspect.ts, so the
 * page does not pull in the readers).
 */
import type { Inspection } from './inspect';
import { MACHINE_X64, SUBSYSTEM_EFI_APPLICATION } from '../boot/pe';
import { hex } from '../units';

/** The UEFI loader in one line (inspect's): what firmware starts from \EFI\BOOT\BOOTX64.EFI. */
export function describeUefi(u: Inspection['uefi']): string {
  if (!u) return 'none (no \\EFI\\BOOT\\BOOTX64.EFI: UEFI firmware finds nothing to start)';
  return `${uefiPath(u)}, ${u.size} bytes: ${describeUefiFile(u)}`;
}

/** The loader's path as UEFI writes it (backslashes). */
export function uefiPath(u: NonNullable<Inspection['uefi']>): string {
  return u.path.replace(/\//g, '\\');
}

/** What the loader file is (whose, which build, signed or not, why firmware would refuse it): the line after its path and size. */
export function describeUefiFile(u: NonNullable<Inspection['uefi']>): string {
  const build: Record<string, string> = {
    this: u.signatureBytes ? "this version's, byte for byte apart from the signature" : "this version's, byte for byte",
    'other-version': "another release's",
    changed: 'DAMAGED: changed after the build',
  };
  const x64 = u.machine === MACHINE_X64 && u.subsystem === SUBSYSTEM_EFI_APPLICATION;
  const what =
    u.version === null
      ? `not this project's loader${x64 ? ' (an x86-64 EFI application)' : ''}`
      : `unikernel-disk's, version ${u.version} (${build[u.build ?? ''] ?? 'unread'}), for stage 2 code of ${hex(u.stage2CodeSize ?? 0)} bytes and parameter block version ${u.paramsVersion}`;
  const signed = u.signatureBytes
    ? `signed (${u.signatureBytes}-byte certificate table)`
    : 'unsigned (Secure Boot refuses it)';
  const damaged = u.problems.length ? `; NOT STARTED BY UEFI: ${u.problems[0]}` : '';
  return `${what}; ${signed}${damaged}`;
}
