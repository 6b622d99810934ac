/**
 * The one screen: three steps (the unikernel, where it will run, the
 * arguments) beside a panel that is always in view (the verdict, the summary,
 * Build, progress), and the outcome below. Components read the model's
 * signals and call its actions.
 */
import type { Model } from './model';
import { KernelStep } from './kernel-step';
import { DestinationStep } from './destination-step';
import { ArgsStep } from './args-step';
import { BuildPanel, Outcome } from './build-panel';
import { Prose, useSettled } from './ui';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { InsideModel } from './inside/state';
import { InsideView } from './inside/view';
import { Notices } from './notices';
import type { BuiltImage } from './model';

/** The two views, by the URL's fragment: the builder (no fragment) and "Inside the image" (#inside). */
type View = 'build' | 'inside';
const INSIDE_HASH = '#inside';
const viewOf = (hash: string): View => (hash === INSIDE_HASH ? 'inside' : 'build');

function useView(): [View, (v: View) => void] {
  const [view, setView] = useState<View>(() => viewOf(location.hash));
  useEffect(() => {
    const on = () => setView(viewOf(location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  // After a switch (not on load), focus goes to the new view, so a screen reader starts there.
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    document.querySelector<HTMLElement>('main')?.focus({ preventScroll: true });
  }, [view]);
  const go = (v: View) => {
    if (v === 'inside') location.hash = INSIDE_HASH;
    else history.pushState(null, '', location.pathname + location.search);
    setView(v);
  };
  return [view, go];
}

/**
 * The one polite live region for settled states: a validation problem once
 * typing pauses, else the verdict once a choice is made. Hints on the page
 * change at once but are not live, so nothing is read on every keystroke.
 */
function Announcer({ model }: { model: Model }) {
  const k = model.kernel.value;
  const s = model.size.value;
  const pv = model.preview.value;
  const v = model.verdict.value;
  let text = '';
  if (k.status === 'ok') {
    if (!s.ok) text = s.message;
    else if (model.fileNameError.value) text = model.fileNameError.value;
    else if (pv.status === 'error') text = pv.message;
    else if (model.blobLimit.value) text = model.blobLimit.value;
    else if (v)
      text = `${k.demo ? 'Demo kernel' : k.name}, ${model.destination.value.name}: ${v.level === 'ok' ? 'it will run' : v.level === 'warn' ? 'it needs care' : 'it will not run'}.`;
  }
  const settled = useSettled(text.replace(/`/g, ''), 1000);
  return (
    <p class="visually-hidden" role="status" id="announcer">
      {settled}
    </p>
  );
}

export function App({ model, demo, inside }: { model: Model; demo: (() => Uint8Array) | null; inside: InsideModel }) {
  const pv = model.preview.value;
  const [view, go] = useView();
  const lookInside = (built: BuiltImage, name: string, fileSize: number) => {
    go('inside');
    void inside.openBuilt(built, name, fileSize);
  };
  return (
    <>
      <header>
        <h1>Unikernel disk builder</h1>
        <p class="lede">
          Turn a Solo5 <code>virtio</code> unikernel into a bootable disk image, or look inside one. It all happens in
          this page: your files never leave your machine, and it works offline.
        </p>
        <nav class="views" aria-label="Views">
          <a
            href="#"
            aria-current={view === 'build' ? 'page' : undefined}
            onClick={(e) => {
              e.preventDefault();
              go('build');
            }}
          >
            Build an image
          </a>
          <a href={INSIDE_HASH} aria-current={view === 'inside' ? 'page' : undefined}>
            Inside an image
          </a>
        </nav>
      </header>
      {view === 'inside' ? (
        <main tabIndex={-1} aria-label="Inside an image">
          <Notices />
          <InsideView inside={inside} />
        </main>
      ) : (
        <Builder
          model={model}
          demo={demo}
          pv={pv}
          lookInside={lookInside}
          openInside={(image, name) => {
            go('inside');
            void inside.open(image, name);
          }}
        />
      )}
      <footer>
        <p class="hint">
          Same bytes as the command-line tools:{' '}
          <code>solo5-virtio-mkimage [-f FORMAT] [--size SIZE] IMAGE KERNEL [ARGS…]</code> builds,{' '}
          <code>unikernel-disk inspect|set-args IMAGE</code> reads and changes. MBR, one FAT partition and our own boot
          loaders for BIOS and UEFI.
        </p>
      </footer>
    </>
  );
}

function Builder({
  model,
  demo,
  pv,
  lookInside,
  openInside,
}: {
  model: Model;
  demo: (() => Uint8Array) | null;
  pv: Model['preview']['value'];
  lookInside: (built: BuiltImage, name: string, fileSize: number) => void;
  openInside: (image: Blob, name: string) => void;
}) {
  return (
    <>
      <main tabIndex={-1} aria-label="Build an image">
        <div class="steps">
          <KernelStep model={model} demo={demo} openInside={openInside} />
          <DestinationStep model={model} />
          <ArgsStep model={model} />
          {pv.status === 'error' ? (
            <div class="error" id="plan-error">
              <Prose text={pv.message} />
            </div>
          ) : null}
        </div>
        <BuildPanel model={model} />
        <Outcome model={model} onLookInside={lookInside} />
      </main>
      <Announcer model={model} />
    </>
  );
}
