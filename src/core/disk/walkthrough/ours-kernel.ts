/**
 * Our loader's stage 2 and the kernel, for the walkthrough: reading the file
 * and checking its CRC, copying the segments (with the ELF program headers
 * they came from) and the jump to the entry point.
 */
import { rd32le } from '../../bytes';
import { PHDR32, PHDR64, PT_LOAD } from '../../elf';
import { MB_SEARCH } from '../../multiboot';
import { formatBytes, hex, plural, SECTOR } from '../../units';
import {
  CHUNK_SECTORS,
  MAX_SEGMENTS,
  MBI_ADDR,
  MULTIBOOT_MAGIC_EAX,
  P_ENTRY,
  P_SEGS,
  PARAMS_OFF,
  SEG_SIZE,
  STAGE2_ADDR,
} from '../../boot/loader.generated';
import type { LoadPlan } from '../../load-plan';
import type { OurLoader } from '../bootloader';
import type { HexDump, WalkStep } from './types';
import { Dump, findCode, pattern } from './dump';
import { codeDump, disassemble } from './code';
import type { Builder } from './shared';
import { elfDump, entryDump, type KernelFile, type KernelHeaders, multibootHeaderDump } from './kernel';

export function kernelReadStep(b: Builder, ours: OurLoader, kh: KernelHeaders | null): WalkStep {
  const p = ours.params;
  const dumps: HexDump[] = [];
  const elf = kh ? elfDump(kh, p.entry) : null;
  if (elf) dumps.push(elf);
  const reads = Math.ceil(p.kernelSize / (CHUNK_SECTORS * SECTOR));
  return {
    id: 'kernel',
    title: 'Reading the kernel and checking its CRC',
    text: [
      `The kernel file${b.boot.kernelPath ? ` \`${b.boot.kernelPath}\`` : ''} is ${p.kernelSize} bytes from LBA ${p.kernelLba}. Stage 2 reads it ${CHUNK_SECTORS} sectors (${formatBytes(CHUNK_SECTORS * SECTOR)}) at a time with \`INT 13h\` function \`42h\`: ${plural(reads, 'read')} here.`,
      'Each piece lands in a buffer at `0x10000`, below 1 MiB, because the BIOS works in real mode and cannot write higher. Stage 2 adds every piece to a running CRC-32 and copies its parts to their places above 1 MiB (the next step).',
      `After the last piece the CRC-32 must be \`${hex(p.kernelCrc32)}\`, the value in the parameter block; if the file was changed after the image was built, the loader stops with "kernel checksum mismatch". (\`unikernel-disk verify\` checks the same without booting.)`,
    ],
    dumps,
  };
}

/** Where the image builder found the segments, as a sentence, from the load plan's source. */
function segmentsSource(source: LoadPlan['source'] | null): string {
  switch (source) {
    case 'aout-kludge':
      return "the image builder computed them from the address fields of the kernel's Multiboot header (one segment: `header_addr` and `load_addr` give its file offset, `load_end_addr` the bytes from the file, `bss_end_addr` the end of the bss) and wrote them into the parameter block.";
    case 'elf32':
    case 'elf64':
      return "the kernel's Multiboot header has no address fields (flag bit 16 is clear), so the image builder took them from its ELF program headers (each `PT_LOAD` entry's `p_offset`, `p_filesz`, `p_paddr` and `p_memsz`) and wrote them into the parameter block.";
    default:
      return "the image builder read them from the kernel's headers and wrote them into the parameter block.";
  }
}

/** The PT_LOAD program headers the segments came from (when the plan's source is ELF and they lie in the kernel's head). */
function programHeaderDumps(kh: KernelHeaders): HexDump[] {
  const elf = kh.elf;
  if (!elf || (kh.source !== 'elf32' && kh.source !== 'elf64')) return [];
  const is64 = elf.class === 64;
  const P = is64 ? PHDR64 : PHDR32;
  const w = is64 ? 8 : 4;
  const out: HexDump[] = [];
  for (const ph of elf.phdrs) {
    if (ph.type !== PT_LOAD || ph.memsz === 0 || ph.at + P.size > kh.head.length) continue;
    if (out.length === MAX_SEGMENTS) break;
    const d = new Dump(
      `The kernel's program header ${ph.index} (PT_LOAD), at file offset ${hex(ph.at)}`,
      kh.headDiskOffset === null ? null : kh.headDiskOffset + ph.at,
      null,
      kh.head.slice(ph.at, ph.at + P.size),
    );
    const num = (v: number) => `${v} (${formatBytes(v)})`;
    const pf = rd32le(kh.head, ph.at + P.flags);
    const rwx = [pf & 4 ? 'read' : '', pf & 2 ? 'write' : '', pf & 1 ? 'execute' : ''].filter(Boolean);
    const perms = `${hex(pf)}: ${rwx.join(', ') || 'no access'}`;
    const fields: [number, number, string, string][] = [
      [P.type, 4, 'p_type', '1: PT_LOAD, a slice to load'],
      [P.offset, w, 'p_offset', `${hex(ph.offset)}: where the slice starts in the file`],
      [P.vaddr, w, 'p_vaddr', `${hex(ph.vaddr)}: its virtual address; the image builder uses it only to place e_entry`],
      [P.paddr, w, 'p_paddr', `${hex(ph.paddr)}: its physical address, where the loader copies it`],
      [P.filesz, w, 'p_filesz', `${num(ph.filesz)} from the file`],
      [P.memsz, w, 'p_memsz', `${num(ph.memsz)} in memory; the rest is zeroed`],
    ];
    if (is64) fields.splice(1, 0, [PHDR64.flags, 4, 'p_flags', perms]);
    else fields.push([PHDR32.flags, 4, 'p_flags', perms]);
    fields.push([P.align, w, 'p_align', hex(ph.align)]);
    for (const [start, length, label, value] of fields) d.f(start, length, label, value);
    out.push(d.done());
  }
  return out;
}

export function segmentsStep(ours: OurLoader, kh: KernelHeaders | null): WalkStep {
  const source = kh?.source ?? null;
  const s2 = ours.stage2;
  const segs = ours.params.segments;
  const at = PARAMS_OFF + P_SEGS;
  const d = new Dump(
    `Stage 2, bytes ${hex(at)}–${hex(at + segs.length * SEG_SIZE - 1)}: the segment table`,
    ours.stage2Lba * SECTOR + at,
    STAGE2_ADDR + at,
    s2.slice(at, at + segs.length * SEG_SIZE),
  );
  segs.forEach((_, i) => {
    const o = i * SEG_SIZE;
    const n = i + 1;
    d.u32(o, `Segment ${n}: file offset`, (v) => hex(v))
      .u32(o + 4, `Segment ${n}: bytes from the file`, (v) => `${v} (${formatBytes(v)})`)
      .u32(o + 8, `Segment ${n}: load address`, (v) => hex(v))
      .u32(o + 12, `Segment ${n}: bytes in memory`, (v) => `${v} (${formatBytes(v)})`);
  });
  const lines = segs.map(
    (s, i) =>
      `Segment ${i + 1}: ${s.fileSize} bytes from file offset \`${hex(s.fileOffset)}\` go to \`${hex(s.loadAddr)}\`${s.memSize > s.fileSize ? `; then ${s.memSize - s.fileSize} bytes up to \`${hex(s.loadAddr + s.memSize)}\` are set to zero (the bss)` : ''}.`,
  );
  return {
    id: 'segments',
    title: 'Copying the segments and clearing the bss',
    text: [
      `A kernel file is not copied to memory as a whole: its headers say which slices of the file go where. Each slice is a segment; ${segmentsSource(source)}`,
      'Real mode cannot reach memory above 1 MiB, so for each piece read, stage 2 switches briefly to 32-bit protected mode (next step), copies the parts of the piece that belong to a segment, and switches back for the next BIOS call.',
      ...lines,
      "The bss holds the kernel's variables that start at zero; they take no room in the file. Stage 2 clears it just before the jump.",
    ],
    dumps: [...(kh ? programHeaderDumps(kh) : []), d.done()],
  };
}

export async function jumpStep(ours: OurLoader, k: KernelFile | null, kh: KernelHeaders | null): Promise<WalkStep> {
  const s2 = ours.stage2;
  const p = ours.params;
  const dumps: HexDump[] = [];
  // mov eax, magic (B8); mov ebx, MBI_ADDR (BB); jmp [entry field] (FF 25)
  const seq = pattern(0xb8, { u32: MULTIBOOT_MAGIC_EAX }, 0xbb, { u32: MBI_ADDR }, 0xff, 0x25, {
    u32: STAGE2_ADDR + PARAMS_OFF + P_ENTRY,
  });
  const at = findCode(s2, seq);
  if (at >= 0) {
    const code = disassemble(s2.subarray(0, at + seq.length), at, STAGE2_ADDR + at, 32, { max: 3 });
    if (code.length === 3) {
      dumps.push(
        codeDump(
          `Stage 2, bytes ${hex(at)}–${hex(at + seq.length - 1)}: the last three instructions`,
          ours.stage2Lba * SECTOR + at,
          code,
          32,
          [
            [/^mov eax,/, 'EAX = the Multiboot magic: "a Multiboot loader started you"'],
            [/^mov ebx,/, "EBX = the Multiboot information's address"],
            [/^jmp \[/, `jump to the address in the parameter block's entry field: ${hex(p.entry)}`],
          ],
        ),
      );
    }
  }
  let kernelText = '';
  const mb = kh?.mb;
  if (k && mb) {
    dumps.push(await multibootHeaderDump(k, mb));
    const found = `The kernel's Multiboot header (found in its first ${MB_SEARCH} bytes, at file offset \`${hex(mb.offset)}\`)`;
    kernelText =
      kh.source === 'aout-kludge'
        ? `${found} is where these addresses came from: the image builder read \`header_addr\`, \`load_addr\`, \`load_end_addr\`, \`bss_end_addr\` and \`entry_addr\` when it wrote the parameter block.`
        : kh.source === 'elf32' || kh.source === 'elf64'
          ? `${found} has no address fields (flag bit 16 is clear), so these addresses came from the ELF headers: the image builder took the segments from the \`PT_LOAD\` program headers and the entry point from \`e_entry\`, turned into a physical address through the segment that holds it, when it wrote the parameter block.`
          : `${found} is shown below.`;
  }
  const entry = k ? await entryDump(k, p.entry, p.segments) : null;
  if (entry) dumps.push(entry);
  const text = [
    `In protected mode stage 2 clears the bss, puts the Multiboot magic \`${hex(MULTIBOOT_MAGIC_EAX)}\` in EAX and the information's address \`${hex(MBI_ADDR)}\` in EBX, and jumps to the entry point \`${hex(p.entry)}\`. From here on the kernel runs; the loader is never used again.`,
    'The kernel checks EAX to know a Multiboot loader started it, and reads the memory map and the command line through EBX. A Solo5 kernel then sets up its own GDT and stack, switches to 64-bit mode and starts the unikernel with the arguments after its file name.',
  ];
  if (kernelText) text.push(kernelText);
  return { id: 'jump', title: "The jump to the kernel's first instruction", text, dumps };
}
