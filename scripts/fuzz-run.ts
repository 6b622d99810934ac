/**
 * The kernel fuzzer (bundled and run by scripts/fuzz.mjs in a process with a
 * capped heap). Mutates real kernels (the fixtures of test/helpers and the
 * demo kernel) where a parser looks: the ELF header, the program headers,
 * the notes and the Multiboot header; then inspects and plans each one.
 * Asserts: only the core's coded errors (isImageError), no case over the
 * time limit; the heap cap makes a runaway allocation abort the process.
 *
 *   node fuzz-run.mjs --seed N --cases N --seconds S [--case-ms MS]
 *
 * Prints one JSON line of totals; exits 1 with the failing input (base64)
 * written to fuzz-failure-<seed>-<case>.bin when an assertion fails.
 */
import { writeFileSync } from 'node:fs';
import { inspectKernel } from '../src/core/kernel';
import { planImage, minimumSize } from '../src/core/image';
import { isImageError } from '../src/core/errors';
import { MB_MAGIC } from '../src/core/multiboot';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { MIB } from '../src/core/units';
import { elf32Kernel, solo5Kernel } from '../test/helpers/fixtures';
import { noteBomb, w32, w64 } from '../test/helpers/hostile-kernels';
import { numberArg, prng } from '../test/helpers/seeded';

const seed = numberArg('--seed', 1);
const maxCases = numberArg('--cases', 2000);
const seconds = numberArg('--seconds', 20);
const caseMs = numberArg('--case-ms', 1000);

const rnd = prng(seed);
const int = (n: number) => Math.floor(rnd() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];

const BASES: { name: string; bytes: Uint8Array }[] = [
  { name: 'solo5', bytes: solo5Kernel({ abiTarget: 3 }) },
  { name: 'solo5-small', bytes: solo5Kernel({ dataSize: 0x800, bssSize: 0 }) },
  { name: 'solo5-phdr', bytes: solo5Kernel({ flags: 0x3, abiTarget: 3 }) },
  { name: 'elf32', bytes: elf32Kernel() },
  { name: 'demo', bytes: DEMO_KERNEL },
  { name: 'note-bomb', bytes: noteBomb(40) },
];

const INTERESTING = [
  0, 1, 2, 3, 4, 7, 8, 12, 56, 64, 0xff, 0x100, 0x1000, 0xffff, 0x10000, 0x100000, 0x7fffffff, 0x80000000, 0xfffff000,
  0xffffffff,
];
const INTERESTING64 = [...INTERESTING, 2 ** 32, 2 ** 32 + 0x100000, 2 ** 53 - 1, 2 ** 63, 2 ** 64 - 1];

function rd16(b: Uint8Array, o: number) {
  return b[o] | (b[o + 1] << 8);
}
function rd32(b: Uint8Array, o: number) {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

/** Where the parsers look, in this file. */
function regions(b: Uint8Array) {
  const is64 = b[4] === 2;
  const phoff = is64 ? rd32(b, 32) : rd32(b, 28);
  const phent = rd16(b, is64 ? 54 : 42) || (is64 ? 56 : 32);
  const phnum = rd16(b, is64 ? 56 : 44);
  let mb = -1;
  for (let i = 0; i + 12 <= Math.min(8192, b.length); i += 4)
    if (rd32(b, i) === MB_MAGIC) {
      mb = i;
      break;
    }
  const notes: number[] = [];
  for (let i = 0; i < Math.min(phnum, 64); i++) {
    const o = phoff + i * phent;
    if (o + 16 <= b.length && rd32(b, o) === 4) notes.push(is64 ? rd32(b, o + 8) : rd32(b, o + 4));
  }
  return { is64, phoff, phent, phnum, mb, notes };
}

function mutate(src: Uint8Array): Uint8Array {
  let b = src.slice();
  const steps = 1 + int(4);
  for (let s = 0; s < steps; s++) {
    const r = regions(b);
    const kind = int(10);
    const at = (o: number) => Math.max(0, Math.min(b.length - 8, o));
    switch (kind) {
      case 0: // flip bytes in the ELF header
        for (let i = 0; i < 1 + int(4); i++) b[int(Math.min(64, b.length))] = int(256);
        break;
      case 1: {
        // a program header field to an interesting value
        if (r.phnum === 0) break;
        const o = r.phoff + int(Math.min(r.phnum, 64)) * r.phent;
        const field = pick(r.is64 ? [0, 8, 16, 24, 32, 40, 48] : [0, 4, 8, 12, 16, 20, 28]);
        if (o + field + 8 > b.length) break;
        if (r.is64 && field) w64(b, o + field, pick(INTERESTING64));
        else w32(b, o + field, field === 0 ? pick([1, 4, 0, 6, 0x6474e551]) : pick(INTERESTING));
        break;
      }
      case 2: // ELF header fields: entry, phoff, phentsize, phnum
        if (b.length < 64) break;
        if (r.is64) {
          const f = pick([24, 32, 54, 56]);
          if (f < 54) w64(b, f, pick(INTERESTING64));
          else {
            const v = pick([0, 1, 2, 55, 56, 57, 0xffff, 100, 1000]);
            b[f] = v & 0xff;
            b[f + 1] = v >> 8;
          }
        } else w32(b, pick([24, 28]), pick(INTERESTING));
        break;
      case 3: {
        // Multiboot header fields
        if (r.mb < 0) break;
        const f = pick([4, 8, 12, 16, 20, 24, 28]);
        if (r.mb + f + 4 > b.length) break;
        w32(b, r.mb + f, rnd() < 0.3 ? rd32(b, r.mb + f) + int(64) - 32 : pick(INTERESTING));
        if (rnd() < 0.7) w32(b, r.mb + 8, -(MB_MAGIC + rd32(b, r.mb + 4)) >>> 0); // keep the checksum right
        break;
      }
      case 4: {
        // note headers: namesz, descsz, type
        if (r.notes.length === 0) break;
        const o = at(pick(r.notes) + 12 * int(4));
        w32(b, o + 4 * int(3), pick(INTERESTING));
        break;
      }
      case 5: // truncate
        b = b.slice(0, int(b.length + 1));
        break;
      case 6: {
        // many program headers over the first region: phnum up, phoff at a random spot
        if (!r.is64 || b.length < 64) break;
        const n = pick([100, 1000, 0xffff]);
        w64(b, 32, pick([64, r.phoff, int(b.length)]));
        b[56] = n & 0xff;
        b[57] = n >> 8;
        break;
      }
      case 7: // random bytes anywhere
        for (let i = 0; i < 1 + int(16); i++) if (b.length) b[int(b.length)] = int(256);
        break;
      case 8: {
        // turn a PT_LOAD into a PT_NOTE or back
        if (r.phnum === 0) break;
        const o = r.phoff + int(Math.min(r.phnum, 64)) * r.phent;
        if (o + 4 <= b.length) w32(b, o, rd32(b, o) === 1 ? 4 : 1);
        break;
      }
      case 9: {
        // append junk (or a copy of the file)
        const extra = rnd() < 0.5 ? b.slice() : Uint8Array.from({ length: int(4096) }, () => int(256));
        const c = new Uint8Array(b.length + extra.length);
        c.set(b);
        c.set(extra, b.length);
        b = c;
        break;
      }
    }
  }
  return b;
}

const start = performance.now();
const codes: Record<string, number> = {};
let cases = 0;
let accepted = 0;
let maxMs = 0;
for (; cases < maxCases && performance.now() - start < seconds * 1000; cases++) {
  const base = pick(BASES);
  const input = rnd() < 0.05 ? base.bytes : mutate(base.bytes);
  const t0 = performance.now();
  let failure: string | undefined;
  try {
    inspectKernel(input);
    const size = rnd() < 0.5 ? 64 * MIB : minimumSize(input.length);
    planImage(input, { size, args: 'fuzz' });
    accepted++;
  } catch (e) {
    if (isImageError(e)) codes[e.code] = (codes[e.code] ?? 0) + 1;
    else failure = `not an ImageError: ${(e as Error)?.stack ?? e}`;
  }
  const ms = performance.now() - t0;
  maxMs = Math.max(maxMs, ms);
  if (!failure && ms > caseMs) failure = `took ${ms.toFixed(0)} ms (limit ${caseMs} ms)`;
  if (failure) {
    const file = `fuzz-failure-${seed}-${cases}.bin`;
    writeFileSync(file, input);
    process.stdout.write(
      JSON.stringify({ ok: false, seed, case: cases, base: base.name, failure, input: file }) + '\n',
    );
    process.exit(1);
  }
}
process.stdout.write(
  JSON.stringify({
    ok: true,
    seed,
    cases,
    accepted,
    codes,
    maxMs: Math.round(maxMs),
    seconds: Math.round((performance.now() - start) / 100) / 10,
    maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  }) + '\n',
);
