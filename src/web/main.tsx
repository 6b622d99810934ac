/** Page entry: the model, the worker, the service worker, the screen. */
import { render } from 'preact';
import { DEFAULT_SIZE, parseSize } from '../core/size';
import { FORMATS } from '../core/formats/index';
import { App } from './app';
import { workerBackend } from './bridge';
import { DEMO_KERNEL } from './demo';
import { createModel, type Where } from './model';
import { createInsideModel } from './inside/state';
import { startPwa } from './pwa';
import { BLOB_CAP, canPickFile } from './save';

const backend = workerBackend(
  () => new Worker(new URL('./worker/worker.ts', import.meta.url), { type: 'module', name: 'build' }),
);
const model = createModel({
  formats: FORMATS,
  parseSize,
  defaultSize: DEFAULT_SIZE,
  backend,
  blobCap: BLOB_CAP,
});
const inside = createInsideModel({ formats: FORMATS, backend, emulator: backend });

/** How this browser will save, as far as the page can tell before Build (the summary states the memory limit). */
function savePath(): Where {
  if (canPickFile()) return 'file';
  return 'serviceWorker' in navigator && navigator.serviceWorker.controller ? 'download' : 'blob';
}
model.savePath.value = savePath();
if ('serviceWorker' in navigator)
  navigator.serviceWorker.addEventListener('controllerchange', () => (model.savePath.value = savePath()));

const demo = DEMO_KERNEL ? () => DEMO_KERNEL!.slice() : null;

render(<App model={model} demo={demo} inside={inside} />, document.getElementById('app')!);

// A newcomer starts with the built-in demo kernel chosen: one click on Build
// gives a bootable image. Choosing a file (or dropping one) replaces it.
if (demo) void model.chooseKernel('demo.virtio', demo(), true);

// Service worker, offline and update notices, .virtio files an installed app is opened with.
startPwa({ openFile: (name, bytes) => void model.chooseKernel(name, bytes) });

// For tests and the curious: the model, read-only use only.
(window as unknown as { __model?: typeof model; __inside?: typeof inside }).__model = model;
(window as unknown as { __inside?: typeof inside }).__inside = inside;
