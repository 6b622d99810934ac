/**
 * The walkthrough of our own loader: the steps in boot order, and the two
 * read from the disk first (stage 1 in LBA 0, stage 2's parameter block and
 * command line). What stage 2 sets up in the machine is `ours-machine.ts`;
 * reading, placing and starting the kernel is `ours-kernel.ts`.
 */
import { charText, rd16le, rd32le } from '../../bytes';
import { MBR } from '../../mbr';
import { DAP, encodeDap } from '../../boot/dap';
import { formatBytes, hex, SECTOR } from '../../units';
import {
  CMDLINE_OFF,
  FLAG_DEBUG_EXIT,
  MAX_SEGMENTS,
  MBI_ADDR,
  MBI_SIZE,
  P_CMDLINE_LEN,
  P_CRC,
  P_ENTRY,
  P_FLAGS,
  P_KERNEL_CRC,
  P_KERNEL_LBA,
  P_KERNEL_SIZE,
  P_LOAD_END,
  P_LOAD_START,
  P_SEG_COUNT,
  P_SEGS,
  P_SIZE,
  P_VERSION,
  PARAMS_MAGIC,
  PARAMS_OFF,
  PARAMS_SIZE,
  STAGE1_FIELDS_OFF,
  STAGE2_ADDR,
} from '../../boot/loader.generated';
import type { OurLoader } from '../bootloader';
import { utf8Decode } from '../../fat/read';
import type { HexDump, WalkStep } from './types';
import { BOOT_ADDR, Dump, quote, sectors } from './dump';
import { codeDump, disassemble, type Notes } from './code';
import { attempt, biosStep, type Builder, partitionStep } from './shared';
import { type KernelHeaders, oursKernel, readKernelHeaders } from './kernel';
import { a20Step, e820Step, mbiStep, pmodeStep } from './ours-machine';
import { jumpStep, kernelReadStep, segmentsStep } from './ours-kernel';

/** Stage 1 starts with a short jump and a nop (3 bytes); the area kept empty follows. */
const STAGE1_JUMP_END = 3;
/** Where stage 1's code starts: after its two fields (u32 LBA, u16 sectors). */
const STAGE1_CODE_OFF = STAGE1_FIELDS_OFF + 6;

/** What stage 1's first instructions do (stage1.asm, s1_main). */
const SETUP_NOTES: Notes = [
  [/^cli$/, 'interrupts off while the segment registers and the stack change'],
  [/^xor ax,ax$/, 'AX = 0, for the segment registers (no instruction loads one with a number)'],
  [/^mov ds,ax$/, 'DS = 0: data addresses are offsets from address 0'],
  [/^mov es,ax$/, 'ES = 0, the second data segment'],
  [/^mov ss,ax$/, 'SS = 0, the stack segment'],
  [/^mov sp,0x7c00$/, 'SP = 0x7C00: the stack grows down from here, just below stage 1'],
  [/^jmp 0x0:/, 'a far jump to the next instruction, to set CS = 0 whichever segment:offset the BIOS used'],
  [/^sti$/, 'interrupts on again: the stack is ready'],
  [/^cld$/, 'string instructions count upwards'],
  [/^test dl,0x80$/, 'is the boot drive a hard disk (bit 7 set: 0x80, 0x81, …)?'],
  [/^jnz /, 'yes: keep it'],
  [/^mov dl,0x80$/, 'no (some firmware passes 0): take the first hard disk'],
  [/^mov \[0x[0-9a-f]+\],dl$/, 'keep the boot drive in memory, for stage 2'],
  [/^mov bp,dx$/, 'and in BP, for the BIOS calls below'],
  [/^call /, 'set up the serial port COM1 for messages'],
];
/** The extensions check: a BIOS call and its answer. */
const CHECK_NOTES: Notes = [
  [/^mov ah,0x41$/, 'AH: the function, 41h "are the extensions there?"'],
  [/^mov bx,0x55aa$/, 'BX: a test value; a BIOS with the extensions answers AA55h'],
  [/^mov dx,bp$/, 'DL: the drive to ask about'],
  [/^int 0x13$/, 'call the BIOS disk service'],
  [/^jc /, 'CF set: the BIOS failed, so there are no extensions'],
  [/^cmp bx,0xaa55$/, 'did it answer AA55h?'],
  [/^jnz /, 'no: no extensions'],
  [/^test cl,0x1$/, 'CX bit 0: reading by packet (function 42h) is there'],
  [/^jz /, 'no: stop with "no INT 13h extensions"'],
];
/** The read: the packet pushed field by field, last field first, then function 42h. */
const READ_NOTES: Notes = [
  [/^o32 push byte \+0x0$/, "the packet's last field first: the top half of the 64-bit LBA, 0"],
  [/^push dword \[/, "its bottom half: stage 2's first sector, from the field at 0x5A"],
  [/^push ds$/, "the buffer's segment: DS, 0"],
  [/^push word 0x8000$/, "the buffer's offset: 0x8000"],
  [/^push cx$/, 'the number of sectors (CX, from the field at 0x5E)'],
  [/^push byte \+0x10$/, "the packet's size, 16 bytes; SP now points at the packet"],
  [/^mov si,sp$/, 'DS:SI: the packet, as function 42h wants it'],
  [/^mov ah,0x42$/, 'AH: the function, 42h "extended read"'],
  [/^mov dx,bp$/, 'DL: the boot drive'],
  [/^int 0x13$/, 'the BIOS reads the sectors to 0000:8000'],
  [/^lea sp,/, 'drop the packet (LEA changes no flag, so CF survives)'],
  [/^jc /, 'CF set: a read error, its code in AH'],
];

function stage1Step(b: Builder, ours: OurLoader): WalkStep {
  const lba0 = b.ctx.lba0;
  const from = 0x50;
  const fields = new Dump(
    `LBA 0, bytes ${hex(from)}–${hex(STAGE1_CODE_OFF - 1)}: stage 1's two fields`,
    from,
    BOOT_ADDR + from,
    lba0.slice(from, STAGE1_CODE_OFF),
  )
    .f(
      0,
      STAGE1_FIELDS_OFF - from,
      `Kept empty (${hex(from)}–${hex(STAGE1_FIELDS_OFF - 1)})`,
      `zeros, the end of the area ${hex(STAGE1_JUMP_END)}–${hex(STAGE1_FIELDS_OFF - 1)} kept empty: some BIOSes write a FAT BPB there, so no code lives there`,
    )
    .u32(STAGE1_FIELDS_OFF - from, "Stage 2's first sector", (v) => `LBA ${v}`)
    .u16(STAGE1_FIELDS_OFF + 4 - from, "Stage 2's length", sectors)
    .done();
  const dumps = [fields];
  // Stage 1's code, decoded from its first instruction: the setup, the extensions check, the read.
  const code = disassemble(lba0.subarray(0, MBR.codeSize), STAGE1_CODE_OFF, BOOT_ADDR + STAGE1_CODE_OFF, 16, {
    max: 48,
  });
  const index = (test: (text: string) => boolean, after = 0) => {
    const i = code.findIndex((ins, k) => k >= after && test(ins.text));
    return i;
  };
  const part = (caption: string, first: number, last: number, notes: Notes) => {
    if (first < 0 || last < first) return;
    const run = code.slice(first, last + 1);
    const start = run[0].eip - BOOT_ADDR;
    const end = start + run.reduce((n, i) => n + i.length, 0) - 1;
    dumps.push(codeDump(`LBA 0, bytes ${hex(start)}–${hex(end)}: ${caption}`, start, run, 16, notes));
  };
  const check = index((t) => t === 'mov ah,0x41');
  const checkEnd =
    check < 0
      ? -1
      : index(
          (t) => t.startsWith('jz '),
          index((t) => t === 'test cl,0x1', check),
        );
  part("stage 1's first instructions", check > 0 ? 0 : -1, check - 1, SETUP_NOTES);
  part('the extensions check', check, checkEnd, CHECK_NOTES);
  const read = index((t) => t.includes('push'), checkEnd);
  const readCall = index((t) => t === 'int 0x13', read);
  part('the read', read, readCall < 0 ? -1 : index((t) => t.startsWith('jc '), readCall), READ_NOTES);
  const dap = encodeDap(ours.stage2Sectors, 0, STAGE2_ADDR, ours.stage2Lba);
  dumps.push(
    new Dump(
      'The disk address packet those pushes build on the stack (in memory, from the two fields above)',
      null,
      null,
      dap,
    )
      .u8(DAP.packetSize, 'Packet size', (v) => `${v} bytes`)
      .u8(DAP.reserved, 'Reserved', () => '0')
      .u16(DAP.sectors, 'Sectors to read', (v) => `${v}`)
      .u16(DAP.bufferOffset, 'Buffer offset', (v) => hex(v))
      .u16(DAP.bufferSegment, 'Buffer segment', (v) => `${hex(v)}: so the buffer is at ${hex(STAGE2_ADDR)}`)
      .u64(DAP.lba, 'First sector', (v) => `LBA ${v}`)
      .done(),
  );
  const text = [
    `Stage 1 is our code in the first 440 bytes of LBA 0. That is too small for a whole loader, so its one job is to load stage 2, the bigger part, from the sectors after LBA 0. The image builder wrote where stage 2 is into two fields at \`${hex(STAGE1_FIELDS_OFF)}\`: its first sector (\`${Array.from(lba0.subarray(STAGE1_FIELDS_OFF, STAGE1_FIELDS_OFF + 4), (x) => x.toString(16).toUpperCase().padStart(2, '0')).join(' ')}\`, little-endian: LBA ${ours.stage2Lba}) and its length.`,
    'It turns interrupts off while it sets the segment registers and a stack just below `0x7C00` (an interrupt in between would push onto a half-made stack), sets CS to 0 with a far jump, remembers the boot drive from DL, and prepares the serial port COM1 for messages.',
    "Then it talks to the BIOS, through software interrupts. A BIOS call always goes the same way: the function number in AH, its inputs in other registers, then `int` with the service's number (`13h` for disks). The BIOS answers in registers and sets the carry flag (CF) when it fails, with an error code in AH, so every call is followed by `jc` to the error path.",
    'Function `41h` asks whether the disk "extensions" of the EDD specification are there: they read sectors by their LBA number, instead of the old cylinder/head/sector addressing, which cannot reach past about 8 GB. Without them stage 1 stops with "no INT 13h extensions".',
    `Function \`42h\` reads stage 2. It takes a 16-byte disk address packet at DS:SI: how many sectors (${ours.stage2Sectors}), where to put them (\`${hex(STAGE2_ADDR)}\`) and the first sector (LBA ${ours.stage2Lba}). Stage 1 builds it on the stack, pushing the last field first (the stack grows downwards), so that SP ends up pointing at the packet.`,
    `Last, it checks that stage 2 carries the parameter block's magic \`UKBP\` at \`${hex(STAGE2_ADDR + PARAMS_OFF)}\` ("stage 2 damaged" if not) and jumps to \`${hex(STAGE2_ADDR)}\`, the drive number still in DL.`,
  ];
  if (!ours.stage1Current) {
    text.push("This image's stage 1 differs from this tool version's; the explanation describes the current one.");
  }
  return { id: 'stage1', title: 'Stage 1 checks the disk extensions and reads stage 2', text, dumps };
}

function paramsStep(b: Builder, ours: OurLoader): WalkStep {
  const s2 = ours.stage2;
  const base = ours.stage2Lba * SECTOR;
  const p = PARAMS_OFF;
  const r = ours.report;
  const dumps: HexDump[] = [];
  // Its first instruction: the jump over the block.
  const jump = disassemble(s2.subarray(0, p), 0, STAGE2_ADDR, 16, { max: 1 });
  if (jump.length === 1 && jump[0].mnemonic === 'jmp') {
    dumps.push(
      codeDump(`Stage 2, bytes 0x0–${hex(jump[0].length - 1)}: its first instruction`, base, jump, 16, [
        [/^jmp /, "jump over the parameter block to stage 2's code"],
      ]),
    );
  }
  const d = new Dump(
    `Stage 2, bytes ${hex(p)}–${hex(p + P_SEGS - 1)}: the parameter block`,
    base + p,
    STAGE2_ADDR + p,
    s2.slice(p, p + P_SEGS),
  );
  d.f(
    0,
    4,
    'Magic',
    `${hex(rd32le(s2, p))} ${quote(charText(s2.subarray(p, p + 4)))}${rd32le(s2, p) === PARAMS_MAGIC ? ': checked by stage 1 before it jumped here' : ' (not ours)'}`,
  );
  d.u16(P_VERSION, 'Version', (v) => `${v}`);
  d.u16(P_SIZE, 'Block size', (v) => `${hex(v)} bytes${v === PARAMS_SIZE ? '' : ` (expected ${hex(PARAMS_SIZE)})`}`);
  d.u32(P_CRC, 'CRC-32 of stage 2', (v) =>
    r.computedCrc === null
      ? hex(v)
      : r.computedCrc === v
        ? `${hex(v)}: matches the bytes it covers`
        : `${hex(v)}: the bytes give ${hex(r.computedCrc)}, so the loader stops`,
  );
  d.u32(P_FLAGS, 'Flags', (v) =>
    v & FLAG_DEBUG_EXIT ? `${hex(v)}: bit 0, on failure in a virtual machine exit QEMU with status 255` : hex(v),
  );
  d.u64(P_KERNEL_LBA, "Kernel's first sector", (v) => `LBA ${v} (byte offset ${hex(v * SECTOR)})`);
  d.u32(P_KERNEL_SIZE, "Kernel's size", (v) => `${v} bytes (${formatBytes(v)})`);
  d.u32(P_KERNEL_CRC, "Kernel's CRC-32", (v) => `${hex(v)}: checked after reading`);
  d.u32(P_ENTRY, 'Entry point', (v) => `${hex(v)}: where the loader jumps`);
  d.u32(P_LOAD_START, 'Load start', (v) => `${hex(v)}: lowest address written`);
  d.u32(P_LOAD_END, 'Load end', (v) => `${hex(v)}: one past the highest address written or zeroed`);
  d.u16(P_SEG_COUNT, 'Segments', (v) => `${v} (at most ${MAX_SEGMENTS})`);
  d.u16(P_CMDLINE_LEN, 'Command line length', (v) => `${v} bytes (without the NUL)`);
  d.f(P_CMDLINE_LEN + 2, P_SEGS - (P_CMDLINE_LEN + 2), 'Reserved', 'zeros');
  dumps.push(d.done());
  const len = rd16le(s2, p + P_CMDLINE_LEN);
  if (CMDLINE_OFF + len + 1 <= s2.length) {
    const cl = s2.slice(CMDLINE_OFF, CMDLINE_OFF + len + 1);
    const c = new Dump(
      `Stage 2, bytes ${hex(CMDLINE_OFF)}–${hex(CMDLINE_OFF + len)}: the command line`,
      base + CMDLINE_OFF,
      STAGE2_ADDR + CMDLINE_OFF,
      cl,
    );
    const space = cl.indexOf(0x20);
    const nameLen = space >= 0 && space < len ? space : len;
    if (nameLen > 0) c.f(0, nameLen, "Kernel's name", quote(utf8Decode(cl.subarray(0, nameLen))));
    if (len > nameLen + 1)
      c.f(nameLen + 1, len - nameLen - 1, 'Arguments', quote(utf8Decode(cl.subarray(nameLen + 1, len))));
    c.f(len, 1, 'End', 'NUL (0x00): the end of the text');
    dumps.push(c.done());
  }
  const text = [
    `Stage 2 is ${sectors(ours.stage2Sectors)} at LBA ${ours.stage2Lba}, in the gap between LBA 0 and the partition, now in memory at \`${hex(STAGE2_ADDR)}\`. It starts with a jump over its parameter block: the facts the image builder wrote about this kernel.`,
    `First it checks the block: the version, the size, that it lists at most ${MAX_SEGMENTS} segments, and a CRC-32 (a 32-bit checksum: changing any byte changes it) computed over the block from its flags on, all of stage 2's code and the command line. (The magic \`UKBP\` was checked by stage 1 before it jumped here.) A damaged or edited stage 2 stops here with "stage 2 or its parameter block damaged".`,
    `The block says where the kernel file is (it was written in one piece, so a sector number and a size are enough: the loader never reads the FAT), its CRC-32, where its parts go in memory and where to jump. The command line is kept at the end of stage 2; the kernel receives it as it is, its own file name first.`,
  ];
  for (const problem of r.problems) text.push(problem);
  return { id: 'params', title: 'Stage 2 checks its parameter block', text, dumps };
}

export async function oursSteps(b: Builder, ours: OurLoader): Promise<(WalkStep | null)[]> {
  const out: (WalkStep | null)[] = [];
  out.push(
    biosStep(
      b,
      'Here LBA 0 is a master boot record (MBR): 440 bytes of our stage 1 code, a 4-byte disk signature, the partition table, and the signature. Its first instruction jumps over an area kept empty to the code.',
      [
        [
          /^jmp short /,
          `jump over the area kept empty and stage 1's two fields (bytes ${hex(STAGE1_JUMP_END)}–${hex(STAGE1_CODE_OFF - 1)}) to its code`,
        ],
        [/^nop$/, "never run: it makes the jump 3 bytes long, as a FAT boot sector's is"],
      ],
    ),
  );
  out.push(await attempt(b, 'Stage 1', () => stage1Step(b, ours)));
  out.push(
    await attempt(b, 'The partition table', () =>
      partitionStep(b, [
        'Our loader does not need the table: stage 1 and the parameter block hold sector numbers directly. The table is there for the BIOS (some refuse a disk with no active partition) and for every other program that reads the disk, which finds the kernel as a file in this FAT partition.',
      ]),
    ),
  );
  out.push(await attempt(b, 'The parameter block', () => paramsStep(b, ours)));
  if (!ours.report.params || ours.report.problems.length) {
    b.notes.push(
      'The parameter block is damaged, so the loader would stop after checking it; the steps after it are not shown.',
    );
    return out;
  }
  const { kernelLba, kernelSize } = ours.params;
  const kernelEnd = kernelLba * SECTOR + kernelSize;
  const k =
    Number.isSafeInteger(kernelEnd) && kernelEnd <= b.ctx.disk.size
      ? oursKernel(b.ctx.disk, kernelLba, kernelSize)
      : null;
  if (!k) {
    b.notes.push(
      `The parameter block puts the kernel at LBA ${kernelLba} (${kernelSize} bytes), past the end of the ${formatBytes(b.ctx.disk.size)} disk, so the kernel's bytes are not shown; the loader would fail to read it.`,
    );
  }
  let kh: KernelHeaders | null = null;
  if (k) {
    await attempt(b, "The kernel's headers", async () => {
      kh = await readKernelHeaders(b, k);
      return null;
    });
  }
  const headers = kh as KernelHeaders | null;
  if (k) b.points = { entry: ours.params.entry, mbi: { address: MBI_ADDR, size: MBI_SIZE } };
  out.push(a20Step(ours));
  out.push(e820Step(ours));
  out.push(mbiStep(ours));
  if (k) out.push(await attempt(b, 'Reading the kernel', () => kernelReadStep(b, ours, headers)));
  out.push(segmentsStep(ours, headers));
  out.push(pmodeStep(ours));
  out.push(await attempt(b, 'The jump to the kernel', () => jumpStep(ours, k, headers)));
  return out;
}
