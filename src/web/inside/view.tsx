/**
 * "Inside the image": open any image file (drop it, pick it with "Disk
 * image", or open the one just built), read it in the worker, and show what
 * is inside in words, the disk to scale, how it boots, and a form to save a
 * copy with other arguments in the format it came in.
 *
 * Focus: to the report when an image is open; the save of a copy follows the
 * build's rules (save-job-view.tsx): to the progress, to the save outcome
 * when it ends, back to Save on cancel, Escape cancels. Errors are one alert
 * with the core's sentence.
 */
import { useEffect, useLayoutEffect, useRef } from 'preact/hooks';
import { formatBytes } from '../../core/units';
import { findFormat } from '../../core/formats/index';
import { MAX_CMDLINE } from '../../core/boot/index';
import type { InsideModel, SaveState } from './state';
import type { ImageReport } from '../protocol';
import { Report } from './report';
import { DiskMapView } from './disk-map';
import { WalkthroughView } from './walkthrough';
import { Stepper } from './stepper';
import { doneFraction, JobButtons, JobProgress, useSaveJob } from '../save-job-view';
import { Prose, showInInput, TextField, usePageDrop } from '../ui';
import './inside.css';

function OpenStep({ inside }: { inside: InsideModel }) {
  const input = useRef<HTMLInputElement>(null);
  const img = inside.image.value;
  const busy = inside.busy.value;
  // The native picker shows what is open, never "No file chosen" (a dropped file, the image just built).
  useEffect(() => {
    const el = input.current;
    if (!el || img.status !== 'ok') return;
    if ('build' in img.image) {
      // The image just downloaded, read from its plan: no file to show; the status line names it.
      el.value = '';
      return;
    }
    showInInput(el, img.image instanceof File ? img.image : new File([img.image], img.name));
  }, [img]);
  // Drop an image anywhere on the page while this view is shown.
  usePageDrop(
    (f) => void inside.open(f, f.name),
    () => inside.busy.value,
  );
  return (
    <section class="step" aria-labelledby="image-h">
      <h2 id="image-h">Open an image</h2>
      <div class="drop">
        <div class="drop-row">
          <p class="drop-title" id="image-hint">
            Drop a disk image here (raw, GCE tar.gz, qcow2, VHD, VMDK or VDI, any size), or
          </p>
          <label for="image-file" class="visually-hidden">
            Disk image
          </label>
          <input
            id="image-file"
            ref={input}
            type="file"
            aria-describedby="image-hint image-status"
            disabled={busy}
            onChange={(e) => {
              const f = (e.currentTarget as HTMLInputElement).files?.[0];
              if (f) void inside.open(f, f.name);
            }}
          />
        </div>
        {img.status === 'error' ? (
          <div class="error" role="alert" id="image-error">
            <strong>{img.name}</strong> cannot be read: <Prose text={img.message} />
          </div>
        ) : (
          <p id="image-status" class="kernel-status muted">
            {img.status === 'opening'
              ? `Reading ${img.name}…`
              : img.status === 'ok'
                ? `${img.name} is open.`
                : 'Only the structures and the kernel are read: the file never leaves your machine.'}
          </p>
        )}
      </div>
    </section>
  );
}

function SaveOutcome({ s }: { s: SaveState }) {
  if (s.phase === 'cancelled')
    return (
      <div class="outcome" id="copy-outcome" tabIndex={-1}>
        <p role="status">Cancelled. Nothing was saved.</p>
      </div>
    );
  if (s.phase === 'error')
    return (
      <div class="outcome" id="copy-outcome" tabIndex={-1}>
        <div class="error" role="alert">
          <Prose text={s.message} />
        </div>
      </div>
    );
  if (s.phase !== 'done') return null;
  return (
    <div class="outcome done" id="copy-outcome" tabIndex={-1} aria-labelledby="copy-done-h">
      <h3 id="copy-done-h">
        <span class="badge" aria-hidden="true">
          ✓
        </span>{' '}
        Saved{' '}
        {s.where === 'blob' && s.url ? (
          <a href={s.url} download={s.fileName}>
            {s.fileName}
          </a>
        ) : (
          <strong>{s.fileName}</strong>
        )}
      </h3>
      <p>
        {formatBytes(s.fileSize)} ({s.fileSize.toLocaleString('en')} bytes) holding the same {formatBytes(s.diskSize)}{' '}
        disk. The command line was <code>{s.before}</code>, now <code>{s.after}</code>.
      </p>
    </div>
  );
}

/** Why the arguments cannot be changed, from the core's refusal (setArgsRefusal): never guessed from the loader's kind alone. */
function refusalWords(r: ImageReport): string {
  const instead = 'build a new image from the kernel instead.';
  if (r.argsRefusal?.code === 'PARAMS_DAMAGED')
    return `This image's boot loader is ours, but its parameter block is damaged (see Checks above), so this page does not rewrite its command line, which would hide the damage; ${instead}`;
  if (r.inspection.bootloader.kind === 'grub')
    return `This image boots with GRUB, whose command line (in grub.cfg or its core image) this page does not rewrite; ${instead}`;
  return `This image has no boot loader this page knows (ours or SYSLINUX), so it has no command line to rewrite; ${instead}`;
}

function CopyStep({ inside }: { inside: InsideModel }) {
  const r = inside.report.value!;
  const fmt = inside.format.value;
  const s = inside.save.value;
  const saving = s.phase === 'saving';
  const job = useSaveJob({
    phase: saving ? 'running' : s.phase,
    busy: () => inside.busy.value,
    cancel: () => inside.cancel(),
    start: (saver) => inside.startSave(saver),
    fail: (text) => inside.fail(text),
    focusOutcome: () => document.getElementById('copy-outcome')?.focus(),
    said: saving
      ? `${s.progress.stage === 'reading' ? 'Reading' : 'Saving'}: ${Math.floor(doneFraction(s.progress) * 100)}%`
      : '',
  });
  const n = inside.cmdlineBytes.value;
  const argsError = inside.argsError.value;
  const nameError = inside.fileNameError.value;

  const onSave = () => {
    if (!inside.canSave.value || !fmt) return;
    void job.save(inside.fileName.value.trim(), fmt, r.map.size);
  };

  if (!r.canSetArgs) {
    return (
      <section class="step" aria-labelledby="copy-h">
        <h2 id="copy-h">Change the arguments</h2>
        <p class="hint" id="args-refused">
          {refusalWords(r)}
        </p>
      </section>
    );
  }
  return (
    <section class="step" aria-labelledby="copy-h">
      <h2 id="copy-h">Change the arguments and save a copy</h2>
      <TextField
        id="new-args"
        label="New arguments"
        wide
        value={inside.args.value}
        disabled={saving}
        onInput={(v) => inside.setArgs(v)}
        problem={argsError || null}
        hint={
          <>
            The kernel gets <code id="new-cmdline">{inside.kernelLine.value}</code>
            {inside.unchanged.value ? ' (unchanged)' : ''}.
          </>
        }
        count={{ text: `${n.toLocaleString('en')} / ${MAX_CMDLINE.toLocaleString('en')} bytes`, over: n > MAX_CMDLINE }}
      />
      <TextField
        id="copy-name"
        label="Name of the copy"
        value={inside.fileName.value}
        disabled={saving}
        onInput={(v) => inside.setFileName(v)}
        problem={nameError || null}
        hint={`In the format it came in (${fmt?.label ?? r.map.formatId}); the image you opened is not changed.`}
      />
      <JobButtons
        id="save-copy"
        buttonRef={job.button}
        label="Save a copy"
        disabled={!inside.canSave.value}
        onStart={onSave}
        running={saving}
        onCancel={() => inside.cancel()}
      />
      {saving ? (
        <JobProgress
          id="copy-progress"
          areaRef={job.progressArea}
          titleId="copy-progress-h"
          title={`${s.progress.stage === 'reading' ? 'Reading the image' : `Saving ${s.fileName}`}…`}
          progress={s.progress}
          said={job.said}
        />
      ) : null}
      <SaveOutcome s={s} />
    </section>
  );
}

/**
 * Printed only (the print stylesheet keeps the walkthrough alone): which
 * image the handout is about, its format and its command line.
 */
function PrintHead({ name, report }: { name: string; report: ImageReport }) {
  const i = report.inspection;
  const cmdline = i.bootloader.cmdline;
  return (
    <header class="print-head" id="inside-print-head">
      <h2>How {name} boots</h2>
      <p>
        {findFormat(i.format)?.label ?? i.format} · {formatBytes(report.fileSize)} file holding a {formatBytes(i.size)}{' '}
        disk · command line {cmdline === null ? 'unknown' : <code>{cmdline}</code>}
      </p>
    </header>
  );
}

export function InsideView({ inside }: { inside: InsideModel }) {
  const img = inside.image.value;
  const results = useRef<HTMLElement>(null);
  const prev = useRef(img.status);
  useLayoutEffect(() => {
    const was = prev.current;
    prev.current = img.status;
    if (img.status === 'ok' && was !== 'ok') results.current?.focus({ preventScroll: false });
  }, [img.status, img.status === 'ok' ? img.report : null]);
  const r = img.status === 'ok' ? img.report : null;
  return (
    <div class="inside">
      {r && img.status === 'ok' ? <PrintHead name={img.name} report={r} /> : null}
      <OpenStep inside={inside} />
      {r ? (
        <>
          <section class="step" id="inside-report" tabIndex={-1} ref={results} aria-labelledby="report-h">
            <h2 id="report-h">What is inside {img.status === 'ok' ? img.name : ''}</h2>
            <Report report={r} />
          </section>
          <section class="step" aria-labelledby="map-h">
            <h2 id="map-h">The disk to scale</h2>
            <DiskMapView map={r.map} />
          </section>
          <CopyStep inside={inside} />
          <section class="step walkthrough-part" aria-labelledby="boot-h">
            <h2 id="boot-h">How it boots</h2>
            <Stepper stepper={inside.stepper} walkthrough={r.walkthrough} />
            <WalkthroughView walkthrough={r.walkthrough} />
          </section>
        </>
      ) : null}
    </div>
  );
}
