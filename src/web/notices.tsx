/**
 * The app's notices ("ready to work offline", "a new version is ready"): one
 * at a time, in a polite live region that is part of the page's own chrome,
 * never drawn over it. In the builder it is the Build bar's first row (the
 * sticky bar at the bottom of a phone, the panel beside the steps on a wider
 * screen, where it sits under Build); in "Inside an image" it heads the view.
 * The region is rendered empty, so that what is put in later is announced.
 */
import { signal } from '@preact/signals';

export interface NoticeAction {
  label: string;
  run(): void;
}

const shown = signal<{ text: string; action?: NoticeAction } | null>(null);
let hideTimer: ReturnType<typeof setTimeout> | undefined;

/** Show one notice (replacing the last); `action` adds a button; `hideAfterMs` for news that needs no answer. */
export function notice(text: string, opts: { action?: NoticeAction; hideAfterMs?: number } = {}): void {
  clearTimeout(hideTimer);
  shown.value = { text, action: opts.action };
  if (opts.hideAfterMs) hideTimer = setTimeout(() => (shown.value = null), opts.hideAfterMs);
}

export function Notices() {
  const n = shown.value;
  return (
    <div id="pwa-status" class="notices" role="status" aria-live="polite">
      {n ? (
        <div class="pwa-notice">
          <p>{n.text}</p>
          {n.action ? (
            <button type="button" onClick={() => n.action!.run()}>
              {n.action.label}
            </button>
          ) : null}
          <button type="button" class="pwa-close" aria-label="Dismiss" onClick={() => (shown.value = null)}>
            ×
          </button>
        </div>
      ) : null}
    </div>
  );
}
