/**
 * Reading our own images back, in every format we write: inspect finds the
 * partition, the FAT volume, our loader and its command line, and the
 * kernel; verify finds nothing wrong in a fresh image and names a flipped
 * kernel byte or a damaged parameter block; extract gives the kernel byte for
 * byte; set-args gives the same stage 2 as a fresh build with the new
 * arguments; convert gives the same disk bytes in every format, reproducibly.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { planImage } from '../src/core/image';
import { buildBootCode, EFI_LOADER } from '../src/core/boot/index';
import { crc32 } from '../src/core/bytes';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { FORMATS, requireFormat } from '../src/core/formats/index';
import { collect } from '../src/core/sink';
import { ImageError } from '../src/core/errors';
import { PARAMS_OFF, P_KERNEL_SIZE } from '../src/core/boot/loader.generated';
import { extractKernel } from '../src/core/disk/kernel-file';
import { inspectImage } from '../src/core/disk/inspect';
import { setArgs } from '../src/core/disk/set-args';
import { verifyImage } from '../src/core/disk/verify';
import { readImage } from '../src/core/disk/open-image';
import { copyPlan, planSeed } from '../src/core/disk/copy';
import { storedRuns } from '../src/core/plan';
import { openDisk } from '../src/core/formats/open';
import { containerDisk, diskBytes, memorySource, planBytes, rawDisk } from './helpers/disk-memory';

const MiB = 1 << 20;
const ARGS = 'inspect me --ipv4=10.0.0.2/24';
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ImageError);
    return (e as ImageError).code;
  }
  throw new Error('expected an ImageError');
}

describe('our images in every format', () => {
  for (const format of FORMATS) {
    const size = 64 * MiB; // the tar writer takes any size (whole GiB is checked where sizes are chosen)
    it(`${format.id}: inspect, verify, extract, set-args`, async () => {
      const img = planImage(DEMO_KERNEL, { size, args: ARGS });
      const { disk } = await containerDisk(img, format);
      expect(disk.formatId).toBe(format.id);

      const i = await inspectImage(await readImage(disk));
      expect(i.format).toBe(format.id);
      expect(i.size).toBe(size);
      expect(i.partitionTable).toBe('mbr');
      expect(i.diskSignature).toBe(img.diskSignature);
      expect(i.partitions).toEqual([
        {
          index: 1,
          start: img.partition.startLba,
          sectors: img.partition.sectors,
          type: img.partition.type,
          typeName: expect.any(String),
          active: true,
        },
      ]);
      expect(i.filesystem).toMatchObject({ type: `FAT${img.fat.type}`, label: 'UNIKERNEL', partition: 1 });
      expect(i.filesystem!.files).toEqual([
        { path: '/unikernel.bin', size: DEMO_KERNEL.length, dir: false },
        { path: '/EFI', size: 0, dir: true },
        { path: '/EFI/BOOT', size: 0, dir: true },
        { path: '/EFI/BOOT/BOOTX64.EFI', size: EFI_LOADER.length, dir: false },
      ]);
      expect(i.bootloader).toMatchObject({ kind: 'unikernel-disk', cmdline: img.cmdline, args: ARGS, version: 1 });
      expect(i.bootloader.params).toEqual({
        kernelLba: img.kernelLba,
        kernelSize: DEMO_KERNEL.length,
        kernelCrc32: crc32(DEMO_KERNEL),
        entry: img.kernel.load.entry,
        loadStart: img.kernel.load.start,
        loadEnd: img.kernel.load.end,
        flags: 1,
        segments: img.kernel.load.segments,
        problems: [],
      });
      expect(i.kernel).toMatchObject({
        path: '/unikernel.bin',
        lba: img.kernelLba,
        size: DEMO_KERNEL.length,
        sha256: sha256(DEMO_KERNEL),
        crc32: crc32(DEMO_KERNEL),
      });
      expect(i.kernel!.inspection).toMatchObject({ ok: true, entry: img.kernel.load.entry, format: 'elf64' });
      expect(i.notes).toEqual([]);

      expect(await verifyImage(await readImage(disk))).toEqual([]);
      const k = await extractKernel(await readImage(disk));
      expect(k.path).toBe('/unikernel.bin');
      expect(Buffer.compare(Buffer.from(k.bytes), Buffer.from(DEMO_KERNEL))).toBe(0);

      // set-args, written back in the same format, read again.
      const next = 'changed --x=1 ' + 'y'.repeat(1500); // stage 2 grows by sectors
      const r = await setArgs(await readImage(disk), next);
      expect(r).toMatchObject({ kind: 'unikernel-disk', before: img.cmdline, after: `unikernel.bin ${next}` });
      const plan = await copyPlan(disk, r.patches);
      const file = await collect(format, plan, { timestamp: img.timestamp, seed: planSeed(plan) });
      const back = await openDisk(memorySource(file));
      expect(back.formatId).toBe(format.id);
      expect((await inspectImage(await readImage(back))).bootloader.cmdline).toBe(`unikernel.bin ${next}`);
      expect(await verifyImage(await readImage(back))).toEqual([]);
      // Stage 2 and stage 1's fields are exactly those of a fresh build with the new arguments.
      const fresh = buildBootCode({
        kernelLba: img.kernelLba,
        kernelSize: DEMO_KERNEL.length,
        kernelCrc32: crc32(DEMO_KERNEL),
        load: img.kernel.load,
        cmdline: `unikernel.bin ${next}`,
      });
      expect(Buffer.from(await back.read(512, fresh.stage2.length)).equals(Buffer.from(fresh.stage2))).toBe(true);
      expect(Buffer.from(await back.read(0, 440)).equals(Buffer.from(fresh.mbrCode))).toBe(true);
      // Everything else on the disk is as it was.
      const before = await diskBytes(disk);
      const after = await diskBytes(back);
      before.set(fresh.mbrCode, 0);
      before.fill(0, 512, 512 + 64 * 512);
      before.set(fresh.stage2, 512);
      expect(sha256(after)).toBe(sha256(before));
    });
  }

  it('set-args shrinks stage 2 back and zeroes the sectors it left', async () => {
    const img = planImage(DEMO_KERNEL, { size: 64 * MiB, args: 'z'.repeat(3000) });
    const disk = await rawDisk(planBytes(img.plan));
    const r = await setArgs(await readImage(disk), '');
    expect(r.after).toBe('unikernel.bin');
    const out = await collect(requireFormat('raw'), await copyPlan(disk, r.patches), { timestamp: 0, seed: 0 });
    const fresh = planImage(DEMO_KERNEL, { size: 64 * MiB, args: '' });
    const want = planBytes(fresh.plan);
    // Same as a fresh build, apart from the identifiers derived from the arguments.
    for (const [o, n] of [
      [0x1b8, 4], // disk signature
      [2048 * 512 + 0x27, 4], // FAT16 volume serial
    ]) {
      out.fill(0, o, o + n);
      want.fill(0, o, o + n);
    }
    expect(sha256(out)).toBe(sha256(want));
  });
});

describe('verify and refusals', () => {
  it('names a flipped kernel byte (CRC against the parameter block)', async () => {
    const img = planImage(DEMO_KERNEL, { size: 64 * MiB, args: ARGS });
    const b = planBytes(img.plan);
    b[img.kernelLba * 512 + 200] ^= 0x01;
    const problems = await verifyImage(await readImage(await rawDisk(b)));
    expect(problems.map((p) => p.area)).toContain('kernel');
    expect(problems.find((p) => p.area === 'kernel')!.message).toMatch(
      /^The kernel's CRC-32 is 0x[0-9A-F]+ but the parameter block says 0x[0-9A-F]+: the loader would stop with "kernel checksum mismatch"/,
    );
  });

  it('names a damaged parameter block, and set-args refuses to paper over it', async () => {
    const img = planImage(DEMO_KERNEL, { size: 64 * MiB, args: ARGS });
    const b = planBytes(img.plan);
    b[512 + PARAMS_OFF + P_KERNEL_SIZE] ^= 0x10;
    const disk = await rawDisk(b);
    const problems = await verifyImage(await readImage(disk));
    expect(problems.some((p) => p.area === 'loader' && /parameter block's CRC-32 is 0x/.test(p.message))).toBe(true);
    expect(await codeOf(setArgs(await readImage(disk), 'x'))).toBe('PARAMS_DAMAGED');
  });

  it('names a FAT copy that differs', async () => {
    const img = planImage(DEMO_KERNEL, { size: 64 * MiB });
    const b = planBytes(img.plan);
    const fat2 = (2048 + img.fat.reservedSectors + img.fat.fatSectors) * 512;
    b[fat2 + 10] ^= 0xff;
    const problems = await verifyImage(await readImage(await rawDisk(b)));
    expect(problems).toContainEqual({
      area: 'fat',
      message: 'FAT copy 2 differs from copy 1 from byte 10 on.',
      severity: 'error',
    });
  });

  it('set-args refuses arguments with a NUL, and images with no known loader', async () => {
    const img = planImage(DEMO_KERNEL, { size: 64 * MiB });
    const b = planBytes(img.plan);
    expect(await codeOf(setArgs(await readImage(await rawDisk(b)), 'a\0b'))).toBe('ARGS_NUL');
    b.fill(0, 0, 440); // no boot code: stage 1's fields are gone
    b.fill(0, 512, 1024 * 1024);
    const disk = await rawDisk(b);
    expect((await inspectImage(await readImage(disk))).bootloader.kind).toBe('none');
    expect(await codeOf(setArgs(await readImage(disk), 'x'))).toBe('SETARGS_UNSUPPORTED');
    // The kernel is still found by its name.
    expect((await extractKernel(await readImage(disk))).bytes.length).toBe(DEMO_KERNEL.length);
  });
});

describe('convert', () => {
  it('every format to every format gives the same disk bytes, and the same file twice', async () => {
    // 64 MiB: the tar writer takes any size (the whole-GiB rule is checked where sizes are chosen).
    const img = planImage(DEMO_KERNEL, { size: 64 * MiB, args: ARGS });
    const raw = planBytes(img.plan);
    const want = sha256(raw);
    const src = await rawDisk(raw);
    const plan = await copyPlan(src);
    // Only non-zero sectors are listed, and nothing of them is held: much less than the disk.
    const listed = [...storedRuns(plan)].reduce((n, [s, e]) => n + e - s, 0);
    expect(listed).toBeGreaterThan(0);
    expect(listed).toBeLessThan(4 * MiB);
    expect(plan.pieces).toEqual([]);
    for (const to of FORMATS) {
      const opts = { timestamp: img.timestamp, seed: planSeed(plan) };
      const file = await collect(to, plan, opts);
      const again = await collect(to, await copyPlan(await rawDisk(raw)), opts);
      expect(sha256(again), to.id).toBe(sha256(file));
      const back = await openDisk(memorySource(file));
      expect(back.formatId).toBe(to.id);
      // And back to raw through a plan of the container's disk.
      const rawAgain = await collect(requireFormat('raw'), await copyPlan(back), opts);
      expect(sha256(rawAgain), to.id).toBe(want);
    }
  });
});
