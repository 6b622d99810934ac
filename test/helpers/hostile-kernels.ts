/**
 * Kernels made to hurt: many program headers over one region of notes, and
 * field writers for the fuzzer (scripts/fuzz-run.ts). Built byte by byte here.
 */
import { solo5Kernel } from './fixtures';

export function w32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}
export function w64(b: Uint8Array, o: number, v: number): void {
  w32(b, o, v % 2 ** 32);
  w32(b, o + 4, Math.floor(v / 2 ** 32));
}

/**
 * A Solo5-style kernel (a.out kludge, so it loads) whose program header table,
 * appended at the end, has `headers` PT_NOTE entries over the same 1 MiB of
 * zero bytes (87,381 empty notes). With `shift`, entry i starts 4·i bytes
 * later, so that no two name the same range. About 1.2 MiB for 3,700 headers.
 */
export function noteBomb(headers: number, shift = false): Uint8Array {
  const region = 1 << 20;
  const base = solo5Kernel({ dataSize: region, fill: 0 });
  const phoff = base.length;
  const b = new Uint8Array(phoff + (headers + 1) * 56);
  b.set(base);
  // The original PT_LOAD first, then the notes.
  b.copyWithin(phoff, 64, 64 + 56);
  for (let i = 0; i < headers; i++) {
    const o = phoff + (i + 1) * 56;
    w32(b, o, 4); // PT_NOTE
    w32(b, o + 4, 4);
    w64(b, o + 8, 0x2000 + (shift ? 4 * i : 0));
    w64(b, o + 32, region - (shift ? 4 * i : 0));
    w64(b, o + 40, region - (shift ? 4 * i : 0));
    w64(b, o + 48, 4);
  }
  w64(b, 32, phoff); // e_phoff
  b[56] = (headers + 1) & 0xff; // e_phnum
  b[57] = (headers + 1) >>> 8;
  return b;
}
