/**
 * The walkthrough's "Under UEFI" section: how a UEFI firmware starts the
 * same disk. It finds `\EFI\BOOT\BOOTX64.EFI` by the removable-media path,
 * checks the file's PE header, and runs it; our loader's identity block says
 * which stage 2 it reads; the loader reads the same LBA 0 fields, stage 2
 * and parameter block as the BIOS path, and hands over to the kernel the
 * same way. Every dump is the file's bytes at their place on the disk
 * (through the file's cluster chain).
 */
import { rd32le, u32le } from '../../bytes';
import { EFI_BOOT_NAME } from '../../boot/index';
import { EFI_IDENT_OFF, EFI_IDENT_SIZE, I_CMDLINE_OFF, I_PARAMS_VERSION, I_VERSION } from '../../boot/efi.generated';
import {
  CMDLINE_OFF,
  MULTIBOOT_MAGIC_EAX,
  PARAMS_MAGIC,
  PARAMS_OFF,
  STAGE1_FIELDS_OFF,
} from '../../boot/loader.generated';
import {
  COFF,
  DOS,
  machineName,
  MACHINE_X64,
  OPT,
  PE32_PLUS,
  SUBSYSTEM_EFI_APPLICATION,
  type PeHeader,
} from '../../boot/pe';
import { DIRENT } from '../../fat/dir';
import type { FatEntry, FatReader } from '../../fat/read';
import { hex } from '../../units';
import { EFI_LOADER_NAME, EFI_VERSION, readEfiLoader, type EfiLoader } from '../efi-loader';
import type { OurLoader } from '../bootloader';
import type { WalkStep } from './types';
import { Dump, find, readAt, sectors } from './dump';
import { attempt, type Builder } from './shared';
import { direntDump } from './syslinux';

/** Where each byte of the file lies on the disk: its cluster chain. */
async function fileOffsets(fat: FatReader, e: FatEntry): Promise<(offset: number) => number> {
  const need = Math.max(1, Math.ceil(e.size / fat.clusterBytes));
  const chain = await fat.chain(e.firstCluster, need, e.path);
  return (o) =>
    fat.clusterOffset(chain[Math.min(chain.length - 1, Math.floor(o / fat.clusterBytes))]) + (o % fat.clusterBytes);
}

function findStep(b: Builder, efi: EfiLoader, entries: FatEntry[], bytes: Uint8Array[]): WalkStep {
  const fat = b.ctx.fat!;
  const e = efi.entry;
  const p = b.ctx.partition;
  return {
    id: 'uefi-find',
    title: `UEFI firmware finds ${EFI_LOADER_NAME}`,
    text: [
      'A UEFI firmware (OVMF under QEMU, and the firmware of most PCs made since about 2012) never runs the code in LBA 0. It reads the partition table itself, opens the FAT file systems it finds in the partitions, and starts a program file from one of them.',
      `With no boot entry for this disk in its settings, it uses the removable-media path: \`${EFI_LOADER_NAME}\` on an x86-64 machine (UEFI specification, 3.5.1.1).${p ? ` Here that file is in partition ${p.index + 1}, type \`${hex(p.type)}\`, not the EFI system partition's \`0xEF\`: OVMF reads any FAT partition.` : ''}`,
      `It walks the directories as any FAT reader does: \`EFI\` in the root directory, \`BOOT\` inside it, then \`${EFI_BOOT_NAME}\`: ${e.size} bytes from cluster ${e.firstCluster} (${fat.validCluster(e.firstCluster) ? `LBA ${fat.clusterOffset(e.firstCluster) / 512}` : 'outside the volume'}). The FAT builder put it after the kernel, so the kernel's place on the disk is the same as without it.`,
    ],
    dumps: entries.map((x, i) => direntDump(`The directory entry of ${x.path}`, x, bytes[i], fat)),
  };
}

function peStep(efi: EfiLoader, h: PeHeader, at: (o: number) => number): WalkStep {
  const b = efi.bytes!;
  const dos = new Dump(`${EFI_BOOT_NAME}, bytes 0x00–0x3F: the DOS header`, at(0), null, b.slice(0, DOS.size))
    .text(DOS.magic, 2, 'Magic')
    .f(2, DOS.lfanew - 2, 'Old DOS fields', 'unused by UEFI')
    .u32(DOS.lfanew, 'e_lfanew', (v) => `${hex(v)}: where the PE header starts`);
  const pe = h.peOffset;
  const coff = new Dump(
    `${EFI_BOOT_NAME}, bytes ${hex(pe)}–${hex(pe + COFF.optional - 1)}: the PE signature and COFF header`,
    at(pe),
    null,
    b.slice(pe, pe + COFF.optional),
  )
    .text(COFF.signature, 4, 'Signature')
    .u16(COFF.machine, 'Machine', (v) => `${machineName(v)}${v === MACHINE_X64 ? '' : ': not this machine'}`)
    .u16(COFF.sections, 'Sections', (v) => `${v} (${h.sections.map((s) => s.name).join(', ')})`)
    .u32(COFF.timeDateStamp, 'Time stamp', (v) => (v ? hex(v) : '0: none, so every build gives the same bytes'))
    .f(COFF.symbolTable, 8, 'Symbol table', 'none')
    .u16(COFF.optionalSize, 'Optional header size', (v) => `${v} bytes`)
    .u16(COFF.characteristics, 'Characteristics', (v) => `${hex(v)}: an executable image`);
  const o = h.optOffset;
  const optEnd = OPT.dllCharacteristics + 2;
  const opt = new Dump(
    `${EFI_BOOT_NAME}, bytes ${hex(o)}–${hex(o + optEnd - 1)}: the start of the PE32+ optional header`,
    at(o),
    null,
    b.slice(o, o + optEnd),
  )
    .u16(OPT.magic, 'Magic', (v) => (v === PE32_PLUS ? '0x20B: PE32+, a 64-bit image' : hex(v)))
    .f(OPT.linkerVersion, OPT.entry - OPT.linkerVersion, 'Linker version, section sizes', 'sizes of code and data')
    .u32(OPT.entry, 'Entry point', (v) => `${hex(v)}: where the firmware calls it, relative to where it loads the file`)
    .u32(OPT.baseOfCode, 'Base of code', hex)
    .u64(OPT.imageBase, 'Image base', (v) => (v === 0 ? '0: no preferred place; the firmware chooses' : hex(v)))
    .u32(OPT.sectionAlignment, 'Section alignment', hex)
    .u32(OPT.fileAlignment, 'File alignment', hex)
    .f(OPT.osVersion, 4, 'OS version', 'unused')
    .f(OPT.imageVersion, 4, 'Image version', `${h.imageVersion.major}.${h.imageVersion.minor}: the loader's version`)
    .f(OPT.subsystemVersion, OPT.sizeOfImage - OPT.subsystemVersion, 'Subsystem version, reserved', 'unused')
    .u32(OPT.sizeOfImage, 'Size of image', (v) => `${hex(v)} bytes in memory, its variables included`)
    .u32(OPT.sizeOfHeaders, 'Size of headers', hex)
    .u32(OPT.checksum, 'Checksum', (v) => (v ? hex(v) : '0: UEFI does not check it'))
    .u16(OPT.subsystem, 'Subsystem', (v) => (v === SUBSYSTEM_EFI_APPLICATION ? '10: an EFI application' : `${v}`))
    .u16(OPT.dllCharacteristics, 'DLL characteristics', (v) => (v ? hex(v) : '0: no NX-compatibility claim'));
  const signed = efi.signatureBytes
    ? `This copy is signed: its certificate table (data directory 4) holds ${efi.signatureBytes} bytes, which a firmware with Secure Boot on checks against the keys it trusts.`
    : 'It carries no signature (data directory 4, the certificate table, is empty), so a firmware with Secure Boot on refuses to start it: OVMF prints "Access Denied" for the disk. Turn Secure Boot off for the VM, or sign the file with a key you enroll (docs/boot-loader.md).';
  return {
    id: 'uefi-pe',
    title: 'The PE header the firmware checks',
    text: [
      `\`${EFI_BOOT_NAME}\` is a PE32+ file, the format of 64-bit Windows programs, which UEFI adopted for its applications. The firmware checks \`MZ\`, follows \`e_lfanew\` to \`PE\\0\\0\`, and wants machine \`0x8664\` (x86-64), the PE32+ magic \`0x20B\` and subsystem 10, an EFI application.`,
      'It then copies the sections to memory it allocates (the image base is 0: the code uses only addresses relative to itself, so it runs wherever it lands) and calls the entry point in 64-bit long mode, with the image handle in RCX and the system table, the firmware\u2019s list of services, in RDX.',
      `DLL characteristics 0 claims no NX compatibility: the loader runs code from a page it allocates itself (the trampoline, below). The image version ${h.imageVersion.major}.${h.imageVersion.minor} is the loader's version.`,
      signed,
    ],
    dumps: [dos.done(), coff.done(), opt.done()],
  };
}

function identityStep(efi: EfiLoader, at: (o: number) => number, ours: OurLoader | undefined): WalkStep {
  const id = efi.identity!;
  const b = efi.bytes!;
  const pairs = ours?.report.params && ours.report.problems.length === 0;
  const match = id.stage2CodeSize === CMDLINE_OFF;
  const d = new Dump(
    `${EFI_BOOT_NAME}, bytes ${hex(EFI_IDENT_OFF)}–${hex(EFI_IDENT_OFF + EFI_IDENT_SIZE - 1)}: the identity block`,
    at(EFI_IDENT_OFF),
    null,
    b.slice(EFI_IDENT_OFF, EFI_IDENT_OFF + EFI_IDENT_SIZE),
  )
    .text(0, 4, 'Magic')
    .f(I_VERSION, 4, 'Version', `${id.version}${id.version === EFI_VERSION ? ': this tool’s' : ''}`)
    .u32(
      I_CMDLINE_OFF,
      'Stage 2 code size',
      (v) =>
        `${hex(v)}: it reads the command line at this offset in stage 2${pairs ? (match ? ', where this image has it' : `; this image has it at ${hex(CMDLINE_OFF)}`) : ''}`,
    )
    .u32(
      I_PARAMS_VERSION,
      'Parameter block version',
      (v) =>
        `${v}${ours && ours.report.version ? (v === ours.report.version ? ', as in this stage 2' : `; this stage 2's is ${ours.report.version}`) : ''}`,
    );
  return {
    id: 'uefi-ident',
    title: 'The identity block: which stage 2 this loader reads',
    text: [
      `The code section starts at file offset \`${hex(EFI_IDENT_OFF)}\` with 16 bytes that are not code (the entry point is just after them): \`UKEF\`, the loader's version, the stage 2 code size it was built for, and the parameter block version it reads.`,
      'The UEFI loader does not have its own copy of the kernel\u2019s details: it reads stage 2\u2019s parameter block, and checks its CRC over the block, stage 2\u2019s code and the command line, which starts right after the code. A loader built for another stage 2 would compute that CRC over the wrong bytes and stop. `unikernel-disk verify` compares these fields with the image\u2019s stage 2 so that such a pair is found before a boot is.',
    ],
    dumps: [d.done()],
  };
}

/** `mov eax, 0x2BADB002` and, when they follow, `mov ebx, [ebx+disp32]` and `jmp ecx`: the hand-over. */
function handoverDump(efi: EfiLoader, h: PeHeader, at: (o: number) => number): Dump | null {
  const b = efi.bytes!;
  const text = h.sections[0];
  if (!text) return null;
  const from = Math.max(text.rawOffset, EFI_IDENT_OFF + EFI_IDENT_SIZE);
  const to = Math.min(b.length, text.rawOffset + text.rawSize);
  const magic = new Uint8Array(5);
  magic[0] = 0xb8;
  u32le(magic, 1, MULTIBOOT_MAGIC_EAX);
  const i = find(b, magic, from, to);
  if (i < 0) return null;
  const tail = i + 5 + 8 <= to && b[i + 5] === 0x8b && b[i + 6] === 0x9b && b[i + 11] === 0xff && b[i + 12] === 0xe1;
  const d = new Dump(
    `${EFI_BOOT_NAME}, bytes ${hex(i)}–${hex(i + (tail ? 12 : 4))}: the trampoline's last instructions`,
    at(i),
    null,
    b.slice(i, i + (tail ? 13 : 5)),
  ).f(
    0,
    5,
    `mov eax, ${MULTIBOOT_MAGIC_EAX.toString(16).toUpperCase()}h`,
    'the Multiboot magic: "a Multiboot loader started you"',
  );
  if (tail) {
    d.f(
      5,
      6,
      `mov ebx, [ebx+${rd32le(b, i + 7)
        .toString(16)
        .toUpperCase()}h]`,
      "the Multiboot information's address, kept in the trampoline page",
    );
    d.f(11, 2, 'jmp ecx', "to the kernel's entry");
  }
  return d;
}

function loaderStep(b: Builder, efi: EfiLoader, h: PeHeader, at: (o: number) => number, ours: OurLoader): WalkStep {
  const bytes = efi.bytes!;
  const dumps = [
    new Dump(
      `LBA 0, bytes ${hex(STAGE1_FIELDS_OFF)}–${hex(STAGE1_FIELDS_OFF + 5)}: stage 1's two fields, read by the UEFI loader too`,
      STAGE1_FIELDS_OFF,
      null,
      b.ctx.lba0.slice(STAGE1_FIELDS_OFF, STAGE1_FIELDS_OFF + 6),
    )
      .u32(0, "Stage 2's first sector", (v) => `LBA ${v}`)
      .u16(4, "Stage 2's length", sectors)
      .done(),
  ];
  // cmp dword [rel the stage 2 buffer + PARAMS_OFF], "UKBP"
  const magic = new Uint8Array(4);
  u32le(magic, 0, PARAMS_MAGIC);
  const m = find(bytes, magic, EFI_IDENT_OFF + EFI_IDENT_SIZE, bytes.length);
  if (m >= 6 && bytes[m - 6] === 0x81 && bytes[m - 5] === 0x3d) {
    dumps.push(
      new Dump(
        `${EFI_BOOT_NAME}, bytes ${hex(m - 6)}–${hex(m + 3)}: the parameter block's magic, checked`,
        at(m - 6),
        null,
        bytes.slice(m - 6, m + 4),
      )
        .f(0, 2, 'cmp dword [rel …]', `compares the dword at offset ${hex(PARAMS_OFF)} of stage 2 as read`)
        .f(2, 4, 'Displacement', 'where stage 2 lies in the loader\u2019s memory, relative to the next instruction')
        .text(6, 4, 'The magic it wants')
        .done(),
    );
  }
  const hand = handoverDump(efi, h, at);
  if (hand) dumps.push(hand.done());
  return {
    id: 'uefi-loader',
    title: 'What the UEFI loader does, and where it meets the BIOS path',
    text: [
      'The loader asks the firmware which partition its file came from and opens the whole disk through the firmware\u2019s disk services. From then on it reads what the BIOS path reads: stage 1\u2019s two fields in LBA 0 (here stage 2 is at ' +
        `LBA ${ours.stage2Lba}, ${sectors(ours.stage2Sectors)}), then stage 2, whose parameter block it checks exactly as stage 2 does: the magic \`UKBP\`, the version, the CRC.`,
      'It turns the firmware\u2019s memory map into a Multiboot memory map (so that the entry at 1 MiB is as large as the firmware allows), checks that the kernel fits, reads the kernel from the LBA in the parameter block and checks its CRC, and copies a small piece of its own code, the trampoline, to a page below 4 GiB. Then it calls ExitBootServices: from here on the firmware\u2019s services are gone and the machine is the loader\u2019s.',
      'The trampoline leaves 64-bit long mode for 32-bit protected mode with paging off (the mode Multiboot asks for), copies each segment of the kernel to its address, zeroes the bss, puts a copy of the ACPI RSDP at `0xE0000` (where Solo5 looks for it, to power off), loads EAX with the Multiboot magic and EBX with the Multiboot information, and jumps. The kernel starts in the same state as after the BIOS path\u2019s last step, with the same command line.',
    ],
    dumps,
  };
}

/** The "Under UEFI" steps; none when the volume has no `\EFI\BOOT\BOOTX64.EFI`. */
export async function efiSteps(b: Builder): Promise<WalkStep[]> {
  const fat = b.ctx.fat;
  if (!fat) return [];
  const out: (WalkStep | null)[] = [];
  const efi = await attempt(b, 'The UEFI loader', async () => {
    const found = await readEfiLoader(b.ctx);
    if (found?.readError) b.notes.push(`${EFI_LOADER_NAME} cannot be read: ${found.readError}`);
    return found && found.bytes ? found : null;
  });
  if (!efi) return [];
  const at = await attempt(b, 'The UEFI loader', async () => ({ map: await fileOffsets(fat, efi.entry) }));
  if (!at) return [];
  out.push(
    await attempt(b, `Finding ${EFI_LOADER_NAME}`, async () => {
      const entries = [(await fat.find('/EFI'))!, (await fat.find('/EFI/BOOT'))!, efi.entry];
      const bytes = await Promise.all(entries.map((x) => readAt(b.ctx.disk, x.entryOffset, DIRENT.size)));
      return findStep(b, efi, entries, bytes);
    }),
  );
  const h = efi.pe?.header;
  if (!h) {
    b.notes.push(`${EFI_LOADER_NAME} is not a PE file a firmware starts: ${efi.pe?.problems[0] ?? ''}`);
    return out.filter((s): s is WalkStep => s !== null);
  }
  out.push(peStep(efi, h, at.map));
  if (efi.identity) out.push(identityStep(efi, at.map, b.boot.ours));
  else b.notes.push(`${EFI_LOADER_NAME} is not this project's loader, so what it does under UEFI is not shown.`);
  if (efi.identity && b.boot.ours) out.push(loaderStep(b, efi, h, at.map, b.boot.ours));
  return out.filter((s): s is WalkStep => s !== null);
}
