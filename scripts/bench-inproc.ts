/**
 * In-process measurements for `npm run bench` (bundled by scripts/bench.mjs
 * and run in a fresh Node process per case, so that peak memory is the
 * case's own). Prints one JSON line.
 *
 *   node bench-inproc.mjs FORMAT SIZE_BYTES KERNEL_PATH OUT_PATH REPEAT
 *   node bench-inproc.mjs --list      (the format ids)
 *   node bench-inproc.mjs --loader    (boot loader stage sizes)
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { openFileSink } from '../src/cli/file-sink';
import { writeImage } from '../src/core/sink';
import { FORMATS, findFormat } from '../src/core/formats/index';
import { planImage } from '../src/core/image';
import { STAGE1_CODE, STAGE2_CODE } from '../src/core/boot/loader.generated';

const [formatId, sizeText, kernelPath, out, repeatText] = process.argv.slice(2);
if (formatId === '--loader') {
  process.stdout.write(JSON.stringify({ stage1: STAGE1_CODE.length, stage2: STAGE2_CODE.length }) + '\n');
  process.exit(0);
}
if (formatId === '--list') {
  process.stdout.write(FORMATS.map((f) => f.id).join('\n') + '\n');
  process.exit(0);
}
const format = findFormat(formatId);
if (!format) throw new Error(`unknown format ${formatId}`);
const size = Number(sizeText);
const kernel = new Uint8Array(readFileSync(kernelPath));
const repeat = Number(repeatText ?? 5);

/** Plan and write the image the CLI's way: the core's writeImage into the CLI's file sink. */
async function once(): Promise<{ ms: number; bytes: number }> {
  const t0 = performance.now();
  const img = planImage(kernel, { size, args: 'bench --x=1' });
  const { fileSize } = await writeImage(img.plan, format!, openFileSink(out), {
    timestamp: img.timestamp,
    seed: img.seed,
    fileName: basename(out),
  });
  return { ms: performance.now() - t0, bytes: fileSize };
}

const first = await once();
const warm: number[] = [];
for (let i = 0; i < repeat; i++) warm.push((await once()).ms);
warm.sort((a, b) => a - b);
process.stdout.write(
  JSON.stringify({
    format: formatId,
    size,
    firstMs: first.ms,
    warmMs: warm.length ? warm[Math.floor(warm.length / 2)] : first.ms,
    outputBytes: first.bytes,
    maxRssKiB: process.resourceUsage().maxRSS,
  }) + '\n',
);
