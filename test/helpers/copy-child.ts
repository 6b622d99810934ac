/**
 * Convert or set-args one image file in a process of its own, so that a test
 * can see the memory it took (its peak RSS) whatever the image's tables
 * claim. Usage: copy-child.ts convert IN OUT FORMAT | set-args IN OUT ARGS.
 * Writes through the CLI's file sink. Prints one JSON line:
 * {ok, code?, message?, maxRssMiB, fileSize}.
 */
import { openImageFile } from '../../src/cli/source';
import { openDisk } from '../../src/core/formats/open';
import { requireFormat } from '../../src/core/formats/index';
import { copyPlan } from '../../src/core/disk/copy';
import { readImage } from '../../src/core/disk/open-image';
import { setArgsPlan } from '../../src/core/disk/set-args';
import { isImageError } from '../../src/core/errors';
import { writeFile } from './sink';

const [op, input, output, extra] = process.argv.slice(2);
let result: { ok: boolean; code?: string; message?: string; fileSize?: number };
const file = openImageFile(input);
try {
  const disk = await openDisk(file.source);
  const plan = op === 'convert' ? await copyPlan(disk) : (await setArgsPlan(await readImage(disk), extra)).plan;
  const format = requireFormat(op === 'convert' ? extra : disk.formatId);
  const { planSeed } = await import('../../src/core/disk/copy');
  const fileSize = await writeFile(output, plan, format, { timestamp: 0, seed: planSeed(plan) });
  result = { ok: true, fileSize };
} catch (e) {
  result = isImageError(e) ? { ok: false, code: e.code, message: e.message } : { ok: false, message: String(e) };
} finally {
  file.close();
}
process.stdout.write(JSON.stringify({ ...result, maxRssMiB: process.resourceUsage().maxRSS / 1024 }) + '\n');
