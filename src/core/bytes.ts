/** Small byte helpers shared by the on-disk format modules. Pure, no DOM or Node. */

export function u16le(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
}
export function u32le(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}
/** Write a non-negative integer below 2^53 as 8 little-endian bytes. */
export function u64le(b: Uint8Array, off: number, v: number): void {
  u32le(b, off, v % 0x1_0000_0000);
  u32le(b, off + 4, Math.floor(v / 0x1_0000_0000));
}
export function u16be(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}
export function u32be(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 24) & 0xff;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}
export function u64be(b: Uint8Array, off: number, v: number): void {
  u32be(b, off, Math.floor(v / 0x1_0000_0000));
  u32be(b, off + 4, v % 0x1_0000_0000);
}
export function rd16le(b: Uint8Array, off: number): number {
  return b[off] | (b[off + 1] << 8);
}
export function rd32le(b: Uint8Array, off: number): number {
  return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
}
/** Read 8 little-endian bytes; exact below 2^53, otherwise Infinity-free but rounded. */
export function rd64le(b: Uint8Array, off: number): number {
  return rd32le(b, off) + rd32le(b, off + 4) * 0x1_0000_0000;
}

/** ASCII/UTF-8 encoding without TextEncoder (not in the core's ES lib). */
export function utf8(s: string): Uint8Array {
  const out: number[] = [];
  for (const ch of s) {
    let c = ch.codePointAt(0)!;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else {
      out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    c = 0;
  }
  return Uint8Array.from(out);
}

/** Write an ASCII string into b at off, truncated to len, rest filled with `pad`. */
export function ascii(b: Uint8Array, off: number, s: string, len: number, pad = 0): void {
  for (let i = 0; i < len; i++) b[off + i] = i < s.length ? s.charCodeAt(i) & 0xff : pad;
}

/** Bytes as Latin-1 text (short names and labels are in an OEM code page; ASCII in practice). */
export function charText(b: Uint8Array): string {
  let s = '';
  for (const c of b) s += String.fromCharCode(c);
  return s;
}

const CRC_TABLES: Uint32Array[] = (() => {
  const t0 = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t0[n] = c >>> 0;
  }
  const tables = [t0];
  for (let t = 1; t < 8; t++) {
    const prev = tables[t - 1];
    const cur = new Uint32Array(256);
    for (let n = 0; n < 256; n++) cur[n] = (prev[n] >>> 8) ^ t0[prev[n] & 0xff];
    tables.push(cur);
  }
  return tables;
})();

/**
 * CRC-32 (IEEE 802.3, the zlib/gzip one). Pass the previous result to continue
 * over several buffers. Slice-by-8 so that a 30 MiB kernel takes milliseconds.
 */
export function crc32(data: Uint8Array, prev = 0): number {
  const n = data.length;
  const whole = n - (n % 8);
  let c = crc32Slice8(~prev >>> 0, data, whole);
  const t0 = CRC_TABLES[0];
  for (let i = whole; i < n; i++) c = t0[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/**
 * The 8-bytes-at-a-time loop over data[0, end), end a multiple of 8, on the
 * working (inverted) value. A function of its own for V8's sake: a run's first
 * CRC is of the whole kernel, so this loop is compiled while it runs (OSR),
 * before anything after it has run; with nothing after the loop but the
 * return, the compiled code has seen all it needs, and the many short CRCs
 * that follow (derive32) do not fall back to the interpreter at each loop
 * exit, as they did (19 times a run) when the byte-wise tail followed here.
 */
function crc32Slice8(c: number, data: Uint8Array, end: number): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES;
  for (let i = 0; i < end; i += 8) {
    const a = (c ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24))) >>> 0;
    c =
      t7[a & 0xff] ^
      t6[(a >>> 8) & 0xff] ^
      t5[(a >>> 16) & 0xff] ^
      t4[a >>> 24] ^
      t3[data[i + 4]] ^
      t2[data[i + 5]] ^
      t1[data[i + 6]] ^
      t0[data[i + 7]];
  }
  return c;
}

/**
 * A 32-bit value derived from several inputs, for disk signatures, volume
 * serials and UUIDs that must be the same for the same inputs. `salt` keeps
 * the values of different fields apart.
 */
export function derive32(salt: string, ...parts: (number | string | Uint8Array)[]): number {
  let h = crc32(utf8(salt));
  for (const p of parts) {
    if (typeof p === 'number') {
      const b = new Uint8Array(8);
      u64le(b, 0, Math.max(0, Math.floor(p)));
      h = crc32(b, h);
    } else if (typeof p === 'string') h = crc32(utf8(p), h);
    else h = crc32(p, h);
    h = crc32(Uint8Array.of(0xff), h);
  }
  // Never 0: several formats treat 0 as "none".
  return h === 0 ? 0x5eed5eed : h;
}

/** `count` derived bytes (for UUIDs and similar). */
export function deriveBytes(count: number, salt: string, ...parts: (number | string | Uint8Array)[]): Uint8Array {
  const out = new Uint8Array((count + 3) & ~3);
  for (let i = 0; i < count; i += 4) u32le(out, i, derive32(`${salt}#${i}`, ...parts));
  return out.slice(0, count);
}

export function rd16be(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}
export function rd32be(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}
/** Read 8 big-endian bytes; exact below 2^53, rounded above (callers compare against file sizes). */
export function rd64be(b: Uint8Array, off: number): number {
  return rd32be(b, off) * 0x1_0000_0000 + rd32be(b, off + 4);
}
/** Latin-1 text of bytes [off, off + len), stopping at the first NUL: for magic strings and names in headers. */
export function latin1(b: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = off; i < Math.min(b.length, off + len) && b[i] !== 0; i++) s += String.fromCharCode(b[i]);
  return s;
}
