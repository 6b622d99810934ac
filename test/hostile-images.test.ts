/**
 * Issue 17's classes of hostile input, each with inputs crafted here: text
 * from an image that would attack a terminal, costs that follow what a file
 * claims instead of its bytes, loaders that verify called sound, and
 * SYSLINUX arguments that cannot boot. The case list: docs/hostile-input.md.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ImageError } from '../src/core/errors';
import { terminalSafe } from '../src/core/terminal';
import { openDisk } from '../src/core/formats/open';
import { requireFormat } from '../src/core/formats/index';
import { QCOW2 } from '../src/core/formats/qcow2';
import { makePlan } from '../src/core/plan';
import { collect } from '../src/core/sink';
import { memorySource } from './helpers/disk-memory';
import { gzipSync } from 'node:zlib';
import { BLOCK, headerChecksum, HDR } from '../src/core/formats/tar';
import { pax, padded, tarHeader } from './helpers/hostile-images';
import { GCE_READ } from '../src/core/formats/gce-read';
import { planImage } from '../src/core/image';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { readImage } from '../src/core/disk/open-image';
import { inspectImage } from '../src/core/disk/inspect';
import { FAT_LIMITS } from '../src/core/fat/read';
import { readFileSync, writeFileSync } from 'node:fs';
import { setArgs } from '../src/core/disk/set-args';
import { rewriteFile } from '../src/core/fat/rewrite';
import { SYSLINUX_MAX_COMMAND } from '../src/core/disk/syslinux';
import { haveOldToolFiles, makeOldToolImage, OLD_TOOL_PROGRAMS } from './helpers/old-tool';
import { run, tempDir, tools } from './helpers/tools';
import { spawnSync } from 'node:child_process';
import { qcow2Layout } from '../src/core/formats/qcow2';
import { VHD, vhdDynamicLayout } from '../src/core/formats/vhd';
import { copyPlan } from '../src/core/disk/copy';
import { counting } from './helpers/disk-read';
import { boot } from './helpers/qemu';
import { openImageFile } from '../src/cli/source';
import { writeFile } from './helpers/sink';
import { writeDiskPlan } from '../src/core/disk/rewrite';
import { setArgsPlan } from '../src/core/disk/set-args';
import { openFileSink } from '../src/cli/file-sink';
import type { DiskImage } from '../src/core/formats/reader';
import { verifyImage } from '../src/core/disk/verify';
import { STAGE1_FIELDS_OFF } from '../src/core/boot/loader.generated';
import { planBytes, rawDisk } from './helpers/disk-memory';
import { OPTS } from './helpers/containers';

const MiB = 1 << 20;
const GiB = 1 << 30;

async function errorOf(p: Promise<unknown>): Promise<ImageError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ImageError);
    return e as ImageError;
  }
  throw new Error('expected an ImageError');
}

/** No character that starts or is part of a terminal control sequence. */
function expectTerminalSafe(s: string): void {
  // eslint-disable-next-line no-control-regex
  expect(s).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
}

describe('text from an image cannot attack the terminal', () => {
  it('terminalSafe escapes C0, DEL, C1, bidi overrides and lone surrogates, and keeps the rest', () => {
    const hostile = 'a\x1b]0;pwned\x07b\x9b31mc\x7fd\r\n\t\u202ee\ud800f';
    const safe = terminalSafe(hostile);
    expectTerminalSafe(safe);
    expect(safe).toBe('a\\x1b]0;pwned\\x07b\\x9b31mc\\x7fd\\r\\n\\t\\u{202e}e\\u{d800}f');
    expect(terminalSafe('ünïcødé 😀 /unikernel.bin --ipv4=10.0.0.2/24')).toBe(
      'ünïcødé 😀 /unikernel.bin --ipv4=10.0.0.2/24',
    );
  });

  it('a qcow2 backing file name with escape sequences is escaped in the error', async () => {
    const file = await collect(requireFormat('qcow2'), makePlan(4 * MiB, []), OPTS);
    const name = new TextEncoder().encode('base\x1b[2J\x1b]0;owned\x07.qcow2');
    const h = new DataView(file.buffer, file.byteOffset);
    const at = 512; // inside the header cluster, after the header
    file.set(name, at);
    h.setBigUint64(QCOW2.OFF.backingFileOffset, BigInt(at));
    h.setUint32(QCOW2.OFF.backingFileSize, name.length);
    const e = await errorOf(openDisk(memorySource(file)));
    expect(e.code).toBe('IMAGE_BACKING_FILE');
    expectTerminalSafe(e.message);
    expect(e.message).toContain('base\\x1b[2J\\x1b]0;owned\\x07.qcow2');
  });

  it('a VHD parent name and a VMDK parent hint with escape sequences are escaped', async () => {
    // VHD: a dynamic disk turned differencing, with a parent name in UTF-16BE.
    const vhd = await collect(requireFormat('vhd-dynamic'), makePlan(4 * MiB, []), OPTS);
    const footerAt = 0;
    const dv = new DataView(vhd.buffer, vhd.byteOffset);
    const fix = (at: number, len: number, sumAt: number) => {
      dv.setUint32(at + sumAt, 0);
      let sum = 0;
      for (let i = 0; i < len; i++) sum += vhd[at + i];
      dv.setUint32(at + sumAt, ~sum >>> 0);
    };
    dv.setUint32(footerAt + 60, 4); // disk type: differencing
    fix(footerAt, 512, 64);
    vhd.set(vhd.subarray(0, 512), vhd.length - 512);
    const parent = 'p\x1b[31mred\x9b';
    for (let i = 0; i < parent.length; i++) dv.setUint16(512 + 64 + i * 2, parent.charCodeAt(i));
    fix(512, 1024, 36);
    const e1 = await errorOf(openDisk(memorySource(vhd)));
    expect(e1.code).toBe('IMAGE_BACKING_FILE');
    expectTerminalSafe(e1.message);
    expect(e1.message).toContain('p\\x1b[31mred\\x9b');

    // VMDK: a monolithicSparse descriptor with a parent hint.
    const vmdk = await collect(requireFormat('vmdk-sparse'), makePlan(4 * MiB, []), OPTS);
    const text = new TextDecoder('latin1').decode(vmdk.subarray(512, 512 + 4096));
    const hinted = text.replace('parentCID=ffffffff', 'parentCID=ffffffff\nparentFileNameHint="x\x1b[8mhidden"');
    vmdk.set(new TextEncoder().encode(hinted).subarray(0, 4096), 512);
    const e2 = await errorOf(openDisk(memorySource(vmdk)));
    expect(e2.code).toBe('IMAGE_BACKING_FILE');
    expectTerminalSafe(e2.message);
    expect(e2.message).toContain('x\\x1b[8mhidden');
  });
});

const concat = (parts: Uint8Array[]) => Uint8Array.from(Buffer.concat(parts));

describe('a tar.gz costs what its bytes are, and its disk is disk.raw', () => {
  it('a GNU sparse 1.0 map with no line end is refused at once, not parsed quadratically to the archive end', async () => {
    // 64 KiB of digits with no newline: the old loop joined and split the whole text at every block.
    for (const filler of [0x37, 0x20]) {
      const map = new Uint8Array(64 * 1024).fill(filler);
      map[0] = 0x31;
      const tar = concat([
        ...pax(
          {
            'GNU.sparse.major': '1',
            'GNU.sparse.minor': '0',
            'GNU.sparse.name': 'disk.raw',
            'GNU.sparse.realsize': String(64 * MiB),
          },
          './PaxHeaders/disk.raw',
        ),
        tarHeader('./GNUSparseFile.0/disk.raw', '0', map.length),
        map,
        new Uint8Array(2 * BLOCK),
      ]);
      const e = await errorOf(openDisk(memorySource(gzipSync(tar))));
      expect(e.code).toBe('IMAGE_CORRUPT');
      expect(e.message).toMatch(/sparse 1\.0 map/);
    }
  });

  it('a sparse 1.0 map that runs past its member is refused (the map is read from the member, not the archive)', async () => {
    // The member says 512 bytes; its "map" goes on in the next member's data.
    const map = new TextEncoder().encode('100000\n' + '0\n512\n'.repeat(200));
    const tar = concat([
      ...pax(
        {
          'GNU.sparse.major': '1',
          'GNU.sparse.minor': '0',
          'GNU.sparse.name': 'disk.raw',
          'GNU.sparse.realsize': String(MiB),
        },
        './PaxHeaders/disk.raw',
      ),
      tarHeader('./GNUSparseFile.0/disk.raw', '0', BLOCK),
      padded(map),
      new Uint8Array(2 * BLOCK),
    ]);
    const e = await errorOf(openDisk(memorySource(gzipSync(tar))));
    expect(e.code).toBe('IMAGE_CORRUPT');
    expect(e.message).toMatch(/runs past the member/);
  });

  it('MAX_STORED counts the whole archive: members of zeros before the disk stop at the budget', async () => {
    // Two members of 600 MiB each (gzip members of zeros repeated: a few MiB of file).
    const member = 600 * MiB;
    const zeros8 = gzipSync(new Uint8Array(8 * MiB), { level: 1 });
    const parts: Uint8Array[] = [];
    for (const name of ['a.bin', 'b.bin']) {
      parts.push(gzipSync(tarHeader(name, '0', member)));
      for (let i = 0; i < member / (8 * MiB); i++) parts.push(zeros8);
    }
    parts.push(gzipSync(new Uint8Array(2 * BLOCK)));
    const file = concat(parts);
    expect(file.length).toBeLessThan((2 * member) / 100);
    const e = await errorOf(openDisk(memorySource(file)));
    expect(e.code).toBe('IMAGE_TOO_LARGE');
    expect(e.message).toContain(`${GCE_READ.MAX_STORED / 2 ** 30} GiB`);
  });

  it('the disk is the member named disk.raw, not the first file; an archive without one says so', async () => {
    const img = planImage(DEMO_KERNEL, { size: 64 * MiB, args: 'named' });
    const ours = await collect(requireFormat('tar'), img.plan, { timestamp: img.timestamp, seed: img.seed });
    const { gunzipSync } = await import('node:zlib');
    const disk = gunzipSync(ours);
    const readme = new TextEncoder().encode('not a disk\n');
    const first = concat([tarHeader('README', '0', readme.length), padded(readme)]);
    const opened = await readImage(await openDisk(memorySource(gzipSync(concat([first, disk])))));
    expect((await inspectImage(opened)).bootloader.cmdline).toContain('named');

    const renamed = Uint8Array.from(disk);
    renamed.fill(0, 0, 100);
    renamed.set(new TextEncoder().encode('disk.img'), 0);
    const h = renamed.subarray(0, BLOCK);
    h.fill(0x20, HDR.chksum[0], HDR.chksum[0] + 8);
    h.set(new TextEncoder().encode(headerChecksum(h).toString(8).padStart(6, '0') + '\0 '), HDR.chksum[0]);
    const e = await errorOf(openDisk(memorySource(gzipSync(renamed))));
    expect(e.code).toBe('IMAGE_CORRUPT');
    expect(e.message).toMatch(/no disk\.raw \(its first file is "disk\.img"\)/);
  });
});

describe('FAT directories: the bytes read are budgeted, not only the entries', () => {
  it('hundreds of directories whose chains share one long tail stop at FAT_LIMITS.treeBytes', async () => {
    const built = planImage(DEMO_KERNEL, { size: 64 * MiB });
    const disk = planBytes(built.plan);
    const fat = (await readImage(await rawDisk(disk))).fat!;
    expect(fat.type).toBe(16);
    const dv = new DataView(disk.buffer);
    const fat16 = (c: number, v: number) => {
      for (let copy = 0; copy < fat.bpb.numFats; copy++) dv.setUint16(fat.fatOffset(copy) + c * 2, v, true);
    };
    // A tail of free clusters near the end, chained to each other: 2 MiB (the most one directory may take).
    const tailLength = FAT_LIMITS.dirBytes / fat.clusterBytes - 1;
    const tail = fat.clusterCount + 2 - tailLength - 600;
    for (let i = 0; i < tailLength; i++) fat16(tail + i, i === tailLength - 1 ? 0xffff : tail + i + 1);
    // The root's free slots become directories, each one cluster of its own chained to the shared tail.
    const root = fat.offset + fat.rootDirStart * fat.bpb.bytesPerSector;
    let made = 0;
    for (let slot = 0; slot < fat.bpb.rootEntries && made < 500; slot++) {
      const at = root + slot * 32;
      if (disk[at] !== 0) continue;
      const c = tail - 1 - made;
      disk.set(new TextEncoder().encode(`D${String(made).padStart(7, '0')}   `), at);
      disk[at + 11] = 0x10;
      dv.setUint16(at + 26, c, true);
      fat16(c, tail);
      made++;
    }
    expect(made * FAT_LIMITS.dirBytes).toBeGreaterThan(50 * FAT_LIMITS.treeBytes);
    const e = await errorOf(readImage(await rawDisk(disk)).then((img) => img.fat!.list()));
    expect(e.code).toBe('FAT_TREE_TOO_BIG');
    expect(e.message).toMatch(/directories take more than 16 MiB/);
  });
});

describe('verify fails an image of ours whose BIOS loader cannot boot, and names what is broken', () => {
  const built = planImage(DEMO_KERNEL, { size: 64 * MiB, args: 'boot me' });
  const pristine = planBytes(built.plan);
  async function errorsAfter(damage: (disk: Uint8Array, dv: DataView) => void): Promise<string[]> {
    const disk = Uint8Array.from(pristine);
    damage(disk, new DataView(disk.buffer));
    const problems = await verifyImage(await readImage(await rawDisk(disk)));
    return problems.filter((p) => p.severity === 'error').map((p) => p.message);
  }

  it('a sound image has no errors', async () => {
    expect(await errorsAfter(() => {})).toEqual([]);
  });
  const cases: [string, (d: Uint8Array, dv: DataView) => void, RegExp][] = [
    [
      'stage 1 points at the wrong LBA',
      (_d, dv) => dv.setUint32(STAGE1_FIELDS_OFF, 7, true),
      /from LBA 7.*does not start stage 2 \(stage 2 is at LBA 1\).*stage 2 damaged/,
    ],
    [
      'stage 1 points past the disk',
      (_d, dv) => dv.setUint32(STAGE1_FIELDS_OFF, 0x7fffff00, true),
      /past the end.*disk read error/,
    ],
    [
      'stage 1 reads 0 sectors',
      (_d, dv) => dv.setUint16(STAGE1_FIELDS_OFF + 4, 0, true),
      /reads 0 sectors.*1 to 64.*stage 2 damaged/,
    ],
    [
      'stage 1 reads 65 sectors',
      (_d, dv) => dv.setUint16(STAGE1_FIELDS_OFF + 4, 65, true),
      /reads 65 sectors.*1 to 64/,
    ],
    [
      'stage 1 reads too few sectors',
      (_d, dv) => dv.setUint16(STAGE1_FIELDS_OFF + 4, 2, true),
      /reads 2 sectors.*take \d+ sectors.*damaged stage 2 or parameter block/,
    ],
    [
      "stage 2's first sector is zeroed",
      (d) => d.fill(0, 512, 1024),
      /no stage 2 is there or anywhere.*stage 2 damaged/,
    ],
    ['the MBR code is zeroed', (d) => d.fill(0, 0, 440), /boot code \(bytes 0-439\) is all zeros/],
    [
      'the MBR code is another program',
      (d) => d.fill(0x90, 0, 300),
      /not our stage 1 \(\d+ of its \d+ bytes differ\).*stage 2 \(at LBA 1\)/,
    ],
  ];
  for (const [what, damage, message] of cases) {
    it(what, async () => {
      const errors = await errorsAfter(damage);
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.join('\n')).toMatch(message);
    });
  }
});

describe.skipIf(!tools(...OLD_TOOL_PROGRAMS) || !haveOldToolFiles())(
  'old-tool (SYSLINUX) images: only arguments SYSLINUX can carry',
  () => {
    const t = tempDir('ukd-hostile-sys-');
    afterAll(() => t.cleanup());
    const image = t.path('old.img');
    writeFileSync(t.path('kernel'), DEMO_KERNEL);
    makeOldToolImage(t.dir, image, t.path('kernel'), 'first', { size: 64 * MiB });
    const open = async (bytes: Uint8Array = readFileSync(image)) => readImage(await rawDisk(Uint8Array.from(bytes)));
    /** The disk with syslinux.cfg replaced by `text` (through the FAT rewriter, as set-args does). */
    async function withConfig(text: string): Promise<Uint8Array> {
      const bytes = Uint8Array.from(readFileSync(image));
      const img = await open(bytes);
      for (const p of await rewriteFile(img.fat!, img.disk, img.boot.syslinux!.config, new TextEncoder().encode(text)))
        bytes.set(p.bytes, p.offset);
      return bytes;
    }

    it('the image as made verifies, and ordinary arguments are taken', async () => {
      const img = await open();
      expect(img.boot.kind).toBe('syslinux');
      expect((await verifyImage(img)).filter((p) => p.severity === 'error')).toEqual([]);
      expect((await setArgs(img, 'a -- b --x=---')).after).toBe('unikernel.bin a -- b --x=---');
    });
    it('set-args refuses a "---" word, however it is spaced', async () => {
      for (const args of ['a --- b', '---', 'a\t---\tb', 'x ---']) {
        const e = await errorOf(open().then((img) => setArgs(img, args)));
        expect(e.code).toBe('ARGS_MODULE_SEPARATOR');
        expect(e.message).toContain('mboot.c32');
      }
    });
    it('set-args refuses a command over SYSLINUX_MAX_COMMAND bytes and says the limit; the longest that fits is taken', async () => {
      const img = await open();
      const fixed = 'mboot.c32 -aout unikernel.bin '.length;
      const fits = 'x'.repeat(SYSLINUX_MAX_COMMAND - fixed);
      expect((await setArgs(img, fits)).after.length).toBe('unikernel.bin '.length + fits.length);
      const e = await errorOf(setArgs(img, fits + 'y'));
      expect(e.code).toBe('ARGS_TOO_LONG');
      expect(e.message).toContain(`${SYSLINUX_MAX_COMMAND}`);
      expect(e.message).toMatch(/shorten the arguments by 1 byte/);
      // Bytes, not characters: two-byte letters count twice.
      const e2 = await errorOf(setArgs(img, 'é'.repeat(Math.ceil(fits.length / 2) + 1)));
      expect(e2.code).toBe('ARGS_TOO_LONG');
    });
    it.skipIf(!tools('qemu-system-x86_64'))(
      'SYSLINUX boots a command of SYSLINUX_MAX_COMMAND bytes and refuses one byte more ("cmdline too long")',
      async () => {
        const fixed = 'mboot.c32 -aout unikernel.bin '.length;
        const fits = 'a'.repeat(SYSLINUX_MAX_COMMAND - fixed);
        for (const [args, boots] of [
          [fits, true],
          [fits + 'b', false],
        ] as const) {
          const path = t.path(boots ? 'fits.img' : 'over.img');
          writeFileSync(path, await withConfig(oldConfig(`-aout unikernel.bin ${args}`)));
          const r = await boot({ disk: path, timeoutMs: boots ? 90_000 : 40_000 });
          if (boots) {
            expect(r.serial, r.stderr).toContain(`demo: command line '${args}'`);
            expect(r.status).toBe(83);
          } else {
            expect(r.serial).toContain('cmdline too long');
            expect(r.serial).not.toContain('demo: command line');
          }
        }
      },
      200_000,
    );
    it('verify fails a syslinux.cfg whose command is too long, or whose "---" names a module file that is not there', async () => {
      const long = await withConfig(oldConfig(`-aout unikernel.bin ${'z'.repeat(SYSLINUX_MAX_COMMAND)}`));
      const e1 = (await verifyImage(await open(long))).filter((p) => p.severity === 'error');
      expect(e1.map((p) => p.message).join('\n')).toMatch(/cmdline too long/);
      const sep = await withConfig(oldConfig('-aout unikernel.bin a --- b'));
      const e2 = (await verifyImage(await open(sep))).filter((p) => p.severity === 'error');
      expect(e2.map((p) => p.message).join('\n')).toMatch(/"---" and then "b".*no \/b.*boot: prompt/);
    });
  },
);

function oldConfig(append: string): string {
  return `SERIAL 0 115200\nDEFAULT unikernel\nLABEL unikernel\n  KERNEL mboot.c32\n  APPEND ${append}\n`;
}

/** Convert or set-args a file in a child process; its peak RSS comes back with the result. */
function copyInChild(op: 'convert' | 'set-args', input: string, output: string, extra: string) {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', new URL('./helpers/copy-child.ts', import.meta.url).pathname, op, input, output, extra],
    { encoding: 'utf8', timeout: 300_000 },
  );
  expect(r.signal, `child killed (${r.signal}); stderr: ${r.stderr.slice(-400)}`).toBeNull();
  expect(r.status, r.stderr.slice(-400)).toBe(0);
  return JSON.parse(r.stdout) as { ok: boolean; code?: string; message?: string; maxRssMiB: number; fileSize: number };
}

/**
 * A qcow2 of `size` whose every L2 entry, in `tables` L2 tables, points at one
 * data cluster: `pattern` (non-zero sectors between zero ones). Legal for
 * reading (QEMU reads it), and the virtual disk is all that cluster.
 */
async function aliasedQcow2(size: number, pattern: Uint8Array): Promise<Uint8Array> {
  const C = QCOW2.CLUSTER;
  const span = QCOW2.L2_ENTRIES * C;
  const pieces = [];
  for (let at = 0; at < size; at += span) pieces.push({ offset: at, bytes: pattern });
  const plan = makePlan(size, pieces);
  const file = await collect(requireFormat('qcow2'), plan, OPTS);
  const l = qcow2Layout(plan);
  for (let n = 0; n < l.l2Indexes.length; n++) {
    const t = (l.l2Start + n) * C;
    const first = file.slice(l.l2Start * C, l.l2Start * C + 8); // the first table's first entry
    for (let i = 0; i < QCOW2.L2_ENTRIES && (l.l2Indexes[n] * QCOW2.L2_ENTRIES + i) * C < size; i++)
      file.set(first, t + i * 8);
  }
  return file;
}

describe.skipIf(!tools('qemu-img'))('cost follows the bytes: a copy streams, whatever the tables say', () => {
  const t = tempDir('ukd-hostile-copy-');
  afterAll(() => t.cleanup());
  // Every other sector non-zero: 64 runs per cluster, a million over the disk (past MAX_SECTOR_RUNS).
  const pattern = new Uint8Array(QCOW2.CLUSTER);
  for (let s = 0; s < pattern.length / 512; s += 2) pattern.fill(s + 1, s * 512, (s + 1) * 512);

  it('convert of a 1 GiB disk from one shared cluster: bounded memory, the same disk (qemu-img compare)', async () => {
    const file = await aliasedQcow2(GiB, pattern);
    expect(file.length).toBeLessThan(2 * MiB);
    writeFileSync(t.path('aliased.qcow2'), file);
    const r = copyInChild('convert', t.path('aliased.qcow2'), t.path('out.qcow2'), 'qcow2');
    console.log(`peak RSS ${Math.round(r.maxRssMiB)} MiB`);
    expect(r).toMatchObject({ ok: true });
    expect(r.fileSize).toBeGreaterThan(GiB);
    // A chunk and the map, not the disk's gigabyte of data (the runtime itself is ~100 MiB).
    expect(r.maxRssMiB).toBeLessThan(400);
    run('qemu-img', ['compare', '-f', 'qcow2', '-F', 'qcow2', t.path('aliased.qcow2'), t.path('out.qcow2')]);
  }, 300_000);

  it('set-args of an image of ours whose free clusters all alias the kernel: bounded memory, new arguments', async () => {
    const img = planImage(DEMO_KERNEL, { size: GiB, args: 'old' });
    const file = await collect(requireFormat('qcow2'), img.plan, { timestamp: img.timestamp, seed: img.seed });
    const l = qcow2Layout(img.plan);
    const C = QCOW2.CLUSTER;
    // Point every unallocated entry of the existing L2 tables at the last data cluster (the kernel's).
    const target = file.slice((l.l2Start + l.l2Indexes.length - 1) * C, (l.l2Start + l.l2Indexes.length - 1) * C + C);
    let entry: Uint8Array | undefined;
    for (let i = C - 8; i >= 0 && !entry; i -= 8)
      if (target.subarray(i, i + 8).some((b) => b)) entry = target.slice(i, i + 8);
    let aliased = 0;
    for (let n = 0; n < l.l2Indexes.length; n++) {
      const at = (l.l2Start + n) * C;
      for (let i = 0; i < QCOW2.L2_ENTRIES; i++) {
        if ((l.l2Indexes[n] * QCOW2.L2_ENTRIES + i) * C >= GiB) break;
        if (file.subarray(at + i * 8, at + i * 8 + 8).every((b) => b === 0)) {
          file.set(entry!, at + i * 8);
          aliased++;
        }
      }
    }
    expect(aliased * C).toBeGreaterThan(GiB / 4);
    writeFileSync(t.path('ours.qcow2'), file);
    const r = copyInChild('set-args', t.path('ours.qcow2'), t.path('ours-args.qcow2'), 'new args');
    console.log(`peak RSS ${Math.round(r.maxRssMiB)} MiB`);
    expect(r).toMatchObject({ ok: true });
    expect(r.maxRssMiB).toBeLessThan(400);
    const back = await readImage(await openDisk(memorySource(readFileSync(t.path('ours-args.qcow2')))));
    expect(back.boot.cmdline).toBe('unikernel.bin new args');
    run('qemu-img', ['check', '-f', 'qcow2', t.path('ours-args.qcow2')]);
  }, 300_000);
});

describe("a raw file's holes: set-args and convert read the data, not the zeros", () => {
  const t = tempDir('ukd-hostile-raw-');
  afterAll(() => t.cleanup());

  it('set-args on a sparse 8 GiB raw image reads a few MiB through the disk, and the copy is right', async () => {
    const img = planImage(DEMO_KERNEL, { size: 8 * GiB, args: 'old' });
    await writeFile(t.path('big.img'), img.plan, requireFormat('raw'), { timestamp: img.timestamp, seed: img.seed });
    const f = openImageFile(t.path('big.img'));
    try {
      const opened = await openDisk(f.source);
      let read = 0;
      const counted: DiskImage = {
        ...opened,
        extents: () => opened.extents(),
        async read(offset, length) {
          read += length;
          return opened.read(offset, length);
        },
      };
      const holes = [];
      for await (const x of counted.extents()) if (!x.allocated) holes.push(x);
      expect(holes.reduce((n, x) => n + x.length, 0)).toBeGreaterThan(7 * GiB);
      read = 0;
      const r = await setArgsPlan(await readImage(counted), 'new');
      await writeDiskPlan(r.plan, requireFormat('raw'), openFileSink(t.path('big-args.img')), {
        fileName: 'big-args.img',
      });
      // The disk's data (its FAT and the kernel), twice at most, never its 8 GiB.
      expect(read).toBeLessThan(64 * MiB);
    } finally {
      f.close();
    }
    const back = openImageFile(t.path('big-args.img'));
    try {
      expect((await readImage(await openDisk(back.source))).boot.cmdline).toBe('unikernel.bin new');
    } finally {
      back.close();
    }
  }, 120_000);
});

describe('a copy reads a block shared by many table entries once', () => {
  it('a 6 MiB dynamic VHD whose BAT points 2,000 GiB of blocks at one zeroed block: convert reads a few MiB', async () => {
    const size = 2000 * GiB;
    const plan = makePlan(size, [{ offset: 0, bytes: new Uint8Array(VHD.BLOCK_SIZE).fill(7) }]);
    const file = await collect(requireFormat('vhd-dynamic'), plan, OPTS);
    const l = vhdDynamicLayout(plan);
    const dv = new DataView(file.buffer);
    // The one stored block's data becomes zeros (its bitmap still says "present"), and every entry points at it.
    file.fill(0, l.dataOffset + VHD.BITMAP_SIZE, l.dataOffset + VHD.BITMAP_SIZE + VHD.BLOCK_SIZE);
    for (let b = 0; b < l.maxTableEntries; b++) dv.setUint32(l.batOffset + b * 4, l.dataOffset / 512);
    expect(file.length).toBeLessThan(8 * MiB);
    const source = counting(memorySource(file));
    const disk = await openDisk(source);
    let claimed = 0;
    for await (const x of disk.extents()) if (x.allocated) claimed += x.length;
    expect(claimed).toBe(size);
    const copy = await copyPlan(disk);
    // The BAT and the one block, not 2,000 GiB.
    expect(source.stats.bytes).toBeLessThan(16 * MiB);
    const out = await collect(requireFormat('qcow2'), copy, OPTS);
    const back = await openDisk(memorySource(out));
    expect(back.size).toBe(size);
    for await (const x of back.extents()) expect(x.allocated).toBe(false);
  }, 120_000);
});
