/**
 * The page as an installable app, in one module the entry point starts with
 * one call: registers the service worker (relative, so it works from any
 * sub-path), says "ready to work offline" and "update available" in a small
 * polite live region, and opens the .virtio file an installed app was
 * launched with (the manifest's file_handlers; Chromium's launchQueue).
 */
import './pwa.css';

export interface PwaHooks {
  /** A file the app was opened with. */
  openFile(name: string, bytes: Uint8Array): void;
}

interface LaunchParams {
  files: readonly FileSystemFileHandle[];
}
type LaunchWindow = Window & { launchQueue?: { setConsumer(consumer: (p: LaunchParams) => void): void } };

/**
 * The notices' live region, in its own landmark: created empty at start, so
 * screen readers announce what is put in later.
 */
function noticeArea(): HTMLElement {
  let area = document.getElementById('pwa-status');
  if (!area) {
    const aside = document.createElement('aside');
    aside.id = 'pwa-notices';
    aside.setAttribute('aria-label', 'App notices');
    area = document.createElement('div');
    area.id = 'pwa-status';
    area.setAttribute('role', 'status');
    area.setAttribute('aria-live', 'polite');
    aside.appendChild(area);
    document.body.appendChild(aside);
  }
  return area;
}

let hideTimer: ReturnType<typeof setTimeout> | undefined;

/** Show one notice (replacing the last); `action` adds a button; `hideAfterMs` for news that needs no answer. */
export function notice(
  text: string,
  opts: { action?: { label: string; run(): void }; hideAfterMs?: number } = {},
): void {
  const area = noticeArea();
  clearTimeout(hideTimer);
  area.replaceChildren();
  const box = document.createElement('div');
  box.className = 'pwa-notice';
  const p = document.createElement('p');
  p.textContent = text;
  box.appendChild(p);
  const { action, hideAfterMs } = opts;
  if (action) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = action.label;
    b.addEventListener('click', () => action.run());
    box.appendChild(b);
  }
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'pwa-close';
  close.textContent = '×';
  close.setAttribute('aria-label', 'Dismiss');
  close.addEventListener('click', () => area.replaceChildren());
  box.appendChild(close);
  area.appendChild(box);
  if (hideAfterMs) hideTimer = setTimeout(() => area.replaceChildren(), hideAfterMs);
}

export const READY_OFFLINE = 'Ready to work offline: this page now builds images without a network.';
export const UPDATE_AVAILABLE = 'A new version of this page is ready.';

export function startPwa(hooks: PwaHooks): void {
  noticeArea();
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
