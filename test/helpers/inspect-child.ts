/**
 * Inspect and plan one kernel file in a process of its own, so that a test
 * can cap its heap (--max-old-space-size) and its time: a runaway parse
 * aborts this process, not the test runner. Prints one JSON line:
 * {ok, code?, message?, ms, maxRssMiB}.
 */
import { readFileSync } from 'node:fs';
import { inspectKernel } from '../../src/core/kernel';
import { planImage } from '../../src/core/image';
import { isImageError } from '../../src/core/errors';

const b = new Uint8Array(readFileSync(process.argv[2]));
const t0 = performance.now();
let result: { ok: boolean; code?: string; message?: string };
try {
  inspectKernel(b);
  planImage(b, { size: 64 << 20 });
  result = { ok: true };
} catch (e) {
  result = isImageError(e) ? { ok: false, code: e.code, message: e.message } : { ok: false, message: String(e) };
}
const ms = performance.now() - t0;
process.stdout.write(JSON.stringify({ ...result, ms, maxRssMiB: process.resourceUsage().maxRSS / 1024 }) + '\n');
