/**
 * Vite config for the page (the vitest config is separate: vitest.config.ts).
 * `npm run build` writes dist/; `npm start` builds and serves it with the same
 * Content-Security-Policy header as the meta tag in index.html.
 */
import { defineConfig } from 'vite';
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

export const PREVIEW_PORT = 4173;

/**
 * `vite` (dev) injects CSS through <style> elements, which the policy forbids;
 * the dev server alone allows inline styles. Builds and `vite preview` keep it strict.
 */
const DEV_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'");
const devCsp = {
  name: 'dev-csp',
  apply: 'serve' as const,
  transformIndexHtml: (html: string) => html.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'"),
};

const headers = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

export default defineConfig({
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { target: 'es2022', sourcemap: false },
  worker: { format: 'es' },
  preview: { port: PREVIEW_PORT, strictPort: true, headers },
  server: { headers: { ...headers, 'Content-Security-Policy': DEV_CSP } },
  plugins: [
    devCsp,
    VitePWA({
      strategies: 'injectManifest',
      srcDir: 'src',
      filename: 'sw.ts',
      // We register the service worker ourselves (src/web/main.tsx): no inline script.
      injectRegister: null,
      injectManifest: {
        rollupFormat: 'iife',
        globPatterns: ['**/*.{js,css,html,svg,png,webmanifest}'],
      },
      includeAssets: ['icon.svg'],
      manifest: {
        name: 'Unikernel disk builder',
        short_name: 'Unikernel disk',
        description: 'Turn a Solo5 virtio unikernel into a bootable disk image, in your browser.',
        start_url: '/',
        scope: '/',
        display: 'standalone',
        background_color: '#f6f7f9',
        theme_color: '#1d3557',
        icons: [
          { src: 'icon.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'any' },
          { src: 'icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: 'icon-512.png', sizes: '512x512', type: 'image/png' },
        ],
      },
    }),
  ],
});
