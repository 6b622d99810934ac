/**
 * One save job at a time, for the models (no DOM): a build (model.ts) or a
 * changed copy of an opened image (inside/state.ts). It passes the worker
 * call a cancel signal and a progress callback, asks the saver to finish
 * (a Blob's download link), disposes the saver whatever happened, and tells
 * how it ended. The view half (progress area, Cancel, Escape, focus) is
 * save-job-view.tsx.
 */
import { BuildError } from './bridge';
import type { Progress, SinkSpec } from './protocol';

/** Where the bytes of a save go: a file the user picked, the downloads, or a Blob in memory. */
export type Where = 'file' | 'download' | 'blob';

/** Where a save job's bytes go, and what to do after the worker finished. */
export interface Saver {
  where: Where;
  spec: SinkSpec;
  /** Called after the worker finished (e.g. start a Blob download). Returns a URL to show, if any. */
  finish?(blob?: Blob): string | undefined;
  /** Called whatever happened. */
  dispose?(): void;
}

/** How a save job ended: its result (and the saver's URL, if any), cancelled, or the sentence to show. */
export type JobEnd<R> =
  | { status: 'done'; result: R; url?: string }
  | { status: 'cancelled' }
  | { status: 'error'; message: string; code?: string };

/** What a job's worker call is given. */
export interface JobOptions {
  signal: AbortSignal;
  onProgress: (p: Progress) => void;
}

/** The sentence of an error, whatever was thrown. */
export const errorMessage = (e: unknown) => (e instanceof Error ? e.message : String(e));

export function createSaveJob() {
  let abort: AbortController | null = null;

  /** Run `work` through `saver`. Never throws: resolves with how it ended. */
  async function run<R extends { blob?: Blob }>(
    saver: Saver,
    work: (opts: JobOptions) => Promise<R>,
    onProgress: (p: Progress) => void,
  ): Promise<JobEnd<R>> {
    const ctl = new AbortController();
    abort = ctl;
    try {
      const result = await work({ signal: ctl.signal, onProgress });
      const url = saver.finish?.(result.blob);
      return { status: 'done', result, ...(url ? { url } : {}) };
    } catch (e) {
      if ((e instanceof BuildError && e.cancelled) || ctl.signal.aborted) return { status: 'cancelled' };
      return { status: 'error', message: errorMessage(e), code: (e as BuildError).code };
    } finally {
      if (abort === ctl) abort = null;
      saver.dispose?.();
    }
  }

  /** Stop the running job (the worker aborts its sink: nothing half-written is left). */
  function cancel() {
    abort?.abort();
  }

  return { run, cancel };
}
