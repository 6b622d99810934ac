/**
 * EFLAGS bits and the arithmetic that sets them. Defined flags follow the
 * Intel manual; flags the manual leaves undefined follow QEMU's TCG (what
 * the faithfulness tests compare against): AF = 0 after logic ops, shifts
 * and multiplies; shifts set OF for every count (from the last bit out and
 * the result); multiplies set SF/ZF/PF from the low half; DIV/IDIV leave all
 * flags as they were; BT changes only CF.
 */

export const CF = 0x1,
  PF = 0x4,
  AF = 0x10,
  ZF = 0x40,
  SF = 0x80,
  TF = 0x100,
  IF = 0x200,
  DF = 0x400,
  OF = 0x800;
/** The six arithmetic flags. */
export const OSZAPC = OF | SF | ZF | AF | PF | CF;
/** Bit 1 reads as 1. */
export const FIXED = 0x2;

export const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let b = i;
  b ^= b >> 4;
  b ^= b >> 2;
  b ^= b >> 1;
  PARITY[i] = b & 1 ? 0 : PF;
}

export const MASK = [0, 0xff, 0xffff, 0, 0xffffffff];
export const SIGN = [0, 0x80, 0x8000, 0, 0x80000000];

/** SF, ZF, PF of a result (unsigned, already masked to `size` bytes). */
export function szp(r: number, size: number): number {
  return (r === 0 ? ZF : 0) | ((r & SIGN[size]) !== 0 ? SF : 0) | PARITY[r & 0xff];
}

/** The flags of the last addFlags/subFlags call (one shared slot: no allocation per instruction). */
export const cc = { f: 0 };

/** a + b + carry (operands unsigned, masked to `size`); returns the result, flags in `cc.f`. */
export function addFlags(a: number, b: number, carry: number, size: number): number {
  const sum = a + b + carry;
  const r = size === 4 ? sum >>> 0 : sum & MASK[size];
  let f = szp(r, size) | ((a ^ b ^ r) & AF);
  if (sum > MASK[size]) f |= CF;
  if ((a ^ r) & (b ^ r) & SIGN[size]) f |= OF;
  cc.f = f;
  return r;
}

/** a - b - borrow; returns the result, flags in `cc.f`. */
export function subFlags(a: number, b: number, borrow: number, size: number): number {
  const diff = a - b - borrow;
  const r = size === 4 ? diff >>> 0 : diff & MASK[size];
  let f = szp(r, size) | ((a ^ b ^ r) & AF);
  if (diff < 0) f |= CF;
  if ((a ^ b) & (a ^ r) & SIGN[size]) f |= OF;
  cc.f = f;
  return r;
}

/** 32-bit add on int32 values (no boxed numbers on the fast path); returns an int32, flags in `cc.f`. */
export function add32(a: number, b: number, carry: number): number {
  const sum = (a >>> 0) + (b >>> 0) + carry;
  const r = sum | 0;
  let f = (r === 0 ? ZF : 0) | (r < 0 ? SF : 0) | PARITY[r & 0xff] | ((a ^ b ^ r) & AF);
  if (sum > 0xffffffff) f |= CF;
  if (((a ^ r) & (b ^ r)) < 0) f |= OF;
  cc.f = f;
  return r;
}

/** 32-bit subtract on int32 values; returns an int32, flags in `cc.f`. */
export function sub32(a: number, b: number, borrow: number): number {
  const diff = (a >>> 0) - (b >>> 0) - borrow;
  const r = diff | 0;
  let f = (r === 0 ? ZF : 0) | (r < 0 ? SF : 0) | PARITY[r & 0xff] | ((a ^ b ^ r) & AF);
  if (diff < 0) f |= CF;
  if (((a ^ b) & (a ^ r)) < 0) f |= OF;
  cc.f = f;
  return r;
}
