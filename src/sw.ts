/**
 * The one service worker:
 *  - the streamsaver package's service-worker logic (its `sw.js`, bundled in
 *    from node_modules at build time): downloads registered by its mitm.html
 *    are answered with the stream the page handed over (src/web/save.ts);
 *  - workbox precaching (vite-plugin-pwa's injectManifest fills
 *    __WB_MANIFEST), so the page, mitm.html and the build worker work offline;
 *  - deep links: a navigation under our scope that the network cannot answer
 *    (offline, or a 404 from a plain static host) goes to the app shell.
 *
 * The package's handlers come first (its `onfetch` and `onmessage` are set
 * when this bundle starts), and answer only the download URLs it registered
 * (`<scope><host>/<n>/<name>`) and `…/ping`; everything else falls through.
 * Its install handler calls skipWaiting(), so an update takes over at once
 * (the page then says "update available", src/web/pwa.ts).
 *
 * We wrap its fetch handler, not replace it: the response it gives for a
 * download is handed on with its body passed through `expandZeroRuns`, so
 * runs of zeros the build sent as lengths become zero bytes here, next to the
 * browser's download (src/web/zeros.ts says why).
 */
import 'streamsaver/sw.js';
import { cleanupOutdatedCaches, getCacheKeyForURL, precacheAndRoute } from 'workbox-precaching';
import { expandZeroRuns } from './web/zeros';

declare const self: ServiceWorkerGlobalScope & {
  __WB_MANIFEST: Array<string | { url: string; revision: string | null }>;
};

/** Where streamsaver's mitm.html puts its download URLs: never ours to answer. */
function isDownloadUrl(href: string): boolean {
  return href.startsWith(self.registration.scope + self.location.host + '/') || href.endsWith('/ping');
}

/** The package's download response, with the runs of zeros in its body expanded. */
function expanded(r: Response): Response {
  if (!r.body) return r;
  return new Response(expandZeroRuns(r.body), { status: r.status, statusText: r.statusText, headers: r.headers });
}

// The package's handler, called as before, with an event whose respondWith expands the body.
const packageFetch = self.onfetch;
if (!packageFetch)
  throw new Error('internal: streamsaver/sw.js set no onfetch handler: the package changed, look again');
self.onfetch = function (this: ServiceWorkerGlobalScope, e: FetchEvent) {
  if (!isDownloadUrl(e.request.url) || e.request.url.endsWith('/ping')) return packageFetch.call(this, e);
  const event = new Proxy(e, {
    get(target, key) {
      if (key === 'respondWith')
        return (r: Response | PromiseLike<Response>) =>
          target.respondWith(r instanceof Response ? expanded(r) : Promise.resolve(r).then(expanded));
      const v: unknown = Reflect.get(target, key);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return packageFetch.call(this, event);
};

function isPrecached(url: URL): boolean {
  const u = new URL(url.href);
  u.search = '';
  u.hash = '';
  if (u.pathname.endsWith('/')) u.pathname += 'index.html';
  return getCacheKeyForURL(u.href) !== undefined;
}

// Deep links: registered before workbox's route; precached URLs are left to it.
self.addEventListener('fetch', (e: FetchEvent) => {
  const req = e.request;
  const url = new URL(req.url);
  const scope = self.registration.scope;
  if (req.mode !== 'navigate' || !url.href.startsWith(scope) || isDownloadUrl(url.href) || isPrecached(url)) return;
  const shell = () => Response.redirect(scope, 303);
  e.respondWith(
    fetch(req).then(
      (r) => (r.status === 404 ? shell() : r),
      () => shell(),
    ),
  );
});

cleanupOutdatedCaches();
precacheAndRoute(self.__WB_MANIFEST);
