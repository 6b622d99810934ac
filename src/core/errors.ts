/**
 * Errors are values with a stable code and one sentence that names the field,
 * the value and the limit, and says what to do next. Every module throws
 * through `fail()` so that the CLI, the worker and the page can show
 * `error.message` as it is (never a stack) and tests can match `error.code`.
 */
export class ImageError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ImageError';
    this.code = code;
  }
}

export function fail(code: string, message: string): never {
  throw new ImageError(code, message);
}

export function isImageError(e: unknown): e is ImageError {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string' && e.name === 'ImageError';
}

/** Format a number as 0x-prefixed hex, for messages. */
export function hex(n: number | bigint): string {
  return '0x' + n.toString(16).toUpperCase();
}

/** "1 GiB", "64 MiB", "12.5 KiB", "300 bytes": for messages and the page. */
export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${n} ${n === 1 ? 'byte' : 'bytes'}`;
  const s = Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1).replace(/\.?0+$/, '');
  return `${s} ${units[u]}`;
}
