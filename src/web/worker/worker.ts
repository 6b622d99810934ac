/**
 * The build worker: message plumbing around build.ts. One job at a time per
 * id; `cancel` aborts it, and the sink is aborted so no partial file stays.
 */
import { isImageError } from '../../core/errors';
import { findFormat } from '../../core/formats/index';
import { build, countingSink, inspect, openSink, preview } from './build';
import { openImage, saveCopy } from './open-image';
import { emulate } from './emulator';
import type { FromWorker, Progress, ToWorker } from '../protocol';

declare const self: DedicatedWorkerGlobalScope;

const jobs = new Map<number, AbortController>();
const post = (m: FromWorker, transfer: Transferable[] = []) => self.postMessage(m, transfer);

function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === 'AbortError';
}

/** What a job was doing, for the sentence of an unexpected failure. */
const DOING: Record<Exclude<ToWorker['type'], 'cancel'>, string> = {
  inspect: 'reading the kernel',
  preview: 'planning the image',
  build: 'building',
  measure: 'measuring the image',
  'open-image': 'reading the image',
  'save-copy': 'saving the copy',
  emu: 'running the emulator',
};

function reply(id: number, e: unknown, cancelled: boolean, doing = 'building') {
  if (cancelled || isAbort(e)) post({ type: 'error', id, cancelled: true, message: 'Cancelled.' });
  else if (isImageError(e)) post({ type: 'error', id, code: e.code, message: e.message });
  else if (e instanceof DOMException && e.name === 'QuotaExceededError') {
    post({
      type: 'error',
      id,
      code: 'NO_SPACE',
      message:
        'There is not enough free space where the image was being saved (the browser refused to write more); free some space, choose a smaller Size, or save somewhere else.',
    });
  } else if (e instanceof DOMException && e.name === 'NotAllowedError') {
    post({
      type: 'error',
      id,
      code: 'NOT_ALLOWED',
      message: 'The browser did not allow writing to the chosen file; build again and choose another place.',
    });
  } else {
    // Not a user error: a bug or a browser failure. Keep the stack in the console only.
    console.error(e);
    const msg = e instanceof Error ? e.message : String(e);
    post({ type: 'error', id, message: `Something went wrong while ${doing}: ${msg}` });
  }
}

self.onmessage = async (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  if (m.type === 'cancel') {
    jobs.get(m.id)?.abort(new DOMException('Cancelled', 'AbortError'));
    return;
  }
  const ctl = new AbortController();
  jobs.set(m.id, ctl);
  try {
    let value: unknown;
    if (m.type === 'inspect') value = inspect(m.kernel);
    else if (m.type === 'preview') value = preview(m.kernel, m.size, m.args, m.sizeStep);
    else if (m.type === 'measure') value = (await build(m.req, countingSink(), { signal: ctl.signal })).fileSize;
    else if (m.type === 'open-image') value = await openImage(m.image, m.name, { signal: ctl.signal });
    else if (m.type === 'emu') {
      let last = 0;
      value = await emulate(m.session, m.req, {
        signal: ctl.signal,
        onProgress: (instructions) => {
          const now = performance.now();
          if (now - last < 100) return;
          last = now;
          post({ type: 'emu-progress', id: m.id, instructions });
        },
      });
    } else {
      // A build, or a changed copy of an opened image (its mime: the format's, known once it is opened).
      const mime = (m.type === 'build' && findFormat(m.req.formatId)?.mime) || 'application/octet-stream';
      const sink = await openSink(m.sink, mime, ctl.signal);
      let last = 0;
      let pending: Progress | null = null;
      const onProgress = (p: Progress) => {
        pending = p;
        const now = performance.now();
        if (now - last >= 100) {
          last = now;
          post({ type: 'progress', id: m.id, progress: p });
          pending = null;
        }
      };
      value =
        m.type === 'build'
          ? await build(m.req, sink, { signal: ctl.signal, onProgress })
          : await saveCopy(m.req, sink, { signal: ctl.signal, onProgress });
      if (pending) post({ type: 'progress', id: m.id, progress: pending });
    }
    // A cancel that arrives after the file was closed changes nothing: report it saved.
    post({ type: 'result', id: m.id, value });
  } catch (e) {
    reply(m.id, e, ctl.signal.aborted || (isImageError(e) && e.code === 'ABORTED'), DOING[m.type]);
  } finally {
    jobs.delete(m.id);
  }
};
