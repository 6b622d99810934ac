/**
 * Small pieces shared by the page's components: prose from the core, a
 * settled-value hook for calm announcements, a copy button, and the file
 * input kept in step with what is open plus the page-wide drop of a file
 * (the kernel step and the Inside view), and the one-line text field.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';

/** Text from the core, where `backquoted` parts are commands: shown as code. */
export function Prose({ text }: { text: string }) {
  return <>{text.split('`').map((part, i) => (i % 2 ? <code key={i}>{part}</code> : part))}</>;
}

/**
 * The value once it has stopped changing for `ms` (typing paused, a choice
 * made): what live regions announce, so a screen reader hears settled states
 * rather than every keystroke.
 */
export function useSettled<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return settled;
}

/**
 * The value at most once every `ms`: the first at once, then the latest one
 * per interval (progress for a screen reader, every few seconds).
 */
export function useThrottled<T>(value: T, ms: number): T {
  const [shown, setShown] = useState(value);
  const last = useRef(0);
  const latest = useRef(value);
  latest.current = value;
  useEffect(() => {
    const wait = last.current + ms - Date.now();
    if (wait <= 0) {
      last.current = Date.now();
      setShown(value);
      return;
    }
    const t = setTimeout(() => {
      last.current = Date.now();
      setShown(latest.current);
    }, wait);
    return () => clearTimeout(t);
  }, [value, ms]);
  return shown;
}

/** A button that copies `text`; says "Copied" for a moment (and to screen readers, once). */
export function CopyButton({ text, describedBy }: { text: string; describedBy?: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  useEffect(() => {
    if (state === 'idle') return;
    const t = setTimeout(() => setState('idle'), 2500);
    return () => clearTimeout(t);
  }, [state]);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setState('copied');
    } catch {
      setState('failed');
    }
  };
  return (
    <span class="copy">
      <button type="button" class="secondary small" aria-describedby={describedBy} onClick={() => void copy()}>
        {state === 'copied' ? 'Copied' : 'Copy'}
      </button>
      <span class="visually-hidden" role="status">
        {state === 'copied' ? 'Copied to the clipboard.' : state === 'failed' ? 'Could not copy; select the text.' : ''}
      </span>
    </span>
  );
}

/** Put `file` in the input, so what the browser shows is what is loaded (never "No file chosen"). */
export function showInInput(input: HTMLInputElement | null, file: File | FileList): void {
  if (!input) return;
  try {
    if (file instanceof File) {
      if (input.files?.length === 1 && input.files[0].name === file.name && input.files[0].size === file.size) return;
      const dt = new DataTransfer();
      dt.items.add(file);
      input.files = dt.files;
    } else input.files = file;
  } catch {
    /* an old browser: the status line still says what is loaded */
  }
}

/**
 * A file dropped anywhere on the page, while the component is shown: the
 * body gets the `dragging` class while a file is over it, and `onDrop` gets
 * the first file (and all of them) unless `busy()` says a job is running.
 */
export function usePageDrop(onDrop: (file: File, files: FileList) => void, busy: () => boolean): void {
  const handler = useRef(onDrop);
  handler.current = onDrop;
  const isBusy = useRef(busy);
  isBusy.current = busy;
  useEffect(() => {
    const over = (e: DragEvent) => {
      if (e.dataTransfer?.types.includes('Files')) {
        e.preventDefault();
        document.body.classList.add('dragging');
      }
    };
    const leave = (e: DragEvent) => {
      if (!e.relatedTarget) document.body.classList.remove('dragging');
    };
    const drop = (e: DragEvent) => {
      document.body.classList.remove('dragging');
      const files = e.dataTransfer?.files;
      const f = files?.[0];
      if (f) {
        e.preventDefault();
        if (!isBusy.current()) handler.current(f, files!);
      }
    };
    document.addEventListener('dragover', over);
    document.addEventListener('dragleave', leave);
    document.addEventListener('drop', drop);
    return () => {
      document.removeEventListener('dragover', over);
      document.removeEventListener('dragleave', leave);
      document.removeEventListener('drop', drop);
    };
  }, []);
}

/**
 * A one-line text field as every form on the page draws it: a label, the
 * input, and below it a hint that turns into the problem when there is one
 * (and, for arguments, a byte counter). The ids stay the caller's: tests and
 * `aria-describedby` name them.
 */
export function TextField(p: {
  id: string;
  label: string;
  /** The label is read by screen readers only (a heading already says it). */
  labelHidden?: boolean;
  value: string;
  onInput: (value: string) => void;
  disabled?: boolean;
  wide?: boolean;
  placeholder?: string;
  /** What is wrong with the value (shown in place of the hint), or null. */
  problem?: string | null;
  /** The hint when nothing is wrong; omit for a field described elsewhere (`describedBy`). */
  hint?: ComponentChildren;
  /** Right of the hint: a counter, in its own element `${id}-count`. */
  count?: { text: string; over: boolean };
  /** Another element that describes the field (a hint shared by several fields). */
  describedBy?: string;
}) {
  const hintId = p.hint !== undefined ? `${p.id}-hint` : undefined;
  const countId = p.count ? `${p.id}-count` : undefined;
  const described = [hintId, countId, p.describedBy].filter(Boolean).join(' ') || undefined;
  const hint =
    hintId !== undefined ? (
      <p id={hintId} class={p.problem ? 'hint invalid' : 'hint'}>
        {p.problem ? <Prose text={p.problem} /> : p.hint}
      </p>
    ) : null;
  return (
    <div class="field">
      <label for={p.id} class={p.labelHidden ? 'visually-hidden' : 'field-label'}>
        {p.label}
      </label>
      <input
        id={p.id}
        type="text"
        class={p.wide ? 'wide' : undefined}
        spellcheck={false}
        autocomplete="off"
        placeholder={p.placeholder}
        value={p.value}
        disabled={p.disabled}
        aria-invalid={p.problem !== undefined || p.count ? !!p.problem || !!p.count?.over : undefined}
        aria-describedby={described}
        onInput={(e) => p.onInput((e.currentTarget as HTMLInputElement).value)}
      />
      {p.count ? (
        <div class="args-foot">
          {hint}
          <p id={countId} class={p.count.over || p.problem ? 'hint count invalid' : 'hint count'}>
            {p.count.text}
          </p>
        </div>
      ) : (
        hint
      )}
    </div>
  );
}
