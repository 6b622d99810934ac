/**
 * The view half of a save job (a build, or a changed copy in the Inside
 * view; the model half is save-job.ts): the button that starts it and its
 * Cancel, the progress area, and the rules both follow.
 *
 * Focus goes to the progress area when the job starts, back to the button
 * when it is cancelled, and to the outcome when it ends (`focusOutcome`, or
 * the outcome focuses itself). Escape cancels. Progress is announced at most
 * every five seconds; nothing is live but that.
 */
import { useEffect, useLayoutEffect, useRef } from 'preact/hooks';
import type { ComponentChildren, Ref } from 'preact';
import { formatBytes } from '../core/units';
import type { FormatInfo, Saver } from './model';
import type { Progress } from './protocol';
import { chooseSaver } from './save';
import { useThrottled } from './ui';

/** Where a save job is, as its view sees it. */
export type JobPhase = 'idle' | 'running' | 'cancelled' | 'done' | 'error';

/** How much of the job is done, 0 to 1. */
export function doneFraction(p: Progress): number {
  return p.total > 0 ? p.covered / p.total : 0;
}

export function useSaveJob(job: {
  phase: JobPhase;
  /** Whether a job is running now (read when Escape is pressed). */
  busy: () => boolean;
  cancel: () => void;
  /** Start the job through the saver the user chose. */
  start: (saver: Saver) => Promise<void>;
  /** Say that saving failed before the job started (the picker or the download could not be set up). */
  fail: (message: string) => void;
  /** Focus the outcome when the job ended (absent: the outcome focuses itself). */
  focusOutcome?: () => void;
  /** What the progress area's live region says (empty when nothing runs); throttled here. */
  said: string;
}) {
  const button = useRef<HTMLButtonElement>(null);
  const progressArea = useRef<HTMLDivElement>(null);
  const prev = useRef(job.phase);

  // Focus follows the job (as soon as the DOM changed).
  useLayoutEffect(() => {
    const was = prev.current;
    prev.current = job.phase;
    if (job.phase === was) return;
    if (job.phase === 'running') progressArea.current?.focus();
    else if (job.phase === 'cancelled' && was === 'running') button.current?.focus();
    else if (job.phase === 'done' || job.phase === 'error') job.focusOutcome?.();
  }, [job.phase]);

  // Escape cancels a running job.
  useEffect(() => {
    const key = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && job.busy()) {
        e.preventDefault();
        job.cancel();
      }
    };
    document.addEventListener('keydown', key);
    return () => document.removeEventListener('keydown', key);
  }, []);

  /** Choose where the bytes go (first thing in the click handler: the picker needs its user gesture), then start. */
  const save = async (fileName: string, format: FormatInfo, diskSize: number) => {
    try {
      const saver = await chooseSaver(fileName, format, diskSize);
      if (!saver) return; // the user closed the picker
      await job.start(saver);
    } catch (e) {
      job.fail(e instanceof Error ? `Could not save the file: ${e.message}` : String(e));
    }
  };

  const said = useThrottled(job.said, 5000);
  return { button, progressArea, save, said };
}

/** The button that starts a job, and Cancel while it runs. */
export function JobButtons({
  id,
  buttonRef,
  label,
  describedBy,
  disabled,
  onStart,
  running,
  cancelId,
  onCancel,
}: {
  id: string;
  buttonRef: Ref<HTMLButtonElement>;
  label: string;
  describedBy?: string;
  disabled: boolean;
  onStart: () => void;
  running: boolean;
  cancelId?: string;
  onCancel: () => void;
}) {
  return (
    <div class="actions">
      <button
        type="button"
        id={id}
        ref={buttonRef}
        class="primary"
        disabled={disabled}
        aria-describedby={describedBy}
        onClick={onStart}
      >
        {label}
      </button>
      {running ? (
        <button type="button" id={cancelId} class="secondary" onClick={onCancel}>
          Cancel
        </button>
      ) : null}
    </div>
  );
}

/** The progress area of a running job: focused when it starts, its live region throttled (`said`). */
export function JobProgress({
  id,
  areaRef,
  titleId,
  title,
  barId,
  textId,
  progress,
  more = '',
  said,
  children,
}: {
  id: string;
  areaRef: Ref<HTMLDivElement>;
  titleId: string;
  title: string;
  barId?: string;
  textId?: string;
  progress: Progress;
  /** Said after "N%: X of Y" (bytes written, speed). */
  more?: string;
  said: string;
  /** Shown below (a warning about the save path). */
  children?: ComponentChildren;
}) {
  const pct = doneFraction(progress);
  return (
    <div class="progress" id={id} tabIndex={-1} ref={areaRef} aria-labelledby={titleId}>
      <p id={titleId} class="progress-title">
        {title}
      </p>
      <progress id={barId} max={1} value={pct} aria-labelledby={titleId} />
      <p class="status" id={textId}>
        {Math.floor(pct * 100)}%: {formatBytes(progress.covered)} of {formatBytes(progress.total)}
        {more}
      </p>
      <p class="hint">Escape or Cancel stops it; nothing half-written is left.</p>
      <p class="visually-hidden" role="status">
        {said}
      </p>
      {children}
    </div>
  );
}
