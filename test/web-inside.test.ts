/**
 * The Inside view's worker jobs (src/web/worker/open-image.ts) without a browser, over
 * file-backed Blobs (`openAsBlob`: read a slice at a time, as a dropped File
 * is): images we build and images qemu-img converted are opened, inspected,
 * verified and mapped; a changed copy is written in the format it came in
 * and read back by qemu-img and by the core; wrong files give the core's
 * coded sentence. And the view's state model, with a fake backend.
 */
import { describe, expect, it, afterAll } from 'vitest';
import { openAsBlob, readFileSync, truncateSync, writeFileSync, copyFileSync, statSync } from 'node:fs';
import { openImage, saveCopy } from '../src/web/worker/open-image';
import { blobSink, type WorkerSink } from '../src/web/worker/build';
import { planImage } from '../src/core/image';
import { requireFormat, FORMATS } from '../src/core/formats/index';
import { openDisk } from '../src/core/formats/open';
import { inspectImage } from '../src/core/disk/inspect';
import { setArgs } from '../src/core/disk/set-args';
import { verifyImage } from '../src/core/disk/verify';
import { readImage } from '../src/core/disk/open-image';
import { PARAMS_OFF, P_KERNEL_SIZE } from '../src/core/boot/loader.generated';
import { SECTOR } from '../src/core/units';
import { openImageFile } from '../src/cli/source';
import { isImageError } from '../src/core/errors';
import { DEMO_KERNEL } from '../src/core/demo-kernel.generated';
import { writeFormat, qemuInfo, qemuCheck } from './helpers/containers';
import { openFileSink } from '../src/cli/file-sink';
import { run, tempDir, tools } from './helpers/tools';
import { createInsideModel } from '../src/web/inside/state';
import type { BuildRequest, CopyRequest, CopyResult, ImageReport, ImageSource } from '../src/web/protocol';
import { planAsDisk } from '../src/core/disk/plan-as-disk';
import type { InsideBackend } from '../src/web/bridge';
import { BuildError } from '../src/web/bridge';
import { haveOldToolFiles, makeOldToolImage, OLD_TOOL_PROGRAMS } from './helpers/old-tool';
import { mkdirSync } from 'node:fs';

const MiB = 1 << 20;
const tmp = tempDir('ukd-inside-');
afterAll(() => tmp.cleanup());

/** Our image in `formatId`, written by the CLI's file sink (sparse), with these arguments. */
async function ours(formatId: string, args: string, size = 256 * MiB): Promise<string> {
  const built = planImage(DEMO_KERNEL, { size, args });
  const f = requireFormat(formatId);
  const path = tmp.path(`ours-${formatId}-${args.replace(/\W/g, '_')}${f.extension}`);
  await writeFormat(f, built.plan, path, { timestamp: built.timestamp, seed: built.seed, fileName: path });
  return path;
}

/** The file saved through a file sink (as the File System Access sink does: positioned writes, holes skipped). */
function fileSinkAt(path: string): WorkerSink {
  return openFileSink(path) as unknown as WorkerSink;
}

async function coded(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (isImageError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('expected a coded error');
}

describe('openImage / saveCopy over file-backed Blobs', () => {
  for (const id of ['raw', 'qcow2', 'vmdk', 'vhd-dynamic', 'vdi', 'tar']) {
    it(`${id}: opens, inspects, maps; the copy keeps the format and has the new arguments`, async () => {
      const path = await ours(id, 'hello world', id === 'tar' ? 1024 * MiB : 256 * MiB);
      const r = await openImage(await openAsBlob(path), 'in' + requireFormat(id).extension);
      expect(r.inspection.format).toBe(id);
      expect(r.inspection.bootloader.kind).toBe('unikernel-disk');
      expect(r.inspection.bootloader.cmdline).toBe('unikernel.bin hello world');
      expect(r.inspection.kernel?.path).toBe('/unikernel.bin');
      expect(r.problems).toEqual([]);
      expect(r.canSetArgs).toBe(true);
      expect(r.map.formatId).toBe(id);
      expect(r.map.ranges.some((x) => x.kind === 'kernel')).toBe(true);
      expect(r.walkthrough).toBeDefined();
      // Plain data: it crosses postMessage.
      expect(structuredClone(r).inspection).toEqual(r.inspection);

      const out = tmp.path(`copy-${id}${requireFormat(id).extension}`);
      const before = readFileSync(path);
      const progress: number[] = [];
      const c = await saveCopy(
        { image: await openAsBlob(path), name: 'in', args: '--ipv4=10.0.0.2/24 hi', fileName: 'copy' },
        fileSinkAt(out),
        { onProgress: (p) => progress.push(p.covered) },
      );
      expect(c.formatId).toBe(id);
      expect(c.before).toBe('unikernel.bin hello world');
      expect(c.after).toBe('unikernel.bin --ipv4=10.0.0.2/24 hi');
      expect(c.fileSize).toBe(statSync(out).size);
      expect(progress.at(-1)).toBe(c.diskSize);
      // The input is untouched.
      expect(readFileSync(path).equals(before)).toBe(true);
      // Read back by the core, as the CLI's inspect does.
      const f = openImageFile(out);
      try {
        const d = await openDisk(f.source);
        expect(d.formatId).toBe(id);
        const i = await inspectImage(await readImage(d));
        expect(i.bootloader.cmdline).toBe('unikernel.bin --ipv4=10.0.0.2/24 hi');
        expect(await verifyImage(await readImage(d))).toEqual([]);
      } finally {
        f.close();
      }
    });
  }

  it.skipIf(!tools('qemu-img'))(
    'images converted by qemu-img (qcow2 -c, vpc, vmdk streamOptimized) open, and their copies pass qemu-img check',
    async () => {
      const raw = await ours('raw', 'a b');
      for (const [fmt, opts, ext] of [
        ['qcow2', ['-c'], 'qcow2'],
        ['vpc', ['-o', 'subformat=dynamic'], 'vhd'],
        ['vmdk', ['-o', 'subformat=streamOptimized'], 'vmdk'],
      ] as const) {
        const conv = tmp.path(`conv.${ext}`);
        run('qemu-img', ['convert', '-f', 'raw', '-O', fmt, ...opts, raw, conv]);
        const r = await openImage(await openAsBlob(conv), `conv.${ext}`);
        expect(r.inspection.bootloader.cmdline, fmt).toBe('unikernel.bin a b');
        expect(r.problems, fmt).toEqual([]);
        const out = tmp.path(`conv-copy.${ext}`);
        const c = await saveCopy(
          { image: await openAsBlob(conv), name: `conv.${ext}`, args: 'c d', fileName: `conv-copy.${ext}` },
          fileSinkAt(out),
        );
        expect(c.formatId, fmt).toBe(r.map.formatId);
        expect(qemuInfo(out).format, fmt).toBe(fmt);
        expect(qemuInfo(out)['virtual-size'], fmt).toBe(qemuInfo(conv)['virtual-size']);
        if (fmt !== 'vpc') qemuCheck(out, fmt); // qemu-img cannot check vpc
        // The copy's disk equals the original but for the loader's sectors.
        const back = tmp.path(`conv-back-${ext}.raw`);
        run('qemu-img', ['convert', '-O', 'raw', out, back]);
        const a = readFileSync(raw);
        const b = readFileSync(back);
        // qemu-img's vpc rounds the disk up to its CHS geometry: the copy keeps that size.
        expect(b.length).toBe(qemuInfo(conv)['virtual-size']);
        expect(b.subarray(1 << 20, a.length).equals(a.subarray(1 << 20)), fmt).toBe(true);
        const i = await inspectImage(await readImage(await openDisk(openImageFile(back).source)));
        expect(i.bootloader.cmdline).toBe('unikernel.bin c d');
      }
    },
  );

  it('reports reading then writing, and a cancel while reading stops it with the sink aborted', async () => {
    const path = await ours('raw', 'slow', 64 * MiB);
    const stages: string[] = [];
    const c = await saveCopy(
      { image: await openAsBlob(path), name: 'r.img', args: 'x', fileName: 'r-args.img' },
      blobSink('application/octet-stream', 1 << 30),
      { onProgress: (p) => stages.push(`${p.stage}`) },
    );
    expect(c.fileSize).toBe(64 * MiB);
    expect(stages[0]).toBe('reading');
    expect(stages.at(-1)).toBe('writing');
    expect(stages.lastIndexOf('reading')).toBeLessThan(stages.indexOf('writing'));
    // A raw file stores every byte, so reading is most of the work: cancel in the middle of it.
    const ctl = new AbortController();
    let aborted = 0;
    let reads = 0;
    const sink: WorkerSink = { seekable: true, write() {}, close() {}, abort: () => void aborted++ };
    const e = await coded(
      saveCopy({ image: await openAsBlob(path), name: 'r.img', args: 'x', fileName: 'r-args.img' }, sink, {
        signal: ctl.signal,
        onProgress: (p) => {
          if (p.stage === 'reading' && ++reads === 3) ctl.abort();
          if (p.stage === 'writing') throw new Error('wrote after a cancel');
        },
      }),
    );
    expect(e.code).toBe('ABORTED');
    expect(reads).toBe(3);
    expect(aborted).toBe(1);
  });

  it('opening reads only the structures and the kernel, not the whole file', async () => {
    const path = await ours('raw', 'big', 1024 * MiB);
    const real = await openAsBlob(path);
    let read = 0;
    let reads = 0;
    // A Blob whose slices are counted (blobSource reads through slice()).
    const counted = {
      size: real.size,
      type: '',
      slice(start?: number, end?: number) {
        read += (end ?? real.size) - (start ?? 0);
        reads++;
        return real.slice(start, end);
      },
    } as unknown as Blob;
    const r = await openImage(counted, 'big.img');
    expect(r.inspection.bootloader.cmdline).toBe('unikernel.bin big');
    expect(r.map.size).toBe(1024 * MiB);
    expect(reads).toBeGreaterThan(0);
    // The FAT copies are compared (2 x 1 MiB here) and the kernel read; far from the 1 GiB file.
    expect(read).toBeLessThan(16 * MiB);
  });

  it('a blob sink gives the copy as a Blob, the same bytes as a file sink', async () => {
    const path = await ours('qcow2', 'x');
    const req: CopyRequest = { image: await openAsBlob(path), name: 'x.qcow2', args: 'y', fileName: 'x-args.qcow2' };
    const c = await saveCopy(req, blobSink('application/octet-stream', 1 << 30));
    const out = tmp.path('blobcmp.qcow2');
    await saveCopy(req, fileSinkAt(out));
    expect(Buffer.from(await c.blob!.arrayBuffer()).equals(readFileSync(out))).toBe(true);
  });

  it('wrong files: one coded sentence, the sink aborted, nothing saved', async () => {
    const text = tmp.path('notes.txt');
    writeFileSync(text, 'These are my notes, not a disk.\n'.repeat(100));
    const t = await coded(openImage(await openAsBlob(text), 'notes.txt'));
    expect(t.code).toBe('MBR_NO_SIGNATURE');
    expect(t.message).toMatch(/not a disk image/);
    const tiny = tmp.path('tiny.txt');
    writeFileSync(tiny, 'hello');
    expect((await coded(openImage(await openAsBlob(tiny), 'tiny.txt'))).code).toBe('DISK_EMPTY');
    const q = await ours('qcow2', 'z');
    const cut = tmp.path('cut.qcow2');
    copyFileSync(q, cut);
    truncateSync(cut, Math.floor(statSync(cut).size / 2 / 512) * 512);
    const tr = await coded(openImage(await openAsBlob(cut), 'cut.qcow2'));
    expect(tr.code).toMatch(/^IMAGE_/);
    // Arguments the builder refuses are refused here too, and the sink is aborted.
    let aborted = 0;
    const sink: WorkerSink = { seekable: true, write() {}, close() {}, abort: () => void aborted++ };
    const long = await coded(
      saveCopy({ image: await openAsBlob(q), name: 'q', args: 'x'.repeat(9000), fileName: 'q2' }, sink),
    );
    expect(long.code).toBe('ARGS_TOO_LONG');
    const nul = await coded(saveCopy({ image: await openAsBlob(q), name: 'q', args: 'a\0b', fileName: 'q2' }, sink));
    expect(nul.code).toBe('ARGS_NUL');
    const notDisk = await coded(
      saveCopy({ image: await openAsBlob(text), name: 't', args: 'a', fileName: 'q2' }, sink),
    );
    expect(notDisk.code).toBe('MBR_NO_SIGNATURE');
    expect(aborted).toBe(3);
  });

  it.skipIf(!tools(...OLD_TOOL_PROGRAMS, 'mtype') || !haveOldToolFiles())(
    "an image made as Solo5's old tool makes it (SYSLINUX): its APPEND is read, and the copy's is changed",
    async () => {
      const dir = tmp.path('old');
      mkdirSync(dir);
      const kernel = tmp.path('demo.virtio');
      writeFileSync(kernel, DEMO_KERNEL);
      const img = tmp.path('old.img');
      makeOldToolImage(dir, img, kernel, 'Hello_Solo5 --old=1');
      const r = await openImage(await openAsBlob(img), 'old.img');
      expect(r.inspection.bootloader.kind).toBe('syslinux');
      expect(r.inspection.bootloader.args).toBe('Hello_Solo5 --old=1');
      expect(r.canSetArgs).toBe(true);
      expect(r.map.ranges.find((x) => x.kind === 'kernel')?.label).toBe('/unikernel.bin');
      expect(r.map.ranges.some((x) => x.kind === 'file' && /syslinux\.cfg$/i.test(x.label))).toBe(true);
      const out = tmp.path('old-args.img');
      await saveCopy(
        { image: await openAsBlob(img), name: 'old.img', args: 'new=2', fileName: 'old-args.img' },
        fileSinkAt(out),
      );
      // mtools reads the changed configuration from the copy.
      const cfg = run('mtype', ['-i', `${out}@@${1 << 20}`, '::/syslinux.cfg']);
      expect(cfg).toMatch(/APPEND -aout unikernel\.bin new=2/);
    },
  );

  it('opening stops at its next read once its signal is aborted (another image was opened)', async () => {
    const real = await openAsBlob(await ours('tar', 'big one', 1024 * MiB));
    const counting = (abortAt: number, ctl?: AbortController) => {
      let reads = 0;
      const blob = {
        size: real.size,
        slice(a?: number, b?: number) {
          if (++reads === abortAt) ctl?.abort();
          return real.slice(a, b);
        },
      } as unknown as Blob;
      return { blob, reads: () => reads };
    };
    const whole = counting(0);
    await openImage(whole.blob, 'big.tar.gz');
    expect(whole.reads()).toBeGreaterThan(3);
    const ctl = new AbortController();
    const cut = counting(3, ctl);
    expect((await coded(openImage(cut.blob, 'big.tar.gz', { signal: ctl.signal }))).code).toBe('ABORTED');
    expect(cut.reads()).toBe(3);
  });

  it('the image just downloaded opens from its plan: the same disk bytes as the file, nothing built', async () => {
    for (const id of ['raw', 'vmdk']) {
      const path = await ours(id, 'plan me', 64 * MiB);
      const req: BuildRequest = { kernel: DEMO_KERNEL, size: 64 * MiB, args: 'plan me', formatId: id, fileName: 'p' };
      const fileSize = statSync(path).size;
      const fromPlan = await openImage({ build: req, fileSize }, 'p' + requireFormat(id).extension);
      const fromFile = await openImage(await openAsBlob(path), 'p' + requireFormat(id).extension);
      expect(fromPlan.fileSize).toBe(fileSize);
      expect(fromPlan.inspection).toEqual(fromFile.inspection);
      expect(fromPlan.problems).toEqual([]);
      expect(fromPlan.map.ranges).toEqual(fromFile.map.ranges);
      expect(fromPlan.walkthrough).toEqual(fromFile.walkthrough);
      expect(fromPlan.canSetArgs).toBe(true);
    }
    // Every byte of planAsDisk equals the raw file's, and a raw file stores every byte.
    const path = await ours('raw', 'plan me', 64 * MiB);
    const built = planImage(DEMO_KERNEL, { size: 64 * MiB, args: 'plan me' });
    const disk = planAsDisk(built.plan, requireFormat('raw'));
    const file = readFileSync(path);
    const step = 3 * MiB + 7;
    for (let o = 0; o < disk.size; o += step) {
      const b = await disk.read(o, step);
      expect(Buffer.from(b).equals(file.subarray(o, o + step))).toBe(true);
    }
    const runs = [];
    for await (const x of disk.extents()) runs.push(x);
    expect(runs).toEqual([{ offset: 0, length: 64 * MiB, allocated: true }]);
    // A sparse format stores only the plan's data, and its holes read as zeros.
    let stored = 0;
    for await (const x of planAsDisk(built.plan, requireFormat('qcow2')).extents()) if (x.allocated) stored += x.length;
    expect(stored).toBeLessThan(file.length / 4);
    expect(stored).toBeGreaterThan(DEMO_KERNEL.length);
  });

  it('a damaged parameter block: the command line decodes, but the core refuses set-args before anything is picked', async () => {
    const path = await ours('raw', 'keep me', 64 * MiB);
    const bytes = readFileSync(path);
    bytes[SECTOR + PARAMS_OFF + P_KERNEL_SIZE] ^= 0x10;
    const bad = tmp.path('damaged-params.img');
    writeFileSync(bad, bytes);
    const r = await openImage(await openAsBlob(bad), 'damaged-params.img');
    expect(r.inspection.bootloader.kind).toBe('unikernel-disk');
    expect(r.inspection.bootloader.cmdline).toBe('unikernel.bin keep me');
    expect(r.canSetArgs).toBe(false);
    expect(r.argsRefusal?.code).toBe('PARAMS_DAMAGED');
    // The same sentence the core's setArgs throws.
    const disk = await openDisk(openImageFile(bad).source);
    const thrown = await coded(setArgs(await readImage(disk), 'x'));
    expect(r.argsRefusal).toEqual(thrown);
  });

  it.skipIf(!tools('qemu-img'))('a qcow2 with a backing file is refused, naming it', async () => {
    const base = await ours('qcow2', 'b');
    const top = tmp.path('top.qcow2');
    run('qemu-img', ['create', '-f', 'qcow2', '-b', base, '-F', 'qcow2', top]);
    const e = await coded(openImage(await openAsBlob(top), 'top.qcow2'));
    expect(e.code).toBe('IMAGE_BACKING_FILE');
    expect(e.message).toContain('ours-qcow2-b.qcow2');
  });
});

describe('the Inside state model', () => {
  function fake() {
    const opens: {
      image: ImageSource;
      name: string;
      resolve: (r: ImageReport) => void;
      reject: (e: unknown) => void;
      signal?: AbortSignal;
    }[] = [];
    const saves: {
      req: CopyRequest;
      resolve: (v: CopyResult) => void;
      reject: (e: unknown) => void;
      signal?: AbortSignal;
    }[] = [];
    const backend: InsideBackend & { build: never } = {
      openImage: (image, name, opts) =>
        new Promise((resolve, reject) => opens.push({ image, name, resolve, reject, signal: opts?.signal })),
      saveCopy: (req, _sink, opts) =>
        new Promise((resolve, reject) => saves.push({ req, resolve, reject, signal: opts.signal })),
      build: undefined as never,
    };
    const inside = createInsideModel({ formats: FORMATS, backend });
    return { inside, opens, saves };
  }

  it('opens, suggests a name, checks arguments as the builder does, saves, and cancels', async () => {
    const path = await ours('vdi', 'one two');
    const real = await openImage(await openAsBlob(path), 'disk.vdi');
    const { inside, opens, saves } = fake();
    const blob = new Blob([]);
    const p = inside.open(blob, 'disk.vdi');
    expect(inside.image.value.status).toBe('opening');
    opens[0].resolve(real);
    await p;
    expect(inside.args.value).toBe('one two');
    expect(inside.fileName.value).toBe('disk-args.vdi');
    expect(inside.unchanged.value).toBe(true);
    expect(inside.canSave.value).toBe(true);
    inside.setArgs('x'.repeat(9000));
    expect(inside.argsError.value).toMatch(/limit is 8191/);
    expect(inside.canSave.value).toBe(false);
    inside.setArgs('a\0b');
    expect(inside.argsError.value).toMatch(/NUL/);
    inside.setArgs('three');
    expect(inside.argsError.value).toBeNull();
    inside.setFileName('disk.vdi');
    expect(inside.fileNameError.value).toMatch(/never replaces/);
    expect(inside.canSave.value).toBe(false);
    inside.setFileName('disk-args.vdi');
    const disposed: string[] = [];
    const saver = {
      where: 'file' as const,
      spec: { kind: 'blob' as const, cap: 1 },
      dispose: () => disposed.push('d'),
    };
    const s = inside.startSave(saver);
    expect(inside.save.value.phase).toBe('saving');
    expect(saves[0].req).toMatchObject({ image: blob, name: 'disk.vdi', args: 'three', fileName: 'disk-args.vdi' });
    saves[0].resolve({ fileSize: 5, diskSize: 6, formatId: 'vdi', before: 'a', after: 'b' });
    await s;
    expect(inside.save.value).toMatchObject({ phase: 'done', fileName: 'disk-args.vdi', after: 'b' });
    const s2 = inside.startSave(saver);
    inside.cancel();
    expect(saves[1].signal?.aborted).toBe(true);
    saves[1].reject(new BuildError('Cancelled.', undefined, true));
    await s2;
    expect(inside.save.value.phase).toBe('cancelled');
    expect(disposed).toEqual(['d', 'd']);
    // A wrong file: the core's sentence, and the view stays usable.
    const p2 = inside.open(new Blob(['x']), 'x.txt');
    opens[1].reject(new BuildError('LBA 0 ends with 0x00 0x00 … not a disk image).', 'MBR_NO_SIGNATURE'));
    await p2;
    expect(inside.image.value).toMatchObject({ status: 'error', code: 'MBR_NO_SIGNATURE' });
    const p3 = inside.open(blob, 'disk.vdi');
    opens[2].resolve(real);
    await p3;
    expect(inside.image.value.status).toBe('ok');
  });

  it('opening another image cancels the first, and its late reply is ignored', async () => {
    const real = await openImage(await openAsBlob(await ours('raw', 'one two', 64 * MiB)), 'a.img');
    const { inside, opens } = fake();
    const a = inside.open(new Blob([]), 'a.img');
    const b = inside.open(new Blob([]), 'b.img');
    expect(opens[0].signal?.aborted).toBe(true);
    expect(opens[1].signal?.aborted).toBe(false);
    opens[1].resolve({ ...real, name: 'b.img' });
    await b;
    // The first job's reply (a result that raced the cancel, or the cancel itself) changes nothing.
    opens[0].resolve({ ...real, name: 'a.img' });
    await a;
    expect(inside.image.value).toMatchObject({ status: 'ok', name: 'b.img' });
    const c = inside.open(new Blob([]), 'c.img');
    const d = inside.open(new Blob([]), 'd.img');
    opens[2].reject(new BuildError('Cancelled.', undefined, true));
    await c;
    expect(inside.image.value).toMatchObject({ status: 'opening', name: 'd.img' });
    opens[3].resolve({ ...real, name: 'd.img' });
    await d;
    expect(inside.image.value).toMatchObject({ status: 'ok', name: 'd.img' });
  });

  it('a saved file that cannot be read back points at the visible file button, not a hidden label', async () => {
    const { inside } = fake();
    const handle = { getFile: () => Promise.reject(new Error('gone')) } as unknown as FileSystemFileHandle;
    await inside.openBuilt({ kind: 'file', handle }, 'x.img', 1);
    const i = inside.image.value;
    expect(i.status).toBe('error');
    expect(i.status === 'error' && i.message).toMatch(/choose the file with the button above \(Disk image\)/);
  });

  it('"Look inside" after a download reads its plan: nothing is built again', async () => {
    const { inside, opens } = fake();
    const req: BuildRequest = { kernel: DEMO_KERNEL, size: 1 << 30, args: 'a', formatId: 'raw', fileName: 'x.img' };
    const p = inside.openBuilt({ kind: 'rebuild', req }, 'x.img', 1 << 30);
    expect(opens[0].image).toEqual({ build: req, fileSize: 1 << 30 });
    opens[0].reject(new BuildError('Cancelled.', undefined, true));
    await p;
  });

  it("previews the command line from the image's own first word, not a fixed kernel name", async () => {
    const real = await openImage(await openAsBlob(await ours('raw', 'one two', 64 * MiB)), 'disk.img');
    const { inside, opens } = fake();
    const named: ImageReport = {
      ...real,
      inspection: {
        ...real.inspection,
        bootloader: { ...real.inspection.bootloader, cmdline: '/boot/solo5.elf one two', args: 'one two' },
      },
    };
    const p = inside.open(new Blob([]), 'disk.img');
    opens[0].resolve(named);
    await p;
    inside.setArgs('three');
    expect(inside.kernelLine.value).toBe('/boot/solo5.elf three');
    expect(inside.cmdlineBytes.value).toBe('/boot/solo5.elf three'.length);
    inside.setArgs('');
    expect(inside.kernelLine.value).toBe('/boot/solo5.elf');
  });
});
