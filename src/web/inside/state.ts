/**
 * The Inside view's state (signals, no DOM): the image opened, the new
 * arguments and their check, the copy's file name, and the save's phase.
 * Unit-tested with a fake backend, like model.ts.
 */
import { batch, computed, signal } from '@preact/signals';
import type { BuildError, EmuBackend, InsideBackend } from '../bridge';
import { createStepperModel } from './stepper-state';
import { createSaveJob, errorMessage } from '../save-job';
import type { BuiltImage, FormatInfo, Saver, Where } from '../model';
import type { ImageReport, ImageSource, Progress } from '../protocol';
import { checkArgs, withArgs } from '../../core/image';
import { MAX_CMDLINE } from '../../core/boot/index';
import { copyFileName } from '../../core/disk/copy-name';

export type ImageState =
  | { status: 'none' }
  | { status: 'opening'; name: string }
  | { status: 'ok'; name: string; image: ImageSource; report: ImageReport }
  | { status: 'error'; name: string; message: string; code?: string };

export type SaveState =
  | { phase: 'idle' }
  | { phase: 'saving'; where: Where; fileName: string; progress: Progress }
  | {
      phase: 'done';
      where: Where;
      fileName: string;
      fileSize: number;
      diskSize: number;
      formatId: string;
      before: string;
      after: string;
      url?: string;
    }
  | { phase: 'cancelled' }
  | { phase: 'error'; message: string; code?: string };

export interface InsideDeps {
  formats: readonly FormatInfo[];
  backend: InsideBackend;
  /** The emulator for "How it boots" (absent: the loader cannot be run here). */
  emulator?: EmuBackend;
}

export function createInsideModel(deps: InsideDeps) {
  const image = signal<ImageState>({ status: 'none' });
  const args = signal('');
  const fileNameOverride = signal<string | null>(null);
  const save = signal<SaveState>({ phase: 'idle' });
  /** The loader of the open image, run in the emulator. */
  const stepper = createStepperModel(deps.emulator);

  const report = computed(() => (image.value.status === 'ok' ? image.value.report : null));
  /** The format the image is in: the copy is written in it. */
  const format = computed<FormatInfo | null>(() => {
    const r = report.value;
    return r ? (deps.formats.find((f) => f.id === r.map.formatId) ?? null) : null;
  });
  /** The command line the copy will have: the image's own first word (its kernel's name), then the new arguments. */
  const kernelLine = computed(() => withArgs(report.value?.inspection.bootloader.cmdline ?? null, args.value));
  /** Bytes of the command line the loader will pass, against MAX_CMDLINE (as the builder counts). */
  const cmdlineBytes = computed(() => new TextEncoder().encode(kernelLine.value).length);
  /** The builder's own check of the arguments (NUL, UTF-8, 8191 bytes), or null. */
  const argsError = computed<string | null>(() => {
    try {
      checkArgs(args.value);
      return null;
    } catch (e) {
      return errorMessage(e);
    }
  });
  const defaultName = computed(() => {
    const i = image.value;
    const f = format.value;
    return i.status === 'ok' && f ? copyFileName(i.name, f) : '';
  });
  const fileName = computed(() => fileNameOverride.value ?? defaultName.value);
  const fileNameError = computed(() => {
    const n = fileName.value.trim();
    const i = image.value;
    if (!n) return 'File name is empty; type a name for the copy.';
    if (/[\\/:*?"<>|\u0000-\u001f]/.test(n))
      return `File name "${n}" has characters file systems refuse (\\ / : * ? " < > |); remove them.`;
    if (i.status === 'ok' && n === i.name)
      return `File name "${n}" is the image's own name; the copy never replaces the image it came from, so choose another name.`;
    return null;
  });
  const busy = computed(() => save.value.phase === 'saving');
  const unchanged = computed(() => {
    const r = report.value;
    return r !== null && (r.inspection.bootloader.args ?? '') === args.value;
  });
  const canSave = computed(
    () =>
      image.value.status === 'ok' &&
      !!report.value?.canSetArgs &&
      !!format.value &&
      !argsError.value &&
      !fileNameError.value &&
      !busy.value,
  );

  let seq = 0;
  let opening: AbortController | null = null;
  const job = createSaveJob();

  /** Open an image file (any size: the worker reads slices of it), or the plan of the image just downloaded. */
  async function open(blob: ImageSource, name: string): Promise<void> {
    const n = ++seq;
    opening?.abort();
    const ctl = new AbortController();
    opening = ctl;
    stepper.load(null);
    batch(() => {
      image.value = { status: 'opening', name };
      if (save.value.phase !== 'saving') save.value = { phase: 'idle' };
      fileNameOverride.value = null;
    });
    try {
      const r = await deps.backend.openImage(blob, name, { signal: ctl.signal });
      if (n !== seq) return;
      batch(() => {
        image.value = { status: 'ok', name, image: blob, report: r };
        args.value = r.inspection.bootloader.args ?? '';
      });
      stepper.load(blob, name);
    } catch (e) {
      if (n !== seq) return;
      image.value = { status: 'error', name, message: errorMessage(e), code: (e as BuildError).code };
    } finally {
      if (opening === ctl) opening = null;
    }
  }

  /**
   * Open the image the builder just made. A download cannot be read back, so
   * the worker reads that one from its build request's plan (the same disk
   * bytes, nothing built again, whatever its size).
   */
  async function openBuilt(built: BuiltImage, name: string, fileSize: number): Promise<void> {
    if (built.kind === 'blob') return open(built.blob, name);
    if (built.kind === 'rebuild') return open({ build: built.req, fileSize }, name);
    let file: File;
    try {
      file = await built.handle.getFile();
    } catch (e) {
      image.value = {
        status: 'error',
        name,
        message: `The saved file ${name} could not be read back (${errorMessage(e)}); choose the file with the button above (Disk image).`,
      };
      return;
    }
    return open(file, name);
  }

  function settle() {
    if (save.value.phase === 'done' || save.value.phase === 'cancelled' || save.value.phase === 'error')
      save.value = { phase: 'idle' };
  }
  function setArgs(v: string) {
    args.value = v;
    settle();
  }
  function setFileName(v: string) {
    fileNameOverride.value = v === defaultName.value ? null : v;
    settle();
  }

  /** Write the copy through `saver` (picked by the view). Resolves when it ended, whatever the outcome. */
  async function startSave(saver: Saver): Promise<void> {
    const i = image.value;
    if (!canSave.value || i.status !== 'ok') {
      saver.dispose?.();
      return;
    }
    const name = fileName.value.trim();
    save.value = {
      phase: 'saving',
      where: saver.where,
      fileName: name,
      progress: { covered: 0, total: i.report.map.size, written: 0 },
    };
    const end = await job.run(
      saver,
      (opts) =>
        deps.backend.saveCopy({ image: i.image, name: i.name, args: args.value, fileName: name }, saver.spec, opts),
      (p) => {
        const cur = save.value;
        if (cur.phase === 'saving') save.value = { ...cur, progress: p };
      },
    );
    if (end.status === 'done') {
      const r = end.result;
      save.value = {
        phase: 'done',
        where: saver.where,
        fileName: name,
        fileSize: r.fileSize,
        diskSize: r.diskSize,
        formatId: r.formatId,
        before: r.before,
        after: r.after,
        ...(end.url ? { url: end.url } : {}),
      };
    } else
      save.value =
        end.status === 'cancelled' ? { phase: 'cancelled' } : { phase: 'error', message: end.message, code: end.code };
  }

  function cancel() {
    job.cancel();
  }
  function fail(text: string) {
    save.value = { phase: 'error', message: text };
  }

  return {
    image,
    report,
    format,
    args,
    kernelLine,
    cmdlineBytes,
    argsError,
    fileName,
    fileNameError,
    busy,
    unchanged,
    canSave,
    save,
    stepper,
    open,
    openBuilt,
    setArgs,
    setFileName,
    startSave,
    cancel,
    fail,
    MAX_CMDLINE,
  };
}

export type InsideModel = ReturnType<typeof createInsideModel>;
