/**
 * The image decoders (src/core/disk, src/core/formats/*-read.ts): every
 * format we write decodes to the plan's bytes; images made by other tools
 * (qemu-img convert, GNU tar + gzip) decode to the raw disk they were made
 * from, with the holes their own tables say (checked against `qemu-img map`);
 * what cannot be read gets one coded error.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { closeSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'fflate';
import { encodeSparseHeader } from '../src/core/formats/tar';
import { GCE_READ } from '../src/core/formats/gce-read';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { planImage } from '../src/core/image';
import { FORMATS } from '../src/core/formats/index';
import { gceFormat } from '../src/core/formats/gce';
import { QCOW2, qcow2Format } from '../src/core/formats/qcow2';
import { vhdDynamicFormat, vhdFormat, VHD, vhdChecksum } from '../src/core/formats/vhd';
import { VMDK, vmdkFormat, vmdkSparseFormat } from '../src/core/formats/vmdk';
import { vdiFormat, VDI } from '../src/core/formats/vdi';
import { rawFormat } from '../src/core/formats/raw';
import { findReader, openDisk } from '../src/core/formats/open';
import { isImageError, type ErrorCode } from '../src/core/errors';
import type { ImagePlan } from '../src/core/plan';
import { blobSource } from '../src/web/worker/source';
import { fdSource } from '../src/cli/source';
import { GiB, MiB, OPTS, qemuInfo, qemuMapData, syntheticPlan, writeFormat, writeRaw } from './helpers/containers';
import { run, runAll, tempDir, tools } from './helpers/tools';
import {
  allExtents,
  expectHolesZero,
  expectSameDisk,
  mergeRanges,
  planReference,
  sourceReference,
  withFile,
} from './helpers/disk-read';

const ARGS = '--ipv4=10.0.0.2/24 hello';

/** The plans: the demo kernel's real image, and the synthetic one that crosses every table boundary. */
function plans(): { name: string; plan: ImagePlan }[] {
  return [
    { name: 'demo 64 MiB', plan: planImage(DEMO_KERNEL, { size: 64 * MiB, args: ARGS }).plan },
    { name: 'synthetic 48 MiB', plan: syntheticPlan(48 * MiB) },
  ];
}

/** Decode a file and check it against a reference; returns the extents. */
async function decodeFile(path: string, ref: Parameters<typeof expectSameDisk>[1], label: string, formatId: string) {
  return withFile(path, async (src) => {
    const disk = await openDisk(src);
    expect(disk.formatId, label).toBe(formatId);
    await expectSameDisk(disk, ref, label);
    const extents = await allExtents(disk);
    await expectHolesZero(extents, ref, label);
    // Bounded memory: no single read of the file is larger than two blocks (a compressed grain and its marker).
    expect(src.stats.largest, `${label}: largest read`).toBeLessThanOrEqual(2 * MiB + 4096);
    return { disk, extents };
  });
}

/** Our allocated extents equal qemu-img map's data ranges (merged), for formats qemu reads. */
function expectSameMap(
  extents: { offset: number; length: number; allocated: boolean }[],
  path: string,
  fmt: string,
  size: number,
) {
  const ours = mergeRanges(extents.filter((e) => e.allocated).map((e) => ({ start: e.offset, length: e.length })));
  const theirs = mergeRanges(qemuMapData(path, fmt))
    .map((r) => ({ start: r.start, length: Math.min(r.length, size - r.start) }))
    .filter((r) => r.length > 0);
  expect(ours, `${path}: allocated extents vs qemu-img map`).toEqual(theirs);
}

describe('our writers decode back to the plan', () => {
  // Made when a test of this block runs (a filtered run creates nothing to leave behind).
  let dir: ReturnType<typeof tempDir> | undefined;
  const t = { path: (name: string) => (dir ??= tempDir('ukd-dec-')).path(name) };
  afterAll(() => dir?.cleanup());
  for (const { name, plan } of plans()) {
    for (const format of FORMATS) {
      if (format.id === gceFormat.id) continue; // whole GiB only: below
      it(`${format.id}, ${name}`, async () => {
        const path = t.path(`ours-${format.id}${format.extension}`);
        await writeFormat(format, plan, path);
        const { extents } = await decodeFile(path, planReference(plan), `${format.id} ${name}`, format.id);
        if (format.id !== rawFormat.id && format.id !== vhdFormat.id) {
          // Sparse containers: something is unallocated.
          expect(extents.some((e) => !e.allocated)).toBe(true);
        }
      });
    }
  }
  it('tar (GCE), demo kernel, 1 GiB: read front to back, holes from the sparse map', async () => {
    const plan = planImage(DEMO_KERNEL, { size: GiB, args: ARGS }).plan;
    const path = t.path('ours.tar.gz');
    await writeFormat(gceFormat, plan, path);
    const { extents } = await decodeFile(path, planReference(plan), 'tar 1 GiB', gceFormat.id);
    const allocated = extents.filter((e) => e.allocated).reduce((n, e) => n + e.length, 0);
    expect(allocated).toBeGreaterThan(DEMO_KERNEL.length);
    expect(allocated).toBeLessThan(4 * MiB);
  });
  it('tar (GCE) split over several gzip members (as concatenated .gz files are) reads the same', async () => {
    const plan = planImage(DEMO_KERNEL, { size: GiB, args: ARGS }).plan;
    const path = t.path('members.tar.gz');
    const tar = gunzipSync(readFileSync((await writeFormat(gceFormat, plan, path)).path));
    const third = Math.ceil(tar.length / 3);
    const parts = [0, 1, 2].map((i) => gzipSync(tar.subarray(i * third, (i + 1) * third)));
    writeFileSync(path, Buffer.concat(parts));
    const disk = await openDisk(blobSource(new Blob([readFileSync(path)])));
    await expectSameDisk(disk, planReference(plan), 'tar in 3 gzip members');
    // What follows the archive is ignored, as gzip does: zero padding, then garbage.
    writeFileSync(path, Buffer.concat([...parts, new Uint8Array(1000), Buffer.from('trailing garbage')]));
    expect(runAll('gzip', ['-t', path]).status).not.toBe(1); // gzip itself: OK or a warning (2), no error
    const padded = await openDisk(blobSource(new Blob([readFileSync(path)])));
    await expectSameDisk(padded, planReference(plan), 'tar.gz with trailing bytes');
  });
  it('a 2040 GiB disk in every format: opened, extents walked, its data read, in bounded time and reads', async () => {
    const size = 2040 * GiB;
    const plan = planImage(DEMO_KERNEL, { size, args: ARGS }).plan;
    for (const format of FORMATS) {
      const path = t.path(`huge${format.extension}`);
      await writeFormat(format, plan, path);
      await withFile(path, async (src) => {
        const t0 = performance.now();
        const disk = await openDisk(src);
        expect(disk.size).toBe(size);
        const extents = await allExtents(disk);
        // Every piece of the plan reads back, and its non-zero bytes lie in allocated extents.
        for (const p of plan.pieces) {
          const got = await disk.read(p.offset, p.bytes.length);
          expect(Buffer.compare(Buffer.from(got), Buffer.from(p.bytes)), `${format.id}: piece at ${p.offset}`).toBe(0);
          for (const e of extents) {
            const from = Math.max(e.offset, p.offset);
            const to = Math.min(e.offset + e.length, p.offset + p.bytes.length);
            if (!e.allocated && from < to) {
              expect(p.bytes.subarray(from - p.offset, to - p.offset).every((x) => x === 0)).toBe(true);
            }
          }
        }
        expect(performance.now() - t0, `${format.id}: open + extents + reads`).toBeLessThan(10_000);
        expect(src.stats.largest).toBeLessThanOrEqual(8 * MiB);
      });
    }
  });
  it('a Blob source (the page) reads the same as a file descriptor (the CLI)', async () => {
    const plan = syntheticPlan(48 * MiB);
    const path = t.path('blob.qcow2');
    await writeFormat(qcow2Format, plan, path);
    const disk = await openDisk(blobSource(new Blob([readFileSync(path)])));
    await expectSameDisk(disk, planReference(plan), 'qcow2 via Blob');
  });
});

describe.skipIf(!tools('qemu-img', 'qemu-io', 'tar', 'gzip'))(
  'images made by other tools decode to the raw disk',
  () => {
    // Made when a test of this block runs (a filtered run creates nothing to leave behind).
    let dir: ReturnType<typeof tempDir> | undefined;
    const t = { path: (name: string) => (dir ??= tempDir('ukd-dec-q-')).path(name) };
    afterAll(() => dir?.cleanup());
    const CONVERSIONS: { name: string; args: string[]; qemuFmt: string; id: string; ext: string }[] = [
      {
        name: 'qcow2 extended_l2',
        args: ['-O', 'qcow2', '-o', 'extended_l2=on'],
        qemuFmt: 'qcow2',
        id: qcow2Format.id,
        ext: 'qcow2',
      },
      {
        name: 'qcow2 -c extended_l2',
        args: ['-c', '-O', 'qcow2', '-o', 'extended_l2=on,cluster_size=16k'],
        qemuFmt: 'qcow2',
        id: qcow2Format.id,
        ext: 'qcow2',
      },
      {
        name: 'qcow2 -c, 2 MiB clusters',
        args: ['-c', '-O', 'qcow2', '-o', 'cluster_size=2M'],
        qemuFmt: 'qcow2',
        id: qcow2Format.id,
        ext: 'qcow2',
      },
      {
        name: 'qcow2 -c, 512-byte clusters',
        args: ['-c', '-O', 'qcow2', '-o', 'cluster_size=512'],
        qemuFmt: 'qcow2',
        id: qcow2Format.id,
        ext: 'qcow2',
      },
      {
        name: 'qcow2 preallocation=metadata',
        args: ['-O', 'qcow2', '-o', 'preallocation=metadata'],
        qemuFmt: 'qcow2',
        id: qcow2Format.id,
        ext: 'qcow2',
      },
      {
        name: 'qcow2 refcount_bits=1, lazy_refcounts',
        args: ['-O', 'qcow2', '-o', 'refcount_bits=1,lazy_refcounts=on'],
        qemuFmt: 'qcow2',
        id: qcow2Format.id,
        ext: 'qcow2',
      },
      {
        name: 'vmdk monolithicSparse zeroed_grain',
        args: ['-O', 'vmdk', '-o', 'subformat=monolithicSparse,zeroed_grain=on'],
        qemuFmt: 'vmdk',
        id: vmdkSparseFormat.id,
        ext: 'vmdk',
      },
      { name: 'qcow2', args: ['-O', 'qcow2'], qemuFmt: 'qcow2', id: qcow2Format.id, ext: 'qcow2' },
      {
        name: 'qcow2 -c (compressed)',
        args: ['-c', '-O', 'qcow2'],
        qemuFmt: 'qcow2',
        id: qcow2Format.id,
        ext: 'qcow2',
      },
      {
        name: 'qcow2 compat=0.10 (v2)',
        args: ['-O', 'qcow2', '-o', 'compat=0.10'],
        qemuFmt: 'qcow2',
        id: qcow2Format.id,
        ext: 'qcow2',
      },
      {
        name: 'qcow2 -c, 4 KiB clusters',
        args: ['-c', '-O', 'qcow2', '-o', 'cluster_size=4096'],
        qemuFmt: 'qcow2',
        id: qcow2Format.id,
        ext: 'qcow2',
      },
      { name: 'vpc fixed', args: ['-O', 'vpc', '-o', 'subformat=fixed'], qemuFmt: 'vpc', id: vhdFormat.id, ext: 'vhd' },
      { name: 'vpc dynamic', args: ['-O', 'vpc'], qemuFmt: 'vpc', id: vhdDynamicFormat.id, ext: 'vhd' },
      {
        name: 'vpc dynamic force_size',
        args: ['-O', 'vpc', '-o', 'force_size=on'],
        qemuFmt: 'vpc',
        id: vhdDynamicFormat.id,
        ext: 'vhd',
      },
      {
        name: 'vmdk monolithicSparse',
        args: ['-O', 'vmdk', '-o', 'subformat=monolithicSparse'],
        qemuFmt: 'vmdk',
        id: vmdkSparseFormat.id,
        ext: 'vmdk',
      },
      {
        name: 'vmdk streamOptimized',
        args: ['-O', 'vmdk', '-o', 'subformat=streamOptimized'],
        qemuFmt: 'vmdk',
        id: vmdkFormat.id,
        ext: 'vmdk',
      },
      { name: 'vdi', args: ['-O', 'vdi'], qemuFmt: 'vdi', id: vdiFormat.id, ext: 'vdi' },
      { name: 'vdi static', args: ['-O', 'vdi', '-o', 'static=on'], qemuFmt: 'vdi', id: vdiFormat.id, ext: 'vdi' },
    ];
    for (const { name: planName, plan } of plans()) {
      const raw = () => t.path(`${planName.replace(/\W/g, '_')}.raw`);
      beforeAll(() => writeRaw(plan, raw()));
      for (const c of CONVERSIONS) {
        it(`qemu-img convert ${c.name}, ${planName}`, async () => {
          const out = t.path(`q-${c.name.replace(/\W/g, '_')}.${c.ext}`);
          run('qemu-img', ['convert', '-f', 'raw', ...c.args, raw(), out]);
          await withFile(raw(), async (rawSrc) => {
            const { disk, extents } = await decodeFile(out, sourceReference(rawSrc), `${c.name} ${planName}`, c.id);
            if (c.qemuFmt !== 'vpc' || c.name.includes('dynamic')) {
              expect(disk.size).toBe(qemuInfo(out, c.qemuFmt)['virtual-size']);
            }
            expectSameMap(extents, out, c.qemuFmt, disk.size);
          });
        });
      }
      it(`qcow2 (compressed) with an internal snapshot, then written by qemu-io: the active state is read, ${planName}`, async () => {
        const out = t.path('snap.qcow2');
        const ref = t.path('snap.raw');
        run('qemu-img', ['convert', '-f', 'raw', '-c', '-O', 'qcow2', raw(), out]);
        run('qemu-img', ['snapshot', '-c', 'before', out]);
        run('cp', ['--sparse=always', raw(), ref]);
        // The same writes on the image and on a raw copy: into a compressed cluster, across clusters, zeros.
        const writes = ['write -P 0xab 70000 5000', 'write -P 0x5c 1048000 200000', 'write -z 5242880 65536'];
        for (const [file, fmt] of [
          [out, 'qcow2'],
          [ref, 'raw'],
        ]) {
          run('qemu-io', ['-f', fmt, ...writes.flatMap((w) => ['-c', w]), file]);
        }
        await withFile(ref, async (refSrc) => {
          const { extents } = await decodeFile(out, sourceReference(refSrc), `snapshot ${planName}`, qcow2Format.id);
          expectSameMap(extents, out, 'qcow2', plan.size);
        });
      });
      it(`qcow2 with extended L2 entries written in pieces by qemu-io (subclusters allocated one by one), ${planName}`, async () => {
        const out = t.path('sub.qcow2');
        const ref = t.path('sub.raw');
        run('qemu-img', ['create', '-f', 'qcow2', '-o', 'extended_l2=on,cluster_size=128k', out, String(plan.size)]);
        run('qemu-img', ['create', '-f', 'raw', ref, String(plan.size)]);
        // Pieces smaller than a 4 KiB subcluster, across subclusters and clusters, zeros over data.
        const writes = [
          'write -P 0x11 0 512',
          'write -P 0x22 8192 4096',
          'write -P 0x33 130000 20000',
          'write -P 0x44 1048576 262144',
          'write -z 1114112 8192',
          `write -P 0x55 ${plan.size - 4096} 4096`,
        ];
        for (const [file, fmt] of [
          [out, 'qcow2'],
          [ref, 'raw'],
        ]) {
          run('qemu-io', ['-f', fmt, ...writes.flatMap((w) => ['-c', w]), file]);
        }
        await withFile(ref, async (refSrc) => {
          const { extents } = await decodeFile(out, sourceReference(refSrc), `subclusters ${planName}`, qcow2Format.id);
          expectSameMap(extents, out, 'qcow2', plan.size);
          // Subclusters, not clusters: the first 128 KiB cluster is only partly allocated.
          expect(extents[0]).toEqual({ offset: 0, length: 4096, allocated: true });
        });
      });
      for (const tarFormat of ['gnu', 'oldgnu', 'posix']) {
        it(`GNU tar --format=${tarFormat} --sparse | gzip of disk.raw, ${planName}`, async () => {
          const dir = t.path(`tar-${tarFormat}`);
          run('mkdir', ['-p', dir]);
          run('cp', ['--sparse=always', raw(), `${dir}/disk.raw`]);
          run('tar', [`--format=${tarFormat}`, '--sparse', '-cf', `${dir}.tar`, '-C', dir, 'disk.raw']);
          run('gzip', ['-f', `${dir}.tar`]);
          await withFile(raw(), (rawSrc) =>
            decodeFile(`${dir}.tar.gz`, sourceReference(rawSrc), `tar ${tarFormat}`, gceFormat.id),
          );
        });
      }
    }
  },
);

async function expectCode(path: string, code: ErrorCode, words?: RegExp): Promise<void> {
  const err = await withFile(path, async (src) => {
    try {
      const d = await openDisk(src);
      for await (const e of d.extents()) if (e.allocated) await d.read(e.offset, Math.min(e.length, MiB));
      return undefined;
    } catch (e) {
      return e;
    }
  });
  expect(isImageError(err), `${path}: ${String(err)}`).toBe(true);
  expect((err as { code: string }).code, (err as Error).message).toBe(code);
  if (words) expect((err as Error).message).toMatch(words);
}

describe('what cannot be read gets one clear coded error', () => {
  // Made when a test of this block runs (a filtered run creates nothing to leave behind).
  let dir: ReturnType<typeof tempDir> | undefined;
  const t = { path: (name: string) => (dir ??= tempDir('ukd-dec-e-')).path(name) };
  afterAll(() => dir?.cleanup());
  const plan = syntheticPlan(48 * MiB);
  const write = async (format: (typeof FORMATS)[number], name: string) =>
    (await writeFormat(format, plan, t.path(name), OPTS)).path;

  it('an empty file, a kernel instead of an image, an xz file', async () => {
    writeFileSync(t.path('empty'), '');
    await expectCode(t.path('empty'), 'IMAGE_EMPTY');
    writeFileSync(t.path('kernel'), DEMO_KERNEL);
    await expectCode(t.path('kernel'), 'IMAGE_UNSUPPORTED', /ELF/);
    writeFileSync(t.path('x.xz'), Uint8Array.of(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 0));
    await expectCode(t.path('x.xz'), 'IMAGE_UNSUPPORTED', /xz/);
  });
  it('a qcow2 claiming a virtual size past 2^53 bytes: the exact field in the sentence, not a rounded Number', async () => {
    const h = new Uint8Array(4096);
    h.set([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]); // magic, version 3
    h[20 + 3] = 16; // cluster_bits
    h.set([0x80, 0, 0, 0, 0, 0, 0, 0x01], 24); // size: 2^63 + 1
    h[100 + 3] = 104; // header_length
    writeFileSync(t.path('huge.qcow2'), h);
    await expectCode(
      t.path('huge.qcow2'),
      'IMAGE_TOO_LARGE',
      /virtual size 0x8000000000000001 bytes \(8388608 TiB\) is above/,
    );
  });
  it('a tar.gz storing more than GCE_READ.MAX_STORED is refused before inflating it', async () => {
    const stored = GCE_READ.MAX_STORED + MiB;
    const header = encodeSparseHeader({
      name: 'disk.raw',
      mode: 0o644,
      uid: 0,
      gid: 0,
      uname: 'root',
      gname: 'root',
      mtime: 0,
      realsize: 4 * GiB,
      map: [{ offset: 0, numbytes: stored }],
    });
    writeFileSync(t.path('big.tar.gz'), gzipSync(header));
    await expectCode(t.path('big.tar.gz'), 'IMAGE_TOO_LARGE', /1 GiB/);
  });
  it('tables shared by many entries (a hostile file that would make walking the extents endless) are refused', async () => {
    const huge = syntheticPlan(2040 * GiB);
    // qcow2: every L1 entry points at the first L2 table.
    const q = readFileSync((await writeFormat(qcow2Format, huge, t.path('shared.qcow2'))).path);
    const l1 = Number(q.readBigUInt64BE(QCOW2.OFF.l1TableOffset));
    const l1Size = q.readUInt32BE(QCOW2.OFF.l1Size);
    for (let i = 1; i < l1Size; i++) q.copy(q, l1 + i * 8, l1, l1 + 8);
    writeFileSync(t.path('shared.qcow2'), q);
    await expectCode(t.path('shared.qcow2'), 'IMAGE_CORRUPT', /share tables/);
    // VMDK streamOptimized: every grain directory entry points at the first grain table.
    const v = readFileSync((await writeFormat(vmdkFormat, huge, t.path('shared.vmdk'))).path);
    const footer = v.length - 1024;
    const gd = Number(v.readBigUInt64LE(footer + VMDK.OFF.gdOffset)) * 512;
    const first = v.readUInt32LE(gd);
    for (let k = 0; k < Math.ceil(huge.size / VMDK.GRAIN / VMDK.GTES_PER_GT); k++) v.writeUInt32LE(first, gd + k * 4);
    writeFileSync(t.path('shared.vmdk'), v);
    await expectCode(t.path('shared.vmdk'), 'IMAGE_CORRUPT', /share tables/);
  });
  it('truncated containers', async () => {
    for (const [format, cut] of [
      [qcow2Format, 0.5],
      [vhdDynamicFormat, 0.5],
      [vmdkFormat, 0.7],
      [vmdkSparseFormat, 0.6],
      [vdiFormat, 0.6],
    ] as const) {
      const p = await write(format, `cut-${format.id}`);
      truncateSync(p, Math.floor((statSync(p).size * cut) / 512) * 512);
      await expectCode(p, 'IMAGE_TRUNCATED');
    }
    const plan1g = planImage(DEMO_KERNEL, { size: GiB }).plan;
    const gz = (await writeFormat(gceFormat, plan1g, t.path('cut.tar.gz'))).path;
    truncateSync(gz, Math.floor(statSync(gz).size / 2));
    await expectCode(gz, 'IMAGE_TRUNCATED');
  });
  it('a damaged VHD footer checksum, a VDI or VHD differencing image', async () => {
    const vhd = await write(vhdDynamicFormat, 'bad.vhd');
    const b = readFileSync(vhd);
    b[b.length - VHD.FOOTER_SIZE + VHD.FOOTER.timestamp] ^= 1;
    b[VHD.FOOTER.timestamp] ^= 1;
    writeFileSync(vhd, b);
    await expectCode(vhd, 'IMAGE_CHECKSUM');
    const diff = await write(vhdDynamicFormat, 'diff.vhd');
    const d = readFileSync(diff);
    for (const at of [0, d.length - VHD.FOOTER_SIZE]) {
      d.writeUInt32BE(4, at + VHD.FOOTER.diskType);
      d.writeUInt32BE(vhdChecksum(d.subarray(at, at + VHD.FOOTER_SIZE), VHD.FOOTER.checksum), at + VHD.FOOTER.checksum);
    }
    writeFileSync(diff, d);
    await expectCode(diff, 'IMAGE_BACKING_FILE', /differencing/);
    const vdi = await write(vdiFormat, 'diff.vdi');
    const v = readFileSync(vdi);
    v.writeUInt32LE(4, VDI.OFF.imageType);
    writeFileSync(vdi, v);
    await expectCode(vdi, 'IMAGE_BACKING_FILE', /differencing/);
  });
  describe.skipIf(!tools('qemu-img'))('made by qemu-img', () => {
    it('a qcow2 with a backing file names it', async () => {
      const base = await write(qcow2Format, 'base.qcow2');
      const top = t.path('top.qcow2');
      run('qemu-img', ['create', '-f', 'qcow2', '-b', base, '-F', 'qcow2', top]);
      await expectCode(top, 'IMAGE_BACKING_FILE', /base\.qcow2/);
    });
    it('an encrypted (LUKS) qcow2', async () => {
      const p = t.path('enc.qcow2');
      const create = () =>
        runAll('qemu-img', [
          'create',
          '--object',
          'secret,id=sec0,data=password',
          '-f',
          'qcow2',
          '-o',
          'encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10',
          p,
          '1M',
        ]);
      // To choose the key slot's PBKDF2 iteration count, qemu-img times rounds of it on the
      // thread's CPU clock and gives up ("Unable to get accurate CPU usage") when a round
      // measures 0 ms, which a loaded machine can give. That is qemu-img's estimate failing
      // before any image exists, not the image: make it again, a few times, for that reason only.
      let r = create();
      const flakes: string[] = [];
      while (r.status !== 0 && /Unable to get accurate CPU usage/.test(r.stderr) && flakes.length < 8) {
        flakes.push(r.stderr.trim());
        rmSync(p, { force: true });
        r = create();
      }
      expect(r.status, [...flakes, r.stderr].join('\n')).toBe(0);
      // What qemu-img made is what the test is about: a qcow2 encrypted with LUKS.
      const info = JSON.parse(run('qemu-img', ['info', '--output=json', p]));
      expect(info).toMatchObject({
        format: 'qcow2',
        encrypted: true,
        'format-specific': { data: { encrypt: { format: 'luks' } } },
      });
      await expectCode(p, 'IMAGE_ENCRYPTED');
    });
    it('VMDK descriptors whose data is in other files', async () => {
      const raw = t.path('d.raw');
      writeRaw(plan, raw);
      run('qemu-img', [
        'convert',
        '-f',
        'raw',
        '-O',
        'vmdk',
        '-o',
        'subformat=monolithicFlat',
        raw,
        t.path('flat.vmdk'),
      ]);
      await expectCode(t.path('flat.vmdk'), 'IMAGE_EXTENT_FILES', /flat-flat\.vmdk.*raw disk/);
      // The flat extent itself is the raw disk.
      expect(await withFile(t.path('flat-flat.vmdk'), async (s) => (await findReader(s)).name)).toBe('raw');
      run('qemu-img', [
        'convert',
        '-f',
        'raw',
        '-O',
        'vmdk',
        '-o',
        'subformat=twoGbMaxExtentSparse',
        raw,
        t.path('two.vmdk'),
      ]);
      await expectCode(t.path('two.vmdk'), 'IMAGE_EXTENT_FILES', /two-s001\.vmdk/);
    });
    it('qcow2 features this reader does not handle: zstd, an external data file', async () => {
      const raw = t.path('f.raw');
      writeRaw(plan, raw);
      run('qemu-img', [
        'convert',
        '-f',
        'raw',
        '-O',
        'qcow2',
        '-o',
        `data_file=${t.path('data.bin')}`,
        raw,
        t.path('df.qcow2'),
      ]);
      await expectCode(t.path('df.qcow2'), 'IMAGE_UNSUPPORTED', /external data file/);
      // zstd only where this qemu-img was built with it.
      const z = runAll('qemu-img', [
        'convert',
        '-f',
        'raw',
        '-c',
        '-O',
        'qcow2',
        '-o',
        'compression_type=zstd',
        raw,
        t.path('z.qcow2'),
      ]);
      if (z.status === 0) await expectCode(t.path('z.qcow2'), 'IMAGE_UNSUPPORTED', /zstd/);
    });
    it('a VHDX is named, not read as raw', async () => {
      const p = t.path('x.vhdx');
      run('qemu-img', ['create', '-f', 'vhdx', p, '16M']);
      await expectCode(p, 'IMAGE_UNSUPPORTED', /VHDX/);
    });
  });
  it('a file descriptor source reports a file that shrank while read', async () => {
    const p = await write(vdiFormat, 'shrink.vdi');
    const fd = openSync(p, 'r+');
    try {
      const src = fdSource(fd);
      const disk = await openDisk(src);
      truncateSync(p, 4096);
      const err = await disk.read(0, MiB).catch((e: unknown) => e);
      expect(isImageError(err) && err.code).toBe('IMAGE_READ_ERROR');
    } finally {
      closeSync(fd);
    }
  });
});
