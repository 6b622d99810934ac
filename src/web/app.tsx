/**
 * The one screen. Components read the model's signals and call its actions;
 * the only logic here is what must happen in a click handler (asking where to
 * save needs the user's gesture).
 */
import { useEffect, useRef } from 'preact/hooks';
import { formatBytes, hex } from '../core/units';
import { Layout } from './layout';
import { WhereItRuns } from './where';
import type { Model } from './model';
import { BLOB_CAP, blobSaver, canPickFile, downloadSaver, pickFileSaver } from './save';

/** Text from the core, where `backquoted` parts are commands: shown as code. */
function Prose({ text }: { text: string }) {
  return <>{text.split('`').map((part, i) => (i % 2 ? <code key={i}>{part}</code> : part))}</>;
}

function KernelPicker({ model, demo }: { model: Model; demo: (() => Uint8Array) | null }) {
  const input = useRef<HTMLInputElement>(null);
  const onFile = async (file: File | undefined) => {
    if (!file) return;
    await model.chooseKernel(file.name, new Uint8Array(await file.arrayBuffer()));
  };
  useEffect(() => {
    // Drop a kernel anywhere on the page.
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
      const f = e.dataTransfer?.files?.[0];
      if (f) {
        e.preventDefault();
        void onFile(f);
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
  return (
    <section aria-labelledby="kernel-h">
      <h2 id="kernel-h">1. Kernel</h2>
      <div class="picker">
        <label for="kernel-file" class="field-label">
          Unikernel
        </label>
        <input
          id="kernel-file"
          ref={input}
          type="file"
          aria-describedby="kernel-hint"
          disabled={model.busy.value}
          onChange={(e) => void onFile((e.currentTarget as HTMLInputElement).files?.[0])}
        />
        {demo ? <span class="or">or</span> : null}
        {demo ? (
          <button
            type="button"
            class="secondary"
            disabled={model.busy.value}
            onClick={() => void model.chooseKernel('demo.virtio', demo(), true)}
          >
            Use the demo kernel
          </button>
        ) : null}
      </div>
      <p id="kernel-hint" class="hint">
        A Solo5 <code>.virtio</code> kernel (ELF64, Multiboot). You can also drop it anywhere on this page.
      </p>
      <KernelInfo model={model} />
    </section>
  );
}

function KernelInfo({ model }: { model: Model }) {
  const k = model.kernel.value;
  if (k.status === 'none') return null;
  if (k.status === 'reading')
    return (
      <p class="status" role="status">
        Reading {k.name}…
      </p>
    );
  if (k.status === 'error')
    return (
      <div class="error" role="alert" id="kernel-error">
        <strong>{k.name}</strong> cannot be used: <Prose text={k.message} />
      </div>
    );
  const i = k.info;
  return (
    <div class="kernel-info" role="status" aria-live="polite">
      <p>
        <strong>{k.demo ? 'Demo kernel' : k.name}</strong> looks good.
      </p>
      <dl>
        <dt>Size</dt>
        <dd>{formatBytes(i.size)}</dd>
        <dt>Kind</dt>
        <dd>
          {i.format === 'binary' ? 'Binary' : i.format.toUpperCase()}, Multiboot (
          {i.source === 'aout-kludge' ? 'a.out kludge load addresses' : `${i.source} program headers`})
        </dd>
        <dt>Loads at</dt>
        <dd>
          {hex(i.loadStart)}–{hex(i.loadEnd)} ({formatBytes(i.loadEnd - i.loadStart)})
        </dd>
        <dt>Entry</dt>
        <dd>{hex(i.entry)}</dd>
        <dt>Solo5 target</dt>
        <dd>
          {i.solo5Target ??
            (k.demo
              ? 'none: the demo kernel is our own, written to the Solo5 virtio boot contract (no Solo5 inside)'
              : 'none found (no Solo5 note; it may still boot if it is a plain Multiboot kernel)')}
        </dd>
      </dl>
      {i.notes.length ? (
        <ul class="notes">
          {i.notes.map((n) => (
            <li key={n}>
              <Prose text={n} />
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

function Options({ model }: { model: Model }) {
  const size = model.size.value;
  const fmt = model.format.value;
  const busy = model.busy.value;
  const nameErr = model.fileNameError.value;
  const pv = model.preview.value;
  return (
    <section aria-labelledby="image-h">
      <h2 id="image-h">2. Image</h2>
      <div class="fields">
        <div class="field">
          <label for="args" class="field-label">
            Arguments
          </label>
          <input
            id="args"
            type="text"
            spellcheck={false}
            autocomplete="off"
            value={model.args.value}
            disabled={busy}
            aria-describedby="args-hint"
            onInput={(e) => void model.setArgs((e.currentTarget as HTMLInputElement).value)}
          />
          <p id="args-hint" class="hint">
            Passed to the unikernel on its command line.
          </p>
        </div>
        <div class="field">
          <label for="format" class="field-label">
            Format
          </label>
          <select
            id="format"
            value={fmt.id}
            disabled={busy}
            aria-describedby="format-hint"
            onChange={(e) => void model.setFormat((e.currentTarget as HTMLSelectElement).value)}
          >
            {model.formats.map((f) => (
              <option key={f.id} value={f.id}>
                {f.label}
              </option>
            ))}
          </select>
          <p id="format-hint" class="hint">
            <Prose text={fmt.usedFor} />
          </p>
        </div>
        <div class="field">
          <label for="size" class="field-label">
            Size
          </label>
          <input
            id="size"
            type="text"
            inputMode="text"
            spellcheck={false}
            autocomplete="off"
            value={model.sizeText.value}
            disabled={busy}
            aria-invalid={!size.ok}
            aria-describedby="size-hint"
            onInput={(e) => void model.setSize((e.currentTarget as HTMLInputElement).value)}
          />
          <p id="size-hint" class={size.ok ? 'hint' : 'hint invalid'} role={size.ok ? undefined : 'alert'}>
            {size.ok ? `${formatBytes(size.bytes)} disk. Use G or M, e.g. 1G, 512M.` : size.message}
          </p>
        </div>
        <div class="field">
          <label for="filename" class="field-label">
            File name
          </label>
          <input
            id="filename"
            type="text"
            spellcheck={false}
            autocomplete="off"
            value={model.fileName.value}
            disabled={busy}
            aria-invalid={!!nameErr}
            aria-describedby="filename-hint"
            onInput={(e) => model.setFileName((e.currentTarget as HTMLInputElement).value)}
          />
          <p id="filename-hint" class={nameErr ? 'hint invalid' : 'hint'}>
            {nameErr ?? 'Where the image is saved; your browser may ask.'}
          </p>
        </div>
      </div>
      {pv.status === 'error' ? (
        <div class="error" role="alert" id="plan-error">
          <Prose text={pv.message} />
        </div>
      ) : null}
      {pv.status === 'ok' ? <Layout preview={pv.value} /> : null}
    </section>
  );
}

function speed(bps: number): string {
  return bps > 0 ? `${formatBytes(Math.round(bps))}/s` : '';
}

function BuildPanel({ model }: { model: Model }) {
  const b = model.build.value;
  const onBuild = async () => {
    const fmt = model.format.value;
    const name = model.fileName.value.trim();
    const s = model.size.value;
    if (!model.canBuild.value || !s.ok) return;
    try {
      let saver;
      if (canPickFile()) {
        // First thing in the handler: the picker needs the click's user gesture.
        saver = await pickFileSaver(name, fmt);
        if (!saver) return; // the user closed the picker
      } else {
        saver = (await downloadSaver(name, fmt, s.bytes)) ?? blobSaver(name, fmt);
      }
      await model.startBuild(saver);
    } catch (e) {
      model.fail(e instanceof Error ? `Could not save the file: ${e.message}` : String(e));
    }
  };
  const building = b.phase === 'building';
  const pct = building && b.progress.total > 0 ? b.progress.covered / b.progress.total : 0;
  return (
    <section aria-labelledby="build-h">
      <h2 id="build-h">3. Build</h2>
      <div class="actions">
        <button
          type="button"
          id="build"
          class="primary"
          disabled={!model.canBuild.value}
          onClick={() => void onBuild()}
        >
          Build image
        </button>
        {building ? (
          <button type="button" id="cancel" class="secondary" onClick={() => model.cancel()}>
            Cancel
          </button>
        ) : null}
      </div>
      {building ? (
        <div class="progress">
          <progress id="progress" max={1} value={pct} aria-label="Build progress" />
          <p class="status" role="status" aria-live="polite" id="progress-text">
            {Math.floor(pct * 100)}%: {formatBytes(b.progress.covered)} of {formatBytes(b.progress.total)}
            {b.progress.written ? `, ${formatBytes(b.progress.written)} written` : ''}{' '}
            {speed(b.bytesPerSecond) ? `· ${speed(b.bytesPerSecond)}` : ''}
          </p>
          {b.where === 'blob' ? <BlobWarning /> : null}
        </div>
      ) : null}
      <Outcome model={model} />
    </section>
  );
}

/** Shown whenever the last-resort save path is in use. */
function BlobWarning() {
  return (
    <p class="warning" role="note">
      This browser can neither save to a file directly nor stream a download here, so the image is assembled in memory
      first: that needs as much memory as the file and stops at {formatBytes(BLOB_CAP)}. Chrome or Edge save directly;
      the command-line tool has no limit.
    </p>
  );
}

function Outcome({ model }: { model: Model }) {
  const b = model.build.value;
  if (b.phase === 'cancelled')
    return (
      <p class="status" role="status" id="outcome">
        Cancelled. Nothing was saved.
      </p>
    );
  if (b.phase === 'error')
    return (
      <div class="error" role="alert" id="outcome">
        <Prose text={b.message} />
      </div>
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
  const run = (model.formats.find((f) => f.id === b.formatId) ?? model.formats[0]).nextSteps(b.fileName);
  const blobNote = b.where === 'blob' ? <BlobWarning /> : null;
  return (
    <div class="done" role="status" id="outcome">
      <p>
        {where}: {formatBytes(b.fileSize)} ({b.fileSize.toLocaleString('en')} bytes) for a {formatBytes(b.diskSize)}{' '}
        disk, in {b.seconds.toFixed(1)} s.
      </p>
      <p>{run.intro}</p>
      <pre>
        <code>{run.commands.join('\n')}</code>
      </pre>
      <p class="hint">
        <Prose text={run.note} />
      </p>
      {blobNote}
    </div>
  );
}

export function App({ model, demo }: { model: Model; demo: (() => Uint8Array) | null }) {
  return (
    <>
      <header>
        <h1>Unikernel disk builder</h1>
        <p class="lede">
          Turn a Solo5 <code>virtio</code> unikernel into a bootable disk image (MBR, one FAT partition and our own BIOS
          boot loader). <strong>Everything happens in this page: your kernel never leaves your machine.</strong> It
          works offline too.
        </p>
      </header>
      <main>
        <KernelPicker model={model} demo={demo} />
        <Options model={model} />
        <WhereItRuns model={model} />
        <BuildPanel model={model} />
      </main>
      <footer>
        <p class="hint">
          Same bytes as the command-line tool:{' '}
          <code>solo5-virtio-mkimage [-f FORMAT] [--size SIZE] IMAGE KERNEL [ARGS…]</code>
        </p>
      </footer>
    </>
  );
}
