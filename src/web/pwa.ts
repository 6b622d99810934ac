/**
 * The page as an installable app, in one module the entry point starts with
 * one call: registers the service worker (relative, so it works from any
 * sub-path), says "ready to work offline" and "update available" (notices.tsx,
 * a polite live region in the page's own chrome), and opens the .virtio file an installed app was
 * launched with (the manifest's file_handlers; Chromium's launchQueue).
 */
import './pwa.css';
import { notice } from './notices';

export interface PwaHooks {
  /** A file the app was opened with. */
  openFile(name: string, bytes: Uint8Array): void;
}

interface LaunchParams {
  files: readonly FileSystemFileHandle[];
}
type LaunchWindow = Window & { launchQueue?: { setConsumer(consumer: (p: LaunchParams) => void): void } };

export const READY_OFFLINE = 'Ready to work offline: this page now builds images without a network.';
export const UPDATE_AVAILABLE = 'A new version of this page is ready.';

export function startPwa(hooks: PwaHooks): void {
  (window as LaunchWindow).launchQueue?.setConsumer(async ({ files }) => {
    const handle = files[0];
    if (!handle) return;
    const file = await handle.getFile();
    hooks.openFile(file.name, new Uint8Array(await file.arrayBuffer()));
  });

  if (!('serviceWorker' in navigator) || import.meta.env.DEV) return;
  const sw = navigator.serviceWorker;
  // A first visit has no controller: the first one to take over means "ready offline".
  // Later ones are updates (the service worker takes over at once; old chunks may be gone).
  let hadController = sw.controller !== null;
  sw.addEventListener('controllerchange', () => {
    if (hadController) notice(UPDATE_AVAILABLE, { action: { label: 'Reload', run: () => location.reload() } });
    else notice(READY_OFFLINE, { hideAfterMs: 12_000 });
    hadController = true;
  });
  // Relative to this page, which is the app's root: works from any sub-path.
  sw.register('sw.js', { scope: './' }).catch((e) => console.warn('service worker not registered:', e));
}
