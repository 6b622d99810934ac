/**
 * The page's state, in one typed model (signals), with no DOM in it: the
 * components only read signals and call actions, and the vitest unit tests
 * drive the model with a fake backend.
 */
import { batch, computed, signal } from '@preact/signals';
import type { Backend } from './bridge';
import { BuildError } from './bridge';
import type { KernelSummary, PreviewResult, Progress, SinkSpec } from './protocol';
import type { OutputFormat } from '../core/formats/types';

/** What the model needs to know about an output format: the core's descriptor, without the writer. */
export type FormatInfo = Pick<
  OutputFormat,
  'id' | 'label' | 'extension' | 'mime' | 'usedFor' | 'checkSize' | 'qemuDriver' | 'outputLength' | 'nextSteps'
>;

export type KernelState =
  | { status: 'none' }
  | { status: 'reading'; name: string }
  | { status: 'ok'; name: string; bytes: Uint8Array; info: KernelSummary; demo: boolean }
  | { status: 'error'; name: string; message: string; code?: string };

export type Where = 'file' | 'download' | 'blob';

export type BuildState =
  | { phase: 'idle' }
  | { phase: 'building'; where: Where; fileName: string; progress: Progress; startedAt: number; bytesPerSecond: number }
  | {
      phase: 'done';
      where: Where;
      fileName: string;
      formatId: string;
      fileSize: number;
      diskSize: number;
      seconds: number;
      /** Blob URL for the last-resort save path. */
      url?: string;
    }
  | { phase: 'cancelled' }
  | { phase: 'error'; message: string; code?: string };

/** How the page saves one build: the worker's sink plus page-side hooks. */
export interface Saver {
  where: Where;
  spec: SinkSpec;
  /** Called after the worker finished (e.g. start a Blob download). Returns a URL to show, if any. */
  finish?(blob?: Blob): string | undefined;
  /** Called whatever happened. */
  dispose?(): void;
}

export interface ModelDeps {
  formats: readonly FormatInfo[];
  parseSize(text: string): number;
  defaultSize: number;
  backend: Backend;
  now?: () => number;
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
  const formatId = signal(formats[0]?.id ?? 'raw');
  const sizeText = signal(`${deps.defaultSize / 2 ** 30}G`);
  /** The user's own file name, or null to follow the default. */
  const fileNameOverride = signal<string | null>(null);
  const preview = signal<
    { status: 'none' } | { status: 'ok'; value: PreviewResult } | { status: 'error'; message: string }
  >({ status: 'none' });
  const build = signal<BuildState>({ phase: 'idle' });

  const format = computed(() => formats.find((f) => f.id === formatId.value) ?? formats[0]);

  /** The size in bytes, or the sentence saying why the text is not a size for this format. */
  const size = computed<{ ok: true; bytes: number } | { ok: false; message: string }>(() => {
    try {
      const bytes = deps.parseSize(sizeText.value.trim());
      format.value.checkSize?.(bytes);
      return { ok: true, bytes };
    } catch (e) {
      return { ok: false, message: e instanceof Error ? e.message : String(e) };
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
  const canBuild = computed(
    () =>
      kernel.value.status === 'ok' &&
      size.value.ok &&
      !fileNameError.value &&
      preview.value.status === 'ok' &&
      !busy.value,
  );

  let kernelSeq = 0;
  let previewSeq = 0;
  let abort: AbortController | null = null;

  async function refreshPreview(): Promise<void> {
    const seq = ++previewSeq;
    const k = kernel.value;
    const s = size.value;
    if (k.status !== 'ok' || !s.ok) {
      preview.value = { status: 'none' };
      return;
    }
    try {
      const value = await deps.backend.preview(k.bytes, s.bytes, args.value);
      if (seq === previewSeq) preview.value = { status: 'ok', value };
    } catch (e) {
      if (seq === previewSeq) preview.value = { status: 'error', message: e instanceof Error ? e.message : String(e) };
    }
  }

  /** Choose a kernel: inspect it at once, show what was found or the core's error. */
  async function chooseKernel(name: string, bytes: Uint8Array, demo = false): Promise<void> {
    const seq = ++kernelSeq;
    batch(() => {
      kernel.value = { status: 'reading', name };
      preview.value = { status: 'none' };
      if (build.value.phase !== 'building') build.value = { phase: 'idle' };
    });
    try {
      const info = await deps.backend.inspect(bytes);
      if (seq !== kernelSeq) return;
      kernel.value = { status: 'ok', name, bytes, info, demo };
    } catch (e) {
      if (seq !== kernelSeq) return;
      kernel.value = {
        status: 'error',
        name,
        message: e instanceof Error ? e.message : String(e),
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
  function setFormat(id: string) {
    formatId.value = id;
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
    const startedAt = now();
    abort = new AbortController();
    build.value = {
      phase: 'building',
      where: saver.where,
      fileName: name,
      progress: { covered: 0, total: s.bytes, written: 0 },
      startedAt,
      bytesPerSecond: 0,
    };
    try {
      const result = await deps.backend.build(
        { kernel: k.bytes, size: s.bytes, args: args.value, formatId: fmt.id, fileName: name },
        saver.spec,
        {
          signal: abort.signal,
          onProgress: (p) => {
            const cur = build.value;
            if (cur.phase !== 'building') return;
            const secs = (now() - startedAt) / 1000;
            build.value = { ...cur, progress: p, bytesPerSecond: secs > 0 ? p.covered / secs : 0 };
          },
        },
      );
      const url = saver.finish?.(result.blob);
      build.value = {
        phase: 'done',
        where: saver.where,
        fileName: name,
        formatId: fmt.id,
        fileSize: result.fileSize,
        diskSize: result.diskSize,
        seconds: (now() - startedAt) / 1000,
        ...(url ? { url } : {}),
      };
    } catch (e) {
      if ((e instanceof BuildError && e.cancelled) || abort.signal.aborted) build.value = { phase: 'cancelled' };
      else
        build.value = {
          phase: 'error',
          message: e instanceof Error ? e.message : String(e),
          code: (e as BuildError).code,
        };
    } finally {
      abort = null;
      saver.dispose?.();
    }
  }

  function cancel() {
    abort?.abort();
  }

  /** Report an error that happened before the worker started (e.g. the save picker failed). */
  function fail(message: string) {
    build.value = { phase: 'error', message };
  }

  return {
    formats,
    kernel,
    args,
    formatId,
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
    setSize,
    setFileName,
    startBuild,
    cancel,
    fail,
    refreshPreview,
  };
}

export type Model = ReturnType<typeof createModel>;
