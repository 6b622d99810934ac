/**
 * The image fuzzer (bundled and run by scripts/fuzz.mjs, after the kernel
 * fuzzer, in a process with a capped heap): structured hostile images from
 * test/helpers/hostile-images.ts (shared table entries, many tar members and
 * long maps, shared and nested FAT directories, a broken boot loader), each
 * opened, inspected, verified and copied (set-args on ours, else convert to
 * qcow2) the way the CLI does, into a sink that keeps nothing.
 * Asserts, per file: only the core's coded errors; every sentence shown to
 * people free of terminal controls; the memory the case added (peak RSS
 * over the process's own, sampled every 5 ms) under --case-mib; its time
 * under --case-ms (a case past it is stopped through its source's signal).
 *
 *   node fuzz-images.mjs --seed N --cases N --seconds S [--case-ms MS] [--case-mib MIB]
 *
 * Prints one JSON line of totals; exits 1 with the failing file written to
 * fuzz-image-failure-<seed>-<case>.bin.
 */
import { writeFileSync } from 'node:fs';
import { aborted, isImageError } from '../src/core/errors';
import { openDisk } from '../src/core/formats/open';
import { requireFormat } from '../src/core/formats/index';
import type { ByteSource } from '../src/core/formats/reader';
import { readImage } from '../src/core/disk/open-image';
import { inspectImage } from '../src/core/disk/inspect';
import { verifyImage } from '../src/core/disk/verify';
import { setArgsPlan } from '../src/core/disk/set-args';
import { copyPlan } from '../src/core/disk/copy';
import { writeDiskPlan } from '../src/core/disk/rewrite';
import type { Sink } from '../src/core/sink';
import { GENERATORS } from '../test/helpers/hostile-images';
import { numberArg, prng } from '../test/helpers/seeded';

const seed = numberArg('--seed', 1);
const maxCases = numberArg('--cases', 200);
const seconds = numberArg('--seconds', 60);
const caseMs = numberArg('--case-ms', 20_000);
const caseMib = numberArg('--case-mib', 192);

const rnd = prng(seed);
const names = Object.keys(GENERATORS);

/** A source over bytes that stops with ABORTED once `deadline` has passed. */
function timedSource(bytes: Uint8Array, deadline: number): ByteSource {
  return {
    size: bytes.length,
    async read(offset, length) {
      if (performance.now() > deadline) throw aborted('the case ran past its time limit');
      return bytes.subarray(offset, Math.min(bytes.length, offset + length));
    },
  };
}

/** Keeps nothing; counts. */
function nullSink(): Sink<number> {
  return { seekable: true, write() {}, close: (n) => n, abort() {} };
}

function checkText(s: string, what: string): void {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(s)) throw new Error(`${what} holds terminal controls: ${JSON.stringify(s)}`);
}

async function exercise(bytes: Uint8Array, deadline: number): Promise<string> {
  const disk = await openDisk(timedSource(bytes, deadline));
  let plan;
  let format = requireFormat('qcow2');
  try {
    const img = await readImage(disk);
    await inspectImage(img);
    for (const p of await verifyImage(img)) checkText(p.message, 'a verify finding');
    format = requireFormat(disk.formatId);
    plan = (await setArgsPlan(img, 'fuzzed args')).plan;
  } catch (e) {
    if (!isImageError(e) || e.code === 'ABORTED') throw e;
    checkText(e.message, 'an error');
    plan = await copyPlan(disk);
  }
  await writeDiskPlan(plan, format, nullSink(), { fileName: 'out' });
  return 'copied';
}

const start = performance.now();
const codes: Record<string, number> = {};
const perGenerator: Record<string, number> = {};
let cases = 0;
let copied = 0;
let maxMs = 0;
let maxCaseMib = 0;
for (; cases < maxCases && performance.now() - start < seconds * 1000; cases++) {
  const name = names[cases % names.length];
  const bytes = await GENERATORS[name](prng(Math.floor(rnd() * 2 ** 32)));
  perGenerator[name] = (perGenerator[name] ?? 0) + 1;
  (globalThis as { gc?: () => void }).gc?.();
  const base = process.memoryUsage.rss();
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5);
  const t0 = performance.now();
  let failure: string | undefined;
  try {
    await exercise(bytes, t0 + caseMs);
    copied++;
  } catch (e) {
    if (!isImageError(e)) failure = `not an ImageError: ${(e as Error)?.stack ?? e}`;
    else if (e.code === 'ABORTED') failure = `took over ${caseMs} ms`;
    else {
      codes[e.code] = (codes[e.code] ?? 0) + 1;
      try {
        checkText(e.message, 'an error');
      } catch (x) {
        failure = (x as Error).message;
      }
    }
  }
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage.rss());
  const ms = performance.now() - t0;
  const mib = (peak - base) / 2 ** 20;
  maxMs = Math.max(maxMs, ms);
  maxCaseMib = Math.max(maxCaseMib, mib);
  if (!failure && mib > caseMib) failure = `added ${mib.toFixed(0)} MiB of memory (limit ${caseMib} MiB)`;
  if (failure) {
    const file = `fuzz-image-failure-${seed}-${cases}.bin`;
    writeFileSync(file, bytes);
    process.stdout.write(
      JSON.stringify({ ok: false, seed, case: cases, generator: name, failure, input: file }) + '\n',
    );
    process.exit(1);
  }
}
process.stdout.write(
  JSON.stringify({
    ok: true,
    seed,
    cases,
    copied,
    codes,
    perGenerator,
    maxMs: Math.round(maxMs),
    maxCaseMib: Math.round(maxCaseMib),
    seconds: Math.round((performance.now() - start) / 100) / 10,
    maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  }) + '\n',
);
