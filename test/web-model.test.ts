/**
 * The page's state model (src/web/model.ts) and layout (src/web/layout.tsx),
 * driven without a browser: a fake backend that runs the real core in-process
 * for inspect/preview, and a build whose progress and outcome the test controls.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createModel, defaultFileName, type Saver } from '../src/web/model';
import { BuildError, type Backend } from '../src/web/bridge';
import { BAND_KINDS, bandClass, flattenRegions, layoutBands, type BandKind } from '../src/web/layout';
import { REGION_KINDS } from '../src/core/plan';
import { preview } from '../src/web/worker/build';
import { FORMATS } from '../src/core/formats/index';
import { DEFAULT_SIZE, parseSize } from '../src/core/size';
import { inspectKernel, MAX_KERNEL_SIZE } from '../src/core/kernel';
import { planImage } from '../src/core/image';
import { isImageError } from '../src/core/errors';
import { solo5Kernel } from './helpers/fixtures';
import type { BuildRequest, BuildResult, Progress } from '../src/web/protocol';
import { collect, writeImage } from '../src/core/sink';
import { countingSink } from '../src/web/worker/build';
import { DESTINATIONS, imageName, nextSteps } from '../src/core/platforms';

/** Core errors cross the worker as BuildError(message, code); do the same here. */
function asWorker<T>(f: () => T): Promise<T> {
  try {
    return Promise.resolve(f());
  } catch (e) {
    return Promise.reject(isImageError(e) ? new BuildError(e.message, e.code) : e);
  }
}

function fakeBackend() {
  const previewSteps: (number | undefined)[] = [];
  const builds: {
    req: BuildRequest;
    signal?: AbortSignal;
    onProgress?: (p: Progress) => void;
    resolve: (r: BuildResult) => void;
    reject: (e: unknown) => void;
  }[] = [];
  const backend: Backend = {
    inspect: (k) =>
      asWorker(() => {
        const i = inspectKernel(k);
        return {
          size: i.size,
          format: i.format,
          loadStart: i.load.start,
          loadEnd: i.load.end,
          entry: i.load.entry,
          source: i.load.source,
          solo5Target: i.solo5Target,
          solo5Manifest: i.solo5Manifest,
          devices: i.devices,
          notes: i.notes,
        };
      }),
    preview: (k, size, args, sizeStep) =>
      asWorker(() => {
        previewSteps.push(sizeStep);
        const b = planImage(k, { size, args, sizeStep });
        return { size: b.plan.size, fatType: b.fat.type, cmdline: b.cmdline, regions: [...b.plan.regions] };
      }),
    build: (req, _sink, opts) =>
      new Promise<BuildResult>((resolve, reject) => {
        builds.push({ req, signal: opts.signal, onProgress: opts.onProgress, resolve, reject });
        opts.signal?.addEventListener('abort', () => reject(new BuildError('Cancelled.', undefined, true)));
      }),
  };
  return { backend, builds, previewSteps };
}

/**
 * A file as the page gets it (a File, so a Blob): `bytes` as its start, `size` its length
 * (zeros after `bytes`), and what was read of it: slices, or the whole file.
 */
class LazyFile extends Blob {
  readWhole = false;
  bytesRead = 0;
  constructor(
    private readonly head: Uint8Array,
    private readonly length: number,
  ) {
    super([]);
  }
  override get size() {
    return this.length;
  }
  override slice(start = 0, end = this.length): Blob {
    this.bytesRead += end - start;
    const out = new Uint8Array(end - start);
    if (start < this.head.length) out.set(this.head.subarray(start, Math.min(end, this.head.length)));
    return new Blob([out]);
  }
  override async arrayBuffer() {
    this.readWhole = true;
    return this.slice(0, this.length).arrayBuffer();
  }
}
const lazyFile = (bytes: Uint8Array, size = bytes.length) => new LazyFile(bytes, size);

function setup(opts: { savePath?: 'file' | 'download' | 'blob'; measured?: BuildRequest[] } = {}) {
  let t = 0;
  const fake = fakeBackend();
  if (opts.measured) {
    const measured = opts.measured;
    // The dry run the worker does: the real format, written nowhere.
    fake.backend.measure = async (req) => {
      measured.push(req);
      const built = planImage(req.kernel, { size: req.size, args: req.args });
      const format = FORMATS.find((f) => f.id === req.formatId)!;
      const { fileSize } = await writeImage(built.plan, format, countingSink(), {
        fileName: req.fileName,
        timestamp: built.timestamp,
        seed: built.seed,
      });
      return fileSize;
    };
  }
  const model = createModel({
    formats: FORMATS,
    parseSize,
    defaultSize: DEFAULT_SIZE,
    backend: fake.backend,
    now: () => t,
    savePath: opts.savePath,
    blobCap: 2 * 2 ** 30,
  });
  return { model, builds: fake.builds, previewSteps: fake.previewSteps, tick: (ms: number) => (t += ms) };
}

const saver = (log: string[] = []): Saver => ({
  where: 'file',
  spec: { kind: 'blob', cap: 1 },
  dispose: () => log.push('disposed'),
});

describe('file names and instructions', () => {
  it('derives the file name from the kernel name and the format extension', () => {
    expect(defaultFileName('hello.virtio', '.img')).toBe('hello.img');
    expect(defaultFileName('/tmp/x/my kernel.virtio', '.tar.gz')).toBe('my-kernel.tar.gz');
    expect(defaultFileName('kernel', '.img')).toBe('kernel.img');
    expect(defaultFileName('...', '.img')).toBe('unikernel.img');
  });
  it('makes a valid image name (GCE rules) from the file name, without its extension', () => {
    expect(imageName('Hello_World.tar.gz')).toBe('hello-world');
    expect(imageName('demo.img')).toBe('demo');
    expect(imageName('my disk.vmdk')).toBe('my-disk');
    expect(imageName('9lives.tar.gz')).toBe('unikernel-9lives');
    expect(imageName('a'.repeat(80) + '.tar.gz')).toHaveLength(63);
  });
  it('shows a QEMU command for raw and gcloud commands for GCE, named after the file', () => {
    const text = (dest: 'qemu' | 'gce', file: string, formatId: string) =>
      nextSteps({ devices: [] }, dest, { file, formatId })
        .map((s) => s.command)
        .join('\n');
    expect(text('qemu', 'hello.img', 'raw')).toContain('-drive file=hello.img,format=raw,if=ide');
    expect(text('gce', 'my disk.tar.gz', 'tar')).toContain(
      "gcloud compute images create my-disk --project PROJECT --source-uri gs://BUCKET/'my disk.tar.gz'",
    );
  });
  it('names QEMU drivers that exist: vpc for both VHDs, vmdk for both VMDKs (no format=vhd-dynamic)', () => {
    const drivers = Object.fromEntries(FORMATS.map((f) => [f.id, f.qemuDriver]));
    expect(drivers).toEqual({
      raw: 'raw',
      tar: undefined,
      qcow2: 'qcow2',
      vhd: 'vpc',
      'vhd-dynamic': 'vpc',
      vmdk: 'vmdk',
      'vmdk-sparse': 'vmdk',
      vdi: 'vdi',
    });
    for (const f of FORMATS) {
      const text = nextSteps({ devices: [] }, 'qemu', { file: `disk${f.extension}`, formatId: f.id })
        .map((s) => s.command)
        .join('\n');
      if (f.qemuDriver) expect(text).toContain(`format=${f.qemuDriver},`.slice(0, -1));
      expect(text).not.toMatch(/format=(vhd-dynamic|vmdk-sparse|vhd\b)/);
    }
  });
});

describe('the model', () => {
  it('starts with the default size and the first format, and cannot build without a kernel', () => {
    const { model } = setup();
    expect(model.sizeText.value).toBe('1G');
    expect(model.size.value).toEqual({ ok: true, bytes: 2 ** 30 });
    expect(model.formatId.value).toBe(FORMATS[0].id);
    expect(model.fileName.value).toBe('unikernel' + FORMATS[0].extension);
    expect(model.canBuild.value).toBe(false);
  });

  it('takes its first format from the list it is given, naming none itself', () => {
    const deps = { parseSize, defaultSize: DEFAULT_SIZE, backend: fakeBackend().backend };
    const reversed = [...FORMATS].reverse();
    const model = createModel({ ...deps, formats: reversed });
    expect(model.formatId.value).toBe(reversed[0].id);
    expect(model.format.value.id).toBe(reversed[0].id);
    expect(() => createModel({ ...deps, formats: [] })).toThrow(/^internal: /);
  });

  it('lists every format of the core', () => {
    const { model } = setup();
    expect(model.formats.map((f) => f.id)).toEqual(FORMATS.map((f) => f.id));
  });

  it('inspects a kernel as soon as it is chosen and previews the layout', async () => {
    const { model } = setup();
    await model.chooseKernel('hello.virtio', solo5Kernel({ abiTarget: 3 }));
    const k = model.kernel.value;
    expect(k.status).toBe('ok');
    if (k.status !== 'ok') return;
    expect(k.info.solo5Target).toBe('virtio');
    expect(k.info.format).toBe('elf64');
    expect(k.info.loadStart).toBe(0x100000);
    expect(model.fileName.value).toBe('hello.img');
    expect(model.preview.value.status).toBe('ok');
    expect(model.canBuild.value).toBe(true);
  });

  it("shows the core's sentence for a bad kernel and refuses to build", async () => {
    const { model } = setup();
    await model.chooseKernel('bad.virtio', solo5Kernel({ noMultiboot: true }));
    const k = model.kernel.value;
    expect(k.status).toBe('error');
    if (k.status !== 'error') return;
    let expected = '';
    try {
      inspectKernel(solo5Kernel({ noMultiboot: true }));
    } catch (e) {
      expected = (e as Error).message;
    }
    expect(expected).not.toBe('');
    expect(k.message).toBe(expected);
    expect(k.message).not.toMatch(/\n\s+at /);
    expect(model.canBuild.value).toBe(false);
  });

  it('refuses a file larger than any kernel by its size, without reading it (issue 9)', async () => {
    const { model } = setup();
    const huge = lazyFile(new Uint8Array(0), MAX_KERNEL_SIZE + 1);
    await model.chooseKernel('disk.img', huge);
    const k = model.kernel.value;
    expect(huge.readWhole).toBe(false);
    expect(k).toMatchObject({ status: 'error', code: 'KERNEL_SIZE_LIMIT' });
    if (k.status === 'error')
      expect(k.message).toMatch(
        /^The kernel file is 1 GiB \(1073741825 bytes\); the largest kernel accepted is 1 GiB \(1073741824 bytes\)/,
      );
    // A file within the limit is read and inspected.
    const small = solo5Kernel();
    await model.chooseKernel('ok.virtio', lazyFile(small));
    expect(model.kernel.value.status).toBe('ok');
  });

  it('names a disk image or an archive chosen as the kernel from its first bytes, and offers the image to "Inside an image" (issue 18)', async () => {
    const { model } = setup();
    const kernel = solo5Kernel({ abiTarget: 3 });
    const built = planImage(kernel, { size: 64 << 20, args: '' });
    for (const [id, what] of [
      ['qcow2', 'a qcow2 disk image'],
      ['vhd', 'a VHD disk image'],
      ['vmdk', 'a VMDK disk image'],
      ['vdi', 'a VDI disk image'],
      ['tar', 'gzip-compressed data (a GCE tar.gz image, or another compressed file)'],
      ['raw', 'a raw disk image (its first sector ends with the MBR boot signature 55 AA)'],
    ]) {
      const format = FORMATS.find((f) => f.id === id)!;
      const bytes = await collect(format, built.plan, { timestamp: built.timestamp, seed: built.seed, fileName: 'd' });
      // Said at once, whatever the size: only the first 8 KiB and the last 512 bytes are read.
      const file = lazyFile(bytes, id === 'raw' || id === 'vhd' ? bytes.length : 10 * 2 ** 30);
      await model.chooseKernel(`disk.${id}`, file);
      const k = model.kernel.value;
      expect(k, id).toMatchObject({
        status: 'error',
        code: 'NOT_A_KERNEL',
        message: `It is ${what}, not a unikernel: choose the .virtio file your build produced, or look inside the image.`,
      });
      expect(file.readWhole, id).toBe(false);
      expect(file.bytesRead, id).toBeLessThanOrEqual(8192 + 512);
      // The same file, to open in "Inside an image".
      expect(k.status === 'error' && k.image, id).toBe(file);
      expect(model.canBuild.value).toBe(false);
    }
    // An archive: what it is and what to do, no image to look inside.
    const xz = lazyFile(Uint8Array.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2, 3]), 3 * 2 ** 30);
    await model.chooseKernel('app.virtio.xz', xz);
    expect(model.kernel.value).toMatchObject({
      status: 'error',
      code: 'NOT_A_KERNEL',
      message:
        'It is an xz-compressed file, not a unikernel: choose the .virtio file your build produced (if it is inside, extract it first).',
    });
    expect(model.kernel.value.status === 'error' && model.kernel.value.image).toBeUndefined();
    expect(xz.readWhole).toBe(false);
    // Something else that is no kernel: the core's sentence, from the first bytes alone.
    const text = lazyFile(new TextEncoder().encode('#!/bin/sh\necho not a kernel\n'.repeat(1000)));
    await model.chooseKernel('run.sh', text);
    expect(model.kernel.value).toMatchObject({ status: 'error', code: 'NOT_A_KERNEL' });
    expect(model.kernel.value.status === 'error' && model.kernel.value.message).toMatch(
      /^The kernel file is not a kernel: it is not an ELF file \(it starts with bytes 23 21 2F 62, not 7F 45 4C 46\)/,
    );
    expect(text.readWhole).toBe(false);
    // A kernel is still read whole, and a plain Multiboot binary (no ELF) too.
    const ok = lazyFile(kernel);
    await model.chooseKernel('app.virtio', ok);
    expect(model.kernel.value.status).toBe('ok');
    expect(ok.readWhole).toBe(true);
    const binary = kernel.slice();
    binary[0] = 0; // no ELF magic: a Multiboot header with load addresses is what makes it a kernel
    const flat = lazyFile(binary);
    await model.chooseKernel('app.bin', flat);
    expect(flat.readWhole).toBe(true);
    expect(model.kernel.value).toMatchObject({ status: 'ok', info: { format: 'binary' } });
  });

  it("previews with the chosen format's size unit, so a suggested size is one it accepts (issue 9)", async () => {
    const { model, previewSteps } = setup();
    await model.chooseKernel('hello.virtio', solo5Kernel());
    await model.setFormat('tar');
    expect(previewSteps.at(-1)).toBe(2 ** 30);
    await model.setFormat('raw');
    expect(previewSteps.at(-1)).toBeUndefined();
  });

  it('validates the size live, including whole GiB for GCE', async () => {
    const { model } = setup();
    await model.chooseKernel('hello.virtio', solo5Kernel());
    await model.setSize('1536M');
    expect(model.size.value).toEqual({ ok: true, bytes: 1536 * 2 ** 20 });
    expect(model.canBuild.value).toBe(true);
    await model.setFormat('tar');
    const s = model.size.value;
    expect(s.ok).toBe(false);
    if (!s.ok) expect(s.message).toMatch(/whole number of GiB/);
    expect(model.canBuild.value).toBe(false);
    expect(model.fileName.value).toBe('hello.tar.gz');
    await model.setSize('2G');
    expect(model.canBuild.value).toBe(true);
    await model.setSize('lots');
    const bad = model.size.value;
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.message).toContain('"lots"');
  });

  it('keeps a file name the user typed, and rejects impossible ones', async () => {
    const { model } = setup();
    await model.chooseKernel('hello.virtio', solo5Kernel());
    model.setFileName('mine.img');
    await model.setFormat('tar');
    expect(model.fileName.value).toBe('mine.img');
    model.setFileName('a/b.img');
    expect(model.fileNameError.value).toMatch(/characters/);
    expect(model.canBuild.value).toBe(false);
    model.setFileName('hello.tar.gz'); // back to the default: follows the format again
    await model.setFormat('raw');
    expect(model.fileName.value).toBe('hello.img');
  });

  it('shows a plan error (arguments too long) and refuses to build', async () => {
    const { model } = setup();
    await model.chooseKernel('hello.virtio', solo5Kernel());
    await model.setArgs('x'.repeat(9000));
    const p = model.preview.value;
    expect(p.status).toBe('error');
    if (p.status === 'error') expect(p.message).toMatch(/limit is \d+/);
    expect(model.canBuild.value).toBe(false);
    await model.setArgs('hello world');
    expect(model.preview.value.status).toBe('ok');
    const pv = model.preview.value;
    if (pv.status === 'ok') expect(pv.value.cmdline).toBe('unikernel.bin hello world');
  });

  it('builds: progress with speed, then done with where, size and time', async () => {
    const { model, builds, tick } = setup();
    await model.chooseKernel('hello.virtio', solo5Kernel());
    await model.setArgs('a b');
    const log: string[] = [];
    const done = model.startBuild(saver(log));
    expect(model.build.value.phase).toBe('building');
    expect(model.canBuild.value).toBe(false);
    expect(builds).toHaveLength(1);
    expect(builds[0].req).toMatchObject({ size: 2 ** 30, args: 'a b', formatId: 'raw' });
    tick(2000);
    builds[0].onProgress!({ covered: 2 ** 29, total: 2 ** 30, written: 2 ** 20 });
    const b = model.build.value;
    expect(b.phase === 'building' && b.bytesPerSecond).toBe(2 ** 28);
    tick(2000);
    builds[0].resolve({ fileSize: 2 ** 30, diskSize: 2 ** 30 });
    await done;
    const end = model.build.value;
    expect(end).toMatchObject({
      phase: 'done',
      where: 'file',
      fileName: 'hello.img',
      formatId: 'raw',
      fileSize: 2 ** 30,
      seconds: 4,
    });
    expect(log).toEqual(['disposed']);
    expect(model.canBuild.value).toBe(true);
  });

  it('cancels', async () => {
    const { model } = setup();
    await model.chooseKernel('hello.virtio', solo5Kernel());
    const log: string[] = [];
    const done = model.startBuild(saver(log));
    model.cancel();
    await done;
    expect(model.build.value.phase).toBe('cancelled');
    expect(log).toEqual(['disposed']);
  });

  it("reports a build error with the core's sentence", async () => {
    const { model, builds } = setup();
    await model.chooseKernel('hello.virtio', solo5Kernel());
    const done = model.startBuild(saver());
    builds[0].reject(new BuildError('The disk is full; free some space.', 'DISK_FULL'));
    await done;
    expect(model.build.value).toEqual({
      phase: 'error',
      message: 'The disk is full; free some space.',
      code: 'DISK_FULL',
    });
  });

  it('ignores a stale kernel inspection when another kernel was chosen meanwhile', async () => {
    const { model } = setup();
    const first = model.chooseKernel('bad.virtio', new Uint8Array(10));
    const second = model.chooseKernel('good.virtio', solo5Kernel());
    await Promise.all([first, second]);
    expect(model.kernel.value.status).toBe('ok');
    expect(model.kernel.value.status === 'ok' && model.kernel.value.name).toBe('good.virtio');
  });
});

describe('destinations, the expected size and the verdict', () => {
  it('starts on QEMU/KVM; a destination picks its usual format; a format moves to its destination only when needed', async () => {
    const { model } = setup();
    expect(model.destination.value.name).toBe('QEMU/KVM');
    for (const d of DESTINATIONS) {
      await model.setDestination(d.id);
      expect(model.destination.value.id).toBe(d.id);
      expect(model.formatId.value).toBe(d.formats[0]);
    }
    await model.setDestination('aws');
    await model.setFormat('vhd'); // AWS takes VHD: stays
    expect(model.destination.value.id).toBe('aws');
    await model.setFormat('vdi'); // AWS does not take VDI: VirtualBox does
    expect(model.destination.value.id).toBe('virtualbox');
  });

  it("judges the kernel for the chosen destination with the core's verdict", async () => {
    const { model } = setup();
    expect(model.verdict.value).toBeNull();
    await model.chooseKernel(
      'blk.virtio',
      solo5Kernel({ abiTarget: 3, devices: [{ name: 'storage', kind: 'block' }] }),
    );
    expect(model.verdict.value?.level).toBe('ok');
    await model.setDestination('gce');
    expect(model.verdict.value?.level).toBe('fail');
    expect(model.verdict.value?.sentences.join(' ')).toContain('`storage` cannot be attached');
  });

  it('knows the file size before building: from the descriptor, or measured by a dry run that equals the real file', async () => {
    const measured: BuildRequest[] = [];
    const { model } = setup({ measured });
    const kernel = solo5Kernel();
    await model.chooseKernel('hello.virtio', kernel);
    expect(model.expected.value).toEqual({ status: 'ok', bytes: 2 ** 30, measured: false });
    expect(measured).toHaveLength(0); // raw: the disk size decides
    await model.setDestination('gce');
    await expect.poll(() => model.expected.value.status).toBe('ok');
    const e = model.expected.value;
    expect(e.status === 'ok' && e.measured).toBe(true);
    const built = planImage(kernel, { size: 2 ** 30, args: '' });
    const real = await collect(
      FORMATS.find((f) => f.id === 'tar')!,
      built.plan,
      {
        timestamp: built.timestamp,
        seed: built.seed,
        fileName: 'hello.tar.gz',
      },
    );
    expect(e.status === 'ok' && e.bytes).toBe(real.length);
    // Stale measures are not shown: another size is measured again.
    await model.setSize('2G');
    expect(model.expected.value.status).toBe('measuring');
    await expect.poll(() => model.expected.value.status).toBe('ok');
    expect(measured.map((r) => r.size)).toEqual([2 ** 30, 2 ** 31]);
  });

  it('counts the command line in bytes against the limit', async () => {
    const { model } = setup();
    expect(model.cmdlineBytes.value).toBe('unikernel.bin'.length);
    await model.setArgs('héllo');
    expect(model.cmdlineBytes.value).toBe('unikernel.bin héllo'.length + 1);
  });

  it('says large outputs are large, and refuses beforehand what the in-memory fallback cannot hold', async () => {
    const { model } = setup({ savePath: 'blob' });
    await model.chooseKernel('hello.virtio', solo5Kernel());
    expect(model.large.value).toBe(false);
    expect(model.blobLimit.value).toBeNull();
    await model.setSize('3G');
    expect(model.blobLimit.value).toMatch(
      /stops at 2 GiB of output, and this image is 3\.0 GiB; choose a smaller Size/,
    );
    expect(model.canBuild.value).toBe(false);
    model.savePath.value = 'file';
    expect(model.canBuild.value).toBe(true);
    await model.setSize('5G');
    expect(model.large.value).toBe(true);
  });

  it('ends a build with the next steps for the destination it was built for', async () => {
    const { model, builds } = setup();
    await model.chooseKernel('hello.virtio', solo5Kernel());
    await model.setDestination('gce');
    const done = model.startBuild(saver());
    builds[0].resolve({ fileSize: 1234, diskSize: 2 ** 30 });
    await done;
    const b = model.build.value;
    expect(b.phase).toBe('done');
    if (b.phase !== 'done') return;
    expect(b.destinationId).toBe('gce');
    expect(b.steps).toEqual(nextSteps({ devices: [] }, 'gce', { file: 'hello.tar.gz', formatId: 'tar' }));
  });
});

describe('the layout picture', () => {
  it('has a colour and an explanation for every region kind, and a CSS rule for every colour', () => {
    expect(Object.keys(BAND_KINDS).sort()).toEqual([...REGION_KINDS, 'unused'].sort());
    const css = readFileSync(new URL('../src/web/style.css', import.meta.url), 'utf8');
    for (const [kind, { colour, explain }] of Object.entries(BAND_KINDS)) {
      expect(explain.length, kind).toBeGreaterThan(10);
      expect(css, `no .band-${colour} rule for ${kind}`).toMatch(new RegExp(`\\.band-${colour}\\s*\\{[^}]*fill:`));
    }
    const colours: Record<BandKind, string> = {
      mbr: 'band-mbr',
      loader: 'band-boot',
      gap: 'band-free',
      'fat-reserved': 'band-fat',
      fat: 'band-fat',
      root: 'band-fat',
      data: 'band-data',
      kernel: 'band-kernel',
      unused: 'band-free',
    };
    for (const [kind, cls] of Object.entries(colours)) expect(bandClass(kind as BandKind)).toBe(cls);
  });

  it("gets each region's kind from the worker's preview", () => {
    const size = parseSize('64M');
    const shown = preview(solo5Kernel(), size, 'a b');
    expect(shown.regions).toEqual(planImage(solo5Kernel(), { size, args: 'a b' }).plan.regions);
    expect(shown.regions.map((r) => r.kind)).toContain('kernel');
    expect(structuredClone(shown)).toEqual(shown);
  });

  it('shows space no region covers as an unused band', () => {
    const items = flattenRegions([{ kind: 'mbr', name: 'MBR', start: 0, length: 512 }], 4096);
    expect(items).toEqual([
      { kind: 'mbr', name: 'MBR', start: 0, length: 512, note: undefined },
      { kind: 'unused', name: 'unused', start: 512, length: 3584 },
    ]);
  });

  for (const size of ['5M', '64M', '1G']) {
    it(`colours a ${size} disk by region kind: renaming every region changes no colour`, () => {
      const built = planImage(solo5Kernel(), { size: parseSize(size) });
      const bands = flattenRegions(built.plan.regions, built.plan.size);
      const renamed = built.plan.regions.map((r, i) => ({ ...r, name: ['Data', 'MBR', 'kernel', 'Gap'][i % 4] }));
      const again = flattenRegions(renamed, built.plan.size);
      expect(again.map((b) => [b.start, b.length, b.kind])).toEqual(bands.map((b) => [b.start, b.length, b.kind]));
      expect(again.map((b) => bandClass(b.kind))).toEqual(bands.map((b) => bandClass(b.kind)));
      // Every kind of the plan gets its own band(s): the map is by kind, not one colour for all.
      expect(new Set(bands.map((b) => b.kind))).toEqual(new Set(built.plan.regions.map((r) => r.kind)));
    });
  }

  for (const size of [64 * 2 ** 20, 2 ** 30]) {
    it(`covers a ${size / 2 ** 20} MiB disk exactly once, kernel split out of the data area`, () => {
      const built = planImage(solo5Kernel(), { size });
      const items = flattenRegions(built.plan.regions, size);
      let pos = 0;
      for (const i of items) {
        expect(i.start).toBe(pos);
        expect(i.length).toBeGreaterThan(0);
        pos += i.length;
      }
      expect(pos).toBe(size);
      const kernel = items.find((i) => i.kind === 'kernel')!;
      const region = built.plan.regions.find((r) => r.name === 'unikernel.bin')!;
      expect(kernel).toMatchObject({ start: region.start, length: region.length });
      expect(items.map((i) => i.name)).toContain('MBR');
      const bands = layoutBands(built.plan.regions, size, 1000);
      const last = bands[bands.length - 1];
      expect(last.x + last.width).toBeCloseTo(1000, 6);
      expect(bands.every((b) => b.width > 0)).toBe(true);
    });
  }
});
