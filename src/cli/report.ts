/**
 * What the CLI says about where the image will run: the declared devices for
 * the success line, and warnings when the chosen format's destination cannot
 * run the kernel. The wording is the core's (platforms/, solo5.ts); this
 * module only picks the lines.
 */
import type { KernelInfo } from '../core/kernel';
import type { OutputFormat } from '../core/formats/index';
import { describeDevices } from '../core/solo5';
import { destinationForFormat, verdict } from '../core/platforms';

/** "declares no devices", "declares one block device `storage`", or "no Solo5 manifest". */
export function deviceSummary(kernel: KernelInfo): string {
  return kernel.solo5Manifest ? `declares ${describeDevices(kernel.devices)}` : 'no Solo5 manifest';
}

/**
 * Lines for stderr, each `PROG: warning: ...`, when the format's usual
 * destination cannot run this kernel (a declared device it cannot attach).
 * None for a kernel that declares nothing.
 */
export function platformWarnings(prog: string, kernel: KernelInfo, format: OutputFormat): string[] {
  const dest = destinationForFormat(format.id);
  if (!dest) return [];
  const v = verdict(kernel, dest);
  if (v.level !== 'fail') return [];
  return [`${prog}: warning: the ${format.id} format goes to ${dest.name}. ${v.problems.join(' ')}`];
}
