/**
 * In-process measurements for `npm run bench` (bundled by scripts/bench.mjs
 * and run in a fresh Node process per case, so that peak memory is the
 * case's own). Prints one JSON line.
 *
 *   node bench-inproc.mjs FORMAT SIZE_BYTES KERNEL_PATH OUT_PATH REPEAT
 *   node bench-inproc.mjs --list      (the format ids)
 *   node bench-inproc.mjs --loader    (boot loader stage sizes)
 */
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
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

function once(): { ms: number; bytes: number } {
  const t0 = performance.now();
  const img = planImage(kernel, { size, args: 'bench --x=1' });
  const fd = openSync(out, 'w');
  let pos = 0;
  for (const part of format!.write(img.plan, { timestamp: img.timestamp, seed: img.seed })) {
    if (part.kind === 'data') {
      let done = 0;
      while (done < part.bytes.length) done += writeSync(fd, part.bytes, done, part.bytes.length - done, pos + done);
      pos += part.bytes.length;
    } else pos += part.length;
  }
  ftruncateSync(fd, pos);
  closeSync(fd);
  return { ms: performance.now() - t0, bytes: pos };
}

const first = once();
const warm: number[] = [];
for (let i = 0; i < repeat; i++) warm.push(once().ms);
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
