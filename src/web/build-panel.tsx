/**
 * The panel beside the steps, always in view: the verdict for the chosen
 * destination, the summary (what will be saved, and how big it will be before
 * building), Build, and the progress. The outcome (saved where, the next
 * commands) is its own section below.
 *
 * Focus, Escape and progress are the save job's view (save-job-view.tsx,
 * also the Inside view's copy): to the progress area when a build starts, to
 * the outcome when it ends, back to Build when it is cancelled; Escape
 * cancels; progress is announced at most every five seconds.
 */
import { useLayoutEffect, useRef } from 'preact/hooks';
import { formatBytes } from '../core/units';
import type { BuildState, BuiltImage, Model } from './model';
import { BLOB_CAP } from './save';
import { doneFraction, JobButtons, JobProgress, useSaveJob } from './save-job-view';
import { NextSteps } from './next-steps';
import { Notices } from './notices';
import { Prose } from './ui';

const LEVEL = {
  ok: { icon: '✓', words: 'Will run on' },
  warn: { icon: '!', words: 'Needs care on' },
  fail: { icon: '✕', words: 'Will not run on' },
} as const;

function Verdict({ model }: { model: Model }) {
  const v = model.verdict.value;
  const d = model.destination.value;
  if (!v) return null;
  const l = LEVEL[v.level];
  return (
    <section class={`verdict v-${v.level}`} aria-labelledby="verdict-h" id="verdict" data-level={v.level}>
      <h2 id="verdict-h">
        <span class="badge" aria-hidden="true">
          {l.icon}
        </span>{' '}
        {l.words} {d.name}
      </h2>
      {v.sentences.map((s, i) => (
        <p key={i}>
          <Prose text={s} />
        </p>
      ))}
      {v.why ? (
        <details class="why" id="verdict-why">
          <summary>Why</summary>
          {v.why.map((s, i) => (
            <p key={i}>
              <Prose text={s} />
            </p>
          ))}
        </details>
      ) : null}
      {/* Facts, not problems, and long: behind a disclosure, so the panel (and the notices under Build) stay in view. */}
      <details class="why" id="verdict-firmware">
        <summary>Firmware: BIOS or UEFI</summary>
        {v.firmware.map((s, i) => (
          <p key={i}>
            <Prose text={s} />
          </p>
        ))}
      </details>
    </section>
  );
}

/** "1 GiB", "about 93 KiB", "measuring…": the file's size before building. */
function expectedText(model: Model): string {
  const e = model.expected.value;
  if (e.status === 'ok') return (e.measured ? 'about ' : '') + formatBytes(e.bytes);
  if (e.status === 'measuring') return 'size being measured…';
  return '';
}

function Summary({ model }: { model: Model }) {
  const s = model.size.value;
  const fmt = model.format.value;
  const path = model.savePath.value;
  const exp = expectedText(model);
  const limit = model.blobLimit.value;
  return (
    <div class="summary" id="summary">
      <p class="sum-main">
        {s.ok ? `${formatBytes(s.bytes)} disk` : 'Disk'} → <strong>{model.fileName.value.trim() || '…'}</strong>
      </p>
      <p class="sum-sub">
        {fmt.label.replace(/\s*\(.*\)$/, '')}
        {exp ? ` · ${exp} ${path === 'file' ? 'file' : 'download'}` : ''}
      </p>
      {path === 'blob' ? (
        <p class={limit ? 'sum-note invalid' : 'sum-note'} id="blob-limit">
          {limit ?? `This browser saves through memory: at most ${formatBytes(BLOB_CAP)} of output.`}
        </p>
      ) : null}
    </div>
  );
}

export function BuildPanel({ model }: { model: Model }) {
  const b = model.build.value;
  const dialog = useRef<HTMLDialogElement>(null);
  const building = b.phase === 'building';
  const job = useSaveJob({
    phase: building ? 'running' : b.phase,
    busy: () => model.busy.value,
    cancel: () => model.cancel(),
    start: (saver) => model.startBuild(saver),
    fail: (text) => model.fail(text),
    // done and error: the outcome focuses itself (it renders on its own).
    said: building ? `Building: ${Math.floor(doneFraction(b.progress) * 100)}%` : '',
  });

  const onBuild = async (confirmed = false) => {
    const s = model.size.value;
    if (!model.canBuild.value || !s.ok) return;
    if (model.large.value && !confirmed) {
      dialog.current?.showModal();
      return;
    }
    await job.save(model.fileName.value.trim(), model.format.value, s.bytes);
  };

  const e = model.expected.value;
  const bigText = e.status === 'ok' ? formatBytes(e.bytes) : '';
  return (
    <div class="panel">
      <Verdict model={model} />
      <section class="buildbar" aria-label="Build">
        <Summary model={model} />
        <JobButtons
          id="build"
          buttonRef={job.button}
          label="Build image"
          describedBy="summary"
          disabled={!model.canBuild.value}
          onStart={() => void onBuild()}
          running={building}
          cancelId="cancel"
          onCancel={() => model.cancel()}
        />
        <Notices />
      </section>
      {building ? (
        <JobProgress
          id="progress-area"
          areaRef={job.progressArea}
          titleId="progress-h"
          title={`Building ${b.fileName}…`}
          barId="progress"
          textId="progress-text"
          progress={b.progress}
          more={
            (b.progress.written ? `, ${formatBytes(b.progress.written)} written` : '') +
            (b.bytesPerSecond > 0 ? ` · ${formatBytes(Math.round(b.bytesPerSecond))}/s` : '')
          }
          said={job.said}
        >
          {b.where === 'blob' ? <BlobWarning /> : null}
        </JobProgress>
      ) : null}
      <dialog ref={dialog} aria-labelledby="confirm-h" aria-describedby="confirm-d" class="confirm">
        <h2 id="confirm-h">Save a {bigText} file?</h2>
        <p id="confirm-d">
          The image is {bigText} and every byte of it is written{' '}
          {model.savePath.value === 'file' ? 'to the file you choose' : 'through your browser’s downloads'}, most of
          them zeros. A unikernel rarely needs more than 1 GiB; a smaller Size is quicker.
        </p>
        <div class="actions">
          <button
            type="button"
            class="primary"
            onClick={() => {
              dialog.current?.close();
              void onBuild(true);
            }}
          >
            Build the {bigText} image
          </button>
          <button type="button" class="secondary" onClick={() => dialog.current?.close()}>
            Back
          </button>
        </div>
      </dialog>
    </div>
  );
}

/** "40 ms", "2.4 s", "95 s". */
function tookText(seconds: number): string {
  if (seconds < 1) return `${Math.max(1, Math.round(seconds * 1000))} ms`;
  return seconds < 10 ? `${seconds.toFixed(1)} s` : `${Math.round(seconds)} s`;
}

/** Shown whenever the last-resort save path is in use. */
function BlobWarning() {
  return (
    <p class="warning">
      This browser can neither save to a file directly nor stream a download here, so the image is assembled in memory
      first: that needs as much memory as the file and stops at {formatBytes(BLOB_CAP)}. Chrome or Edge save directly;
      the command-line tool has no limit.
    </p>
  );
}

/** What happened: saved where, how big, how long; then what to do next. Focused when a build ends. */
export function Outcome({
  model,
  onLookInside,
}: {
  model: Model;
  /** Open the image just built in the Inside view. */
  onLookInside?: (built: BuiltImage, name: string, fileSize: number) => void;
}) {
  const b = model.build.value;
  const prev = useRef<BuildState['phase']>(b.phase);
  useLayoutEffect(() => {
    const was = prev.current;
    prev.current = b.phase;
    if (b.phase !== was && (b.phase === 'done' || b.phase === 'error')) {
      const o = document.getElementById('outcome');
      o?.focus({ preventScroll: true });
      o?.scrollIntoView({ block: 'nearest' });
    }
  }, [b.phase]);
  if (b.phase === 'cancelled')
    return (
      <section class="outcome" id="outcome" tabIndex={-1} aria-label="Result">
        <p role="status">Cancelled. Nothing was saved.</p>
      </section>
    );
  if (b.phase === 'error')
    return (
      <section class="outcome" id="outcome" tabIndex={-1} aria-label="Result">
        <div class="error" role="alert">
          <Prose text={b.message} />
        </div>
      </section>
    );
  if (b.phase !== 'done') return null;
  const where =
    b.where === 'file' ? (
      <>
        Saved to the file you chose, <strong>{b.fileName}</strong>
      </>
    ) : b.where === 'download' ? (
      <>
        Sent to your browser’s downloads as <strong>{b.fileName}</strong>
      </>
    ) : (
      <>
        Downloaded from memory as{' '}
        <a href={b.url} download={b.fileName}>
          {b.fileName}
        </a>
      </>
    );
  const dest = model.destinations.find((d) => d.id === b.destinationId) ?? model.destination.value;
  return (
    <section class="outcome done" id="outcome" tabIndex={-1} aria-labelledby="outcome-h">
      <h2 id="outcome-h">
        <span class="badge" aria-hidden="true">
          ✓
        </span>{' '}
        Done in {tookText(b.seconds)}
      </h2>
      <p>
        {where}: {formatBytes(b.fileSize)} ({b.fileSize.toLocaleString('en')} bytes) holding a {formatBytes(b.diskSize)}{' '}
        disk.
      </p>
      {b.where === 'blob' ? <BlobWarning /> : null}
      {onLookInside ? (
        <p class="look-inside">
          <button type="button" class="secondary small" onClick={() => onLookInside(b.built, b.fileName, b.fileSize)}>
            Look inside {b.fileName}
          </button>
        </p>
      ) : null}
      <NextSteps steps={b.steps} destination={dest.name} traps={dest.traps} />
    </section>
  );
}
