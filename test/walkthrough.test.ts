/**
 * The boot walkthrough against real images: ours (raw, and in containers),
 * one made the way Solo5's old tool makes it (SYSLINUX), a disk with no boot
 * code, and damaged ones. Every dump's bytes are compared with the bytes at
 * its disk offset read straight from the raw file; the fields' decoded values
 * with what sfdisk, mtools, the parameter block decoder and the Multiboot
 * parser say; every code dump's instructions with what ndisasm reads in its
 * bytes; each container's raw copy (the command the walkthrough gives) with
 * the dumps.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { planImage, type BuiltImage } from '../src/core/image';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { buildWalkthrough, xxdCommand } from '../src/core/disk/walkthrough';
import type { HexDump, Walkthrough } from '../src/core/disk/walkthrough/types';
import { openDisk } from '../src/core/formats/open';
import { requireFormat } from '../src/core/formats/index';
import { replaceCommandLine, reportBootParams } from '../src/core/boot/params';
import { findMultiboot } from '../src/core/multiboot';
import { parseElf } from '../src/core/elf';
import { inspectKernel } from '../src/core/kernel';
import { crc32 } from '../src/core/bytes';
import { EFI_LOADER } from '../src/core/boot/index';
import {
  CMDLINE_OFF,
  MAX_SEGMENTS,
  MBI_FLAGS,
  PARAMS_OFF,
  PARAMS_SIZE,
  P_KERNEL_LBA,
  STAGE2_ADDR,
} from '../src/core/boot/loader.generated';
import { mbiFlagBits, MBI_FLAG_NAMES } from '../src/core/boot/mbi';
import { chs, decodeChs } from '../src/core/mbr';
import { hex } from '../src/core/units';
import { containerDisk, memorySource, planBytes, rawDisk } from './helpers/disk-memory';
import { writePlanRange } from './helpers/image-files';
import { withFile } from './helpers/disk-read';
import { elf32Kernel, solo5Kernel } from './helpers/fixtures';
import { haveOldToolFiles, makeOldToolImage, OLD_TOOL_PROGRAMS } from './helpers/old-tool';
import { run, runAll, tempDir, tools } from './helpers/tools';
import { ndisasm } from './helpers/nasm-listing';
import { decode } from '../src/core/x86/decode';
import { describe as plainReading } from '../src/core/disk/walkthrough/code';
import { boot, readAt } from './helpers/qemu';
import { readImage } from '../src/core/disk/open-image';

const MiB = 1 << 20;
const ARGS = 'walk me --ipv4=10.0.0.2/24';
const tmp = tempDir('ukd-walk-');
afterAll(() => tmp.cleanup());

const h32 = hex;
/** The u32 a field's bytes hold. */
const u32Of = (f: { bytes: Uint8Array }) => new DataView(f.bytes.buffer, f.bytes.byteOffset).getUint32(0, true);

/** Every dump from the disk holds exactly the file's bytes there; fields are in order, inside, not overlapping. */
function checkDumps(w: Walkthrough, rawPath: string): HexDump[] {
  const all = [...w.steps, ...w.uefi].flatMap((s) => s.dumps);
  for (const d of all) {
    let end = 0;
    for (const f of d.fields) {
      expect(f.start, `${d.caption}: ${f.label}`).toBeGreaterThanOrEqual(end);
      expect(f.length).toBeGreaterThan(0);
      end = f.start + f.length;
      expect(end, `${d.caption}: ${f.label}`).toBeLessThanOrEqual(d.bytes.length);
      expect(f.value.length).toBeGreaterThan(0);
    }
    if (d.diskOffset !== null) {
      const want = readAt(rawPath, d.diskOffset, d.bytes.length);
      expect(Buffer.from(d.bytes).equals(Buffer.from(want)), `${d.caption} at ${d.diskOffset}`).toBe(true);
    }
  }
  expect(all.filter((d) => d.diskOffset !== null).length).toBeGreaterThan(3);
  return all;
}

/**
 * Every code dump: one field per instruction, covering its bytes, the label
 * the text ndisasm gives those bytes at that address, the value not empty.
 * Returns how many instructions were compared.
 */
function checkCode(w: Walkthrough): number {
  let n = 0;
  for (const d of w.steps.flatMap((s) => s.dumps).filter((x) => x.code !== null)) {
    expect(d.memoryAddress, d.caption).not.toBeNull();
    expect(
      d.fields.reduce((k, f) => k + f.length, 0),
      d.caption,
    ).toBe(d.bytes.length);
    const theirs = ndisasm(tmp.dir, d.bytes, d.code!, d.memoryAddress!);
    const ours = d.fields.map((f) => ({
      address: d.memoryAddress! + f.start,
      hex: Buffer.from(d.bytes.subarray(f.start, f.start + f.length))
        .toString('hex')
        .toUpperCase(),
      text: f.label,
    }));
    expect(ours, d.caption).toEqual(theirs);
    for (const f of d.fields) expect(f.value.length, `${d.caption}: ${f.label}`).toBeGreaterThan(3);
    n += ours.length;
  }
  return n;
}

function field(w: Walkthrough, step: string, label: string) {
  const s = [...w.steps, ...w.uefi].find((x) => x.id === step);
  expect(s, `step ${step}`).toBeDefined();
  for (const d of s!.dumps) {
    const f = d.fields.find((x) => x.label === label);
    if (f) return { ...f, dump: d, bytes: d.bytes.subarray(f.start, f.start + f.length) };
  }
  throw new Error(`no field "${label}" in step ${step}: ${s!.dumps.flatMap((d) => d.fields.map((f) => f.label))}`);
}

function sfdiskPart(path: string) {
  return JSON.parse(run('sfdisk', ['--json', path])).partitiontable.partitions[0] as {
    start: number;
    size: number;
    type: string;
    bootable?: boolean;
  };
}

async function walkOf(path: string): Promise<Walkthrough> {
  return withFile(path, async (src) => buildWalkthrough(await readImage(await openDisk(src))));
}

const OUR_STEPS = [
  'bios',
  'stage1',
  'partition',
  'params',
  'a20',
  'e820',
  'mbi',
  'kernel',
  'segments',
  'pmode',
  'jump',
];

describe('our loader', () => {
  const img: BuiltImage = planImage(DEMO_KERNEL, { size: 64 * MiB, args: ARGS });
  const raw = tmp.path('ours.img');
  writePlanRange(img.plan, raw);

  it('raw: the steps in order, the bytes of the disk, the values other decoders give', async () => {
    const w = await withFile(raw, async (src) => buildWalkthrough(await readImage(await openDisk(src))));
    expect(w.loader).toBe('unikernel-disk');
    expect(w.cmdline).toBe(`unikernel.bin ${ARGS}`);
    expect(w.notes).toEqual([]);
    expect(w.steps.map((s) => s.id)).toEqual(OUR_STEPS);
    for (const s of w.steps) {
      expect(s.title.length).toBeGreaterThan(5);
      expect(s.text.length).toBeGreaterThan(0);
    }
    checkDumps(w, raw);

    // LBA 0: the signature and stage 1's fields.
    expect(field(w, 'bios', 'Boot signature').value).toMatch(/^55 AA/);
    expect(field(w, 'stage1', "Stage 2's first sector").value).toBe('LBA 1');
    const stage2Sectors = Math.ceil((CMDLINE_OFF + img.cmdline.length + 1) / 512);
    expect(field(w, 'stage1', "Stage 2's length").value).toMatch(new RegExp(`^${stage2Sectors} sectors`));

    // The partition table, as sfdisk reads it.
    if (tools('sfdisk')) {
      const p = sfdiskPart(raw);
      expect(field(w, 'partition', 'Entry 1: first sector (LBA)').value).toMatch(new RegExp(`^LBA ${p.start} `));
      expect(field(w, 'partition', 'Entry 1: sectors').value).toMatch(new RegExp(`^${p.size} sectors`));
      expect(field(w, 'partition', 'Entry 1: type').value).toMatch(new RegExp(`^${hex(parseInt(p.type, 16))}:`));
      expect(p.bootable).toBe(true);
      expect(field(w, 'partition', 'Entry 1: boot flag').value).toMatch(/active/);
    }

    // The parameter block, as its own decoder reads it.
    const stage2 = readAt(raw, 512, stage2Sectors * 512);
    const report = reportBootParams(stage2);
    expect(report.problems).toEqual([]);
    expect(field(w, 'params', 'CRC-32 of stage 2').value).toBe(`${h32(report.storedCrc)}: matches the bytes it covers`);
    expect(field(w, 'params', "Kernel's CRC-32").value).toMatch(new RegExp(`^${h32(crc32(DEMO_KERNEL))}`));
    expect(field(w, 'params', "Kernel's first sector").value).toMatch(new RegExp(`^LBA ${img.kernelLba} `));
    expect(field(w, 'params', "Kernel's size").value).toMatch(new RegExp(`^${DEMO_KERNEL.length} bytes`));
    expect(field(w, 'params', 'Entry point').value).toMatch(new RegExp(`^${h32(img.kernel.load.entry)}`));
    expect(field(w, 'params', 'Arguments').value).toBe(`"${ARGS}"`);
    expect(Buffer.from(field(w, 'params', 'Arguments').bytes).toString()).toBe(ARGS);
    expect(field(w, 'params', "Kernel's name").value).toBe('"unikernel.bin"');

    // The segments, as kernel inspection plans them.
    const segs = img.kernel.load.segments;
    segs.forEach((s, i) => {
      expect(field(w, 'segments', `Segment ${i + 1}: load address`).value).toBe(
        '0x' + s.loadAddr.toString(16).toUpperCase(),
      );
      expect(field(w, 'segments', `Segment ${i + 1}: bytes in memory`).value).toMatch(new RegExp(`^${s.memSize} `));
    });

    // The Multiboot information points at the command line in stage 2 as stage 1 loaded it.
    const mbi = field(w, 'mbi', 'cmdline');
    expect(mbi.dump.diskOffset).toBeNull();
    expect(mbi.dump.memoryAddress).toBe(0x1000);
    const ptr = new DataView(mbi.bytes.buffer, mbi.bytes.byteOffset).getUint32(0, true);
    expect(ptr).toBe(STAGE2_ADDR + CMDLINE_OFF);
    const atPtr = readAt(raw, 512 + (ptr - STAGE2_ADDR), img.cmdline.length + 1);
    expect(Buffer.from(atPtr).toString()).toBe(`${img.cmdline}\0`);
    const name = field(w, 'mbi', 'boot_loader_name');
    const namePtr = new DataView(name.bytes.buffer, name.bytes.byteOffset).getUint32(0, true);
    expect(Buffer.from(readAt(raw, 512 + (namePtr - STAGE2_ADDR), 15)).toString()).toBe('unikernel-disk\0');
    expect(field(w, 'mbi', 'flags').value).toMatch(new RegExp(`^${hex(MBI_FLAGS)}:`));
    // The machine's values are labelled as an example.
    expect(field(w, 'mbi', 'mem_upper').value).toMatch(/example/);
    const e820 = w.steps.find((s) => s.id === 'e820')!.dumps.find((d) => d.diskOffset === null)!;
    expect(e820.caption).toMatch(/^Example/);

    // Protected mode: the GDT the loader loads.
    expect(field(w, 'pmode', 'Descriptor 0x8').value).toBe('32-bit code, base 0x0, 4 GiB');
    expect(field(w, 'pmode', 'Descriptor 0x10').value).toBe('32-bit data, base 0x0, 4 GiB');

    // The jump: EAX's magic in the code, the kernel's Multiboot header where the parser finds it, the entry bytes.
    expect(Buffer.from(field(w, 'jump', 'mov eax,0x2badb002').bytes)).toEqual(
      Buffer.from([0xb8, 0x02, 0xb0, 0xad, 0x2b]),
    );
    // The CR0 switch and the kernel's first instruction, decoded and explained.
    expect(field(w, 'pmode', 'or al,0x1').value).toMatch(/PE/);
    expect(field(w, 'pmode', 'mov cr0,eax').dump.code).toBe(16);
    expect(field(w, 'jump', 'cmp eax,0x2badb002').value).toMatch(/Multiboot magic/);
    // The descriptor bit by bit: the access byte and the flags of 0x00CF9A000000FFFF.
    expect(field(w, 'pmode', 'Access byte').value).toMatch(
      /^0x9A = 1001 1010: P = 1 .*type 1010 \(code: execute and read/,
    );
    expect(field(w, 'pmode', 'Flags, limit bits 19–16').value).toMatch(
      /^0xCF = 1100 1111: G = 1 .*D\/B = 1 \(32-bit\)/,
    );
    const mb = findMultiboot(DEMO_KERNEL);
    const magic = field(w, 'jump', 'Magic');
    expect(magic.value).toMatch(/^0x1BADB002/);
    expect(magic.dump.diskOffset).toBe(img.kernelLba * 512 + mb.offset);
    expect(field(w, 'jump', 'entry_addr').value).toMatch(new RegExp(`^${h32(mb.entryAddr!)}`));
    const k = inspectKernel(DEMO_KERNEL);
    const entry = w.steps.find((s) => s.id === 'jump')!.dumps.at(-1)!;
    expect(entry.caption).toMatch(/^The kernel's first instructions/);
    expect(entry.memoryAddress).toBe(k.load.entry);
    const seg = k.load.segments[0];
    const fileOff = seg.fileOffset + (k.load.entry - seg.loadAddr);
    expect(entry.diskOffset).toBe(img.kernelLba * 512 + fileOff);
    expect(entry.bytes.length).toBeGreaterThanOrEqual(16);
    expect(Buffer.from(entry.bytes)).toEqual(Buffer.from(DEMO_KERNEL.subarray(fileOff, fileOff + entry.bytes.length)));
    if (tools('ndisasm')) expect(checkCode(w)).toBeGreaterThan(60);
    // Our loader's own code has a note for every instruction shown (a changed loader makes this fail until the
    // notes follow it); only the kernel's entry gets the plain reading.
    for (const d of w.steps.flatMap((s) => s.dumps).filter((x) => x.code !== null)) {
      const own = d.memoryAddress! < 0x100000;
      for (const f of d.fields) {
        const ins = decode((i) => d.bytes[f.start + i], d.memoryAddress! + f.start, d.code!);
        expect(ins.text).toBe(f.label);
        if (own) expect(f.value, `${d.caption}: ${f.label}`).not.toBe(plainReading(ins));
      }
    }
    // A raw image: its offsets are the file's, and xxd prints each dump's bytes from it.
    expect(w.source).toMatchObject({ container: false, rawFile: 'disk.img', prepare: null });
    if (tools('xxd')) {
      const named = await withFile(raw, async (src) =>
        buildWalkthrough(await readImage(await openDisk(src)), { fileName: raw }),
      );
      for (const d of named.steps.flatMap((s) => s.dumps).filter((x) => x.diskOffset !== null)) {
        const out = runAll('sh', ['-c', xxdCommand(named.source.rawFile, d.diskOffset!, d.bytes.length)]).stdout;
        const bytes = out
          .split('\n')
          .filter(Boolean)
          .flatMap((l) =>
            l
              .slice(10, 10 + 16 * 3)
              .trim()
              .split(/\s+/),
          )
          .map((h) => parseInt(h, 16));
        expect(bytes, d.caption).toEqual([...d.bytes]);
      }
    }
  });

  it.skipIf(!tools('qemu-system-x86_64'))(
    "the machine's values: the example memory map and Multiboot fields are what QEMU gives the booted kernel",
    async () => {
      const w = await walkOf(raw);
      const r = await boot({ disk: raw, memory: '128M' });
      expect(r.status, r.serial + r.stderr).toBe(83);
      // The demo kernel prints the map it got: "demo:   0xSTART-0xLAST type 0xT".
      const got = [...r.serial.matchAll(/^demo: {3}0x([0-9a-f]{16})-0x([0-9a-f]{16}) type 0x([0-9a-f]{8})/gm)].map(
        (m) => [BigInt('0x' + m[1]), BigInt('0x' + m[2]) - BigInt('0x' + m[1]) + 1n, BigInt('0x' + m[3])],
      );
      const map = w.steps.find((s) => s.id === 'e820')!.dumps.find((d) => d.diskOffset === null)!;
      const v = new DataView(map.bytes.buffer, map.bytes.byteOffset, map.bytes.length);
      const shown = [];
      for (let o = 0; o < map.bytes.length; o += 24) {
        expect(v.getUint32(o, true)).toBe(20);
        shown.push([v.getBigUint64(o + 4, true), v.getBigUint64(o + 12, true), BigInt(v.getUint32(o + 20, true))]);
      }
      expect(got.length).toBeGreaterThan(3);
      expect(shown).toEqual(got);
      expect(r.serial).toMatch(new RegExp(`mmap_length 0x${map.bytes.length.toString(16).padStart(8, '0')}`));
      const hex8 = (v: number) => `0x${v.toString(16).padStart(8, '0')}`;
      expect(r.serial).toMatch(new RegExp(`multiboot info flags ${hex8(u32Of(field(w, 'mbi', 'flags')))}`));
      expect(r.serial).toMatch(new RegExp(`boot device ${hex8(u32Of(field(w, 'mbi', 'boot_device')))}`));
      expect(r.serial).toMatch(/boot loader 'unikernel-disk'/);
      // mem_upper: the usable RAM from 1 MiB to the end of the entry that holds it.
      const ram = got.find(([start, , type]) => start === 0x100000n && type === 1n)!;
      expect(field(w, 'mbi', 'mem_upper').value).toMatch(new RegExp(`^${Number(ram[1]) / 1024} KiB`));
    },
    120_000,
  );

  it.skipIf(!tools('mcopy', 'objdump'))(
    'under UEFI: the directory entries, the PE header and the identity block, as mtools and objdump read them',
    async () => {
      const w = await walkOf(raw);
      expect(w.uefi.map((s) => s.id)).toEqual(['uefi-find', 'uefi-pe', 'uefi-ident', 'uefi-loader']);
      checkDumps(w, raw);
      // The file, as mtools copies it out, is this build's loader; every dump of it holds its bytes.
      run('mcopy', ['-n', '-i', `${raw}@@1M`, '::/EFI/BOOT/BOOTX64.EFI', tmp.path('BOOTX64.EFI')]);
      const file = new Uint8Array(readFileSync(tmp.path('BOOTX64.EFI')));
      expect(Buffer.from(file).equals(Buffer.from(EFI_LOADER))).toBe(true);
      for (const d of w.uefi.flatMap((s) => s.dumps).filter((d) => d.caption.startsWith('BOOTX64.EFI'))) {
        const at = d.diskOffset! - img.efiLba * 512;
        expect(Buffer.from(d.bytes).equals(Buffer.from(file.subarray(at, at + d.bytes.length))), d.caption).toBe(true);
      }
      expect(field(w, 'uefi-find', 'Short name (8 + 3)').value).toBe('"EFI        "');
      const entryOf = (label: string) => w.uefi[0].dumps[2].fields.find((f) => f.label === label)!.value;
      expect(w.uefi[0].dumps.map((d) => d.caption)).toEqual([
        'The directory entry of /EFI',
        'The directory entry of /EFI/BOOT',
        'The directory entry of /EFI/BOOT/BOOTX64.EFI',
      ]);
      expect(entryOf('Size')).toBe(`${EFI_LOADER.length} bytes`);
      expect(entryOf('First cluster (low)')).toMatch(new RegExp(`^\\d+: cluster \\d+, LBA ${img.efiLba}$`));
      // objdump's reading of the same header fields.
      const p = run('objdump', ['-p', tmp.path('BOOTX64.EFI')]);
      const entry = parseInt(/AddressOfEntryPoint\s+([0-9a-f]+)/.exec(p)![1], 16);
      expect(field(w, 'uefi-pe', 'Entry point').value).toMatch(new RegExp(`^${hex(entry)}:`));
      expect(field(w, 'uefi-pe', 'Machine').value).toBe('0x8664 (x86-64)');
      expect(field(w, 'uefi-pe', 'Subsystem').value).toBe('10: an EFI application');
      expect(p).toMatch(/Subsystem\s+0000000a/);
      const major = /MajorImageVersion\s+(\d+)/.exec(p)![1];
      const minor = /MinorImageVersion\s+(\d+)/.exec(p)![1];
      expect(field(w, 'uefi-pe', 'Image version').value).toMatch(new RegExp(`^${major}\\.${minor}:`));
      expect(w.uefi[1].text.join(' ')).toContain('Access Denied');
      // The identity block against this image's stage 2.
      expect(field(w, 'uefi-ident', 'Stage 2 code size').value).toBe(
        `${hex(CMDLINE_OFF)}: it reads the command line at this offset in stage 2, where this image has it`,
      );
      expect(field(w, 'uefi-ident', 'Magic').value).toBe('"UKEF"');
      // Where it meets the BIOS path: stage 1's fields, the block's magic, the hand-over.
      expect(field(w, 'uefi-loader', "Stage 2's first sector").value).toBe('LBA 1');
      expect(field(w, 'uefi-loader', 'The magic it wants').value).toBe('"UKBP"');
      expect(Buffer.from(field(w, 'uefi-loader', 'mov eax, 2BADB002h').bytes)).toEqual(
        Buffer.from([0xb8, 0x02, 0xb0, 0xad, 0x2b]),
      );
      expect(field(w, 'uefi-loader', 'jmp ecx').value).toBe("to the kernel's entry");
    },
  );

  for (const id of ['qcow2', 'vhd-dynamic', 'vmdk', 'vdi', 'tar']) {
    it(`${id}: the same steps as the raw disk, offsets said to be the virtual disk's, and the raw copy's command works`, async () => {
      const fromRaw = await withFile(raw, async (src) => buildWalkthrough(await readImage(await openDisk(src))));
      const format = requireFormat(id);
      const { file, disk } = await containerDisk(img, format);
      expect(disk.formatId).toBe(id);
      const name = `walk ${id}${format.extension}`;
      const w = await buildWalkthrough(await readImage(disk), { fileName: name });
      const { source, check, ...rest } = w;
      const { source: rawSource, check: rawCheck, ...rawRest } = fromRaw;
      expect(rest).toEqual(rawRest);
      expect(rawSource.container).toBe(false);
      expect(source.container).toBe(true);
      expect(source.text.join(' ')).toMatch(/position on the virtual disk it holds.*not a position in the/);
      expect(source.rawFile).toBe('disk.raw');
      checkDumps(w, raw);
      // The copy the walkthrough says to make holds the disk the dumps come from.
      if (tools('qemu-img', 'tar')) {
        const dir = tmp.path(`copy-${id}`);
        run('mkdir', ['-p', dir]);
        writeFileSync(`${dir}/${name}`, file);
        const r = runAll('sh', ['-c', source.prepare!], { cwd: dir });
        expect(r.status, r.stderr).toBe(0);
        checkDumps(w, `${dir}/${source.rawFile}`);
      }
      // QEMU boots the container itself where it can, else the raw copy.
      expect(check.lines[0].command).toBe(
        format.qemuDriver
          ? `qemu-system-x86_64 -m 128 -drive file='${name}',format=${format.qemuDriver} -s -S`
          : 'qemu-system-x86_64 -m 128 -drive file=disk.raw,format=raw -s -S',
      );
      expect(check.lines.slice(1)).toEqual(rawCheck.lines.slice(1));
    });
  }

  it('reads only the structures and the kernel headers, not the kernel', async () => {
    const big = solo5Kernel({ dataSize: 8 * MiB });
    const bigImg = planImage(big, { size: 64 * MiB, args: 'big' });
    const path = tmp.path('big.img');
    writePlanRange(bigImg.plan, path);
    const { w, bytes } = await withFile(path, async (src) => {
      const w = await buildWalkthrough(await readImage(await openDisk(src)));
      return { w, bytes: src.stats.bytes };
    });
    expect(w.steps.map((s) => s.id)).toEqual(OUR_STEPS);
    expect(bytes).toBeLessThan(256 * 1024);
  });

  it('a damaged parameter block: the steps up to it, the CRC mismatch shown, a note', async () => {
    const b = readFileSync(raw);
    b[512 + CMDLINE_OFF + 2] ^= 0x20; // a command line byte: the block's CRC no longer matches
    const w = await buildWalkthrough(await readImage(await rawDisk(new Uint8Array(b))));
    expect(w.steps.map((s) => s.id)).toEqual(['bios', 'stage1', 'partition', 'params']);
    expect(field(w, 'params', 'CRC-32 of stage 2').value).toMatch(/the bytes give 0x[0-9A-F]+, so the loader stops/);
    expect(w.notes.join(' ')).toMatch(/damaged/);
  });

  it('a sound block that puts the kernel past the end of the disk: no kernel bytes, a note', async () => {
    const b = planBytes(img.plan);
    const sectors = Math.ceil((CMDLINE_OFF + img.cmdline.length + 1) / 512);
    const stage2 = b.slice(512, 512 + sectors * 512);
    new DataView(stage2.buffer).setBigUint64(PARAMS_OFF + P_KERNEL_LBA, 2n ** 60n, true);
    b.set(replaceCommandLine(stage2, new TextEncoder().encode(img.cmdline)), 512); // the CRC made right again
    const w = await buildWalkthrough(await readImage(await rawDisk(b)));
    expect(w.steps.map((s) => s.id)).toEqual(OUR_STEPS.filter((id) => id !== 'kernel'));
    expect(w.notes.join(' ')).toMatch(/past the end of the 64 MiB disk/);
    expect(w.steps.find((s) => s.id === 'jump')!.dumps.every((d) => d.diskOffset! < 64 * MiB)).toBe(true);
  });

  it('no boot code, and a disk shorter than a sector: what is known, and notes', async () => {
    const b = planBytes(img.plan);
    b.fill(0, 0, 440);
    const w = await buildWalkthrough(await readImage(await rawDisk(b)));
    expect(w.loader).toBe('none');
    expect(w.steps.map((s) => s.id)).toEqual(['bios', 'partition']);
    expect(w.notes.join(' ')).toMatch(/No boot loader this tool knows/);
    // GRUB's boot.img is recognised by its text "GRUB " in the MBR code.
    b.set(new TextEncoder().encode('GRUB Geom\0Hard Disk\0'), 0x180);
    const grub = await buildWalkthrough(await readImage(await rawDisk(b)));
    expect(grub.loader).toBe('grub');
    expect(grub.steps.map((s) => s.id)).toEqual(['bios', 'partition']);
    expect(grub.steps[0].text.join(' ')).toMatch(/GRUB's first stage/);
    expect(grub.notes.join(' ')).toMatch(/GRUB's own stages .* are not walked through/);
    // A file shorter than a sector is not opened as a disk: one sentence, no walkthrough.
    const tiny = await readImage(await openDisk(memorySource(new Uint8Array(100).fill(1)))).then(
      () => null,
      (e: Error) => e.message,
    );
    expect(tiny).toMatch(/less than one 512-byte sector/);
  });
});

describe('the explanations say what the loader does', () => {
  const asm = (name: string) => readFileSync(new URL(`../src/boot/${name}`, import.meta.url), 'utf8');
  const demo = planImage(DEMO_KERNEL, { size: 64 * MiB, args: ARGS });
  const demoWalk = async () => buildWalkthrough(await readImage(await rawDiskOf(demo)));

  function rawDiskOf(i: BuiltImage) {
    return rawDisk(planBytes(i.plan));
  }

  it('a kernel without the a.out kludge: the segments and the entry are said to come from its ELF headers', async () => {
    const elf64 = solo5Kernel({ flags: 0x3 }); // ELF64, Multiboot header without address fields
    for (const [kernel, source] of [
      [elf32Kernel(), 'elf32'],
      [elf64, 'elf64'],
    ] as const) {
      const built = planImage(kernel, { size: 64 * MiB, args: 'x' });
      expect(built.kernel.load.source).toBe(source);
      const w = await buildWalkthrough(await readImage(await rawDiskOf(built)));
      expect(w.notes).toEqual([]);
      const jump = stepText(w, 'jump');
      expect(jump).not.toMatch(/load_addr|entry_addr|bss_end_addr/);
      expect(jump).toMatch(/no address fields \(flag bit 16 is clear\)/);
      expect(jump).toMatch(/PT_LOAD/);
      expect(stepText(w, 'segments')).toMatch(/ELF program headers/);
      expect(stepText(w, 'segments')).not.toMatch(/Multiboot header \(/);
      // The header shown has no address fields; its flags say why.
      const dump = w.steps.find((s) => s.id === 'jump')!.dumps.find((d) => d.fields.some((f) => f.label === 'Magic'))!;
      expect(dump.fields.map((f) => f.label)).toEqual(['Magic', 'Flags', 'Checksum']);
      expect(field(w, 'jump', 'Flags').value).toMatch(/bit 16 clear/);
      // e_entry is where the loader jumps (through the segment that holds it), not "64-bit code".
      const eEntry = field(w, 'kernel', 'ELF entry (e_entry)').value;
      expect(eEntry).not.toMatch(/not used|64-bit code/);
      expect(eEntry).toMatch(/where the loader jumps|physical address/);
      // The PT_LOAD program headers are shown, with the values the parser and the plan give.
      const loads = parseElf(kernel).phdrs.filter((ph) => ph.type === 1 && ph.memsz > 0);
      const phDumps = w.steps
        .find((s) => s.id === 'segments')!
        .dumps.filter((d) => d.caption.includes('program header'));
      expect(phDumps.length).toBe(loads.length);
      phDumps.forEach((d, i) => {
        const v = (label: string) => d.fields.find((f) => f.label === label)!.value;
        expect(Buffer.from(d.bytes)).toEqual(
          Buffer.from(kernel.subarray(loads[i].at, loads[i].at + (source === 'elf64' ? 56 : 32))),
        );
        expect(d.diskOffset).toBe(built.kernelLba * 512 + loads[i].at);
        expect(v('p_paddr')).toMatch(new RegExp(`^${hex(built.kernel.load.segments[i].loadAddr)}:`));
        expect(v('p_memsz')).toMatch(new RegExp(`^${built.kernel.load.segments[i].memSize} `));
      });
    }
    // The Solo5 case (the kludge) still names the header's address fields.
    const w = await demoWalk();
    expect(stepText(w, 'jump')).toMatch(/`header_addr`, `load_addr`, `load_end_addr`, `bss_end_addr` and `entry_addr`/);
    expect(stepText(w, 'segments')).toMatch(/address fields of the kernel's Multiboot header/);
    expect(w.steps.find((s) => s.id === 'segments')!.dumps.map((d) => d.caption)).toEqual([
      expect.stringMatching(/the segment table/),
    ]);
    expect(field(w, 'kernel', 'ELF entry (e_entry)').value).toMatch(
      /not used: the loader jumps to the Multiboot header's entry_addr/,
    );
  });

  it("stage 2's checks are the assembler's: no magic (stage 1 checks it), the segment count", async () => {
    expect(asm('stage1.asm')).toMatch(/cmp dword \[STAGE2_ADDR \+ PARAMS_OFF\], PARAMS_MAGIC/);
    const checkParams = /check_params:[\s\S]*?\.bad:/.exec(asm('stage2.asm'))![0];
    expect(checkParams).not.toMatch(/PARAMS_MAGIC/);
    expect(checkParams).toMatch(/P_SEG_COUNT\)\], MAX_SEGMENTS/);
    const w = await demoWalk();
    const params = stepText(w, 'params');
    expect(params).not.toMatch(/checks the block: the magic/);
    expect(params).toMatch(new RegExp(`at most ${MAX_SEGMENTS} segments`));
    expect(params).toMatch(/magic `UKBP` was checked by stage 1/);
    expect(stepText(w, 'stage1')).toMatch(/checks that stage 2 carries the parameter block's magic `UKBP`/);
  });

  it('A20: the machine may start with it on, so the loader tests first (as a20.inc does)', async () => {
    const a20 = asm('a20.inc');
    expect(a20.indexOf('call a20_test')).toBeLessThan(a20.indexOf('mov ax, 0x2401'));
    const text = stepText(await demoWalk(), 'a20');
    expect(text).not.toMatch(/PCs still start with that wrap/);
    expect(text).toMatch(/may still start with that wrap/);
    expect(text).toMatch(/SeaBIOS/);
    expect(text).toMatch(/first tests whether it is/);
  });

  it('the Multiboot information: mem_lower from INT 12h, the flags decoded bit by bit from their value', async () => {
    expect(asm('mbi.inc')).toMatch(/int 0x12[^\n]*\n[^\n]*\n[^\n]*\[MBI_ADDR \+ 4\], eax +; mem_lower/);
    const w = await demoWalk();
    expect(field(w, 'mbi', 'mem_lower').value).toMatch(
      /^639 KiB of conventional memory \(below 640 KiB\), from INT 12h \(example/,
    );
    const flags = field(w, 'mbi', 'flags');
    expect(u32Of(flags)).toBe(MBI_FLAGS);
    for (let bit = 0; bit < 13; bit++) {
      const named = `bit ${bit}: ${MBI_FLAG_NAMES[bit]}`;
      if (MBI_FLAGS & (1 << bit)) expect(flags.value).toContain(named);
      else expect(flags.value).not.toContain(named);
    }
    expect(mbiFlagBits(0x1)).toEqual(['bit 0: memory sizes (mem_lower, mem_upper)']);
    expect(mbiFlagBits(0x240)).toEqual(['bit 6: memory map (mmap_length, mmap_addr)', 'bit 9: boot loader name']);
    expect(mbiFlagBits(1 << 20)).toEqual(['bit 20: not defined by Multiboot 1']);
  });

  it("stage 1's dump: the kept-empty label names the bytes the dump shows", async () => {
    const w = await demoWalk();
    const d = w.steps.find((s) => s.id === 'stage1')!.dumps[0];
    const first = d.fields[0];
    expect(first.start).toBe(0);
    expect(first.label).toBe(`Kept empty (${hex(d.diskOffset!)}–${hex(d.diskOffset! + first.length - 1)})`);
    expect(first.value).toMatch(/0x3–0x59/);
  });

  it('CHS fields decode with the inverse of the encoder', () => {
    for (const lba of [0, 1, 62, 63, 2048, 16064, 16065, 1_000_000, 16_450_559]) {
      const b = Uint8Array.from(chs(lba));
      const { cylinder, head, sector } = decodeChs(b, 0);
      expect((cylinder * 255 + head) * 63 + sector - 1).toBe(lba);
    }
  });

  it("instruction patterns are looked for only in stage 2's code, not in the block or the command line", async () => {
    const w0 = await demoWalk();
    const where = (w: Walkthrough) =>
      ['a20', 'e820', 'pmode', 'jump'].map((id) => w.steps.find((s) => s.id === id)!.dumps[0]?.diskOffset ?? null);
    const base = where(w0);
    expect(base.every((o) => o !== null && o >= 512 + PARAMS_OFF + PARAMS_SIZE && o < 512 + CMDLINE_OFF)).toBe(true);
    // A segment whose size in memory is 0x0016010F: its bytes in the parameter block are 0F 01 16 00, `lgdt [disp16]`.
    const sneaky = solo5Kernel({ bssSize: 0x16010f - 0x4000 });
    const built = planImage(sneaky, { size: 64 * MiB, args: ARGS });
    expect(built.kernel.load.segments[0].memSize).toBe(0x16010f);
    const w1 = await buildWalkthrough(await readImage(await rawDiskOf(built)));
    expect(where(w1)).toEqual(base);
    expect(w1.steps.find((s) => s.id === 'pmode')!.text.join(' ')).not.toMatch(/could not be located/);
    // A command line holding the A20 and lgdt patterns (raw bytes, CRC made right) moves nothing either.
    // (The E820 and jump patterns hold NUL bytes, which no command line can.)
    const b = planBytes(demo.plan);
    const sectors = Math.ceil((CMDLINE_OFF + demo.cmdline.length + 1) / 512);
    const stage2 = b.slice(512, 512 + sectors * 512);
    const line = Uint8Array.from([
      ...new TextEncoder().encode('unikernel.bin '),
      ...[0xb8, 0x01, 0x24, 0xcd, 0x15, 0x20, 0x0f, 0x01, 0x16, 0x10, 0x80],
    ]);
    const patched = replaceCommandLine(stage2, line);
    expect(patched.length).toBe(stage2.length);
    b.set(patched, 512);
    const w2 = await buildWalkthrough(await readImage(await rawDisk(b)));
    expect(where(w2)).toEqual(base);
  });
});

const stepText = (w: Walkthrough, id: string) => w.steps.find((s) => s.id === id)!.text.join(' ');

describe.skipIf(!tools(...OLD_TOOL_PROGRAMS, 'mdir') || !haveOldToolFiles())('an old-tool (SYSLINUX) image', () => {
  it('the SYSLINUX path: MBR, partition, boot sector, ldlinux.sys, syslinux.cfg with its APPEND, mboot.c32, the jump', async () => {
    const kernel = tmp.path('old.virtio');
    writeFileSync(kernel, DEMO_KERNEL);
    const img = tmp.path('old.img');
    const args = 'Hello_Solo5 --old=1';
    const { partitionOffset, mtoolsImage } = makeOldToolImage(tmp.dir, img, kernel, args, { size: 64 * MiB });
    const w = await withFile(img, async (src) => buildWalkthrough(await readImage(await openDisk(src))));
    expect(w.loader).toBe('syslinux');
    expect(w.cmdline).toBe(`unikernel.bin ${args}`);
    expect(w.notes).toEqual([]);
    expect(w.steps.map((s) => s.id)).toEqual(['bios', 'partition', 'vbr', 'ldlinux', 'config', 'mboot', 'jump']);
    expect(w.uefi).toEqual([]); // no \EFI\BOOT\BOOTX64.EFI: nothing for UEFI firmware to start
    checkDumps(w, img);

    const p = sfdiskPart(img);
    expect(p.start * 512).toBe(partitionOffset);
    expect(field(w, 'partition', 'Entry 1: first sector (LBA)').value).toMatch(new RegExp(`^LBA ${p.start} `));
    expect(field(w, 'partition', 'Entry 1: type').value).toMatch(/^0xC: FAT32/);
    expect(field(w, 'vbr', 'OEM name').value).toBe('"SYSLINUX"');
    expect(field(w, 'vbr', 'OEM name').dump.diskOffset).toBe(partitionOffset + 3);
    expect(field(w, 'vbr', 'nop').dump.diskOffset).toBe(partitionOffset);
    expect(field(w, 'vbr', 'Hidden sectors').value).toMatch(new RegExp(`^${p.start}: the volume's LBA`));
    expect(stepText(w, 'vbr')).toMatch(/DS:SI pointing at the partition's 16-byte entry/);
    // mboot.c32 does not switch modes: it is in protected mode already, and hands over through the core.
    expect(stepText(w, 'mboot')).toMatch(/it runs in 32-bit protected mode/);
    expect(stepText(w, 'jump')).toMatch(
      /already in 32-bit protected mode, so it does not switch; it hands over through the core's shuffle-and-boot call/,
    );
    expect(stepText(w, 'jump')).not.toMatch(/switches to 32-bit protected mode/);
    if (tools('ndisasm')) expect(checkCode(w)).toBeGreaterThan(8);
    expect(field(w, 'vbr', 'Bytes per sector').value).toBe('512');

    // ldlinux.sys's size as mtools lists it.
    const listing = run('mdir', ['-i', mtoolsImage, '-a', '::/ldlinux.sys']);
    const size = /ldlinux\s+sys\s+([\d ]+?)\s+\d{4}-/i.exec(listing)![1].replace(/\s/g, '');
    expect(field(w, 'ldlinux', 'Size').value).toBe(`${size} bytes`);
    expect(field(w, 'ldlinux', 'Short name (8 + 3)').value).toBe('"LDLINUX SYS"');

    // The APPEND line, byte for byte as mtools reads the file.
    const cfg = run('mtype', ['-i', mtoolsImage, '::/syslinux.cfg']);
    const append = field(w, 'config', 'APPEND line');
    const appendLine = cfg.split('\n').find((l) => /^\s*APPEND/.test(l))!;
    expect(Buffer.from(append.bytes).toString()).toBe(appendLine);
    expect(append.value).toBe(`its arguments: -aout unikernel.bin ${args}`);
    expect(
      Buffer.from(field(w, 'config', 'KERNEL line').bytes)
        .toString()
        .trim(),
    ).toBe('KERNEL mboot.c32');

    const mb = findMultiboot(DEMO_KERNEL);
    expect(field(w, 'mboot', 'Magic').value).toMatch(/^0x1BADB002/);
    expect(field(w, 'mboot', 'Flags').value).toMatch(/^0x10003: /);
    const entry = w.steps.find((s) => s.id === 'jump')!.dumps.at(-1)!;
    const k = inspectKernel(DEMO_KERNEL);
    const fileOff = k.load.segments[0].fileOffset + (k.load.entry - k.load.segments[0].loadAddr);
    expect(entry.memoryAddress).toBe(mb.entryAddr);
    expect(entry.code).toBe(32);
    expect(Buffer.from(entry.bytes)).toEqual(Buffer.from(DEMO_KERNEL.subarray(fileOff, fileOff + entry.bytes.length)));
    expect(w.check.lines.map((l) => l.command)).toContain(`hbreak *0x${mb.entryAddr!.toString(16)}`);

    // The old tool's own images: mkfs.fat on a loop device, so 0 hidden sectors; SYSLINUX takes DS:SI's entry.
    const zero = tmp.path('old-zero.img');
    makeOldToolImage(tmp.dir, zero, kernel, args, { size: 64 * MiB, hiddenSectors: 0 });
    const wz = await withFile(zero, async (src) => buildWalkthrough(await readImage(await openDisk(src))));
    expect(field(wz, 'vbr', 'Hidden sectors').value).toMatch(
      new RegExp(
        `^0, not the volume's LBA \\(${p.start}\\): .*partition entry the MBR passes in DS:SI.*so the disk still boots`,
      ),
    );
  }, 60_000);
});
