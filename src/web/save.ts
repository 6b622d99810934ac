/**
 * The three ways the page saves an image, best first:
 *  1. File System Access: the handle is picked in the click handler and the
 *     worker writes to it (seeking over zeros, aborting on cancel);
 *  2. a download through the streamsaver package: its `createWriteStream`
 *     with its man-in-the-middle page (dist/mitm.html, taken from the package
 *     at build time and served from our origin) and its service-worker logic
 *     (bundled into our one service worker, src/sw.ts). Its WritableStream is
 *     transferred to the build worker where the browser can transfer streams;
 *     elsewhere the page pumps bytes from the worker into it;
 *  3. a Blob, the last resort, capped (BLOB_CAP) with a warning on the page.
 */
import type { FormatInfo, Saver } from './model';
import type { DownloadMessage } from './protocol';
import type { DownloadChunk } from './zeros';
import { GIB } from '../core/units';

/** Largest output the Blob path accepts. */
export const BLOB_CAP = 2 * GIB;

type PickerWindow = Window & {
  showSaveFilePicker?: (opts: {
    suggestedName?: string;
    types?: { description: string; accept: Record<string, string[]> }[];
  }) => Promise<FileSystemFileHandle>;
};

export function canPickFile(): boolean {
  return typeof (window as PickerWindow).showSaveFilePicker === 'function';
}

/**
 * Ask where to save. Call it first thing in the click handler (the browser
 * wants a user gesture). Resolves null when the user closes the picker.
 */
export async function pickFileSaver(fileName: string, format: FormatInfo): Promise<Saver | null> {
  const pick = (window as PickerWindow).showSaveFilePicker!;
  const last = format.extension.slice(format.extension.lastIndexOf('.'));
  let handle: FileSystemFileHandle;
  try {
    try {
      handle = await pick({
        suggestedName: fileName,
        types: [{ description: format.label, accept: { [format.mime]: [last] } }],
      });
    } catch (e) {
      // Some browsers refuse a type filter they don't like; the name is what matters.
      if (e instanceof TypeError) handle = await pick({ suggestedName: fileName });
      else throw e;
    }
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') return null;
    throw e;
  }
  return { where: 'file', spec: { kind: 'file', handle } };
}

async function activeServiceWorker(timeoutMs: number): Promise<ServiceWorker | null> {
  if (!('serviceWorker' in navigator)) return null;
  const reg = await navigator.serviceWorker.getRegistration();
  if (reg?.active) return reg.active;
  if (!reg) return null;
  const ready = await Promise.race([
    navigator.serviceWorker.ready,
    new Promise<null>((r) => setTimeout(() => r(null), timeoutMs)),
  ]);
  return ready?.active ?? null;
}

/** Can a WritableStream be handed to another thread? (Transferable streams: Chromium 87+, Firefox 103+.) */
export function canTransferStreams(): boolean {
  const ch = new MessageChannel();
  try {
    const ws = new WritableStream();
    ch.port1.postMessage(ws, [ws]);
    return true;
  } catch {
    return false;
  } finally {
    ch.port1.close();
    ch.port2.close();
  }
}

/** Chunks queued in the page between the worker and the service worker (each up to STREAM_CHUNK). */
const QUEUED_CHUNKS = 4;

/**
 * Write what the worker sends over `port` into `stream`, asking for the next
 * chunk only when the stream has room (where streams cannot be transferred).
 */
function pump(port: MessagePort, stream: WritableStream<DownloadChunk>, zerosInServiceWorker: boolean): void {
  const writer = stream.getWriter();
  const pull = () => port.postMessage({ type: 'pull' } satisfies DownloadMessage);
  let done = false;
  port.onmessage = (e: MessageEvent<DownloadMessage>) => {
    const m = e.data;
    if (m.type === 'chunk' || m.type === 'zeros') {
      // Zeros: as a length where the service worker expands it, else fresh zeros (allocated, never copied).
      const chunk =
        m.type === 'chunk' ? m.bytes : zerosInServiceWorker ? { zeros: m.length } : new Uint8Array(m.length);
      writer.write(chunk).catch(() => {});
      void writer.ready.then(pull, () => {});
    } else if (m.type === 'end') {
      done = true;
      void writer.close().catch(() => {});
      port.close();
    } else if (m.type === 'abort') {
      done = true;
      void writer.abort(m.message).catch(() => {});
      port.close();
    }
  };
  // The download was cancelled in the browser: tell the worker to stop.
  writer.closed.catch(() => {
    if (!done) port.postMessage({ type: 'cancel' } satisfies DownloadMessage);
  });
  void writer.ready.then(() => {
    for (let i = 0; i < QUEUED_CHUNKS; i++) pull();
  });
}

/**
 * Stream a download through streamsaver. Resolves null when no service worker
 * is active (first visit in some browsers, private windows...) or when the
 * package would fall back to collecting the file in memory (its choice in
 * Safari): the capped Blob path says so honestly instead.
 */
export async function downloadSaver(fileName: string, format: FormatInfo, size: number): Promise<Saver | null> {
  const sw = await activeServiceWorker(3000);
  if (!sw) return null;
  const { default: streamSaver } = await import('streamsaver');
  // Its man in the middle lives next to our sw.js: wherever the app is served.
  const mitm = new URL('mitm.html', sw.scriptURL).href;
  streamSaver.mitm = mitm;
  const stream: WritableStream<DownloadChunk> = streamSaver.createWriteStream(fileName, {
    size: format.outputLength?.(size),
    readableStrategy: new CountQueuingStrategy({ highWaterMark: QUEUED_CHUNKS }),
    writableStrategy: new CountQueuingStrategy({ highWaterMark: QUEUED_CHUNKS }),
  });
  const viaServiceWorker = [...document.querySelectorAll('iframe')].some((f) => f.src === mitm);
  if (!viaServiceWorker) {
    await stream.abort().catch(() => {});
    return null;
  }
  // Keep the service worker awake while bytes flow (browsers stop idle ones); the package ignores 'ping'.
  const ping = setInterval(() => sw.postMessage('ping'), 10_000);
  const dispose = () => clearInterval(ping);
  // The package hands its stream to the service worker whole only where it can transfer streams
  // (it then defines streamSaver.TransformStream); only then may runs of zeros flow as lengths.
  const whole = 'TransformStream' in streamSaver;
  if (whole && canTransferStreams()) return { where: 'download', spec: { kind: 'stream', stream }, dispose };
  const ch = new MessageChannel();
  pump(ch.port1, stream, whole);
  return { where: 'download', spec: { kind: 'port', port: ch.port2 }, dispose };
}

/**
 * Where this save goes, best first: the picker, else a download, else memory.
 * Call it first thing in the click handler (the picker needs the click's user
 * gesture). Resolves null when the user closed the picker. `diskSize`: the
 * virtual disk's size (a download states the file's length when the format's
 * descriptor knows it from that).
 */
export async function chooseSaver(fileName: string, format: FormatInfo, diskSize: number): Promise<Saver | null> {
  if (canPickFile()) return pickFileSaver(fileName, format);
  return (await downloadSaver(fileName, format, diskSize)) ?? blobSaver(fileName, format);
}

let lastUrl: string | null = null;

/** The last resort: build into a Blob (capped), then download it with a link. */
export function blobSaver(fileName: string, format: FormatInfo): Saver {
  return {
    where: 'blob',
    spec: { kind: 'blob', cap: BLOB_CAP },
    finish(blob) {
      if (!blob) return undefined;
      if (lastUrl) URL.revokeObjectURL(lastUrl);
      const url = URL.createObjectURL(new Blob([blob], { type: format.mime }));
      lastUrl = url;
      const a = document.createElement('a');
      a.href = url;
      a.download = fileName;
      a.hidden = true;
      document.body.appendChild(a);
      a.click();
      a.remove();
      return url;
    },
  };
}
