/**
 * The FAT reader and writer against the real tools: volumes made by
 * mkfs.fat and filled by mtools (long names, directories, a fragmented file)
 * read back file for file; a file rewritten by `rewriteFile` (grown across
 * clusters and shrunk) read back by mtools and passed by fsck.fat; chains
 * that loop or end early and absurd BPBs refused with codes; the MBR decoder
 * and its checks; the SYSLINUX config parser.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { ImageError } from '../src/core/errors';
import { FatReader } from '../src/core/fat/read';
import { rewriteFile } from '../src/core/fat/rewrite';
import { checkMbr, decodeMbr, encodeMbr } from '../src/core/mbr';
import { parseSyslinuxCfg, rewriteSyslinuxArgs } from '../src/core/disk/syslinux';
import { planImage } from '../src/core/image';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { inspectImage } from '../src/core/disk/inspect';
import { setArgs } from '../src/core/disk/set-args';
import { verifyImage } from '../src/core/disk/verify';
import { readImage } from '../src/core/disk/open-image';
import { memorySource, planBytes, rawDisk } from './helpers/disk-memory';
import { openDisk } from '../src/core/formats/open';
import { noise } from './helpers/containers';
import { run, runAll, tempDir, tools } from './helpers/tools';

const MiB = 1 << 20;

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(ImageError);
    return (e as ImageError).code;
  }
  throw new Error('expected an ImageError');
}

/** A superfloppy FAT volume file made by mkfs.fat, with files put in by mtools. */
function mtoolsVolume(dir: string, name: string, sizeMiB: number, mkfs: string[]) {
  const img = `${dir}/${name}`;
  run('truncate', ['-s', `${sizeMiB}M`, img]);
  run('mkfs.fat', [...mkfs, '-n', 'TESTVOL', img]);
  return img;
}

const TYPES: [string, number, string[]][] = [
  ['FAT12', 4, ['-F', '12']],
  ['FAT16', 32, ['-F', '16', '-s', '1']],
  ['FAT32', 40, ['-F', '32', '-s', '1']],
];

describe.skipIf(!tools('mkfs.fat', 'mcopy', 'mmd', 'mdel', 'mtype', 'fsck.fat'))(
  'FAT reader vs mkfs.fat and mtools',
  () => {
    for (const [type, size, mkfs] of TYPES) {
      it(`${type}: long names, directories, a fragmented file, read back byte for byte`, async () => {
        const t = tempDir();
        try {
          const img = mtoolsVolume(t.dir, 'v.img', size, mkfs);
          const files: Record<string, Uint8Array> = {
            '/Kernel With A Long Name.virtio': noise(70_000, 1),
            '/boot/syslinux/syslinux.cfg': new TextEncoder().encode('DEFAULT x\n'),
            '/boot/ünïcode-naïve.txt': noise(10, 2),
            '/SHORT.TXT': noise(513, 3),
            '/empty': new Uint8Array(0),
          };
          run('mmd', ['-i', img, '::/boot', '::/boot/syslinux']);
          let n = 0;
          const put = (path: string, bytes: Uint8Array) => {
            const local = t.path(`f${n++}`);
            writeFileSync(local, bytes);
            run('mcopy', ['-i', img, local, `::${path}`]);
          };
          const freeBytes = () =>
            Number(/([\d ]+) bytes free/.exec(run('mdir', ['-i', img, '::/']))![1].replace(/ /g, ''));
          for (const [path, bytes] of Object.entries(files)) put(path, bytes);
          // Fragment: a, b, a filler up to 18 KiB before the end, delete a, then a
          // 20 000-byte file: it fits only in a's hole plus the tail.
          put('/a', noise(3000, 4));
          put('/b', noise(3000, 5));
          put('/filler', noise(freeBytes() - 18 * 1024, 8));
          run('mdel', ['-i', img, '::/a']);
          files['/fragmented.bin'] = noise(20_000, 6);
          put('/fragmented.bin', files['/fragmented.bin']);
          const bytes = new Uint8Array(readFileSync(img));
          const src = memorySource(bytes);
          const fat = await FatReader.open(src, 0, bytes.length);
          expect(`FAT${fat.type}`).toBe(type);
          expect(await fat.volumeLabel()).toBe('TESTVOL');
          const listed = await fat.list();
          const paths = listed.map((e) => e.path);
          for (const [path, want] of Object.entries(files)) {
            expect(paths).toContain(path);
            const e = (await fat.find(path.toUpperCase()))!;
            expect(e.size).toBe(want.length);
            expect(Buffer.from(await fat.readFile(e)).equals(Buffer.from(want)), path).toBe(true);
          }
          expect(paths).toContain('/b');
          expect(paths).not.toContain('/a');
          // The fragmented file really is fragmented (else the test proves less).
          const frag = (await fat.find('/fragmented.bin'))!;
          const chain = await fat.chain(frag.firstCluster, 1e6, frag.path);
          expect(chain.some((c, i) => i > 0 && c !== chain[i - 1] + 1)).toBe(true);
          // The free count matches mtools' (minfo/mdir report bytes free).
          expect((await fat.countFree()) * fat.clusterBytes).toBe(freeBytes());
          // The same volume as a disk without a partition table: inspect finds it at LBA 0.
          const i = await inspectImage(await readImage(await rawDisk(bytes)));
          expect(i.filesystem).toMatchObject({ type, partition: null, label: 'TESTVOL' });
          expect(i.filesystem!.files.map((f) => f.path)).toEqual(paths);
          expect(i.bootloader.kind).toBe('none');
        } finally {
          t.cleanup();
        }
      });

      it(`${type}: a rewritten file grows across clusters and shrinks; mtools reads it, fsck.fat passes`, async () => {
        const t = tempDir();
        try {
          const img = mtoolsVolume(t.dir, 'v.img', size, mkfs);
          writeFileSync(t.path('cfg'), 'APPEND -aout unikernel.bin x\n');
          writeFileSync(t.path('after'), noise(5000, 7));
          run('mcopy', ['-i', img, t.path('cfg'), '::/syslinux.cfg']);
          run('mcopy', ['-i', img, t.path('after'), '::/after.bin']); // takes the clusters right after
          let bytes = new Uint8Array(readFileSync(img));
          for (const len of [9000, 1200, 0, 4000]) {
            const src = memorySource(bytes);
            const fat = await FatReader.open(src, 0, bytes.length);
            const e = (await fat.find('/syslinux.cfg'))!;
            const content = new TextEncoder().encode('#'.repeat(len));
            const patches = await rewriteFile(fat, src, e, content);
            bytes = bytes.slice();
            for (const p of patches) bytes.set(p.bytes, p.offset);
            writeFileSync(img, bytes);
            expect(run('mtype', ['-i', img, '::/syslinux.cfg'])).toBe('#'.repeat(len));
            const fsck = runAll('fsck.fat', ['-n', img]);
            expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
            expect(fsck.stdout).not.toMatch(/differ|Free cluster summary wrong|lost|mismatch/i);
            expect(
              Buffer.from(run('mtype', ['-i', img, '::/after.bin'], { encoding: 'latin1' } as never), 'latin1').length,
            ).toBe(5000);
          }
        } finally {
          t.cleanup();
        }
      });
    }
  },
);

describe('FAT reader refusals', () => {
  async function image() {
    const img = planImage(DEMO_KERNEL, { size: 4 * MiB });
    return { img, bytes: planBytes(img.plan), vol: 2048 * 512 };
  }

  it('a cluster chain that loops, ends early, or leaves the volume', async () => {
    const { img, bytes, vol } = await image();
    const fatAt = vol + img.fat.reservedSectors * 512;
    const first = img.fat.files[0].firstCluster;
    const set = (b: Uint8Array, n: number, v: number) => {
      // FAT12 at 8 MiB: 12-bit entries.
      const o = fatAt + ((n * 3) >> 1);
      if (n & 1) {
        b[o] = (b[o] & 0x0f) | ((v << 4) & 0xf0);
        b[o + 1] = (v >> 4) & 0xff;
      } else {
        b[o] = v & 0xff;
        b[o + 1] = (b[o + 1] & 0xf0) | ((v >> 8) & 0x0f);
      }
    };
    expect(img.fat.type).toBe(12);
    const cases: [number, string][] = [
      [first, 'FAT_CHAIN_LOOP'],
      [0xfff, 'FAT_CHAIN_SHORT'],
      [0, 'FAT_BAD_CLUSTER'],
      [0xff7, 'FAT_BAD_CLUSTER'],
      [0xf00, 'FAT_BAD_CLUSTER'],
    ];
    for (const [v, code] of cases) {
      const b = bytes.slice();
      set(b, first + 1, v);
      const src = memorySource(b);
      const fat = await FatReader.open(src, vol, b.length - vol);
      const e = (await fat.find('/unikernel.bin'))!;
      expect(await codeOf(fat.readFile(e)), `${v}`).toBe(code);
      // inspect and verify report it as a sentence instead of failing.
      const problems = await verifyImage(await readImage(await rawDisk(b)));
      expect(problems.length).toBeGreaterThan(0);
    }
  });

  it('absurd BPB values are coded errors, and inspect says so', async () => {
    const { bytes, vol } = await image();
    const cases: [number, number[], string][] = [
      [11, [3, 0], 'FAT_NOT_FAT'], // bytes per sector
      [13, [3], 'FAT_NOT_FAT'], // sectors per cluster
      [14, [0, 0], 'FAT_BAD_BPB'], // reserved
      [16, [9], 'FAT_BAD_BPB'], // FAT count
      [22, [0xff, 0xff], 'FAT_BAD_BPB'], // sectors per FAT
      [19, [0xff, 0xff], 'FAT_BAD_BPB'], // total sectors past the partition
      [510, [0, 0], 'FAT_NOT_FAT'],
    ];
    for (const [off, val, code] of cases) {
      const b = bytes.slice();
      b.set(val, vol + off);
      expect(await codeOf(FatReader.open(memorySource(b), vol, b.length - vol)), `offset ${off}`).toBe(code);
      const i = await inspectImage(await readImage(await rawDisk(b)));
      expect(i.filesystem).toBeNull();
      expect(i.notes.join(' ')).toMatch(/FAT/);
    }
  });
});

describe('MBR decoder', () => {
  it('reads back what the encoder writes, and checks the table against the disk', () => {
    const sector = encodeMbr({
      code: new Uint8Array([0xeb, 0x5e]),
      diskSignature: 0x12345678,
      partitions: [
        { active: true, type: 0x0c, startLba: 2048, sectors: 100_000 },
        { active: true, type: 0x83, startLba: 50_000, sectors: 100_000 },
      ],
    });
    const m = decodeMbr(sector);
    expect(m.diskSignature).toBe(0x12345678);
    expect(m.gpt).toBe(false);
    expect(m.partitions).toEqual([
      { index: 0, active: true, type: 0x0c, startLba: 2048, sectors: 100_000 },
      { index: 1, active: true, type: 0x83, startLba: 50_000, sectors: 100_000 },
    ]);
    expect(checkMbr(m, 120_000)).toEqual([
      'Partition 2 ends at LBA 150000, past the end of the 120000-sector disk.',
      'Partitions 1 and 2 overlap.',
      '2 partitions are marked active; MBR boot codes that look for one refuse ("Multiple active partitions").',
    ]);
  });

  it('refuses a sector without 55 AA and a table with a bad boot flag', async () => {
    const s = new Uint8Array(512);
    expect(await codeOf(() => decodeMbr(s))).toBe('MBR_NO_SIGNATURE');
    s[510] = 0x55;
    s[511] = 0xaa;
    s[0x1be] = 0x12;
    expect(await codeOf(() => decodeMbr(s))).toBe('MBR_BAD_TABLE');
    expect(await codeOf(() => decodeMbr(new Uint8Array(100)))).toBe('DISK_EMPTY');
  });

  it.skipIf(!tools('sfdisk'))('a GPT disk made by sfdisk: the protective MBR is noted', async () => {
    const t = tempDir();
    try {
      run('truncate', ['-s', '8M', t.path('g.img')]);
      run('sfdisk', ['-q', t.path('g.img')], { input: 'label: gpt\n,,U\n' });
      const disk = await openDisk(memorySource(new Uint8Array(readFileSync(t.path('g.img')))));
      const i = await inspectImage(await readImage(disk));
      expect(i.partitionTable).toBe('gpt');
      expect(i.partitions).toEqual([expect.objectContaining({ type: 0xee, typeName: 'GPT protective' })]);
      expect(i.notes.join(' ')).toContain('this is a GPT disk');
    } finally {
      t.cleanup();
    }
  });
});

describe('SYSLINUX configuration', () => {
  const OLD =
    'SERIAL 0 115200\nDEFAULT unikernel\nLABEL unikernel\n  KERNEL mboot.c32\n  APPEND -aout unikernel.bin a b\n';

  it('reads the old tool’s config and rewrites only the arguments', () => {
    const b = parseSyslinuxCfg(OLD);
    expect(b).toMatchObject({
      label: 'unikernel',
      multiboot: true,
      options: ['-aout'],
      kernel: 'unikernel.bin',
      cmdline: 'unikernel.bin a b',
    });
    const out = rewriteSyslinuxArgs(OLD, b, '--ipv4=1.2.3.4/24 x');
    expect(out).toBe(OLD.replace('unikernel.bin a b', 'unikernel.bin --ipv4=1.2.3.4/24 x'));
  });

  it('follows DEFAULT, keeps mboot modules and CRLF, leaves a global APPEND alone', () => {
    const text = [
      'APPEND global',
      'DEFAULT two',
      'LABEL one',
      'KERNEL mboot.c32',
      'APPEND k1 x',
      'label two',
      'kernel /boot/mboot.c32',
      'append -solaris -aout /k2.bin old args --- mod.bin m',
      '',
    ].join('\r\n');
    const b = parseSyslinuxCfg(text);
    expect(b).toMatchObject({
      label: 'two',
      kernel: '/k2.bin',
      options: ['-solaris', '-aout'],
      cmdline: '/k2.bin old args',
    });
    const out = rewriteSyslinuxArgs(text, b, 'new');
    expect(out).toBe(text.replace('-aout /k2.bin old args --- mod.bin m', '-aout /k2.bin new --- mod.bin m'));
    // A label without its own APPEND gets one; the global one stays.
    const g = 'APPEND -aout k.bin g\nLABEL l\nKERNEL mboot.c32\n';
    const gb = parseSyslinuxCfg(g);
    expect(gb.cmdline).toBe('k.bin g');
    expect(rewriteSyslinuxArgs(g, gb, 'z')).toBe(
      'APPEND -aout k.bin g\nLABEL l\nKERNEL mboot.c32\nAPPEND -aout k.bin z\n',
    );
  });

  it('refuses a config that boots nothing', async () => {
    expect(await codeOf(() => parseSyslinuxCfg('DEFAULT x\nPROMPT 1\n'))).toBe('SYSLINUX_NO_LABEL');
  });
});

describe.skipIf(!tools('mmd', 'mcopy'))('GRUB identification', () => {
  it('an MBR with GRUB boot.img’s text and a grub.cfg on the FAT volume', async () => {
    const t = tempDir();
    try {
      const img = planImage(DEMO_KERNEL, { size: 8 * MiB });
      const b = planBytes(img.plan);
      // Not ours any more (stage 1's fields cleared), and boot.img's message text where GRUB keeps it.
      b.fill(0, 0, 440);
      b.set(new TextEncoder().encode('GRUB \0Geom\0Hard Disk\0Read\0 Error\r\n'), 0x180);
      writeFileSync(t.path('d.img'), b);
      writeFileSync(
        t.path('grub.cfg'),
        'set timeout=0\nmenuentry "u" {\n  multiboot /unikernel.bin --from=grub x\n}\n',
      );
      const at = `${t.path('d.img')}@@${2048 * 512}`;
      run('mmd', ['-i', at, '::/boot', '::/boot/grub']);
      run('mcopy', ['-i', at, t.path('grub.cfg'), '::/boot/grub/grub.cfg']);
      const disk = await rawDisk(new Uint8Array(readFileSync(t.path('d.img'))));
      const i = await inspectImage(await readImage(disk));
      expect(i.bootloader).toMatchObject({
        kind: 'grub',
        config: '/boot/grub/grub.cfg',
        cmdline: '/unikernel.bin --from=grub x',
        args: '--from=grub x',
      });
      expect(i.kernel).toMatchObject({ path: '/unikernel.bin', size: DEMO_KERNEL.length });
      expect(await codeOf(setArgs(await readImage(disk), 'y'))).toBe('SETARGS_UNSUPPORTED');
    } finally {
      t.cleanup();
    }
  });
});
