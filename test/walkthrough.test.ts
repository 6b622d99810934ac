/**
 * The boot walkthrough against real images: ours (raw, and in containers),
 * one made the way Solo5's old tool makes it (SYSLINUX), a disk with no boot
 * code, and damaged ones. Every dump's bytes are compared with the bytes at
 * its disk offset read straight from the raw file; the fields' decoded values
 * with what sfdisk, mtools, the parameter block decoder and the Multiboot
 * parser say.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { planImage, type BuiltImage } from '../src/core/image';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { buildWalkthrough } from '../src/core/disk/walkthrough';
import type { HexDump, Walkthrough } from '../src/core/disk/walkthrough-types';
import { openDisk } from '../src/core/disk/open';
import { requireFormat } from '../src/core/formats/index';
import { replaceCommandLine, reportBootParams } from '../src/core/boot/params';
import { findMultiboot } from '../src/core/multiboot';
import { inspectKernel } from '../src/core/kernel';
import { crc32 } from '../src/core/bytes';
import { CMDLINE_OFF, PARAMS_OFF, P_KERNEL_LBA, STAGE2_ADDR } from '../src/core/boot/loader.generated';
import { containerDisk, memorySource, planBytes, rawDisk } from './helpers/disk-memory';
import { writePlanRange } from './helpers/image-files';
import { withFile } from './helpers/disk-read';
import { solo5Kernel } from './helpers/fixtures';
import { haveOldToolFiles, makeOldToolImage, OLD_TOOL_PROGRAMS } from './helpers/old-tool';
import { run, tempDir, tools } from './helpers/tools';
import { boot } from './helpers/qemu';

const MiB = 1 << 20;
const ARGS = 'walk me --ipv4=10.0.0.2/24';
const tmp = tempDir('ukd-walk-');
afterAll(() => tmp.cleanup());

const h32 = (n: number) => '0x' + (n >>> 0).toString(16).toUpperCase().padStart(8, '0');

/** Bytes of a file at an offset, read with fs (not through any decoder of ours). */
function fileBytes(path: string, offset: number, length: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const b = new Uint8Array(length);
    readSync(fd, b, 0, length, offset);
    return b;
  } finally {
    closeSync(fd);
  }
}

/** Every dump from the disk holds exactly the file's bytes there; fields are in order, inside, not overlapping. */
function checkDumps(w: Walkthrough, rawPath: string): HexDump[] {
  const all = w.steps.flatMap((s) => s.dumps);
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
      const want = fileBytes(rawPath, d.diskOffset, d.bytes.length);
      expect(Buffer.from(d.bytes).equals(Buffer.from(want)), `${d.caption} at ${d.diskOffset}`).toBe(true);
    }
  }
  expect(all.filter((d) => d.diskOffset !== null).length).toBeGreaterThan(3);
  return all;
}

function field(w: Walkthrough, step: string, label: string) {
  const s = w.steps.find((x) => x.id === step);
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
  return withFile(path, async (src) => buildWalkthrough(await openDisk(src)));
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
    const w = await withFile(raw, async (src) => buildWalkthrough(await openDisk(src)));
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
      expect(field(w, 'partition', 'Entry 1: type').value).toMatch(
        new RegExp(`^0x${p.type.toUpperCase().padStart(2, '0')}:`),
      );
      expect(p.bootable).toBe(true);
      expect(field(w, 'partition', 'Entry 1: boot flag').value).toMatch(/active/);
    }

    // The parameter block, as its own decoder reads it.
    const stage2 = fileBytes(raw, 512, stage2Sectors * 512);
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
    const atPtr = fileBytes(raw, 512 + (ptr - STAGE2_ADDR), img.cmdline.length + 1);
    expect(Buffer.from(atPtr).toString()).toBe(`${img.cmdline}\0`);
    const name = field(w, 'mbi', 'boot_loader_name');
    const namePtr = new DataView(name.bytes.buffer, name.bytes.byteOffset).getUint32(0, true);
    expect(Buffer.from(fileBytes(raw, 512 + (namePtr - STAGE2_ADDR), 15)).toString()).toBe('unikernel-disk\0');
    expect(field(w, 'mbi', 'flags').value).toMatch(/^0x0000024F/);
    // The machine's values are labelled as an example.
    expect(field(w, 'mbi', 'mem_upper').value).toMatch(/example/);
    const e820 = w.steps.find((s) => s.id === 'e820')!.dumps.find((d) => d.diskOffset === null)!;
    expect(e820.caption).toMatch(/^Example/);

    // Protected mode: the GDT the loader loads.
    expect(field(w, 'pmode', 'Descriptor 0x08').value).toBe('32-bit code, base 0x0, 4 GiB');
    expect(field(w, 'pmode', 'Descriptor 0x10').value).toBe('32-bit data, base 0x0, 4 GiB');

    // The jump: EAX's magic in the code, the kernel's Multiboot header where the parser finds it, the entry bytes.
    expect(Buffer.from(field(w, 'jump', 'mov eax, 2BADB002h').bytes)).toEqual(
      Buffer.from([0xb8, 0x02, 0xb0, 0xad, 0x2b]),
    );
    const mb = findMultiboot(DEMO_KERNEL);
    const magic = field(w, 'jump', 'Magic');
    expect(magic.value).toMatch(/^0x1BADB002/);
    expect(magic.dump.diskOffset).toBe(img.kernelLba * 512 + mb.offset);
    expect(field(w, 'jump', 'entry_addr').value).toMatch(new RegExp(`^${h32(mb.entryAddr!)}`));
    const k = inspectKernel(DEMO_KERNEL);
    const entry = field(w, 'jump', 'Entry point code');
    const seg = k.load.segments[0];
    const fileOff = seg.fileOffset + (k.load.entry - seg.loadAddr);
    expect(entry.dump.diskOffset).toBe(img.kernelLba * 512 + fileOff);
    expect(Buffer.from(entry.bytes)).toEqual(Buffer.from(DEMO_KERNEL.subarray(fileOff, fileOff + entry.bytes.length)));
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
      const flags = field(w, 'mbi', 'flags').value.slice(0, 10).toLowerCase();
      expect(r.serial).toMatch(new RegExp(`multiboot info flags ${flags}`));
      const dev = field(w, 'mbi', 'boot_device').value.slice(0, 10).toLowerCase();
      expect(r.serial).toMatch(new RegExp(`boot device ${dev}`));
      expect(r.serial).toMatch(/boot loader 'unikernel-disk'/);
      // mem_upper: the usable RAM from 1 MiB to the end of the entry that holds it.
      const ram = got.find(([start, , type]) => start === 0x100000n && type === 1n)!;
      expect(field(w, 'mbi', 'mem_upper').value).toMatch(new RegExp(`^${Number(ram[1]) / 1024} KiB`));
    },
    120_000,
  );

  for (const id of ['qcow2', 'vhd-dynamic', 'vmdk', 'vdi', 'tar']) {
    it(`${id}: the same walkthrough as the raw disk`, async () => {
      const fromRaw = await withFile(raw, async (src) => buildWalkthrough(await openDisk(src)));
      const { disk } = await containerDisk(img, requireFormat(id));
      expect(disk.formatId).toBe(id);
      const w = await buildWalkthrough(disk);
      expect(w).toEqual(fromRaw);
      checkDumps(w, raw);
    });
  }

  it('reads only the structures and the kernel headers, not the kernel', async () => {
    const big = solo5Kernel({ dataSize: 8 * MiB });
    const bigImg = planImage(big, { size: 64 * MiB, args: 'big' });
    const path = tmp.path('big.img');
    writePlanRange(bigImg.plan, path);
    const { w, bytes } = await withFile(path, async (src) => {
      const w = await buildWalkthrough(await openDisk(src));
      return { w, bytes: src.stats.bytes };
    });
    expect(w.steps.map((s) => s.id)).toEqual(OUR_STEPS);
    expect(bytes).toBeLessThan(256 * 1024);
  });

  it('a damaged parameter block: the steps up to it, the CRC mismatch shown, a note', async () => {
    const b = readFileSync(raw);
    b[512 + CMDLINE_OFF + 2] ^= 0x20; // a command line byte: the block's CRC no longer matches
    const w = await buildWalkthrough(await rawDisk(new Uint8Array(b)));
    expect(w.steps.map((s) => s.id)).toEqual(['bios', 'stage1', 'partition', 'params']);
    expect(field(w, 'params', 'CRC-32 of stage 2').value).toMatch(/the bytes give 0x[0-9A-F]{8}, so the loader stops/);
    expect(w.notes.join(' ')).toMatch(/damaged/);
  });

  it('a sound block that puts the kernel past the end of the disk: no kernel bytes, a note', async () => {
    const b = planBytes(img.plan);
    const sectors = Math.ceil((CMDLINE_OFF + img.cmdline.length + 1) / 512);
    const stage2 = b.slice(512, 512 + sectors * 512);
    new DataView(stage2.buffer).setBigUint64(PARAMS_OFF + P_KERNEL_LBA, 2n ** 60n, true);
    b.set(replaceCommandLine(stage2, new TextEncoder().encode(img.cmdline)), 512); // the CRC made right again
    const w = await buildWalkthrough(await rawDisk(b));
    expect(w.steps.map((s) => s.id)).toEqual(OUR_STEPS.filter((id) => id !== 'kernel'));
    expect(w.notes.join(' ')).toMatch(/past the end of the 64 MiB disk/);
    expect(w.steps.find((s) => s.id === 'jump')!.dumps.every((d) => d.diskOffset! < 64 * MiB)).toBe(true);
  });

  it('no boot code, and a disk shorter than a sector: what is known, and notes', async () => {
    const b = planBytes(img.plan);
    b.fill(0, 0, 440);
    const w = await buildWalkthrough(await rawDisk(b));
    expect(w.loader).toBe('none');
    expect(w.steps.map((s) => s.id)).toEqual(['bios', 'partition']);
    expect(w.notes.join(' ')).toMatch(/No boot loader this tool knows/);
    // GRUB's boot.img is recognised by its text "GRUB " in the MBR code.
    b.set(new TextEncoder().encode('GRUB Geom\0Hard Disk\0'), 0x180);
    const grub = await buildWalkthrough(await rawDisk(b));
    expect(grub.loader).toBe('grub');
    expect(grub.steps.map((s) => s.id)).toEqual(['bios', 'partition']);
    expect(grub.steps[0].text.join(' ')).toMatch(/GRUB's first stage/);
    expect(grub.notes.join(' ')).toMatch(/GRUB's own stages .* are not walked through/);
    const tiny = await buildWalkthrough(await openDisk(memorySource(new Uint8Array(100).fill(1))));
    expect(tiny.steps).toEqual([]);
    expect(tiny.notes.length).toBe(1);
  });
});

describe.skipIf(!tools(...OLD_TOOL_PROGRAMS, 'mdir') || !haveOldToolFiles())('an old-tool (SYSLINUX) image', () => {
  it('the SYSLINUX path: MBR, partition, boot sector, ldlinux.sys, syslinux.cfg with its APPEND, mboot.c32, the jump', async () => {
    const kernel = tmp.path('old.virtio');
    writeFileSync(kernel, DEMO_KERNEL);
    const img = tmp.path('old.img');
    const args = 'Hello_Solo5 --old=1';
    const { partitionOffset, mtoolsImage } = makeOldToolImage(tmp.dir, img, kernel, args, { size: 64 * MiB });
    const w = await withFile(img, async (src) => buildWalkthrough(await openDisk(src)));
    expect(w.loader).toBe('syslinux');
    expect(w.cmdline).toBe(`unikernel.bin ${args}`);
    expect(w.notes).toEqual([]);
    expect(w.steps.map((s) => s.id)).toEqual(['bios', 'partition', 'vbr', 'ldlinux', 'config', 'mboot', 'jump']);
    checkDumps(w, img);

    const p = sfdiskPart(img);
    expect(p.start * 512).toBe(partitionOffset);
    expect(field(w, 'partition', 'Entry 1: first sector (LBA)').value).toMatch(new RegExp(`^LBA ${p.start} `));
    expect(field(w, 'partition', 'Entry 1: type').value).toMatch(/^0x0C: FAT32/);
    expect(field(w, 'vbr', 'OEM name').value).toBe('"SYSLINUX"');
    expect(field(w, 'vbr', 'OEM name').dump.diskOffset).toBe(partitionOffset);
    expect(field(w, 'vbr', 'Hidden sectors').value).toMatch(new RegExp(`^${p.start}:`));
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
    expect(field(w, 'mboot', 'Flags').value).toMatch(/^0x00010003/);
    const entry = field(w, 'jump', 'Entry point code');
    const k = inspectKernel(DEMO_KERNEL);
    const fileOff = k.load.segments[0].fileOffset + (k.load.entry - k.load.segments[0].loadAddr);
    expect(entry.value).toMatch(new RegExp(`0x${mb.entryAddr!.toString(16).toUpperCase()}`));
    expect(Buffer.from(entry.bytes)).toEqual(Buffer.from(DEMO_KERNEL.subarray(fileOff, fileOff + entry.bytes.length)));
  }, 60_000);
});
