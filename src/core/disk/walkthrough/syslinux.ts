/**
 * The walkthrough of a SYSLINUX disk (as Solo5's old tool made them): its MBR
 * code, the volume boot record and BPB, ldlinux.sys, syslinux.cfg, and
 * mboot.c32 loading the kernel.
 *
 * What SYSLINUX does is taken from its sources (SYSLINUX 6, the syslinux
 * repository): the MBR code moving to 0x600, booting the one active
 * partition and leaving DS:SI on its entry (mbr/mbr.S); the boot sector
 * taking the partition's start from that entry rather than from the BPB's
 * hidden sectors (core/diskboot.inc); mboot.c32, a COM32 module already in
 * protected mode, building its Multiboot information (com32/mboot/mboot.c,
 * mem.c, syslinux.c) and handing over through syslinux_shuffle_boot_pm
 * (com32/mboot/map.c mboot_run; com32/lib/syslinux/shuffle_pm.c, shuffle.c)
 * to the core's pm_shuffle (core/bcopyxx.inc), which moves the pieces and
 * jumps to a stub that sets the registers.
 */
import { charText } from '../../bytes';
import { ELF_HDR, ELFCLASS64, isElf } from '../../elf';
import { kludgePlan, MB_FLAG_AOUT_KLUDGE, MB_HEADER, MB_SEARCH } from '../../multiboot';
import { formatBytes, hex, SECTOR } from '../../units';
import { MULTIBOOT_MAGIC_EAX } from '../../boot/loader.generated';
import { BPB, BPB32, EBPB, EBPB_AT } from '../../fat/boot-sector';
import { DIRENT } from '../../fat/dir';
import type { LoadSegment } from '../../load-plan';
import type { FatEntry, FatReader } from '../../fat/read';
import type { HexDump, WalkStep } from './types';
import { BOOT_ADDR, Dump, readAt } from './dump';
import { codeDump, disassemble } from './code';
import { attempt, biosStep, type Builder, partitionStep } from './shared';
import { entryDump, fatKernel, kernelHeader, multibootDump } from './kernel';

/** Where SYSLINUX's MBR code moves itself to. */
const SYSLINUX_MBR_RELOC = 0x0600;

/** Bytes of a configuration file shown. */
const MAX_CONFIG_SHOWN = 2048;

/** The boot sector's jump: 3 bytes, then the OEM name and the BPB. */
const JUMP_SIZE = BPB.oemName;

/** The boot sector's first instructions: its jump over the BPB (and the nop after it). */
function bootJumpDump(fat: FatReader): HexDump | null {
  const bs = fat.bootSector;
  const code = disassemble(bs.subarray(0, JUMP_SIZE), 0, BOOT_ADDR, 16, { max: 2 });
  if (code.reduce((n, i) => n + i.length, 0) !== JUMP_SIZE) return null;
  return codeDump(
    `The partition's first sector (LBA ${fat.offset / SECTOR}), bytes 0x00–0x02: the jump`,
    fat.offset,
    code,
    16,
    [
      [/^jmp short /, "jump over the OEM name and the BPB to SYSLINUX's boot code"],
      [/^nop$/, 'never run: it makes the jump 3 bytes long, so the OEM name starts at offset 3, where FAT has it'],
    ],
  );
}

/**
 * What the boot sector's hidden-sector count means here. SYSLINUX's boot
 * code (core/diskboot.inc) takes the volume's start from the partition entry
 * the MBR code leaves DS:SI pointing at (mbr/mbr.S), when that looks like
 * one, and trusts this field only without it.
 */
function hiddenText(v: number, startLba: number): string {
  const ds =
    "SYSLINUX's boot code takes the volume's start from the partition entry the MBR passes in DS:SI instead, and uses this field only when there is none";
  if (startLba === 0) return `${v}: the volume starts at LBA 0`;
  if (v === startLba) return `${v}: the volume's LBA on the disk (${ds})`;
  return `${v}, not the volume's LBA (${startLba}): mkfs.fat was run on the volume alone, a file or loop device with no partition around it, as Solo5's old tool does. ${ds}, so the disk still boots`;
}

function bootSectorDump(fat: FatReader): HexDump {
  const bs = fat.bootSector;
  const fat32 = fat.type === 32;
  const ext = EBPB_AT[fat32 ? 32 : 16];
  const end = ext + EBPB.size;
  const at = (o: number) => o - JUMP_SIZE;
  const d = new Dump(
    `The partition's first sector (LBA ${fat.offset / SECTOR}), bytes 0x03–${hex(end - 1)}: OEM name and BPB`,
    fat.offset + JUMP_SIZE,
    BOOT_ADDR + JUMP_SIZE,
    bs.slice(JUMP_SIZE, end),
  );
  d.text(at(BPB.oemName), 8, 'OEM name');
  d.u16(at(BPB.bytesPerSector), 'Bytes per sector');
  d.u8(
    at(BPB.sectorsPerCluster),
    'Sectors per cluster',
    (v) => `${v} (clusters of ${formatBytes(v * fat.bpb.bytesPerSector)})`,
  );
  d.u16(at(BPB.reservedSectors), 'Reserved sectors', (v) => `${v}: before the first FAT`);
  d.u8(at(BPB.numFats), 'FAT copies', (v) => `${v}`);
  d.u16(at(BPB.rootEntries), 'Root entries', (v) => (v ? `${v}` : '0: the root is a cluster chain (FAT32)'));
  d.u16(at(BPB.totalSectors16), 'Sectors (16-bit)', (v) => (v ? `${v}` : '0: see the 32-bit count'));
  d.u8(at(BPB.media), 'Media', (v) => (v === 0xf8 ? '0xF8: a fixed disk' : hex(v)));
  d.u16(at(BPB.fatSectors16), 'Sectors per FAT (16-bit)', (v) => (v ? `${v}` : '0: see the 32-bit count'));
  d.u16(at(BPB.sectorsPerTrack), 'Sectors per track', (v) => `${v} (old geometry)`);
  d.u16(at(BPB.heads), 'Heads', (v) => `${v} (old geometry)`);
  d.u32(at(BPB.hiddenSectors), 'Hidden sectors', (v) => hiddenText(v, fat.offset / SECTOR));
  d.u32(at(BPB.totalSectors32), 'Sectors (32-bit)', (v) => `${v}`);
  if (fat32) {
    d.u32(at(BPB32.fatSectors32), 'Sectors per FAT', (v) => `${v}`);
    d.u16(at(BPB32.extFlags), 'FAT flags', (v) =>
      v & 0x80 ? `${hex(v)}: one active FAT` : `${hex(v)}: the FATs are mirrored`,
    );
    d.u16(at(BPB32.fsVersion), 'Version', (v) => `${v}`);
    d.u32(at(BPB32.rootCluster), 'Root directory cluster', (v) => `${v}`);
    d.u16(at(BPB32.fsInfoSector), 'FSInfo sector', (v) => `${v}`);
    d.u16(at(BPB32.backupBootSector), 'Backup boot sector', (v) => `${v}`);
    d.f(at(BPB32.backupBootSector + 2), ext - (BPB32.backupBootSector + 2), 'Reserved', 'zeros');
  }
  d.u8(at(ext + EBPB.driveNumber), 'Drive number', (v) => hex(v));
  d.u8(at(ext + 1), 'Reserved', (v) => hex(v));
  d.u8(at(ext + EBPB.bootSignature), 'Extended signature', (v) =>
    v === 0x29 ? '0x29: serial, label and type follow' : hex(v),
  );
  d.u32(at(ext + EBPB.volumeId), 'Volume serial', (v) => hex(v));
  d.text(at(ext + EBPB.volumeLabel), 11, 'Volume label');
  d.text(at(ext + EBPB.fsType), 8, 'File system type');
  return d.done();
}

export function direntDump(caption: string, e: FatEntry, bytes: Uint8Array, fat: FatReader): HexDump {
  const attrs = (v: number) =>
    [
      [0x01, 'read-only'],
      [0x02, 'hidden'],
      [0x04, 'system'],
      [0x10, 'directory'],
      [0x20, 'archive'],
    ]
      .filter(([bit]) => v & (bit as number))
      .map(([, n]) => n)
      .join(', ') || 'none';
  const d = new Dump(caption, e.entryOffset, null, bytes);
  d.text(DIRENT.name, 11, 'Short name (8 + 3)');
  d.u8(DIRENT.attr, 'Attributes', (v) => `${hex(v)}: ${attrs(v)}`);
  d.f(DIRENT.ntCase, DIRENT.clusterHigh - DIRENT.ntCase, 'Case flags and times', 'creation and access time');
  d.u16(DIRENT.clusterHigh, 'First cluster (high)', (v) => `${v}`);
  d.f(DIRENT.writeTime, 4, 'Last written', 'time and date');
  d.u16(
    DIRENT.clusterLow,
    'First cluster (low)',
    (v) =>
      `${v}: cluster ${e.firstCluster}${fat.validCluster(e.firstCluster) ? `, LBA ${fat.clusterOffset(e.firstCluster) / SECTOR}` : ''}`,
  );
  d.u32(DIRENT.fileSize, 'Size', (v) => `${v} bytes`);
  return d.done();
}

export async function syslinuxSteps(b: Builder): Promise<(WalkStep | null)[]> {
  const sys = b.boot.syslinux!;
  const fat = b.ctx.fat!;
  const out: (WalkStep | null)[] = [];
  if (fat.offset === 0) {
    // A volume without a partition table: SYSLINUX's boot sector is LBA 0 itself.
    out.push(
      biosStep(
        b,
        "Here LBA 0 is the FAT volume's own boot sector (the disk has no partition table), so the BIOS runs SYSLINUX's boot code in it directly.",
      ),
    );
  } else {
    out.push(
      biosStep(
        b,
        `Here LBA 0 holds SYSLINUX's MBR code. It copies itself from \`0x7C00\` down to \`${hex(SYSLINUX_MBR_RELOC)}\` to make room, looks in the partition table for the partition marked active, and loads that partition's first sector to \`0x7C00\`.`,
      ),
    );
    out.push(
      await attempt(b, 'The partition table', () =>
        partitionStep(b, [
          'SYSLINUX\'s MBR code boots the active partition, so the boot flag matters here: with no active partition it stops ("Missing operating system"), and with two it refuses.',
        ]),
      ),
    );
  }
  out.push(
    await attempt(b, "The partition's boot sector", () => ({
      id: 'vbr',
      title: "The partition's boot sector",
      text: [
        "The partition's first sector is its volume boot record: a jump over the BPB, an OEM name (the program that wrote the sector), the BPB itself, and SYSLINUX's boot code after it.",
        `The BPB ("BIOS parameter block") describes the FAT${fat.type} file system: the sector and cluster sizes, where the FATs (the tables of cluster chains) and the root directory are, and how big the volume is.`,
        fat.offset === 0
          ? 'The BIOS jumped here, to `0x7C00`, with the drive number in DL.'
          : "The MBR code jumped here, to `0x7C00`, with the drive number in DL and DS:SI pointing at the partition's 16-byte entry in its copy of the table. SYSLINUX's boot code checks that this looks like a partition entry (a boot flag of 0x00 or 0x80, a type other than 0) and takes the volume's first sector from it, rather than from the BPB's hidden-sector count, which it trusts only when no entry is passed.",
      ],
      dumps: [bootJumpDump(fat), bootSectorDump(fat)].filter((x): x is HexDump => x !== null),
    })),
  );
  out.push(
    await attempt(b, 'ldlinux.sys', async () => {
      const e = sys.ldlinux;
      const bytes = await readAt(b.ctx.disk, e.entryOffset, DIRENT.size);
      return {
        id: 'ldlinux',
        title: "SYSLINUX's core, ldlinux.sys",
        text: [
          "`syslinux --install` copied its core, `ldlinux.sys`, into the volume, and wrote into the boot sector where the file's first sector is; that sector in turn lists where the rest of the file lies. So the boot code loads the core without reading the FAT, and the file must never move (it is marked read-only, hidden and system).",
          `Below is the file's directory entry, which is how any FAT reader, this tool included, finds it: ${e.size} bytes from cluster ${e.firstCluster}.`,
          'ldlinux.sys knows FAT: from here on SYSLINUX reads files by name, starting with `ldlinux.c32`, the rest of its core.',
        ],
        dumps: [direntDump(`The directory entry of ${e.path}`, e, bytes, fat)],
      };
    }),
  );
  out.push(
    await attempt(b, 'syslinux.cfg', async () => {
      const e = sys.config;
      const n = Math.min(e.size, MAX_CONFIG_SHOWN, fat.clusterBytes);
      const at = fat.clusterOffset(e.firstCluster);
      const bytes = await readAt(b.ctx.disk, at, n);
      const d = new Dump(`${e.path}, the first ${n} bytes (cluster ${e.firstCluster})`, at, null, bytes);
      // Lines as byte ranges: the label's run line and APPEND are the point.
      const text = charText(bytes);
      const starts: number[] = [0];
      for (let i = 0; i < text.length; i++) if (text[i] === '\n') starts.push(i + 1);
      const line = (i: number) => {
        const s = starts[i];
        let t = i + 1 < starts.length ? starts[i + 1] - 1 : text.length;
        if (t > s && text[t - 1] === '\r') t--;
        return { s, t };
      };
      const boot = sys.boot;
      const marks: [number, string, string][] = [];
      const lines = text.split('\n');
      lines.forEach((l, i) => {
        const m = /^\s*(SERIAL|DEFAULT|LABEL)\s+(\S+)(?:\s+(\S+))?/i.exec(l);
        if (!m) return;
        const key = m[1].toUpperCase();
        if (key === 'SERIAL') {
          marks.push([i, 'SERIAL', `messages also on serial port ${m[2]}${m[3] ? ` at ${m[3]} baud` : ''}`]);
        } else if (key === 'DEFAULT') marks.push([i, 'DEFAULT', `boot the label "${boot.label}" without asking`]);
        else if (m[2] === boot.label) marks.push([i, 'LABEL', 'the label that boots; its lines follow']);
      });
      if (boot.runLine >= 0)
        marks.push([
          boot.runLine,
          'KERNEL',
          `run ${boot.runs}${boot.multiboot ? ': the Multiboot loader module' : ''}`,
        ]);
      if (boot.appendLine !== null)
        marks.push([boot.appendLine, 'APPEND', `its arguments: ${[...boot.options, boot.cmdline].join(' ')}`]);
      marks.sort((x, y) => x[0] - y[0]);
      let previous = -1;
      for (const [i, label, value] of marks) {
        if (i >= starts.length || i === previous) continue;
        previous = i;
        const { s, t } = line(i);
        if (t > s && t <= bytes.length) d.f(s, t - s, `${label} line`, value);
      }
      return {
        id: 'config',
        title: 'SYSLINUX reads syslinux.cfg',
        text: [
          `SYSLINUX looks for its configuration in \`/boot/syslinux/\`, \`/syslinux/\`, then the root; here it is \`${e.path}\`.`,
          `\`DEFAULT\` names the label to boot; the label's \`KERNEL\` line names what to run: \`${boot.runs}\`${boot.multiboot ? ', a SYSLINUX module that loads Multiboot kernels' : ''}. \`APPEND\` gives its arguments${boot.multiboot ? `: ${boot.options.length ? `the option \`${boot.options.join(' ')}\` (use the Multiboot header's load addresses rather than the ELF headers), ` : ''}the kernel file, then the kernel's own arguments` : ''}.`,
          `The kernel will receive the command line \`${boot.cmdline}\`, its own file name first.`,
        ],
        dumps: [d.done()],
      };
    }),
  );
  const kernelPath = b.boot.kernelPath;
  let kernelEntry: FatEntry | undefined;
  if (kernelPath) {
    await attempt(b, 'The kernel file', async () => {
      kernelEntry = await fat.find(kernelPath);
      if (!kernelEntry || kernelEntry.isDir)
        b.notes.push(`The configuration names ${kernelPath}, which is not in the volume.`);
      return null;
    });
  }
  if (!sys.boot.multiboot) {
    b.notes.push(
      `The label "${sys.boot.label}" runs ${sys.boot.runs}, not mboot.c32 (the Multiboot loader), so the steps after the configuration are not shown.`,
    );
  }
  if (!sys.boot.multiboot || !kernelEntry || kernelEntry.isDir) return out;
  const k = fatKernel(b.ctx.disk, fat, kernelEntry);
  let plan: { entry: number; segments: LoadSegment[] } | null = null;
  out.push(
    await attempt(b, 'mboot.c32 loading the kernel', async () => {
      const { head, mb } = await kernelHeader(k);
      const aout = sys.boot.options.includes('-aout');
      const isElf64 = isElf(head) && head.length > ELF_HDR.class && head[ELF_HDR.class] === ELFCLASS64;
      if (mb.flags & MB_FLAG_AOUT_KLUDGE) plan = kludgePlan(mb, k.size, 'kernel');
      if (plan && aout) b.points.entry = (plan as { entry: number }).entry;
      const text = [
        `\`mboot.c32\` (with \`libcom32.c32\`, the library SYSLINUX modules share) is a COM32 module: it runs in 32-bit protected mode, which SYSLINUX's core set up before starting it, and reaches the BIOS and the disk through the core. It reads \`${kernelEntry!.path}\` (${k.size} bytes) through SYSLINUX's FAT driver and looks for its Multiboot header in the first ${MB_SEARCH} bytes.`,
        aout
          ? "`-aout` tells it to use the header's address fields: copy the file from `load_addr` up to `load_end_addr`, zero memory up to `bss_end_addr`, and jump to `entry_addr`."
          : isElf64
            ? "Without `-aout`, mboot.c32 loads an ELF64 kernel by its ELF headers and jumps to the ELF entry, which in a Solo5 kernel is 64-bit code: the machine crashes (Solo5 issue #429). Solo5's tool added `-aout` for this reason."
            : 'Without `-aout`, mboot.c32 loads the kernel by its ELF headers when it has them.',
        'It then builds its own Multiboot information: the memory sizes and the BIOS memory map, the command line, its name; unlike our loader it passes no boot device.',
      ];
      const r = await k.read(mb.offset, mb.flags & MB_FLAG_AOUT_KLUDGE ? MB_HEADER.kludgeSize : MB_HEADER.basicSize);
      return {
        id: 'mboot',
        title: 'mboot.c32 loads the kernel',
        text,
        dumps: [multibootDump(mb, r.bytes, r.diskOffset)],
      };
    }),
  );
  out.push(
    await attempt(b, 'The jump to the kernel', async () => {
      const dumps: HexDump[] = [];
      const pl = plan as { entry: number; segments: LoadSegment[] } | null;
      if (pl) {
        const d = await entryDump(k, pl.entry, pl.segments);
        if (d) dumps.push(d);
      }
      return {
        id: 'jump',
        title: "The jump to the kernel's first instruction",
        text: [
          `mboot.c32 is already in 32-bit protected mode, so it does not switch; it hands over through the core's shuffle-and-boot call. It lists what goes where (the kernel's segments, zeros for the bss, the Multiboot information) and the registers to start with: the Multiboot magic \`${hex(MULTIBOOT_MAGIC_EAX)}\` in EAX, the information's address in EBX, a stack in ESP, and the entry point${pl ? ` \`${hex(pl.entry)}\`` : ''}.`,
          'The core then turns interrupts off, moves every piece to its place (over memory SYSLINUX itself was using, so its own copy code first moves out of the way and loads a GDT of its own), and runs a few instructions it wrote for the purpose: one `mov` per register, then a jump to the entry point. From here on the kernel runs, exactly as with any Multiboot loader.',
        ],
        dumps,
      };
    }),
  );
  return out;
}
