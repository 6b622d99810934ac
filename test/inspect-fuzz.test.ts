/**
 * The image readers as untrusted-input parsers, fuzzed like the kernel
 * parser: fixed seeds, bounded time, and every failure is an ImageError with
 * a code (never a TypeError, a RangeError, an "internal:" Error or a hang).
 * Pure decoders get random bytes; whole operations (inspect, verify,
 * extract, the disk map, set-args and the plan it makes, the boot
 * walkthrough) get real disks, ours and a SYSLINUX-style FAT32 one, with
 * random bytes and 32-bit values written over their structures.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isImageError } from '../src/core/errors';
import { decodeMbr, encodeMbr, PART_TYPE } from '../src/core/mbr';
import { FatReader } from '../src/core/fat/read';
import { decodeBpb } from '../src/core/fat/index';
import { reportBootParams, readBootParams } from '../src/core/boot/params';
import { parseSyslinuxCfg } from '../src/core/disk/syslinux';
import { extractKernel } from '../src/core/disk/kernel-file';
import { inspectImage } from '../src/core/disk/inspect';
import { setArgs } from '../src/core/disk/set-args';
import { verifyImage } from '../src/core/disk/verify';
import { readImage, type OpenedImage } from '../src/core/disk/open-image';
import { buildWalkthrough } from '../src/core/disk/walkthrough';
import { copyPlan } from '../src/core/disk/copy';
import { diskMap } from '../src/core/disk/map';
import { formatFat } from '../src/core/fat';
import { planImage } from '../src/core/image';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { memorySource, planBytes, rawDisk } from './helpers/disk-memory';
import { oldToolConfig } from './helpers/old-tool';

const MiB = 1 << 20;

/** Run f; a thrown value must be a coded ImageError. Returns the code, or 'ok'. */
async function codedOnly(f: () => unknown): Promise<string> {
  try {
    await f();
    return 'ok';
  } catch (e) {
    if (!isImageError(e)) throw e;
    expect(e.code).toMatch(/^[A-Z0-9_]+$/);
    expect(e.message.length).toBeGreaterThan(10);
    return e.code;
  }
}

/** xorshift32: the mutations are the same every run. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

describe('pure decoders on random bytes', () => {
  it('MBR, BPB, parameter block and SYSLINUX config: coded errors only', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 4096 }), fc.boolean(), async (b, sign) => {
        const s = b.slice();
        if (sign && s.length >= 512) {
          s[510] = 0x55;
          s[511] = 0xaa;
        }
        await codedOnly(() => decodeMbr(s));
        await codedOnly(() => decodeBpb(s, s.length));
        await codedOnly(() => FatReader.open(memorySource(s), 0, s.length).then((f) => f.list()));
        const r = reportBootParams(s);
        expect(Array.isArray(r.problems)).toBe(true);
        readBootParams(s);
        await codedOnly(() => parseSyslinuxCfg(String.fromCharCode(...s.subarray(0, 2048))));
      }),
      { seed: 0x5eed, numRuns: 400 },
    );
  });
});

/** A FAT32 disk laid out like the old tool's (MBR, one 0x0C partition at 2048), with our formatter. */
function syslinuxStyleDisk(): { bytes: Uint8Array; regions: [number, number][] } {
  const size = 36 * MiB;
  const sectors = size / 512 - 2048;
  const fat = formatFat({
    sectors,
    hiddenSectors: 2048,
    label: 'OLD',
    serial: 1,
    timestamp: 315532800,
    type: 32,
    files: [
      { name: 'ldlinux.sys', bytes: new Uint8Array(2048).fill(0x4c) },
      { name: 'syslinux.cfg', bytes: new TextEncoder().encode(oldToolConfig('fuzz me')) },
      { name: 'mboot.c32', bytes: new Uint8Array(1000).fill(0x6d) },
      { name: 'unikernel.bin', bytes: DEMO_KERNEL },
    ],
  });
  const b = new Uint8Array(size);
  b.set(
    encodeMbr({
      code: new Uint8Array(0),
      diskSignature: 2,
      partitions: [{ active: true, type: PART_TYPE.fat32lba, startLba: 2048, sectors }],
    }),
    0,
  );
  for (const p of fat.pieces) b.set(p.bytes, 2048 * 512 + p.offset);
  // LBA 0 and the head of every structure: boot record, FATs, root directory, each file.
  const regions: [number, number][] = [[0, 512]];
  for (const p of fat.pieces) {
    const at = 2048 * 512 + p.offset;
    regions.push([at, at + Math.min(p.bytes.length, 4096)]);
  }
  return { bytes: b, regions };
}

describe('operations on mutated disks', () => {
  const ours = planImage(DEMO_KERNEL, { size: 4 * MiB, args: 'fuzz' });
  const old = syslinuxStyleDisk();
  const bases: [string, Uint8Array, [number, number][]][] = [
    [
      'ours (FAT12)',
      planBytes(ours.plan),
      // LBA 0, stage 2, the volume's boot sector, FATs and root directory, the kernel's head.
      [
        [0, 512 * 8],
        [2048 * 512, (ours.fat.dataStart + 1) * 512],
        [ours.kernelLba * 512, 256],
      ],
    ],
    ['SYSLINUX-style (FAT32)', old.bytes, old.regions],
  ];

  for (const [name, base, regions] of bases) {
    it(`${name}: inspect, verify, extract, the map, set-args and its plan, the walkthrough fail only with codes`, async () => {
      // The unmutated disk is sound (else the fuzzing proves less).
      expect(await verifyImage(await readImage(await rawDisk(base)))).toEqual([]);
      const next = rng(name.length * 7919);
      const codes = new Map<string, number>();
      const deadline = Date.now() + 25_000;
      let runs = 0;
      for (; runs < 300 && Date.now() < deadline; runs++) {
        const undo: [number, number][] = [];
        const n = 1 + (next() % 8);
        for (let k = 0; k < n; k++) {
          const [from, to] = regions[next() % regions.length];
          const at = from + (next() % (to - from - 4));
          // A random byte, or a random 32-bit value (counts, sizes, LBAs, cluster numbers).
          const len = next() & 1 ? 1 : 4;
          for (let i = 0; i < len; i++) {
            undo.push([at + i, base[at + i]]);
            base[at + i] = next() & 0xff;
          }
        }
        try {
          const disk = await rawDisk(base);
          const tally = (c: string) => codes.set(c, (codes.get(c) ?? 0) + 1);
          // Opening refuses a disk with neither a partition table nor a FAT volume, with a coded sentence.
          let img: OpenedImage | undefined;
          tally(await codedOnly(async () => (img = await readImage(disk))));
          if (!img) continue;
          const opened = img;
          tally(await codedOnly(() => inspectImage(opened)));
          tally(await codedOnly(() => verifyImage(opened)));
          tally(await codedOnly(() => extractKernel(opened)));
          // The page's map of the same disk: labelled ranges inside the disk, whatever the damage.
          tally(
            await codedOnly(async () => {
              const m = await diskMap(opened);
              for (const r of m.ranges) {
                if (r.start < 0 || r.length <= 0 || r.start + r.length > disk.size)
                  throw new Error(`map range outside the disk: ${JSON.stringify(r)}`);
              }
            }),
          );
          tally(
            await codedOnly(async () => {
              const r = await setArgs(opened, `--run=${runs}`);
              await copyPlan(disk, r.patches);
            }),
          );
          // The walkthrough turns what it cannot show into notes: it never throws, and stays quick.
          const t0 = Date.now();
          const w = await buildWalkthrough(opened);
          expect(Date.now() - t0).toBeLessThan(2000);
          tally(w.notes.length ? 'walkthrough with notes' : 'walkthrough');
        } finally {
          for (const [at, v] of undo.reverse()) base[at] = v;
        }
      }
      expect(runs).toBeGreaterThan(20);
      // Both outcomes happen: the mutations reach the checks.
      expect(codes.get('ok')).toBeGreaterThan(0);
      expect([...codes.keys()].filter((c) => c !== 'ok').length).toBeGreaterThan(1);
    }, 60_000);
  }
});
