/**
 * Our loader's stage 2 setting up the machine, for the walkthrough: A20, the
 * BIOS memory map (E820, shown with a labelled example machine), the
 * Multiboot information and protected mode. Instructions are found by their
 * bytes in stage 2's code; what the machine decides is marked as an example.
 */
import { rd16le, rd32le, u32le, utf8 } from '../../bytes';
import { E820_TYPE_NAMES, encodeMmap, MBI, mbiFlagBits, MMAP_ENTRY } from '../../boot/mbi';
import { formatBytes, hex, KIB, SECTOR } from '../../units';
import {
  CMDLINE_OFF,
  KERNEL_MIN_ADDR,
  MBI_ADDR,
  MBI_FLAGS,
  MBI_SIZE,
  MMAP_ADDR,
  STAGE2_ADDR,
} from '../../boot/loader.generated';
import type { OurLoader } from '../bootloader';
import type { HexDump, WalkStep } from './types';
import { Dump, findCode, pattern } from './dump';

export function a20Step(ours: OurLoader): WalkStep {
  const s2 = ours.stage2;
  const dumps: HexDump[] = [];
  const at = findCode(s2, [0xb8, 0x01, 0x24, 0xcd, 0x15]);
  if (at >= 0) {
    dumps.push(
      new Dump(
        `Stage 2, bytes ${hex(at)}–${hex(at + 4)}: asking the BIOS`,
        ours.stage2Lba * SECTOR + at,
        STAGE2_ADDR + at,
        s2.slice(at, at + 5),
      )
        .f(0, 3, 'mov ax, 2401h', 'BIOS function 2401h: "turn A20 on"')
        .f(3, 2, 'int 15h', 'call the BIOS system service')
        .done(),
    );
  }
  return {
    id: 'a20',
    title: 'The A20 line is switched on',
    text: [
      'The first PCs had 20 address lines, so an address past 1 MiB wrapped around to 0. For old programs a PC may still start with that wrap, the 21st address line, A20, held off; many firmwares (SeaBIOS, the BIOS in QEMU, among them) switch A20 on before they boot the disk.',
      'The kernel goes to 1 MiB and above, so A20 must be on; because it may already be, stage 2 first tests whether it is (it writes two addresses exactly 1 MiB apart and sees whether they are the same memory), then asks the BIOS (`INT 15h`, `AX=2401h`), then the keyboard controller (which, for historical reasons, drives A20), then the "fast A20" port `0x92`, testing after each. If none works it stops with "could not enable the A20 line".',
    ],
    dumps,
  };
}

/**
 * An example of the BIOS memory map: what QEMU 7.2's `pc` machine with 128 MiB
 * (SeaBIOS) reports, as the demo kernel prints it (test/walkthrough.test.ts
 * boots it and compares).
 */
const EXAMPLE_E820: [number, number, number][] = [
  [0x0, 0x9fc00, 1],
  [0x9fc00, 0x400, 2],
  [0xf0000, 0x10000, 2],
  [0x100000, 0x7ee0000, 1],
  [0x7fe0000, 0x20000, 2],
  [0xfffc0000, 0x40000, 2],
  [0xfd00000000, 0x300000000, 2],
];
const EXAMPLE_MACHINE = "QEMU's pc machine with 128 MiB";
/** The example's boot drive: the first hard disk. */
const EXAMPLE_DRIVE = 0x80;
/** The 32-bit signature 'SMAP' that INT 15h E820h takes in EDX and returns in EAX. */
const SMAP = 0x534d4150;
/** The E820 type of usable RAM. */
const E820_RAM = 1;
/** The example's usable RAM from 1 MiB: the end of the type-1 entry holding 1 MiB. */
const EXAMPLE_RAM_END = (() => {
  const e = EXAMPLE_E820.find(([a, l, t]) => t === E820_RAM && a <= KERNEL_MIN_ADDR && a + l > KERNEL_MIN_ADDR)!;
  return e[0] + e[1];
})();
/** The example's INT 12h answer: KiB of conventional memory, the usable RAM at 0. */
const EXAMPLE_MEM_LOWER = EXAMPLE_E820[0][1] / KIB;

export function e820Step(ours: OurLoader): WalkStep {
  const s2 = ours.stage2;
  const dumps: HexDump[] = [];
  // mov eax, 0xE820 (66 B8 20 E8 00 00); mov edx, 'SMAP' (66 BA then the signature)
  const at = findCode(s2, pattern(0x66, 0xb8, { u32: 0xe820 }, 0x66, 0xba, { u32: SMAP }));
  if (at >= 0) {
    dumps.push(
      new Dump(
        `Stage 2, bytes ${hex(at)}–${hex(at + 11)}: the call's arguments`,
        ours.stage2Lba * SECTOR + at,
        STAGE2_ADDR + at,
        s2.slice(at, at + 12),
      )
        .f(0, 6, 'mov eax, E820h', 'BIOS function E820h: "describe the memory"')
        .f(6, 6, "mov edx, 'SMAP'", 'a signature the BIOS checks and returns')
        .done(),
    );
  }
  const map = encodeMmap(EXAMPLE_E820);
  const d = new Dump(
    `Example only (${EXAMPLE_MACHINE}): the memory map as stage 2 stores it at ${hex(MMAP_ADDR)}; every machine gives its own`,
    null,
    MMAP_ADDR,
    map,
  );
  EXAMPLE_E820.forEach((_, i) => {
    const o = i * MMAP_ENTRY.stride;
    const n = i + 1;
    d.u32(o + MMAP_ENTRY.size, `Entry ${n}: size`, (v) => `${v}: bytes that follow`)
      .u64(o + MMAP_ENTRY.addr, `Entry ${n}: start`, (v) => hex(v))
      .u64(o + MMAP_ENTRY.length, `Entry ${n}: length`, (v) => `${hex(v)} (${formatBytes(v)})`)
      .u32(o + MMAP_ENTRY.type, `Entry ${n}: type`, (v) => `${v}: ${E820_TYPE_NAMES[v] ?? 'other'}`);
  });
  dumps.push(d.done());
  const end = ours.params.loadEnd;
  const needs = end > KERNEL_MIN_ADDR ? formatBytes(end - KERNEL_MIN_ADDR) : 'nothing';
  return {
    id: 'e820',
    title: 'The BIOS memory map (E820)',
    text: [
      'The kernel must know which memory it may use. Stage 2 asks the BIOS with `INT 15h` function `E820h`, once per region: each answer is a start address, a length and a type (1 is usable RAM; the rest is reserved for the BIOS, devices or ACPI tables).',
      `Stage 2 keeps the answers as they are, ${MMAP_ENTRY.stride} bytes each (a size of ${MMAP_ENTRY.e820Bytes}, then the ${MMAP_ENTRY.e820Bytes} bytes from the BIOS), at \`${hex(MMAP_ADDR)}\`, and hands the list to the kernel. These entries come from the machine, not from the disk: the example below is what ${EXAMPLE_MACHINE} reports.`,
      `Then it checks that the kernel fits: usable RAM must run from 1 MiB to at least the parameter block's load end, \`${hex(end)}\` (${needs} above 1 MiB for this kernel). If not, it stops with "kernel too large for memory".`,
    ],
    dumps,
  };
}

export function mbiStep(ours: OurLoader): WalkStep {
  const s2 = ours.stage2;
  const mbi = new Uint8Array(MBI_SIZE);
  const cmdline = STAGE2_ADDR + CMDLINE_OFF;
  const nameAt = findCode(s2, [...utf8('unikernel-disk'), 0]);
  const mmapLength = EXAMPLE_E820.length * MMAP_ENTRY.stride;
  u32le(mbi, MBI.flags, MBI_FLAGS);
  u32le(mbi, MBI.memLower, EXAMPLE_MEM_LOWER);
  u32le(mbi, MBI.memUpper, (EXAMPLE_RAM_END - KERNEL_MIN_ADDR) / KIB);
  // boot_device: the drive (DL, 0x80) in the top byte, partition 0, then 0xFFFF: no sub-partitions.
  u32le(mbi, MBI.bootDevice, ((EXAMPLE_DRIVE << 24) | 0xffff) >>> 0);
  u32le(mbi, MBI.cmdline, cmdline);
  u32le(mbi, MBI.mmapLength, mmapLength);
  u32le(mbi, MBI.mmapAddr, MMAP_ADDR);
  if (nameAt >= 0) u32le(mbi, MBI.bootLoaderName, STAGE2_ADDR + nameAt);
  const machine = `(example: ${EXAMPLE_MACHINE})`;
  const d = new Dump(
    `The Multiboot information stage 2 builds at ${hex(MBI_ADDR)} (in memory); fields marked "example" come from the machine`,
    null,
    MBI_ADDR,
    mbi,
  )
    .u32(MBI.flags, 'flags', (v) => `${hex(v)}: ${mbiFlagBits(v).join('; ') || 'none'}`)
    .u32(MBI.memLower, 'mem_lower', (v) => `${v} KiB of conventional memory (below 640 KiB), from INT 12h ${machine}`)
    .u32(MBI.memUpper, 'mem_upper', (v) => `${v} KiB of RAM from 1 MiB on ${machine}`)
    .u32(
      MBI.bootDevice,
      'boot_device',
      (v) => `${hex(v)}: drive ${hex(v >>> 24)} from DL, partition 0, no sub-partitions ${machine}`,
    )
    .u32(MBI.cmdline, 'cmdline', (v) => `${hex(v)}: the command line inside stage 2`)
    .u32(MBI.modsCount, 'mods_count', (v) => `${v}: no modules`)
    .u32(MBI.modsAddr, 'mods_addr', () => '0')
    .f(MBI.syms, MBI.mmapLength - MBI.syms, 'syms', 'unused (zeros)')
    .u32(MBI.mmapLength, 'mmap_length', (v) => `${v} bytes: ${EXAMPLE_E820.length} entries ${machine}`)
    .u32(MBI.mmapAddr, 'mmap_addr', (v) => `${hex(v)}: the memory map`)
    .f(MBI.drivesLength, MBI.bootLoaderName - MBI.drivesLength, 'drives, config table', 'unused (zeros)')
    .u32(MBI.bootLoaderName, 'boot_loader_name', (v) =>
      v ? `${hex(v)}: "unikernel-disk", inside stage 2` : '0: not found in this stage 2',
    )
    .f(MBI.apmTable, MBI_SIZE - MBI.apmTable, 'APM, video', 'unused (zeros)')
    .done();
  return {
    id: 'mbi',
    title: 'The Multiboot information',
    text: [
      `Multiboot is the agreement between a boot loader and a kernel that Solo5 kernels follow. The loader fills a structure, the Multiboot information, and passes its address; stage 2 builds it at \`${hex(MBI_ADDR)}\`, ${MBI_SIZE} bytes.`,
      `Its flags say which fields are valid: the memory sizes (from \`INT 12h\` and the memory map), the boot drive, the command line (a pointer to \`${hex(cmdline)}\`, where stage 1 put it with the rest of stage 2), the memory map itself and the loader's name.`,
      "The bytes below are built in memory, not read from the disk. The pointers are this disk's; the memory sizes, the boot drive and the map's length come from the machine, shown here with example values.",
    ],
    dumps: [d],
  };
}

/** Decode one 8-byte GDT descriptor. */
function descriptorText(b: Uint8Array, o: number): string {
  if (b.subarray(o, o + 8).every((x) => x === 0)) return 'the null descriptor (the CPU requires one)';
  const base = (b[o + 2] | (b[o + 3] << 8) | (b[o + 4] << 16) | (b[o + 7] << 24)) >>> 0;
  const rawLimit = b[o] | (b[o + 1] << 8) | ((b[o + 6] & 0x0f) << 16);
  const gran = (b[o + 6] & 0x80) !== 0;
  const bits32 = (b[o + 6] & 0x40) !== 0;
  const access = b[o + 5];
  const code = (access & 0x08) !== 0;
  const limit = gran ? rawLimit * 4096 + 4095 : rawLimit;
  return `${bits32 ? '32' : '16'}-bit ${code ? 'code' : 'data'}, base ${hex(base)}, ${formatBytes(limit + 1)}`;
}

export function pmodeStep(ours: OurLoader): WalkStep {
  const s2 = ours.stage2;
  const base = ours.stage2Lba * SECTOR;
  const dumps: HexDump[] = [];
  // lgdt [gdtr] (0F 01 16 disp16): the GDTR, then the table it points to.
  const lgdt = findCode(s2, [0x0f, 0x01, 0x16]);
  if (lgdt >= 0) {
    const gdtrAt = rd16le(s2, lgdt + 3) - STAGE2_ADDR;
    if (gdtrAt >= 0 && gdtrAt + 6 <= s2.length) {
      const limit = rd16le(s2, gdtrAt);
      const gdtAt = rd32le(s2, gdtrAt + 2) - STAGE2_ADDR;
      const size = limit + 1;
      if (size % 8 === 0 && size <= 256 && gdtAt >= 0 && gdtAt + size <= s2.length && gdtAt + size === gdtrAt) {
        const d = new Dump(
          `Stage 2, bytes ${hex(gdtAt)}–${hex(gdtrAt + 5)}: the GDT and the GDTR`,
          base + gdtAt,
          STAGE2_ADDR + gdtAt,
          s2.slice(gdtAt, gdtrAt + 6),
        );
        for (let i = 0; i < size / 8; i++) d.f(i * 8, 8, `Descriptor ${hex(i * 8)}`, descriptorText(s2, gdtAt + i * 8));
        d.u16(size, 'GDTR: limit', (v) => `${hex(v)}: the table is ${v + 1} bytes`);
        d.u32(size + 2, 'GDTR: base', (v) => `${hex(v)}: the table's address`);
        dumps.push(d.done());
      }
    }
  }
  const text = [
    "Protected mode is the CPU's 32-bit mode: it can address 4 GiB, and memory is reached through segments described in a table, the GDT (global descriptor table). Each 8-byte descriptor gives a segment's base address, its size and its kind.",
    "Stage 2's GDT has flat 32-bit code and data segments (base 0, 4 GiB: an address is simply the physical address), and 16-bit ones used to return to real mode between BIOS calls. The GDTR, 6 bytes, tells the CPU where the table is (`lgdt`).",
    "To switch, stage 2 turns interrupts off (`cli`: the BIOS's interrupt handlers only work in real mode), loads the GDTR, sets bit 0 (PE) of the control register CR0, and makes a far jump to selector `0x08`, the 32-bit code segment; then it loads `0x10`, the data segment, into the other segment registers.",
  ];
  if (dumps.length === 0) text.push('The GDT could not be located in this stage 2, so its bytes are not shown.');
  return { id: 'pmode', title: 'Protected mode', text, dumps };
}
