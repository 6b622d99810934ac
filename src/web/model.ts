/**
 * The page's state, in one typed model (signals), with no DOM in it: the
 * components only read signals and call actions, and the vitest unit tests
 * drive the model with a fake backend.
 */
import { batch, computed, signal } from '@preact/signals';
import type { Backend, BuildError } from './bridge';
import { createSaveJob, errorMessage, type Saver, type Where } from './save-job';
export type { Saver, Where } from './save-job';
import type { BuildRequest, KernelSummary, PreviewResult, Progress } from './protocol';
import type { OutputFormat } from '../core/formats/types';
import { findFormat } from '../core/formats/index';
import { commandLine } from '../core/image';
import { MAX_CMDLINE } from '../core/boot/index';
import {
  DESTINATIONS,
  destinationForFormat,
  findDestination,
  nextSteps,
  verdict as judge,
  type Destination,
  type NextStep,
  type Verdict,
} from '../core/platforms';

export { MAX_CMDLINE };

/** Above this output size the page asks before building (a download of many GiB is rarely meant). */
export const LARGE_OUTPUT = 4 * GIB;
import { checkKernelSize } from '../core/kernel';
import { MB_SEARCH } from '../core/multiboot';
import { whatIsThis, type FileKind } from '../core/formats/open';
import { GIB, SECTOR } from '../core/units';

/** A kernel file not yet read (a File): its first and last bytes are looked at, and its size checked, first. */
export interface KernelFile {
  size: number;
  arrayBuffer(): Promise<ArrayBuffer>;
  slice(start: number, end: number): { arrayBuffer(): Promise<ArrayBuffer> };
}

/** How much of a chosen file is looked at before it is read: where a Multiboot header may be. */
const KERNEL_HEAD = MB_SEARCH;
const KERNEL_TAIL = SECTOR;

/** What the first and last bytes of a chosen file say it is (the core's `whatIsThis`), without reading the rest. */
async function probeKernel(source: Uint8Array | KernelFile): Promise<{ kind?: FileKind; head: Uint8Array }> {
  const size = source instanceof Uint8Array ? source.length : source.size;
  const part = async (start: number, end: number) =>
    source instanceof Uint8Array
      ? source.subarray(start, end)
      : new Uint8Array(await source.slice(start, end).arrayBuffer());
  const head = await part(0, Math.min(size, KERNEL_HEAD));
  const tail = await part(Math.max(0, size - KERNEL_TAIL), size);
  return { kind: whatIsThis({ size, head, tail }), head };
}

/** The chosen bytes as a Blob, for "Inside an image" (a File is one already). */
function toBlob(source: Uint8Array | KernelFile): Blob | undefined {
  return source instanceof Uint8Array ? new Blob([source as Uint8Array<ArrayBuffer>]) : undefined;
}

/** What the kernel step says of a file that is no kernel but something we recognise. */
export function notAKernelMessage(kind: Exclude<FileKind, { kind: 'kernel' }>): string {
  return kind.kind === 'image'
    ? `It is ${kind.what}, not a unikernel: choose the .virtio file your build produced, or look inside the image.`
    : `It is ${kind.what}, not a unikernel: choose the .virtio file your build produced (if it is inside, extract it first).`;
}

/** What the model needs to know about an output format: the core's descriptor, without the writer. */
export type FormatInfo = Pick<
  OutputFormat,
  'id' | 'label' | 'extension' | 'mime' | 'usedFor' | 'checkSize' | 'sizeStep' | 'qemuDriver' | 'outputLength'
>;

export type KernelState =
  | { status: 'none' }
  | { status: 'reading'; name: string }
  | { status: 'ok'; name: string; bytes: Uint8Array; info: KernelSummary; demo: boolean }
  | {
      status: 'error';
      name: string;
      message: string;
      code?: string;
      /** A disk image chosen as the kernel: the file, for "Inside an image". */
      image?: Blob;
    };

/**
 * How the Inside view can open the image just built: the Blob itself (the
 * in-memory path), the file the user chose (File System Access: the handle
 * reads it back), or, after a download that the page cannot read back, the
 * request, built again into memory (the same bytes: builds are reproducible).
 */
export type BuiltImage =
  | { kind: 'blob'; blob: Blob }
  | { kind: 'file'; handle: FileSystemFileHandle }
  | { kind: 'rebuild'; req: BuildRequest };

/** The file's expected length before building: exact (the descriptor's outputLength, or a measured dry run), or pending. */
export type Expected =
  { status: 'none' } | { status: 'measuring' } | { status: 'ok'; bytes: number; measured: boolean };

export type BuildState =
  | { phase: 'idle' }
  | { phase: 'building'; where: Where; fileName: string; progress: Progress; startedAt: number; bytesPerSecond: number }
  | {
      phase: 'done';
      where: Where;
      fileName: string;
      formatId: string;
      destinationId: string;
      /** What to do next with the file, for the destination it was built for. */
      steps: NextStep[];
      fileSize: number;
      diskSize: number;
      seconds: number;
      /** Blob URL for the last-resort save path. */
      url?: string;
      /** How to open this image in the Inside view. */
      built: BuiltImage;
    }
  | { phase: 'cancelled' }
  | { phase: 'error'; message: string; code?: string };

/** How the page saves one build: the worker's sink plus page-side hooks. */

export interface ModelDeps {
  formats: readonly FormatInfo[];
  parseSize(text: string): number;
  defaultSize: number;
  backend: Backend;
  now?: () => number;
  /** Where saving will go when nothing else is known (the page sets `savePath` as it learns). */
  savePath?: Where;
  /** Cap of the in-memory fallback (save.ts's BLOB_CAP). */
  blobCap?: number;
}

/** "hello.virtio" + ".img" -> "hello.img"; keeps names safe for every file system. */
export function defaultFileName(kernelName: string, extension: string): string {
  const base = kernelName.replace(/^.*[\\/]/, '');
  const stem = base.includes('.') && !base.startsWith('.') ? base.slice(0, base.lastIndexOf('.')) : base;
  const safe = stem.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '');
  return (safe || 'unikernel') + extension;
}

export function createModel(deps: ModelDeps) {
  const now = deps.now ?? (() => performance.now());
  const formats = deps.formats;

  const kernel = signal<KernelState>({ status: 'none' });
  const args = signal('');
  // The format a build starts with: the first of the list the page is given (the core's FORMATS).
  const first = formats[0];
  if (!first) throw new Error('internal: createModel needs at least one output format');
  const formatId = signal(first.id);
  const destinationId = signal<string>(destinationForFormat(formatId.value)?.id ?? DESTINATIONS[0].id);
  /** How this browser will save: decided by the page (picker, service worker, memory). */
  const savePath = signal<Where>(deps.savePath ?? 'file');
  const measuredLength = signal<{ key: string; bytes: number } | null>(null);
  const sizeText = signal(`${deps.defaultSize / GIB}G`);
  /** The user's own file name, or null to follow the default. */
  const fileNameOverride = signal<string | null>(null);
  const preview = signal<
    { status: 'none' } | { status: 'ok'; value: PreviewResult } | { status: 'error'; message: string }
  >({ status: 'none' });
  const build = signal<BuildState>({ phase: 'idle' });

  const format = computed(() => formats.find((f) => f.id === formatId.value) ?? first);
  const destination = computed<Destination>(() => findDestination(destinationId.value) ?? DESTINATIONS[0]);
  /** Will the unikernel run at the chosen destination: the core's verdict, once a kernel is read. */
  const verdict = computed<Verdict | null>(() => {
    const k = kernel.value;
    return k.status === 'ok' ? judge(k.info, destination.value) : null;
  });
  /** Bytes of the command line the boot loader passes ("unikernel.bin " + arguments), against MAX_CMDLINE. */
  const cmdlineBytes = computed(() => new TextEncoder().encode(commandLine(args.value)).length);

  /** The size in bytes, or the sentence saying why the text is not a size for this format. */
  const size = computed<{ ok: true; bytes: number } | { ok: false; message: string }>(() => {
    try {
      const bytes = deps.parseSize(sizeText.value.trim());
      format.value.checkSize?.(bytes);
      return { ok: true, bytes };
    } catch (e) {
      return { ok: false, message: errorMessage(e) };
    }
  });

  const kernelName = computed(() => (kernel.value.status === 'none' ? 'unikernel' : kernel.value.name));
  const fileName = computed(() => fileNameOverride.value ?? defaultFileName(kernelName.value, format.value.extension));
  const fileNameError = computed(() => {
    const n = fileName.value.trim();
    if (!n) return 'File name is empty; type a name for the image file.';
    if (/[\\/:*?"<>|\u0000-\u001f]/.test(n))
      return `File name "${n}" has characters file systems refuse (\\ / : * ? " < > |); remove them.`;
    return null;
  });
  const busy = computed(() => build.value.phase === 'building');

  /** What a measurement is valid for: the inputs that decide the file's bytes. */
  const measureKey = computed(() => {
    const k = kernel.value;
    const s = size.value;
    if (k.status !== 'ok' || !s.ok) return '';
    return `${k.name}|${k.bytes.length}|${s.bytes}|${format.value.id}|${fileName.value.trim()}|${args.value}`;
  });
  const expected = computed<Expected>(() => {
    const s = size.value;
    if (!s.ok || kernel.value.status !== 'ok' || preview.value.status !== 'ok') return { status: 'none' };
    const len = format.value.outputLength?.(s.bytes);
    if (len !== undefined) return { status: 'ok', bytes: len, measured: false };
    const m = measuredLength.value;
    return m && m.key === measureKey.value ? { status: 'ok', bytes: m.bytes, measured: true } : { status: 'measuring' };
  });
  /** The output is large enough that Build asks first. */
  const large = computed(() => {
    const e = expected.value;
    return e.status === 'ok' && e.bytes > LARGE_OUTPUT;
  });
  /** When saving goes through memory, the sentence that says why this build cannot (null when it can). */
  const blobLimit = computed(() => {
    const e = expected.value;
    const cap = deps.blobCap;
    if (savePath.value !== 'blob' || cap === undefined || e.status !== 'ok' || e.bytes <= cap) return null;
    return `This browser saves through memory here, which stops at ${cap / GIB} GiB of output, and this image is ${(e.bytes / 2 ** 30).toFixed(1)} GiB; choose a smaller Size, or use Chrome or Edge (they save directly) or the command-line tool.`;
  });
  const canBuild = computed(
    () =>
      kernel.value.status === 'ok' &&
      size.value.ok &&
      !fileNameError.value &&
      preview.value.status === 'ok' &&
      !blobLimit.value &&
      !busy.value,
  );

  let kernelSeq = 0;
  let previewSeq = 0;
  const job = createSaveJob();
  let measuring: AbortController | null = null;

  /** Measure the file a build would write, for formats whose length the disk size does not decide. */
  async function refreshMeasure(): Promise<void> {
    measuring?.abort();
    measuring = null;
    const k = kernel.value;
    const s = size.value;
    const key = measureKey.value;
    if (!deps.backend.measure || k.status !== 'ok' || !s.ok || preview.value.status !== 'ok') return;
    if (format.value.outputLength || measuredLength.value?.key === key || busy.value) return;
    const ctl = new AbortController();
    measuring = ctl;
    try {
      const bytes = await deps.backend.measure(
        {
          kernel: k.bytes,
          size: s.bytes,
          args: args.value,
          formatId: format.value.id,
          fileName: fileName.value.trim(),
        },
        { signal: ctl.signal },
      );
      if (!ctl.signal.aborted) measuredLength.value = { key, bytes };
    } catch {
      /* cancelled, or the build will say what is wrong */
    } finally {
      if (measuring === ctl) measuring = null;
    }
  }

  async function refreshPreview(): Promise<void> {
    const seq = ++previewSeq;
    const k = kernel.value;
    const s = size.value;
    if (k.status !== 'ok' || !s.ok) {
      preview.value = { status: 'none' };
      return;
    }
    try {
      const value = await deps.backend.preview(k.bytes, s.bytes, args.value, format.value?.sizeStep);
      if (seq === previewSeq) preview.value = { status: 'ok', value };
    } catch (e) {
      if (seq === previewSeq) preview.value = { status: 'error', message: errorMessage(e) };
    }
    if (seq === previewSeq) void refreshMeasure();
  }

  /**
   * Choose a kernel: inspect it at once, show what was found or the core's
   * error. A file (anything with a size and arrayBuffer(), like a File) is
   * refused by its size before it is read, so a huge file never fills memory.
   */
  async function chooseKernel(name: string, source: Uint8Array | KernelFile, demo = false): Promise<void> {
    const seq = ++kernelSeq;
    batch(() => {
      kernel.value = { status: 'reading', name };
      preview.value = { status: 'none' };
      if (build.value.phase !== 'building') build.value = { phase: 'idle' };
    });
    try {
      // A disk image or an archive is named from its first bytes, at once, whatever its size.
      const probe = await probeKernel(source);
      if (seq !== kernelSeq) return;
      const kind = probe.kind;
      if (kind && kind.kind !== 'kernel') {
        kernel.value = {
          status: 'error',
          name,
          message: notAKernelMessage(kind),
          code: 'NOT_A_KERNEL',
          image: kind.kind !== 'image' ? undefined : source instanceof Blob ? source : toBlob(source),
        };
        return;
      }
      let bytes: Uint8Array;
      if (source instanceof Uint8Array) bytes = source;
      else {
        checkKernelSize(source.size);
        // Neither ELF nor a Multiboot header where one must be: the core's sentence, from the first bytes alone.
        if (!kind) await deps.backend.inspect(probe.head);
        bytes = new Uint8Array(await source.arrayBuffer());
        if (seq !== kernelSeq) return;
      }
      const info = await deps.backend.inspect(bytes);
      if (seq !== kernelSeq) return;
      kernel.value = { status: 'ok', name, bytes, info, demo };
    } catch (e) {
      if (seq !== kernelSeq) return;
      kernel.value = {
        status: 'error',
        name,
        message: errorMessage(e),
        code: (e as BuildError).code,
      };
      return;
    }
    await refreshPreview();
  }

  function settle(): void {
    if (build.value.phase === 'done' || build.value.phase === 'cancelled' || build.value.phase === 'error')
      build.value = { phase: 'idle' };
  }

  function setArgs(v: string) {
    args.value = v;
    settle();
    return refreshPreview();
  }
  /** A format from the Advanced list: the destination stays when it takes that format, else follows it. */
  function setFormat(id: string) {
    const chosen = findFormat(id);
    if (!chosen) return Promise.resolve();
    batch(() => {
      formatId.value = chosen.id;
      if (!destination.value.formats.includes(chosen.id))
        destinationId.value = destinationForFormat(chosen.id)?.id ?? destinationId.value;
    });
    settle();
    return refreshPreview();
  }
  /** Where it will run: picks that destination's usual format. */
  function setDestination(id: string) {
    const d = findDestination(id);
    if (!d) return Promise.resolve();
    batch(() => {
      destinationId.value = d.id;
      formatId.value = d.formats[0];
    });
    settle();
    return refreshPreview();
  }
  function setSize(text: string) {
    sizeText.value = text;
    settle();
    return refreshPreview();
  }
  function setFileName(name: string) {
    fileNameOverride.value = name === defaultFileName(kernelName.value, format.value.extension) ? null : name;
    settle();
    void refreshMeasure();
  }

  /** Build with the given saver. Resolves when the build ended, whatever the outcome. */
  async function startBuild(saver: Saver): Promise<void> {
    const k = kernel.value;
    const s = size.value;
    if (!canBuild.value || k.status !== 'ok' || !s.ok) {
      saver.dispose?.();
      return;
    }
    const name = fileName.value.trim();
    const fmt = format.value;
    const dest = destination.value;
    const devices = { devices: k.info.devices, solo5Manifest: k.info.solo5Manifest };
    const startedAt = now();
    measuring?.abort();
    build.value = {
      phase: 'building',
      where: saver.where,
      fileName: name,
      progress: { covered: 0, total: s.bytes, written: 0 },
      startedAt,
      bytesPerSecond: 0,
    };
    const req: BuildRequest = { kernel: k.bytes, size: s.bytes, args: args.value, formatId: fmt.id, fileName: name };
    const end = await job.run(
      saver,
      (opts) => deps.backend.build(req, saver.spec, opts),
      (p) => {
        const cur = build.value;
        if (cur.phase !== 'building') return;
        const secs = (now() - startedAt) / 1000;
        build.value = { ...cur, progress: p, bytesPerSecond: secs > 0 ? p.covered / secs : 0 };
      },
    );
    if (end.status === 'done') {
      const result = end.result;
      build.value = {
        phase: 'done',
        where: saver.where,
        fileName: name,
        formatId: fmt.id,
        destinationId: dest.id,
        steps: nextSteps(devices, dest, { file: name, formatId: fmt.id }),
        fileSize: result.fileSize,
        diskSize: result.diskSize,
        seconds: (now() - startedAt) / 1000,
        ...(end.url ? { url: end.url } : {}),
        built: result.blob
          ? { kind: 'blob', blob: result.blob }
          : saver.spec.kind === 'file'
            ? { kind: 'file', handle: saver.spec.handle }
            : { kind: 'rebuild', req },
      };
    } else
      build.value =
        end.status === 'cancelled' ? { phase: 'cancelled' } : { phase: 'error', message: end.message, code: end.code };
    void refreshMeasure();
  }

  function cancel() {
    job.cancel();
  }

  /** Report an error that happened before the worker started (e.g. the save picker failed). */
  function fail(message: string) {
    build.value = { phase: 'error', message };
  }

  return {
    formats,
    destinations: DESTINATIONS,
    kernel,
    args,
    formatId,
    destinationId,
    destination,
    verdict,
    cmdlineBytes,
    savePath,
    expected,
    large,
    blobLimit,
    sizeText,
    fileNameOverride,
    preview,
    build,
    format,
    size,
    fileName,
    fileNameError,
    busy,
    canBuild,
    chooseKernel,
    setArgs,
    setFormat,
    setDestination,
    setSize,
    setFileName,
    startBuild,
    cancel,
    fail,
    refreshPreview,
  };
}

export type Model = ReturnType<typeof createModel>;
