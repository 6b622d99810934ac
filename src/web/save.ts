/**
 * The three ways the page saves an image, best first:
 *  1. File System Access: the handle is picked in the click handler and the
 *     worker writes to it (seeking over zeros, aborting on cancel);
 *  2. a download streamed by our own service worker (src/sw.ts) from bytes the
 *     worker hands it over a MessagePort, on demand: StreamSaver's technique
 *     without its files (its mitm.html needs inline script, which our CSP
 *     forbids, and its sw.js would be a second service worker; on our own
 *     origin no man in the middle is needed), see ARCHITECTURE.md;
 *  3. a Blob, the last resort, capped (BLOB_CAP) with a warning on the page.
 */
import type { FormatInfo, Saver } from './model';
import { DOWNLOAD_PREFIX, type DownloadRegistration } from './protocol';

/** Largest output the Blob path accepts. */
export const BLOB_CAP = 2 * 2 ** 30;

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

let lastFrame: HTMLIFrameElement | null = null;

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

/**
 * Stream a download through the service worker. Resolves null when no service
 * worker is active (first visit in some browsers, private windows...).
 */
export async function downloadSaver(fileName: string, format: FormatInfo, size: number): Promise<Saver | null> {
  const sw = await activeServiceWorker(3000);
  if (!sw) return null;
  const id = crypto.randomUUID();
  const data = new MessageChannel();
  const ack = new MessageChannel();
  const reg: DownloadRegistration = {
    type: 'download',
    id,
    name: fileName,
    mime: format.mime,
    size: format.outputLength?.(size),
  };
  const ok = await new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), 3000);
    ack.port1.onmessage = () => {
      clearTimeout(t);
      resolve(true);
    };
    sw.postMessage(reg, [data.port1, ack.port2]);
  });
  ack.port1.close();
  if (!ok) return null;
  // Keep the service worker awake while bytes flow (browsers stop idle ones).
  const ping = setInterval(() => sw.postMessage({ type: 'ping' }), 10_000);
  lastFrame?.remove();
  const frame = document.createElement('iframe');
  frame.hidden = true;
  frame.title = 'download';
  frame.src = `${DOWNLOAD_PREFIX}${id}/${encodeURIComponent(fileName)}`;
  document.body.appendChild(frame);
  lastFrame = frame;
  return {
    where: 'download',
    spec: { kind: 'port', port: data.port2 },
    dispose: () => clearInterval(ping),
  };
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
