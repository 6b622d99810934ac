/**
 * The walkthrough's formatting: a hex dump built field by field (`Dump`),
 * byte-pattern search in LBA 0 and in stage 2's code, wording helpers, and
 * the one exact read every step uses.
 */
import { charText, rd16le, rd32le, rd64le, u32le } from '../../bytes';
import { fail } from '../../errors';
import { formatBytes, hex, plural, SECTOR } from '../../units';
import { CMDLINE_OFF, PARAMS_OFF, PARAMS_SIZE } from '../../boot/loader.generated';
import type { DiskImage } from '../../formats/reader';
import type { HexDump, HexField } from './types';

/** Where the BIOS puts LBA 0. */
export const BOOT_ADDR = 0x7c00;

/**
 * Stage 2's code: after the parameter block, before the command line. Byte
 * patterns of instructions are looked for only here, so that no value in the
 * block and no command line can be taken for code.
 */
const CODE_FROM = PARAMS_OFF + PARAMS_SIZE;

export const sectors = (n: number) => `${plural(n, 'sector')} (${formatBytes(n * SECTOR)})`;
export const quote = (s: string) => `"${s}"`;

export function find(hay: Uint8Array, needle: ArrayLike<number>, from = 0, to = hay.length): number {
  outer: for (let i = from; i + needle.length <= to; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** An instruction pattern in stage 2's code (see CODE_FROM), or -1. */
export const findCode = (s2: Uint8Array, needle: ArrayLike<number>) =>
  find(s2, needle, CODE_FROM, Math.min(CMDLINE_OFF, s2.length));

/** Bytes and little-endian u32s, in order: an instruction pattern. */
export function pattern(...parts: (number | { u32: number })[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else {
      const b = new Uint8Array(4);
      u32le(b, 0, p.u32);
      out.push(...b);
    }
  }
  return Uint8Array.from(out);
}

/** One dump under construction: fields are added in order and may not overlap. */
export class Dump {
  private readonly fields: HexField[] = [];
  private code: 16 | 32 | null = null;
  constructor(
    private readonly caption: string,
    private readonly diskOffset: number | null,
    private readonly memoryAddress: number | null,
    readonly bytes: Uint8Array,
  ) {}

  f(start: number, length: number, label: string, value: string): this {
    const last = this.fields[this.fields.length - 1];
    if (length <= 0 || start < (last ? last.start + last.length : 0) || start + length > this.bytes.length) {
      throw new Error(`internal: walkthrough field "${label}" at ${start}+${length} in ${this.bytes.length} bytes`);
    }
    this.fields.push({ start, length, label, value });
    return this;
  }

  u8(start: number, label: string, value: (v: number) => string = hex): this {
    return this.f(start, 1, label, value(this.bytes[start]));
  }
  u16(start: number, label: string, value: (v: number) => string = (v) => `${v}`): this {
    return this.f(start, 2, label, value(rd16le(this.bytes, start)));
  }
  u32(start: number, label: string, value: (v: number) => string = hex): this {
    return this.f(start, 4, label, value(rd32le(this.bytes, start)));
  }
  u64(start: number, label: string, value: (v: number) => string = (v) => `${v}`): this {
    return this.f(start, 8, label, value(rd64le(this.bytes, start)));
  }
  text(start: number, length: number, label: string): this {
    return this.f(start, length, label, quote(charText(this.bytes.subarray(start, start + length))));
  }

  /** Mark the dump as machine code run in this mode (its fields are instructions). */
  asCode(bits: 16 | 32): this {
    this.code = bits;
    return this;
  }

  done(): HexDump {
    return {
      caption: this.caption,
      diskOffset: this.diskOffset,
      memoryAddress: this.memoryAddress,
      bytes: this.bytes,
      fields: this.fields,
      code: this.code,
    };
  }
}

/** Bytes read from the disk at `offset`, exactly `length` of them (a coded error when the disk is shorter). */
export async function readAt(disk: DiskImage, offset: number, length: number): Promise<Uint8Array> {
  const b = await disk.read(offset, length);
  if (b.length < length) {
    fail(
      'IMAGE_TRUNCATED',
      `The disk ends at ${formatBytes(disk.size)}, before the ${length} bytes at offset ${hex(offset)} that this step shows: the image is truncated or damaged.`,
    );
  }
  return b.slice(0, length);
}
