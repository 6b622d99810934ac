/**
 * The model PC's physical memory: sparse 4 KiB pages, allocated on first
 * write, zero until then (QEMU's RAM starts zeroed). RAM is [0, 0xA0000) and
 * [1 MiB, lowTop); the VGA window and ROM area between (0xA0000–0xFFFFF) and
 * everything above RAM read 0xFF and ignore writes (not modelled: the loader
 * uses neither). With A20 off, bit 20 of every address is cleared (the 1 MiB
 * wrap). Writes can be logged (address, length) for a stepping UI, and bump a
 * per-page generation so cached decoded instructions go stale.
 */

export const PAGE = 4096;
const HOLE_START = 0xa0000;
const HOLE_END = 0x100000;

export interface WriteRecord {
  address: number;
  length: number;
}

/** Write records kept before the log is coarsened (a long run logged for a stepper). */
const LOG_MAX = 4096;

/**
 * The same writes as fewer records: sorted, overlapping and touching ones
 * merged, then rounded out to 4 KiB pages and, while still too many, to
 * ever larger aligned blocks (a range in the result may hold bytes that were
 * not written; none that were is left out).
 */
export function coarsen(writes: readonly WriteRecord[], max = LOG_MAX / 4): WriteRecord[] {
  let grain = 1;
  let out = mergeWrites(writes);
  while (out.length > max) {
    grain = grain === 1 ? PAGE : grain * 16;
    out = mergeWrites(
      out.map((w) => {
        const start = Math.floor(w.address / grain) * grain;
        return { address: start, length: Math.ceil((w.address + w.length) / grain) * grain - start };
      }),
    );
  }
  return out;
}

/** Sorted by address, overlapping and touching records merged. */
export function mergeWrites(writes: readonly WriteRecord[]): WriteRecord[] {
  const sorted = [...writes].sort((a, b) => a.address - b.address);
  const out: WriteRecord[] = [];
  for (const w of sorted) {
    const last = out[out.length - 1];
    if (last && w.address <= last.address + last.length)
      last.length = Math.max(last.length, w.address + w.length - last.address);
    else out.push({ address: w.address, length: w.length });
  }
  return out;
}

export class Memory {
  /** End of RAM below 4 GiB (bytes). */
  readonly lowTop: number;
  private pages: (Uint8Array | undefined)[];
  /** Per-page write generation, only counted on pages that hold decoded code. */
  readonly gen: Uint32Array;
  readonly codePage: Uint8Array;
  /** 0xFFFFFFFF with A20 on, 0xFFEFFFFF with it off. */
  a20Mask = 0xffffffff;
  /** When true, every write is appended to `writes` (merged when contiguous; coarsened past LOG_MAX records). */
  logging = false;
  writes: WriteRecord[] = [];
  /** Set when the log was coarsened (its ranges may hold bytes not written); whoever resets `writes` resets it. */
  coarsened = false;

  constructor(lowTop: number) {
    this.lowTop = lowTop;
    this.pages = new Array(Math.ceil(lowTop / PAGE));
    this.gen = new Uint32Array(this.pages.length);
    this.codePage = new Uint8Array(this.pages.length);
  }

  get a20(): boolean {
    return this.a20Mask === 0xffffffff;
  }
  set a20(on: boolean) {
    this.a20Mask = on ? 0xffffffff : 0xffefffff;
  }

  private isRam(a: number): boolean {
    return a < this.lowTop && (a < HOLE_START || a >= HOLE_END);
  }

  read8(addr: number): number {
    const a = (addr & this.a20Mask) >>> 0;
    const pg = this.pages[a >>> 12];
    if (pg) return pg[a & 4095];
    return this.isRam(a) ? 0 : 0xff;
  }

  read16(addr: number): number {
    const a = (addr & this.a20Mask) >>> 0;
    if ((a & 4095) <= 4094) {
      const pg = this.pages[a >>> 12];
      if (pg) {
        const o = a & 4095;
        return pg[o] | (pg[o + 1] << 8);
      }
    }
    return this.read8(addr) | (this.read8(addr + 1) << 8);
  }

  read32(addr: number): number {
    const a = (addr & this.a20Mask) >>> 0;
    if ((a & 4095) <= 4092) {
      const pg = this.pages[a >>> 12];
      if (pg) {
        const o = a & 4095;
        return pg[o] | (pg[o + 1] << 8) | (pg[o + 2] << 16) | (pg[o + 3] << 24);
      }
    }
    return this.read16(addr) | (this.read16(addr + 2) << 16);
  }

  private page(a: number): Uint8Array | undefined {
    const n = a >>> 12;
    let pg = this.pages[n];
    if (!pg) {
      if (!this.isRam(a)) return undefined;
      pg = this.pages[n] = new Uint8Array(PAGE);
    }
    if (this.codePage[n]) this.gen[n]++;
    return pg;
  }

  private log(a: number, length: number): void {
    const w = this.writes;
    const last = w[w.length - 1];
    if (last && last.address + last.length === a) last.length += length;
    else {
      w.push({ address: a, length });
      if (w.length > LOG_MAX) {
        this.writes = coarsen(w);
        this.coarsened = true;
      }
    }
  }

  write8(addr: number, v: number): void {
    const a = (addr & this.a20Mask) >>> 0;
    const pg = this.page(a);
    if (pg) pg[a & 4095] = v;
    if (this.logging) this.log(a, 1);
  }

  write16(addr: number, v: number): void {
    const a = (addr & this.a20Mask) >>> 0;
    const o = a & 4095;
    if (o <= 4094) {
      const pg = this.page(a);
      if (pg) {
        pg[o] = v;
        pg[o + 1] = v >> 8;
      }
      if (this.logging) this.log(a, 2);
      return;
    }
    this.write8(addr, v);
    this.write8(addr + 1, v >> 8);
  }

  write32(addr: number, v: number): void {
    const a = (addr & this.a20Mask) >>> 0;
    const o = a & 4095;
    if (o <= 4092) {
      const pg = this.page(a);
      if (pg) {
        pg[o] = v;
        pg[o + 1] = v >> 8;
        pg[o + 2] = v >> 16;
        pg[o + 3] = v >> 24;
      }
      if (this.logging) this.log(a, 4);
      return;
    }
    this.write16(addr, v);
    this.write16(addr + 2, v >>> 16);
  }

  /** Copy bytes in (a BIOS disk read, the loader image): logged like CPU writes. */
  writeBytes(addr: number, bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) this.write8(addr + i, bytes[i]);
  }

  /** Bytes [addr, addr + length) as the CPU would read them. */
  readBytes(addr: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.read8(addr + i);
    return out;
  }

  /** A copy of the allocated pages, for snapshots. */
  save(): Map<number, Uint8Array> {
    const m = new Map<number, Uint8Array>();
    this.pages.forEach((p, i) => p && m.set(i, p.slice()));
    return m;
  }

  restore(pages: Map<number, Uint8Array>): void {
    this.pages = new Array(this.pages.length);
    for (const [i, p] of pages) this.pages[i] = p.slice();
    this.gen.fill(0);
    this.codePage.fill(0);
  }

  /** Pages allocated so far (the model's memory use is this × 4 KiB). */
  allocatedPages(): number {
    return this.pages.reduce((n, p) => n + (p ? 1 : 0), 0);
  }
}
