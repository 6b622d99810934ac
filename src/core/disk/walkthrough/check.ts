/**
 * Checking the walkthrough yourself: what its disk offsets are (the virtual
 * disk's, which a container file stores elsewhere), the `xxd` command that
 * prints each dump's bytes from a raw copy of the disk, a QEMU + gdb session
 * that stops the emulated PC where the steps say, and the specifications the
 * explanations rest on. Commands are quoted with the one shell rule
 * (`shell.ts`); test/walkthrough-check.test.ts runs them.
 */
import { findFormat } from '../../formats/index';
import { shellQuote } from '../../shell';
import { hex } from '../../units';
import type { BootloaderKind } from '../bootloader';
import type { CheckLine, CheckYourself, Reference, WalkSource } from './types';

/** The raw copy a container is turned into. */
const RAW_COPY = 'disk.raw';
/** QEMU's -s: a gdb server on this port. */
export const GDB_PORT = 1234;
/** The example machine's memory (QEMU's -m): the memory map's example (ours-machine.ts) and the QEMU + gdb session. */
export const EXAMPLE_MEMORY_MIB = 128;

/** What the dumps' disk offsets are in this image, and where `xxd` finds them. */
export function walkSource(formatId: string, fileName: string | null): WalkSource {
  const f = findFormat(formatId);
  const format = f?.label ?? formatId;
  const file = fileName ?? `disk${f?.extension ?? '.img'}`;
  const q = shellQuote(file);
  if (!f || f.plainDisk) {
    return {
      format,
      container: false,
      rawFile: file,
      prepare: null,
      qemu: { file, format: f?.qemuDriver ?? 'raw' },
      text: [
        `${q === file ? `\`${file}\`` : `The file ${q}`} holds the disk's bytes as they are${f && f.id !== 'raw' ? ` (a ${format}: the disk, then a footer)` : ''}, so a disk offset below is a position in the file, and each dump's \`xxd\` command prints the same bytes from it.`,
      ],
    };
  }
  // QEMU opens the container as it is; otherwise (the tar.gz) it is unpacked first.
  const prepare = f.qemuDriver ? `qemu-img convert -f ${f.qemuDriver} -O raw ${q} ${RAW_COPY}` : `tar -xzf ${q}`;
  return {
    format,
    container: true,
    rawFile: RAW_COPY,
    prepare,
    qemu: f.qemuDriver ? { file, format: f.qemuDriver } : { file: RAW_COPY, format: 'raw' },
    text: [
      `This is a ${format} file: it stores the disk in its own layout, with its own headers and tables and without the empty parts. Every disk offset below is a position on the virtual disk it holds, the bytes a virtual machine reads, not a position in the ${format} file.`,
      `To check the bytes yourself, make a raw copy of the disk first, \`${prepare}\`${f.qemuDriver ? '' : ` (it unpacks \`${RAW_COPY}\`)`}; each dump's \`xxd\` command reads that copy.`,
    ],
  };
}

/** The command that prints a dump's bytes from the raw disk, one byte a column as the dumps show them. */
export function xxdCommand(rawFile: string, offset: number, length: number): string {
  return `xxd -g1 -s ${hex(offset)} -l ${length} ${shellQuote(rawFile)}`;
}

/** What the session can stop at: the kernel's entry, and for our loader the Multiboot information's address. */
export interface CheckPoints {
  entry: number | null;
  mbi: { address: number; size: number } | null;
}

/** "Check it yourself with QEMU and gdb": QEMU stopped before the first instruction, gdb stopping where the steps say. */
export function checkYourself(source: WalkSource, points: CheckPoints): CheckYourself {
  const { file, format } = source.qemu;
  const lines: CheckLine[] = [
    {
      prompt: '$',
      command: `qemu-system-x86_64 -m ${EXAMPLE_MEMORY_MIB} -drive file=${shellQuote(file)},format=${format} -s -S`,
      note: `Start the PC with ${EXAMPLE_MEMORY_MIB} MiB${points.mbi ? ', the example machine of the memory map' : ''}, stopped before its first instruction (\`-S\`), with a gdb server on port ${GDB_PORT} (\`-s\`).`,
    },
    {
      prompt: '$',
      command: `gdb -q -ex 'target remote localhost:${GDB_PORT}'`,
      note: 'In a second terminal: gdb connects to it.',
    },
    {
      prompt: '(gdb)',
      command: 'hbreak *0x7c00',
      note: 'A hardware breakpoint where the BIOS jumps. (A software breakpoint is a byte written into memory, and the BIOS overwrites it when it loads LBA 0 there.)',
    },
    { prompt: '(gdb)', command: 'continue', note: 'The BIOS runs; the PC stops at `0x7C00`.' },
    {
      prompt: '(gdb)',
      command: 'x/16xb 0x7c00',
      note: "LBA 0's first 16 bytes, now in memory: the first step's first dump starts with them.",
    },
    { prompt: '(gdb)', command: 'p/x $dl', note: 'The boot drive the BIOS passes in DL: `0x80`.' },
  ];
  if (points.entry !== null) {
    const entry = `0x${points.entry.toString(16)}`;
    lines.push(
      { prompt: '(gdb)', command: `hbreak *${entry}`, note: "The kernel's entry point, where the last step ends." },
      { prompt: '(gdb)', command: 'continue', note: 'The loader runs to the end and jumps there.' },
      {
        prompt: '(gdb)',
        command: 'info registers eax ebx',
        note: "EAX holds the Multiboot magic `0x2badb002`; EBX the Multiboot information's address.",
      },
    );
    if (points.mbi) {
      lines.push({
        prompt: '(gdb)',
        command: `x/${points.mbi.size / 4}wx 0x${points.mbi.address.toString(16)}`,
        note: 'The Multiboot information, four bytes a word: with this machine, exactly the example in its step.',
      });
    }
    lines.push({
      prompt: '(gdb)',
      command: 'x/16xb $pc',
      note: "The kernel's first bytes: those of the last table. (gdb's own disassembler, `x/i`, would read them as 64-bit code here, because QEMU reports a 64-bit processor.)",
    });
  }
  return {
    text: [
      'QEMU can stop the emulated PC at any address while gdb, the GNU debugger, looks at its registers and memory, so every claim above about memory and registers can be seen happening. You need QEMU and gdb, and two terminals.',
      ...(source.qemu.file === source.rawFile && source.prepare
        ? [`QEMU cannot boot the ${source.format} file itself: make the raw copy first, \`${source.prepare}\`.`]
        : []),
    ],
    lines,
  };
}

const MULTIBOOT: Reference = {
  name: 'Multiboot Specification version 0.6.96',
  about:
    'the agreement between a loader and a kernel: the header in the kernel, the machine state at the jump (EAX, EBX, protected mode, interrupts off), the Multiboot information and its memory map',
  url: 'https://www.gnu.org/software/grub/manual/multiboot/multiboot.html',
};
const EDD: Reference = {
  name: 'BIOS Enhanced Disk Drive Specification (EDD) 3.0, T13 project 1572D',
  about:
    'the INT 13h extensions: function 41h (are they there?), function 42h (extended read) and its disk address packet',
  url: null,
};
const SDM: Reference = {
  name: "Intel 64 and IA-32 Architectures Software Developer's Manual, Volume 3A",
  about:
    'real-mode addressing; chapter 9, "Processor Management and Initialization" (the switch to protected mode, step by step); chapter 3, the figure "Segment Descriptor" and segment selectors; the IDT and the NMI',
  url: 'https://www.intel.com/content/www/us/en/developer/articles/technical/intel-sdms.html',
};
const ACPI: Reference = {
  name: 'ACPI Specification 6.5, chapter 15 "System Address Map Interfaces"',
  about: 'INT 15h E820h: its registers in and out, the 20-byte entries and their types',
  url: 'https://uefi.org/specifications',
};
const HT_HOLE: Reference = {
  name: 'QEMU, hw/i386/pc.c (from version 7.1), and the AMD I/O Virtualization Technology (IOMMU) Specification, "Special Address Controls"',
  about: 'why the memory map reserves 0xFD00000000 up to 1 TiB (AMD HyperTransport)',
  url: null,
};
const SYSLINUX: Reference = {
  name: "SYSLINUX's sources: mbr/mbr.S, core/diskboot.inc, com32/mboot/, com32/lib/syslinux/shuffle_pm.c, core/bcopyxx.inc",
  about: 'its MBR code, how its boot sector finds the partition, and how mboot.c32 hands over to the kernel',
  url: 'https://git.kernel.org/pub/scm/boot/syslinux/syslinux.git',
};

/** The references for a walkthrough of this loader. */
export function references(loader: BootloaderKind): Reference[] {
  if (loader === 'unikernel-disk') return [MULTIBOOT, EDD, SDM, ACPI, HT_HOLE];
  if (loader === 'syslinux') return [MULTIBOOT, SYSLINUX, SDM];
  return [SDM];
}
