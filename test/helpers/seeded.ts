/**
 * What the fuzzers share: a small seeded generator (the same seed gives the
 * same cases) and their numeric command-line options.
 */

/** A source of numbers in [0, 1). */
export type Rand = () => number;

/** mulberry32: small, seeded, good enough to pick mutations and shapes. */
export function prng(seed: number): Rand {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** The number after `name` on the command line (`--seed 7`), else `def`. */
export function numberArg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
