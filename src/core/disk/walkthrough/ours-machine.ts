/**
 * Our loader's stage 2 setting up the machine, for the walkthrough: A20, the
 * BIOS memory map (E820, shown with a labelled example machine), the
 * Multiboot information and protected mode. Instructions are found by their
 * bytes in stage 2's code; what the machine decides is marked as an example.
 */
import { rd16le, rd32le, u32le, utf8 } from '../../bytes';
import { E820_TYPE_NAMES, encodeMmap, MBI, mbiFlagBits, MMAP_ENTRY } from '../../boot/mbi';
import { formatBytes, hex, KIB, MIB, SECTOR } from '../../units';
import { EBDA_START, e820Map, type E820Entry, lowMemoryTop } from '../../x86/pc';
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
import { codeDump, disassemble, type Notes } from './code';
import { EXAMPLE_MEMORY_MIB } from './check';

const A20_NOTES: Notes = [
  [/^call /, 'is A20 on already? (the test: ZF = 1 if so)'],
  [/^jz /, 'yes (SeaBIOS, the BIOS in QEMU, turns it on): done'],
  [/^mov ax,0x2401$/, 'AX: the function, 2401h "turn A20 on"'],
  [/^int 0x15$/, 'call the BIOS system service'],
  [/^call /, 'test again'],
  [/^jz /, 'on: done; if not, the keyboard controller is next, then port 0x92'],
];

/** Stage 2's code at `at`, decoded (16-bit unless said), as a code dump. */
function stage2Code(ours: OurLoader, at: number, what: string, notes: Notes, count: number, bits: 16 | 32 = 16) {
  const code = disassemble(ours.stage2.subarray(0, CMDLINE_OFF), at, STAGE2_ADDR + at, bits, { max: count });
  if (code.length === 0) return null;
  const end = at + code.reduce((n, i) => n + i.length, 0) - 1;
  return codeDump(`Stage 2, bytes ${hex(at)}–${hex(end)}: ${what}`, ours.stage2Lba * SECTOR + at, code, bits, notes);
}

export function a20Step(ours: OurLoader): WalkStep {
  const s2 = ours.stage2;
  const dumps: HexDump[] = [];
  const at = findCode(s2, [0xb8, 0x01, 0x24, 0xcd, 0x15]);
  if (at >= 0) {
    // a20_enable: call a20_test (E8 rel16); jz .on (74 rel8); then the BIOS call.
    const start = at >= 5 && s2[at - 5] === 0xe8 && s2[at - 2] === 0x74 ? at - 5 : at;
    const d = stage2Code(ours, start, 'the first tries', A20_NOTES, start === at ? 2 : 6);
    if (d) dumps.push(d);
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
 * The example machine of the memory map and the Multiboot information: QEMU's
 * `pc` machine with 128 MiB, whose map (SeaBIOS's) the emulator's model PC
 * builds (`x86/pc.ts` e820Map); test/walkthrough.test.ts boots the demo
 * kernel in QEMU and compares what it was given.
 */
const EXAMPLE_MIB = EXAMPLE_MEMORY_MIB;
const EXAMPLE_E820: readonly E820Entry[] = e820Map(EXAMPLE_MIB);
const EXAMPLE_MACHINE = `QEMU's pc machine with ${EXAMPLE_MIB} MiB`;
/** The example's boot drive: the first hard disk. */
const EXAMPLE_DRIVE = 0x80;
/** The 32-bit signature 'SMAP' that INT 15h E820h takes in EDX and returns in EAX. */
const SMAP = 0x534d4150;
/** The E820 type of usable RAM. */
const E820_RAM = 1;
/**
 * QEMU's reserved range below 1 TiB: AMD's HyperTransport addresses
 * (hw/i386/pc.c, AMD_HT_START to AMD_HT_END, from QEMU 7.1).
 */
const AMD_HT_START = 0xfd00000000;
/** The example's usable RAM from 1 MiB: the end of the type-1 entry holding 1 MiB. */
const EXAMPLE_RAM_END = (() => {
  const e = EXAMPLE_E820.find(
    (x) => x.type === E820_RAM && x.base <= KERNEL_MIN_ADDR && x.base + x.length > KERNEL_MIN_ADDR,
  )!;
  return e.base + e.length;
})();
/** The example's INT 12h answer: KiB of conventional memory, the usable RAM at 0. */
const EXAMPLE_MEM_LOWER = EXAMPLE_E820[0].length / KIB;

/** What one entry of the example map is. */
function e820Role(e: E820Entry): string {
  const end = e.base + e.length;
  if (e.type === E820_RAM && e.base === 0) return 'conventional memory, below the EBDA';
  if (e.base === EBDA_START) return "the extended BIOS data area (EBDA), SeaBIOS's, just below 640 KiB";
  if (e.base === 0xf0000) return "the BIOS's own code, up to 1 MiB";
  if (e.type === E820_RAM && e.base === MIB) return 'the RAM from 1 MiB, where the kernel goes';
  if (end === lowMemoryTop(EXAMPLE_MIB)) return "SeaBIOS's tables (the ACPI tables among them), at the top of RAM";
  if (e.base === 0xfffc0000) return "the firmware's flash, just below 4 GiB, where the processor starts after a reset";
  if (e.base === AMD_HT_START) return 'below 1 TiB: the range AMD processors keep for HyperTransport (see above)';
  if (e.type === E820_RAM && e.base >= 2 ** 32) return 'RAM above 4 GiB';
  return '';
}

const E820_NOTES: Notes = [
  [/^mov eax,0xe820$/, 'EAX: the function, E820h "describe the memory"'],
  [/^mov edx,0x534d4150$/, "EDX: the signature 'SMAP', which the BIOS checks"],
  [/^mov ecx,0x14$/, 'ECX: room for 20 bytes, one entry'],
  [/^mov dword \[di\+0x14\],0x1$/, 'type 1 set beforehand, for BIOSes that return fewer bytes'],
  [/^add di,/, 'ES:DI: where the BIOS writes the entry, after its 4-byte size field'],
  [
    /^int 0x15$/,
    'call the BIOS system service; EBX: 0 the first time, then what the BIOS returned; 0 back after the last entry',
  ],
  [/^lea di,/, 'DI back on the size field (LEA changes no flag)'],
  [/^jc /, 'CF set: no more entries, the map is done'],
  [/^cmp eax,0x534d4150$/, "the BIOS answers with 'SMAP' in EAX"],
  [/^jnz /, 'anything else: the map is done'],
];

export function e820Step(ours: OurLoader): WalkStep {
  const s2 = ours.stage2;
  const dumps: HexDump[] = [];
  // mov eax, 0xE820 (66 B8 20 E8 00 00); mov edx, 'SMAP' (66 BA then the signature)
  const at = findCode(s2, pattern(0x66, 0xb8, { u32: 0xe820 }, 0x66, 0xba, { u32: SMAP }));
  if (at >= 0) {
    const d = stage2Code(ours, at, 'one call', E820_NOTES, E820_NOTES.length);
    if (d) dumps.push(d);
  }
  const map = encodeMmap(EXAMPLE_E820.map((e) => [e.base, e.length, e.type] as const));
  const d = new Dump(
    `Example only (${EXAMPLE_MACHINE}): the memory map as stage 2 stores it at ${hex(MMAP_ADDR)}; every machine gives its own`,
    null,
    MMAP_ADDR,
    map,
  );
  EXAMPLE_E820.forEach((e, i) => {
    const role = e820Role(e);
    d.f(
      i * MMAP_ENTRY.stride,
      MMAP_ENTRY.stride,
      `Entry ${i + 1}`,
      `${hex(e.base)}–${hex(e.base + e.length - 1)}, ${formatBytes(e.length)}: type ${e.type}, ${E820_TYPE_NAMES[e.type] ?? 'other'}${role ? `; ${role}` : ''}`,
    );
  });
  dumps.push(d.done());
  const end = ours.params.loadEnd;
  const needs = end > KERNEL_MIN_ADDR ? formatBytes(end - KERNEL_MIN_ADDR) : 'nothing';
  return {
    id: 'e820',
    title: 'The BIOS memory map (E820)',
    text: [
      "The kernel must know which memory it may use. Stage 2 asks the BIOS with `INT 15h` function `E820h` (the ACPI specification's \"System Address Map Interfaces\"), once per region: EAX the function, EDX the signature `'SMAP'`, ECX the room, ES:DI where to write, EBX 0 on the first call. Each answer is a start address, a length and a type (1 is usable RAM; the rest is reserved for the BIOS, devices or ACPI tables); EAX comes back as `'SMAP'`, CF set on an error, and EBX holds a value for the next call, 0 after the last entry.",
      `Stage 2 keeps the answers as they are, ${MMAP_ENTRY.stride} bytes each: a size, ${MMAP_ENTRY.e820Bytes}, then the ${MMAP_ENTRY.e820Bytes} bytes from the BIOS (the start, 8 bytes; the length, 8 bytes; the type, 4 bytes), at \`${hex(MMAP_ADDR)}\`, and hands the list to the kernel. These entries come from the machine, not from the disk: the example below is what ${EXAMPLE_MACHINE} reports.`,
      `Its last entry lies far above the RAM: ${formatBytes(2 ** 40 - AMD_HT_START)} reserved from \`${hex(AMD_HT_START)}\` up to 1 TiB. On AMD processors that range belongs to HyperTransport (interrupts, I/O and configuration space: the "special address" ranges of the AMD IOMMU specification), so no memory or device may be put there. QEMU, since version 7.1, reports it as reserved whenever its virtual processor is an AMD model with at least 40 address bits, as its default \`qemu64\` is, so that neither the firmware nor the kernel puts RAM or a 64-bit PCI device there. The kernel, like any, uses only type 1.`,
      `Then stage 2 checks that the kernel fits: usable RAM must run from 1 MiB to at least the parameter block's load end, \`${hex(end)}\` (${needs} above 1 MiB for this kernel). If not, it stops with "kernel too large for memory".`,
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

const bin = (v: number, n: number) => v.toString(2).padStart(n, '0');

/** One descriptor, field by field and its two flag bytes bit by bit (Intel SDM Vol. 3A, the figure "Segment Descriptor"). */
function descriptorDump(s2: Uint8Array, at: number, diskOffset: number, selector: number): HexDump {
  const b = s2.slice(at, at + 8);
  const access = b[5];
  const flags = b[6];
  const code = (access & 0x08) !== 0;
  const type = code
    ? `code: execute${access & 0x02 ? ' and read' : ' only'}, ${access & 0x04 ? 'conforming' : 'not conforming'}`
    : `data: read${access & 0x02 ? ' and write' : ' only'}, ${access & 0x04 ? 'grows down' : 'grows up'}`;
  const rawLimit = b[0] | (b[1] << 8) | ((flags & 0x0f) << 16);
  return new Dump(
    `Stage 2, bytes ${hex(at)}–${hex(at + 7)}: descriptor ${hex(selector)}, bit by bit`,
    diskOffset,
    STAGE2_ADDR + at,
    b,
  )
    .u16(0, 'Limit, bits 15–0', (v) => hex(v))
    .u16(2, 'Base, bits 15–0', (v) => hex(v))
    .u8(4, 'Base, bits 23–16')
    .u8(
      5,
      'Access byte',
      (v) =>
        `${hex(v)} = ${bin(v >> 4, 4)} ${bin(v & 15, 4)}: P = ${v >> 7} (${v & 0x80 ? 'present' : 'absent'}), DPL = ${bin((v >> 5) & 3, 2)} (privilege ${(v >> 5) & 3}), S = ${(v >> 4) & 1} (${v & 0x10 ? 'code or data' : 'a system segment'}), type ${bin(v & 15, 4)} (${type}; ${v & 1 ? 'accessed' : 'not accessed yet'})`,
    )
    .u8(
      6,
      'Flags, limit bits 19–16',
      (v) =>
        `${hex(v)} = ${bin(v >> 4, 4)} ${bin(v & 15, 4)}: G = ${v >> 7} (the limit counts ${v & 0x80 ? '4 KiB pages' : 'bytes'}), D/B = ${(v >> 6) & 1} (${v & 0x40 ? '32-bit' : '16-bit'}), L = ${(v >> 5) & 1}, AVL = ${(v >> 4) & 1}, limit bits 19–16 = ${bin(v & 15, 4)}; so the limit is ${hex(rawLimit)}${v & 0x80 ? ` pages, ${formatBytes((rawLimit + 1) * 4096)}` : ''}`,
    )
    .u8(7, 'Base, bits 31–24')
    .done();
}

/** The switch to protected mode (pmode.inc, call32): what each instruction does. */
const SWITCH_NOTES: Notes = [
  [/^cli$/, 'interrupts off: no handler could run in protected mode (see above)'],
  [/^lgdt /, "GDTR = the 6 bytes there: the GDT's size and address"],
  [/^mov eax,cr0$/, 'EAX = CR0, control register 0'],
  [/^or al,0x1$/, 'set bit 0, PE (protection enable)'],
  [/^mov cr0,eax$/, 'protected mode from here on, though CS still holds a real-mode segment'],
  [
    /^jmp dword 0x8:/,
    'a far jump: CS = selector 0x08, the 32-bit code descriptor; the next instruction runs as 32-bit code',
  ],
];
const PM32_NOTES: Notes = [
  [/^mov ax,0x10$/, 'selector 0x10: descriptor 2, the flat 32-bit data segment'],
  [/^mov ds,e?ax$/, 'DS: the CPU loads the descriptor from the GDT now'],
  [/^mov es,e?ax$/, 'ES too'],
  [/^mov ss,e?ax$/, 'and SS, the stack'],
  [/^movzx esp,sp$/, 'ESP = SP: the same stack, now with a 32-bit pointer'],
  [/^movzx ebx,bx$/, "EBX = the 32-bit routine's address, from BX"],
  [/^call ebx$/, 'run it (add the piece to the CRC, copy it into place); then back to real mode'],
];

export function pmodeStep(ours: OurLoader): WalkStep {
  const s2 = ours.stage2;
  const base = ours.stage2Lba * SECTOR;
  const dumps: HexDump[] = [];
  // The first switch (call32): cli; lgdt [gdtr] (FA 0F 01 16 disp16) ... jmp dword 0x8:.pm32.
  const sw = findCode(s2, [0xfa, 0x0f, 0x01, 0x16]);
  if (sw >= 0) {
    const code = disassemble(s2.subarray(0, CMDLINE_OFF), sw, STAGE2_ADDR + sw, 16, {
      max: 8,
      until: (i) => i.operands[0]?.kind === 'far',
    });
    const far = code[code.length - 1];
    if (far?.operands[0]?.kind === 'far') {
      const end = sw + code.reduce((n, i) => n + i.length, 0) - 1;
      dumps.push(codeDump(`Stage 2, bytes ${hex(sw)}–${hex(end)}: the switch`, base + sw, code, 16, SWITCH_NOTES));
      const pm = far.operands[0].value - STAGE2_ADDR;
      if (pm > sw && pm < CMDLINE_OFF) {
        const d = stage2Code(ours, pm, 'the first 32-bit instructions', PM32_NOTES, PM32_NOTES.length, 32);
        if (d) dumps.push(d);
      }
    }
  }
  // The GDTR lgdt names, then the table it points to.
  const lgdt = findCode(s2, [0x0f, 0x01, 0x16]);
  let gdtShown = false;
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
        if (size >= 16) dumps.push(descriptorDump(s2, gdtAt + 8, base + gdtAt + 8, 8));
        gdtShown = true;
      }
    }
  }
  const text = [
    'Protected mode is the CPU\'s 32-bit mode: it can address 4 GiB, and memory is reached through segments described in a table, the GDT (global descriptor table). Each 8-byte descriptor gives a segment\'s base address, its size (the limit) and its kind. Stage 2 switches the way Intel\'s manual says (SDM Vol. 3A, chapter 9 "Processor Management and Initialization", "Switching to Protected Mode").',
    "Stage 2's GDT has flat 32-bit code and data segments (base 0, 4 GiB: an address is simply the physical address), and 16-bit ones used to return to real mode between BIOS calls. The GDTR, 6 bytes, tells the CPU where the table is (`lgdt`).",
    'In protected mode a segment register holds a selector, not a segment: bits 15–3 are the index of a descriptor, bit 2 picks the GDT (0) or a local table (1), bits 1–0 are the privilege asked for (0, the highest). So `0x08` is descriptor 1, the 32-bit code, and `0x10` is descriptor 2, the data.',
    'Interrupts go off first (`cli`). In real mode an interrupt runs a BIOS handler listed in a table at address 0, 4 bytes a handler. In protected mode the CPU reads the table the IDTR register points at as an IDT (interrupt descriptor table) of 8-byte gates; stage 2 loads none, so the IDTR still points at the real-mode table, which makes no sense as gates. A timer tick during the trip would make the CPU fault, and with no handler for the fault either, reset (a triple fault). `cli` does not stop the non-maskable interrupt (NMI), which hardware raises on a serious failure such as a memory error; a PC masks it with bit 7 of port `0x70`. Stage 2 leaves it alone: a virtual machine raises none, and a real machine raising one is failing anyway.',
    'Then it loads the GDTR, sets bit 0 (PE) of the control register CR0, and makes a far jump to selector `0x08`, which loads CS from descriptor 1: the next instruction runs as 32-bit code. Loading `0x10` into the other segment registers gives them the data descriptor. The last dump is descriptor `0x08` bit by bit, as the SDM\'s figure "Segment Descriptor" (Vol. 3A, chapter 3) draws it.',
  ];
  if (!gdtShown) text.push('The GDT could not be located in this stage 2, so its bytes are not shown.');
  return { id: 'pmode', title: 'Protected mode', text, dumps };
}
