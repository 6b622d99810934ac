/**
 * The model PC around the CPU: the devices and BIOS services our loader
 * uses, modelled on SeaBIOS as QEMU runs it (`-machine pc`): its E820 map,
 * INT 10h teletype, INT 12h, INT 13h AH=00h/41h/42h on drive 80h (sectors
 * read from the image through a `Disk`, one request at a time), INT 15h
 * E820 and AX=2401h, COM1 (a 16550 whose output is the console), the
 * keyboard controller's output port and port 92h for A20, and QEMU's
 * isa-debug-exit at 0x501. Register and flag effects of each service are the
 * ones measured under QEMU (see docs/emulator.md).
 */
import type { Bus } from './cpu';
import { CF } from './flags';
import type { Memory } from './memory';
import type { Cpu } from './cpu';

/** The emulator reads disks only through this (the shape of the core's DiskImage.read). */
export interface Disk {
  /** Bytes. */
  size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

const MIB = 1024 * 1024;
/** Console bytes kept (COM1 and the screen each): a program printing forever cannot fill memory. */
export const CONSOLE_MAX = MIB;
const SMAP = 0x534d4150;
/** SeaBIOS's EBDA: 1 KiB below 640 KiB. */
export const EBDA_START = 0x9fc0 * 16;
/** SeaBIOS reserves the last 128 KiB of RAM below 4 GiB for its high tables (measured at -m 64…4096). */
const HIGH_TABLES = 128 * 1024;

export interface E820Entry {
  base: number;
  length: number;
  type: number;
}

/** QEMU `-machine pc` with `-m <MiB>`: the end of RAM below 4 GiB (QEMU puts at most 3 GiB there when RAM reaches 3.5 GiB). */
export function lowMemoryTop(memoryMiB: number): number {
  const bytes = memoryMiB * MIB;
  return bytes >= 0xe0000000 ? 0xc0000000 : bytes;
}

/**
 * SeaBIOS's E820 map under QEMU -machine pc, as it hands it out: conventional
 * RAM below the EBDA, the EBDA, the BIOS at 0xF0000, RAM from 1 MiB up to its
 * reserved high tables, the flash at 0xFFFC0000, RAM above 4 GiB (when -m is
 * large), and QEMU's reserved range below 1 TiB (the HyperTransport hole).
 */
export function e820Map(memoryMiB: number): E820Entry[] {
  const low = lowMemoryTop(memoryMiB);
  const high = memoryMiB * MIB - low;
  const map: E820Entry[] = [
    { base: 0, length: EBDA_START, type: 1 },
    { base: EBDA_START, length: 0xa0000 - EBDA_START, type: 2 },
    { base: 0xf0000, length: 0x10000, type: 2 },
    { base: MIB, length: low - MIB - HIGH_TABLES, type: 1 },
    { base: low - HIGH_TABLES, length: HIGH_TABLES, type: 2 },
    { base: 0xfffc0000, length: 0x40000, type: 2 },
  ];
  if (high > 0) map.push({ base: 2 ** 32, length: high, type: 1 });
  map.push({ base: 0xfd00000000, length: 0x300000000, type: 2 });
  return map;
}

/** What QEMU's TCG CPU (qemu64) answers to CPUID, for the leaves the loader asks (leaf 1: the hypervisor bit). */
function cpuidQemu64(leaf: number): [number, number, number, number] {
  if (leaf === 0) return [0xd, 0x68747541, 0x444d4163, 0x69746e65];
  if (leaf === 1) return [0x663, 0x800, 0x80002001, 0x078bfbfd];
  return [0, 0, 0, 0];
}

export interface PcOptions {
  /** -m in MiB (QEMU's default for our tests: 128). */
  memoryMiB: number;
  /** QEMU's isa-debug-exit at 0x501 (our boot tests add it); a write stops the run. */
  debugExit: boolean;
  /** A20 at hand-over: QEMU's SeaBIOS leaves it on. Off exercises the loader's A20 code. */
  a20: boolean;
}

/** What a port write or BIOS call asks of the run loop. */
export type PcStop = { kind: 'exit'; status: number } | { kind: 'reset' } | { kind: 'unsupported'; message: string };

export class Pc implements Bus {
  /** COM1's output (the console), as bytes written to its transmit register. */
  serial: number[] = [];
  /** INT 10h teletype output. */
  screen: number[] = [];
  stop: PcStop | null = null;
  /** Sectors read through INT 13h, and calls made, for the trace. */
  sectorsRead = 0;
  readonly map: E820Entry[];
  private uart = { lcr: 0, ier: 0, fcr: 0, mcr: 0, dll: 0, dlm: 0, scr: 0 };
  private kbcCommand = 0;
  /** Port 92h's own register: reads return it, not the A20 line (QEMU). */
  private port92 = 0x02;
  cpu!: Cpu;

  constructor(
    readonly mem: Memory,
    readonly disk: Disk,
    readonly options: PcOptions,
  ) {
    this.map = e820Map(options.memoryMiB);
    mem.a20 = options.a20;
    this.port92 = options.a20 ? 0x02 : 0;
  }

  /** The BIOS data area fields SeaBIOS sets that a loader may read. */
  initBda(): void {
    const m = this.mem;
    m.write16(0x400, 0x3f8); // COM1
    m.write16(0x40e, EBDA_START >> 4); // EBDA segment
    m.write16(0x410, 0x4027); // equipment word, as SeaBIOS under QEMU sets it
    m.write16(0x413, EBDA_START >> 10); // conventional memory in KiB (INT 12h)
    m.write8(0x475, 1); // hard disks
    m.write16(EBDA_START, 1); // EBDA size in KiB
  }

  // ---- ports ----
  portIn(port: number, size: number): number {
    const u = this.uart;
    switch (port) {
      case 0x3f8:
        return u.lcr & 0x80 ? u.dll : 0;
      case 0x3f9:
        return u.lcr & 0x80 ? u.dlm : u.ier;
      case 0x3fa:
        return u.fcr & 1 ? 0xc1 : 0x01; // IIR: no interrupt pending, FIFO state
      case 0x3fb:
        return u.lcr;
      case 0x3fc:
        return u.mcr;
      case 0x3fd:
        return 0x60; // LSR: transmitter empty
      case 0x3fe:
        return 0xb0; // MSR
      case 0x3ff:
        return u.scr;
      case 0x64:
        return 0x1c; // KBC status: input and output buffers empty
      case 0x60:
        return 0;
      case 0x92:
        return this.port92;
      default:
        return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
    }
  }

  portOut(port: number, _size: number, value: number): void {
    const u = this.uart;
    const v = value & 0xff;
    switch (port) {
      case 0x3f8:
        if (u.lcr & 0x80) u.dll = v;
        else if (this.serial.length < CONSOLE_MAX) this.serial.push(v);
        return;
      case 0x3f9:
        if (u.lcr & 0x80) u.dlm = v;
        else u.ier = v;
        return;
      case 0x3fa:
        u.fcr = v;
        return;
      case 0x3fb:
        u.lcr = v;
        return;
      case 0x3fc:
        u.mcr = v;
        return;
      case 0x3ff:
        u.scr = v;
        return;
      case 0x64:
        this.kbcCommand = v;
        if (v === 0xdd) this.mem.a20 = false;
        else if (v === 0xdf) this.mem.a20 = true;
        else if (v === 0xfe) this.stop = { kind: 'reset' };
        return;
      case 0x60:
        if (this.kbcCommand === 0xd1) {
          this.mem.a20 = (v & 2) !== 0;
          if (!(v & 1)) this.stop = { kind: 'reset' };
        }
        this.kbcCommand = 0;
        return;
      case 0x92:
        // the A20 line follows whichever of port 92h and the keyboard controller was written last
        this.port92 = v & ~1;
        this.mem.a20 = (v & 2) !== 0;
        if (v & 1) this.stop = { kind: 'reset' };
        return;
      case 0x501:
        if (this.options.debugExit) this.stop = { kind: 'exit', status: ((v << 1) | 1) & 0xff };
        return;
      default:
        return; // port 0x80 (POST delay) and anything else: no device
    }
  }

  /** The UART's and keyboard controller's registers, for snapshots. */
  saveDevices(): string {
    return JSON.stringify({ uart: this.uart, kbc: this.kbcCommand, port92: this.port92, sectors: this.sectorsRead });
  }
  restoreDevices(saved: string): void {
    const d = JSON.parse(saved) as { uart: Pc['uart']; kbc: number; port92: number; sectors: number };
    this.port92 = d.port92;
    this.uart = { ...d.uart };
    this.kbcCommand = d.kbc;
    this.sectorsRead = d.sectors;
  }

  cpuid(leaf: number): [number, number, number, number] {
    return cpuidQemu64(leaf);
  }

  // ---- BIOS ----
  interrupt(vector: number): void | Promise<void> {
    const c = this.cpu;
    const ah = c.getReg(4, 1);
    switch (vector) {
      case 0x10:
        if (ah === 0x0e && this.screen.length < CONSOLE_MAX) this.screen.push(c.getReg(0, 1));
        else this.notModelled(`INT 10h AH=${h8(ah)}`);
        return;
      case 0x12:
        c.setReg(0, 2, this.mem.read16(0x413));
        return;
      case 0x13:
        return this.int13(ah);
      case 0x15:
        if (c.regs[0] >>> 0 === 0xe820) return this.e820();
        if (c.getReg(0, 2) === 0x2401) {
          // SeaBIOS does it through port 92h
          this.port92 |= 2;
          this.mem.a20 = true;
          c.setReg(4, 1, 0);
          this.setCarry(false);
          return;
        }
        this.notModelled(`INT 15h AX=${c.getReg(0, 2).toString(16).toUpperCase().padStart(4, '0')}h`);
        return;
      default:
        this.notModelled(`INT ${h8(vector)}`);
    }
  }

  private notModelled(what: string): void {
    this.stop = { kind: 'unsupported', message: `${what} is not modelled` };
  }

  private setCarry(on: boolean): void {
    this.cpu.eflags = on ? this.cpu.eflags | CF : this.cpu.eflags & ~CF;
  }

  private fail13(code: number): void {
    this.cpu.setReg(4, 1, code);
    this.setCarry(true);
  }

  private int13(ah: number): void | Promise<void> {
    const c = this.cpu;
    const dl = c.getReg(2, 1);
    if (dl !== 0x80) return this.fail13(0x01);
    switch (ah) {
      case 0x00:
        c.setReg(4, 1, 0);
        this.setCarry(false);
        return;
      case 0x41:
        // SeaBIOS: EDD 3.0, packet access + locking + EDD (CX = 7); AL kept
        c.setReg(3, 2, 0xaa55);
        c.setReg(4, 1, 0x30);
        c.setReg(1, 2, 0x0007);
        this.setCarry(false);
        return;
      case 0x42:
        return this.extendedRead();
      default:
        this.notModelled(`INT 13h AH=${h8(ah)}`);
    }
  }

  /** AH=42h: the disk address packet at DS:SI; reads straight from the image, nothing cached. */
  private async extendedRead(): Promise<void> {
    const c = this.cpu;
    const dap = (c.seg[3].base + c.getReg(6, 2)) >>> 0;
    const m = this.mem;
    const count = m.read16(dap + 2);
    let buffer = ((m.read16(dap + 6) << 4) + m.read16(dap + 4)) >>> 0;
    const lba = (m.read32(dap + 8) >>> 0) + (m.read32(dap + 12) >>> 0) * 2 ** 32;
    if (m.read8(dap) < 0x10 || count > 127) {
      m.write16(dap + 2, 0);
      return this.fail13(0x01);
    }
    if (lba + count > Math.floor(this.disk.size / 512)) {
      // past the end of the disk: SeaBIOS answers 0Ch (measured under QEMU)
      m.write16(dap + 2, 0);
      return this.fail13(0x0c);
    }
    if (count > 0) {
      const bytes = await this.disk.read(lba * 512, count * 512);
      if (bytes.length !== count * 512) throw new Error(`internal: disk read returned ${bytes.length} bytes`);
      m.writeBytes(buffer, bytes);
      buffer += count * 512;
      this.sectorsRead += count;
    }
    m.write16(dap + 2, count);
    c.setReg(4, 1, 0);
    this.setCarry(false);
  }

  /** INT 15h EAX=E820h: one entry per call at ES:DI, EBX the continuation (SeaBIOS's rules). */
  private e820(): void {
    const c = this.cpu;
    const index = c.getReg(3, 2);
    if (c.regs[2] >>> 0 !== SMAP || index >= this.map.length || c.getReg(1, 4) < 20) {
      c.setReg(4, 1, 0x86);
      this.setCarry(true);
      return;
    }
    const e = this.map[index];
    const at = (c.seg[0].base + c.getReg(7, 2)) >>> 0;
    const m = this.mem;
    m.write32(at, e.base % 2 ** 32);
    m.write32(at + 4, Math.floor(e.base / 2 ** 32));
    m.write32(at + 8, e.length % 2 ** 32);
    m.write32(at + 12, Math.floor(e.length / 2 ** 32));
    m.write32(at + 16, e.type);
    c.regs[3] = index === this.map.length - 1 ? 0 : index + 1;
    c.regs[0] = SMAP;
    c.regs[1] = 20;
    this.setCarry(false);
  }
}

const h8 = (n: number) => n.toString(16).toUpperCase().padStart(2, '0') + 'h';
