/**
 * Vite config for the page (the vitest config is separate: vitest.config.ts).
 * `npm run build` writes dist/; `npm start` builds and serves it with the same
 * Content-Security-Policy as the meta tag in index.html, plus the headers a
 * meta tag cannot carry (frame-ancestors, Permissions-Policy).
 *
 * dist/ is relative throughout (`base: './'`): it works unchanged from any
 * sub-path of any static host (README: "Deploying the page").
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve as resolvePath, sep } from 'node:path';
import { defineConfig, type Plugin } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';

/** The one policy: nothing but our own origin, no inline code. Keep in sync with index.html. */
export const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "worker-src 'self'",
  "connect-src 'self'",
  "frame-src 'self'",
  "img-src 'self' data:",
  "style-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/**
 * Nothing the page does needs a powerful feature but writing the clipboard
 * (Copy buttons). Reading it is left at the default (self, behind a prompt).
 */
export const PERMISSIONS_POLICY = [
  'camera=()',
  'microphone=()',
  'geolocation=()',
  'payment=()',
  'usb=()',
  'serial=()',
  'hid=()',
  'bluetooth=()',
  'midi=()',
  'display-capture=()',
  'clipboard-write=(self)',
].join(', ');

export const PREVIEW_PORT = 4173;

/**
 * The streamsaver package's man-in-the-middle page, served from our origin as
 * `mitm.html` next to `sw.js` (its script registers and finds the service
 * worker relative to itself). Taken from node_modules at build time, never
 * edited: we only put a CSP meta tag in front of its inline script, whose
 * SHA-256 is the one script the policy allows.
 */
const require = createRequire(import.meta.url);
export const MITM_FILE = 'mitm.html';
const mitmSource = readFileSync(require.resolve('streamsaver/mitm.html'), 'utf8');
const mitmScript = /<script>([\s\S]*?)<\/script>/.exec(mitmSource);
if (!mitmScript) throw new Error('streamsaver/mitm.html has no inline <script>: the package changed, look again');
export const MITM_SCRIPT_HASH = `'sha256-${createHash('sha256').update(mitmScript[1]).digest('base64')}'`;
/** mitm.html may be framed by our page only; its script finds our service worker (worker-src) or pings it (connect-src). */
export const MITM_CSP = [
  "default-src 'none'",
  `script-src ${MITM_SCRIPT_HASH}`,
  "worker-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');
const mitmHtml = mitmSource.replace(
  '<script>',
  `<meta charset="utf-8" />\n<meta http-equiv="Content-Security-Policy" content="${MITM_CSP}" />\n<script>`,
);

/** The headers a host should send (README), as `vite preview` sends them. */
export function headersFor(path: string): Record<string, string> {
  const mitm = path.split('?')[0].endsWith('/' + MITM_FILE);
  return {
    'Content-Security-Policy': mitm ? `${MITM_CSP}; frame-ancestors 'self'` : `${CSP}; frame-ancestors 'none'`,
    'Permissions-Policy': PERMISSIONS_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
  };
}

const streamsaverMitm: Plugin = {
  name: 'streamsaver-mitm',
  generateBundle() {
    this.emitFile({ type: 'asset', fileName: MITM_FILE, source: mitmHtml });
  },
};

/** Per-path headers (mitm.html may be framed by the page; nothing else may be framed at all). */
const securityHeaders: Plugin = {
  name: 'security-headers',
  configurePreviewServer(server) {
    server.middlewares.use((req, res, next) => {
      for (const [k, v] of Object.entries(headersFor(req.url ?? '/'))) res.setHeader(k, v);
      next();
    });
  },
  configureServer(server) {
    server.middlewares.use((req, res, next) => {
      // `vite` (dev) injects CSS through <style> elements: the dev server alone allows inline styles.
      const h = headersFor(req.url ?? '/');
      h['Content-Security-Policy'] = h['Content-Security-Policy'].replace(
        "style-src 'self'",
        "style-src 'self' 'unsafe-inline'",
      );
      for (const [k, v] of Object.entries(h)) res.setHeader(k, v);
      next();
    });
  },
};

/**
 * dist/_headers, the file Netlify and Cloudflare Pages read: for `/` and each file of the
 * build, exactly the headers `vite preview` sends for it (`headersFor`). One rule per path,
 * no `/*`: where several rules match a path these hosts combine them differently (Netlify
 * lets the later value win, Cloudflare joins the values with commas, which would put the
 * page's policy on mitm.html as a second policy and block its script).
 */
export function headersFile(paths: string[]): string {
  const rules = paths.map((path) => {
    const lines = Object.entries(headersFor(path)).map(([k, v]) => `  ${k}: ${v}\n`);
    return `${path}\n${lines.join('')}`;
  });
  return (
    '# Written by `npm run build` (vite.config.ts): the headers `vite preview` sends, one rule per path.\n' +
    rules.join('')
  );
}
export const HEADERS_FILE = '_headers';

const staticHeaders: Plugin = {
  name: 'static-headers',
  apply: 'build',
  // After every other plugin's closeBundle (the service worker, sw.js, is written in one).
  closeBundle: {
    order: 'post',
    sequential: true,
    handler() {
      const dir = resolvePath(this.environment.config.root, this.environment.config.build.outDir);
      const files = readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile() && e.name !== HEADERS_FILE)
        .map((e) => '/' + relative(dir, join(e.parentPath, e.name)).split(sep).join('/'))
        .sort();
      writeFileSync(join(dir, HEADERS_FILE), headersFile(['/', ...files]));
    },
  },
};

const devCsp: Plugin = {
  name: 'dev-csp',
  apply: 'serve',
  transformIndexHtml: (html: string) => html.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'"),
};

export default defineConfig({
  base: './',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { target: 'es2022', sourcemap: false },
  worker: { format: 'es' },
  preview: { port: PREVIEW_PORT, strictPort: true },
  plugins: [
    devCsp,
    securityHeaders,
    streamsaverMitm,
    staticHeaders,
    VitePWA({
      strategies: 'injectManifest',
      srcDir: 'src',
      filename: 'sw.ts',
      // We register the service worker ourselves (src/web/pwa.ts): no inline script.
      injectRegister: null,
      injectManifest: {
        rollupFormat: 'iife',
        globPatterns: ['**/*.{js,css,html,svg,png,webmanifest}'],
      },
      includeAssets: ['icon.svg', 'apple-touch-icon.png'],
      manifest: {
        id: './',
        name: 'Unikernel disk builder',
        short_name: 'Unikernel disk',
        description: 'Turn a Solo5 virtio unikernel into a bootable disk image, in your browser.',
        // Relative to the manifest: the app lives wherever dist/ is served.
        start_url: './',
        scope: './',
        display: 'standalone',
        background_color: '#f6f7f9',
        theme_color: '#1d3557',
        icons: [
          { src: 'icon.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'any' },
          { src: 'icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
          { src: 'icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
          { src: 'icon-maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
        // An installed app opens .virtio files (src/web/pwa.ts reads them from launchQueue).
        file_handlers: [
          {
            action: './',
            accept: { 'application/octet-stream': ['.virtio'] },
          },
        ],
        launch_handler: { client_mode: 'focus-existing' },
      },
    }),
  ],
});
