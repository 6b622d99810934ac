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

export function App({ model, demo }: { model: Model; demo: (() => Uint8Array) | null }) {
  const pv = model.preview.value;
  return (
    <>
      <header>
        <h1>Unikernel disk builder</h1>
        <p class="lede">
          Turn a Solo5 <code>virtio</code> unikernel into a bootable disk image. It all happens in this page: your
          kernel never leaves your machine, and it works offline.
        </p>
      </header>
      <main>
        <div class="steps">
          <KernelStep model={model} demo={demo} />
          <DestinationStep model={model} />
          <ArgsStep model={model} />
          {pv.status === 'error' ? (
            <div class="error" id="plan-error">
              <Prose text={pv.message} />
            </div>
          ) : null}
        </div>
        <BuildPanel model={model} />
        <Outcome model={model} />
      </main>
      <Announcer model={model} />
      <footer>
        <p class="hint">
          Same bytes as the command-line tool:{' '}
          <code>solo5-virtio-mkimage [-f FORMAT] [--size SIZE] IMAGE KERNEL [ARGS…]</code>. MBR, one FAT partition and
          our own BIOS boot loader.
        </p>
      </footer>
    </>
  );
}
