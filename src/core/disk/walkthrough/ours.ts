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
import type { WalkStep } from './types';
import { BOOT_ADDR, Dump, find, quote, sectors } from './dump';
import { attempt, biosStep, type Builder, partitionStep } from './shared';
import { type KernelHeaders, oursKernel, readKernelHeaders } from './kernel';
import { a20Step, e820Step, mbiStep, pmodeStep } from './ours-machine';
import { jumpStep, kernelReadStep, segmentsStep } from './ours-kernel';

/** Stage 1 starts with a short jump and a nop (3 bytes); the area kept empty follows. */
const STAGE1_JUMP_END = 3;

function stage1Step(b: Builder, ours: OurLoader): WalkStep {
  const lba0 = b.ctx.lba0;
  const from = 0x50;
  const fields = new Dump(
    `LBA 0, bytes ${hex(from)}–${hex(from + 0x1f)}: stage 1's two fields`,
    from,
    BOOT_ADDR + from,
    lba0.slice(from, from + 0x20),
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
  // The check: mov ah, 41h; mov bx, 55AAh; ...; int 13h.
  const at = find(lba0, [0xb4, 0x41, 0xbb, 0xaa, 0x55], 0, MBR.codeSize);
  if (at >= 0) {
    const int13 = find(lba0, [0xcd, 0x13], at + 5, Math.min(MBR.codeSize, at + 12));
    if (int13 >= 0) {
      const d = new Dump(
        `LBA 0, bytes ${hex(at)}–${hex(int13 + 1)}: the extensions check`,
        at,
        BOOT_ADDR + at,
        lba0.slice(at, int13 + 2),
      )
        .f(0, 2, 'mov ah, 41h', 'BIOS disk function 41h: "are the extensions there?"')
        .f(2, 3, 'mov bx, 55AAh', 'a test value; a BIOS with extensions answers AA55h');
      if (int13 - at === 7 && lba0[at + 5] === 0x89 && lba0[at + 6] === 0xea) {
        d.f(5, 2, 'mov dx, bp', 'the boot drive number, kept in BP');
      } else if (int13 - at > 5) d.f(5, int13 - at - 5, 'More setup', 'other instructions before the call');
      dumps.push(d.f(int13 - at, 2, 'int 13h', 'call the BIOS disk service').done());
    }
  }
  const dap = encodeDap(ours.stage2Sectors, 0, STAGE2_ADDR, ours.stage2Lba);
  dumps.push(
    new Dump(
      'The disk address packet stage 1 builds on its stack (in memory, from the two fields above)',
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
    `Stage 1 is our code in the first 440 bytes of LBA 0. That is too small for a whole loader, so its one job is to load stage 2, the bigger part, from the sectors after LBA 0.`,
    'It sets up the segment registers and a stack just below `0x7C00`, remembers the boot drive from DL, and prepares the serial port COM1 for messages.',
    'Then it asks the BIOS, with `INT 13h` function `41h`, whether the disk "extensions" are there: they read sectors by their LBA number, instead of the old cylinder/head/sector addressing, which cannot reach past about 8 GB. Without them it stops with "no INT 13h extensions".',
    `It reads stage 2 with function \`42h\`, which takes a 16-byte disk address packet: how many sectors (${ours.stage2Sectors}), where to put them (\`${hex(STAGE2_ADDR)}\`) and the first sector (LBA ${ours.stage2Lba}). Both numbers come from the two fields the image builder wrote into stage 1 at offset \`${hex(STAGE1_FIELDS_OFF)}\`.`,
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
  const d = new Dump(
    `Stage 2, bytes 0x0–${hex(p + P_SEGS - 1)}: the jump and the parameter block`,
    base,
    STAGE2_ADDR,
    s2.slice(0, p + P_SEGS),
  );
  if (s2[0] === 0xe9) {
    d.f(0, 3, 'Jump (near)', `jmp to ${hex((STAGE2_ADDR + 3 + rd16le(s2, 1)) & 0xffff)}, over the block to the code`);
  }
  d.f(
    p,
    4,
    'Magic',
    `${hex(rd32le(s2, p))} ${quote(charText(s2.subarray(p, p + 4)))}${rd32le(s2, p) === PARAMS_MAGIC ? ': checked by stage 1 before it jumped here' : ' (not ours)'}`,
  );
  d.u16(p + P_VERSION, 'Version', (v) => `${v}`);
  d.u16(
    p + P_SIZE,
    'Block size',
    (v) => `${hex(v)} bytes${v === PARAMS_SIZE ? '' : ` (expected ${hex(PARAMS_SIZE)})`}`,
  );
  d.u32(p + P_CRC, 'CRC-32 of stage 2', (v) =>
    r.computedCrc === null
      ? hex(v)
      : r.computedCrc === v
        ? `${hex(v)}: matches the bytes it covers`
        : `${hex(v)}: the bytes give ${hex(r.computedCrc)}, so the loader stops`,
  );
  d.u32(p + P_FLAGS, 'Flags', (v) =>
    v & FLAG_DEBUG_EXIT ? `${hex(v)}: bit 0, on failure in a virtual machine exit QEMU with status 255` : hex(v),
  );
  d.u64(p + P_KERNEL_LBA, "Kernel's first sector", (v) => `LBA ${v} (byte offset ${hex(v * SECTOR)})`);
  d.u32(p + P_KERNEL_SIZE, "Kernel's size", (v) => `${v} bytes (${formatBytes(v)})`);
  d.u32(p + P_KERNEL_CRC, "Kernel's CRC-32", (v) => `${hex(v)}: checked after reading`);
  d.u32(p + P_ENTRY, 'Entry point', (v) => `${hex(v)}: where the loader jumps`);
  d.u32(p + P_LOAD_START, 'Load start', (v) => `${hex(v)}: lowest address written`);
  d.u32(p + P_LOAD_END, 'Load end', (v) => `${hex(v)}: one past the highest address written or zeroed`);
  d.u16(p + P_SEG_COUNT, 'Segments', (v) => `${v} (at most ${MAX_SEGMENTS})`);
  d.u16(p + P_CMDLINE_LEN, 'Command line length', (v) => `${v} bytes (without the NUL)`);
  d.f(p + P_CMDLINE_LEN + 2, P_SEGS - (P_CMDLINE_LEN + 2), 'Reserved', 'zeros');
  const dumps = [d.done()];
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
      'Here LBA 0 is a master boot record (MBR): 440 bytes of our stage 1 code, a 4-byte disk signature, the partition table, and the signature. The first bytes jump over an area kept empty to the code.',
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
  out.push(a20Step(ours));
  out.push(e820Step(ours));
  out.push(mbiStep(ours));
  if (k) out.push(await attempt(b, 'Reading the kernel', () => kernelReadStep(b, ours, headers)));
  out.push(segmentsStep(ours, headers));
  out.push(pmodeStep(ours));
  out.push(await attempt(b, 'The jump to the kernel', () => jumpStep(ours, k, headers)));
  return out;
}
