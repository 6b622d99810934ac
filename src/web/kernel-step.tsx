/**
 * Step 1: the unikernel. A drop zone (the whole page takes drops too), the
 * native file input kept in step with what is loaded (it shows "demo.virtio"
 * when the demo is chosen, never "No file chosen"), one line saying what was
 * found, and the internals (addresses, entry, notes, the disk layout) behind a
 * disclosure. Nothing here is a live region but the error: details are read
 * when the user opens them.
 */
import { useEffect, useRef } from 'preact/hooks';
import { formatBytes, hex } from '../core/units';
import { describeDevices } from '../core/solo5';
import { Layout } from './layout';
import type { KernelState, Model } from './model';
import { Prose, showInInput, usePageDrop } from './ui';

function kindText(i: { format: string; source: string }): string {
  const f = i.format === 'binary' ? 'Multiboot binary' : `${i.format.toUpperCase()} Multiboot`;
  return i.source === 'aout-kludge' ? f : `${f}, ${i.source} program headers`;
}

export function KernelStep({
  model,
  demo,
  openInside,
}: {
  model: Model;
  demo: (() => Uint8Array) | null;
  /** Open a disk image chosen here by mistake in "Inside an image". */
  openInside?: (image: Blob, name: string) => void;
}) {
  const input = useRef<HTMLInputElement>(null);
  const k = model.kernel.value;
  const busy = model.busy.value;
  const onFile = async (file: File | undefined) => {
    if (!file) return;
    await model.chooseKernel(file.name, file); // refused by its size before it is read
  };
  // The demo is loaded by the page, not the input: show it there too.
  useEffect(() => {
    if (k.status === 'ok' && k.demo) showInInput(input.current, new File([k.bytes as Uint8Array<ArrayBuffer>], k.name));
  }, [k]);
  // Drop a kernel anywhere on the page.
  usePageDrop(
    (f, files) => {
      showInInput(input.current, files.length === 1 ? files : f);
      void onFile(f);
    },
    () => model.busy.value,
  );
  const isDemo = k.status === 'ok' && k.demo;
  return (
    <section class="step">
      <h2 id="kernel-h">
        <span class="num" aria-hidden="true">
          1
        </span>{' '}
        <span id="kernel-label">Unikernel</span>
      </h2>
      <div class="drop">
        <div class="drop-row">
          <p class="drop-title" id="kernel-hint">
            Drop a <code>.virtio</code> unikernel here, or
          </p>
          <input
            id="kernel-file"
            ref={input}
            type="file"
            aria-labelledby="kernel-label"
            aria-describedby="kernel-hint kernel-status kernel-mirage"
            disabled={busy}
            onChange={(e) => void onFile((e.currentTarget as HTMLInputElement).files?.[0])}
          />
          {demo && !isDemo ? (
            <button
              type="button"
              class="secondary small"
              disabled={busy}
              onClick={() => void model.chooseKernel('demo.virtio', demo(), true)}
            >
              Use the demo kernel
            </button>
          ) : null}
        </div>
        <KernelStatus k={k} openInside={openInside} />
        <p class="hint" id="kernel-mirage">
          From MirageOS: <code>mirage configure -t virtio</code>, then <code>make</code>, builds the{' '}
          <code>.virtio</code> file.
        </p>
      </div>
      {k.status === 'ok' ? <KernelDetails model={model} /> : null}
    </section>
  );
}

function KernelStatus({ k, openInside }: { k: KernelState; openInside?: (image: Blob, name: string) => void }) {
  if (k.status === 'none') return <p id="kernel-status" class="kernel-status muted" />;
  if (k.status === 'reading')
    return (
      <p id="kernel-status" class="kernel-status muted">
        Reading {k.name}…
      </p>
    );
  if (k.status === 'error')
    return (
      <div class="error" role="alert" id="kernel-error">
        <strong>{k.name}</strong> cannot be used: <Prose text={k.message} />
        {k.image && openInside ? (
          <p class="look-inside">
            <button type="button" class="secondary small" onClick={() => openInside(k.image!, k.name)}>
              Look inside {k.name}
            </button>
          </p>
        ) : null}
      </div>
    );
  const i = k.info;
  return (
    <p id="kernel-status" class="kernel-status ok">
      <span class="tick" aria-hidden="true">
        ✓
      </span>{' '}
      <strong>{k.demo ? 'Demo kernel' : k.name}</strong>
      {k.demo ? <span class="muted"> ({k.name}, built in)</span> : null}: {formatBytes(i.size)}, {kindText(i)};{' '}
      {i.solo5Target ? `Solo5 ${i.solo5Target}; ` : ''}
      {i.solo5Manifest ? (
        <>
          declares <Prose text={describeDevices(i.devices)} />.
        </>
      ) : (
        'no Solo5 manifest, so no devices.'
      )}
    </p>
  );
}

function KernelDetails({ model }: { model: Model }) {
  const k = model.kernel.value;
  if (k.status !== 'ok') return null;
  const i = k.info;
  const pv = model.preview.value;
  return (
    <details class="more" id="kernel-details">
      <summary>Kernel internals and disk layout</summary>
      <div class="kernel-info">
        <dl>
          <dt>File</dt>
          <dd>
            {k.name} ({formatBytes(i.size)})
          </dd>
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
                : 'none found (no Solo5 ABI note; it may still boot if it is a plain Multiboot kernel)')}
          </dd>
          <dt>Devices</dt>
          <dd>
            {i.devices.length
              ? i.devices.map((d, n) => (
                  <span key={d.name}>
                    {n ? ', ' : ''}
                    <code>{d.name}</code> ({d.kind === 'net' ? 'network' : 'block'})
                  </span>
                ))
              : i.solo5Manifest
                ? 'none declared in its Solo5 manifest'
                : 'no Solo5 manifest'}
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
      {pv.status === 'ok' ? <Layout preview={pv.value} /> : null}
    </details>
  );
}
