/**
 * The one service worker: precaches the app (vite-plugin-pwa injectManifest
 * fills __WB_MANIFEST) so the page works offline, and serves streamed
 * downloads from our own origin (the StreamSaver idea, our own code): the page
 * registers a download with a MessagePort, then opens `/__download/<id>/<name>`
 * in a hidden iframe; we answer that navigation with a Response whose body
 * pulls chunks from the build worker over the port, one per pull.
 */
import { cleanupOutdatedCaches, precacheAndRoute } from 'workbox-precaching';
import { DOWNLOAD_PREFIX, type DownloadMessage, type DownloadRegistration } from './web/protocol';

declare const self: ServiceWorkerGlobalScope & {
  __WB_MANIFEST: Array<string | { url: string; revision: string | null }>;
};

interface Pending {
  reg: DownloadRegistration;
  port: MessagePort;
}
const downloads = new Map<string, Pending>();

self.addEventListener('install', () => {
  void self.skipWaiting();
});
self.addEventListener('activate', (e) => {
  e.waitUntil(self.clients.claim());
});

self.addEventListener('message', (e: ExtendableMessageEvent) => {
  const m = e.data as DownloadRegistration | { type: 'ping' } | undefined;
  if (m?.type !== 'download') return; // pings only keep us awake
  const [port, ack] = e.ports;
  if (!port || typeof m.id !== 'string') return;
  downloads.set(m.id, { reg: m, port });
  ack?.postMessage('ready');
  // A download nobody fetches within a minute is dropped.
  setTimeout(() => {
    const d = downloads.get(m.id);
    if (d) {
      downloads.delete(m.id);
      d.port.postMessage({ type: 'cancel' } satisfies DownloadMessage);
      d.port.close();
    }
  }, 60_000);
});

/** RFC 6266 / 5987: an ASCII fallback plus the exact UTF-8 name. */
function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

function streamFrom(port: MessagePort): ReadableStream<Uint8Array> {
  let waiting: (() => void) | null = null;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        port.onmessage = (e: MessageEvent<DownloadMessage>) => {
          const m = e.data;
          if (m.type === 'chunk') controller.enqueue(m.bytes);
          else if (m.type === 'end') {
            controller.close();
            port.close();
          } else if (m.type === 'abort') {
            controller.error(new Error(m.message));
            port.close();
          }
          const w = waiting;
          waiting = null;
          w?.();
        };
      },
      pull() {
        port.postMessage({ type: 'pull' } satisfies DownloadMessage);
        return new Promise<void>((r) => (waiting = r));
      },
      cancel() {
        port.postMessage({ type: 'cancel' } satisfies DownloadMessage);
        port.close();
      },
    },
    // Ask for up to 4 chunks ahead: enough to keep the disk busy, bounded memory.
    new CountQueuingStrategy({ highWaterMark: 4 }),
  );
}

// Registered before workbox's route so that downloads never hit the precache.
self.addEventListener('fetch', (e: FetchEvent) => {
  const url = new URL(e.request.url);
  if (url.origin !== self.location.origin || !url.pathname.startsWith(DOWNLOAD_PREFIX)) return;
  const id = url.pathname.slice(DOWNLOAD_PREFIX.length).split('/')[0];
  const d = downloads.get(id);
  if (!d) {
    e.respondWith(
      new Response('This download has expired; build the image again.', {
        status: 404,
        headers: { 'Content-Type': 'text/plain; charset=utf-8' },
      }),
    );
    return;
  }
  downloads.delete(id);
  const headers: Record<string, string> = {
    'Content-Type': d.reg.mime,
    'Content-Disposition': contentDisposition(d.reg.name),
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': "default-src 'none'",
    'Cache-Control': 'no-store',
  };
  if (d.reg.size !== undefined) headers['Content-Length'] = String(d.reg.size);
  e.respondWith(new Response(streamFrom(d.port), { headers }));
});

cleanupOutdatedCaches();
precacheAndRoute(self.__WB_MANIFEST);
