/**
 * The bins as a user's install has them, apart from the checkout: the CLI
 * bundles built into `DIR/dist-cli` and the named launchers (with
 * `launch.cjs`, which they share) copied into `DIR/bin`.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export type BinName = 'solo5-virtio-mkimage' | 'unikernel-disk' | 'solo5-virtio-run';

export function buildBins(dir: string, bins: readonly BinName[]): void {
  execFileSync(process.execPath, [
    new URL('../../scripts/build-cli.mjs', import.meta.url).pathname,
    '--out',
    join(dir, 'dist-cli'),
  ]);
  mkdirSync(join(dir, 'bin'), { recursive: true });
  for (const f of ['launch', ...bins])
    copyFileSync(new URL(`../../bin/${f}.cjs`, import.meta.url).pathname, join(dir, 'bin', `${f}.cjs`));
}
