/**
 * The stepper's state (signals, no DOM): the emulator session of the image
 * open in the Inside view, created in the worker on the first command, the
 * last view it answered, and whether a command runs. One command at a time:
 * presses while one runs are ignored (Escape or Stop ends a long run where it
 * is). Opening another image closes the session. Unit-tested with the
 * worker module itself as the backend.
 */
import { batch, computed, signal } from '@preact/signals';
import type { EmuBackend } from '../bridge';
import type { ImageSource } from '../protocol';
import type { StepCommand, StepperInfo, StepperView } from '../../core/x86/stepper';
import { errorMessage } from '../save-job';

export type StepperStatus = 'idle' | 'starting' | 'ready' | 'running' | 'refused' | 'error';

/** Sessions are numbered page-wide, so a closed one's late answers are never taken for a new one's. */
let sessions = 0;

export function createStepperModel(backend: EmuBackend | undefined) {
  const status = signal<StepperStatus>('idle');
  const info = signal<StepperInfo | null>(null);
  const view = signal<StepperView | null>(null);
  /** The sentence for `refused` (not our loader) or `error`. */
  const message = signal('');
  /** The command running, and the instructions it has executed so far. */
  const running = signal<StepCommand | null>(null);
  const progress = signal(0);
  const available = backend !== undefined;

  let image: { source: ImageSource; name: string } | null = null;
  let session = 0;
  let started: Promise<boolean> | null = null;
  let ctl: AbortController | null = null;

  const busy = computed(() => status.value === 'starting' || status.value === 'running');

  /** The image opened in the view (null: none); closes the previous session. */
  function load(source: ImageSource | null, name = '') {
    ctl?.abort();
    if (session && backend) void backend.emulate(session, { op: 'close' }).catch(() => undefined);
    session = 0;
    started = null;
    image = source ? { source, name } : null;
    batch(() => {
      status.value = 'idle';
      info.value = null;
      view.value = null;
      message.value = '';
      running.value = null;
      progress.value = 0;
    });
  }

  async function start(): Promise<boolean> {
    if (!backend || !image) return false;
    const id = ++sessions;
    session = id;
    status.value = 'starting';
    try {
      // The machine's RAM: the trace's default (QEMU's -m 128), chosen in the worker.
      const r = await backend.emulate(id, { op: 'start', image: image.source, name: image.name });
      if (session !== id) return false;
      if (r.refused !== null) {
        batch(() => {
          status.value = 'refused';
          message.value = r.refused;
        });
        return false;
      }
      batch(() => {
        info.value = r.info;
        view.value = r.view;
        status.value = 'ready';
      });
      return true;
    } catch (e) {
      if (session === id)
        batch(() => {
          status.value = 'error';
          message.value = errorMessage(e);
        });
      return false;
    }
  }

  /** Start the session if it is not (the first command does), then nothing else: the machine at power-on. */
  function ensure(): Promise<boolean> {
    started ??= start();
    return started;
  }

  /** Run one command; ignored while another runs or when the machine cannot go on. */
  async function command(cmd: StepCommand): Promise<void> {
    if (!backend || running.value !== null || status.value === 'starting') return;
    if (!(await ensure())) return;
    const v = view.value;
    if (cmd !== 'reset' && v?.stop) return;
    const id = session;
    const c = new AbortController();
    ctl = c;
    batch(() => {
      running.value = cmd;
      progress.value = 0;
      status.value = 'running';
    });
    try {
      const next = await backend.emulate(
        id,
        { op: 'command', command: cmd },
        { signal: c.signal, onProgress: (n) => session === id && (progress.value = n) },
      );
      if (session !== id) return;
      batch(() => {
        view.value = next;
        status.value = 'ready';
      });
    } catch (e) {
      if (session === id)
        batch(() => {
          status.value = 'error';
          message.value = errorMessage(e);
        });
    } finally {
      if (session === id) running.value = null;
      if (ctl === c) ctl = null;
    }
  }

  /** Stop a long run where it is (the machine can go on from there). */
  function stop() {
    ctl?.abort();
  }

  /** Bytes of the machine's memory (at most 4 KiB), or null when there is no session. */
  async function memory(address: number, length: number): Promise<Uint8Array | null> {
    if (!backend || !session || status.value === 'refused') return null;
    return backend.emulate(session, { op: 'memory', address, length });
  }

  return { available, status, info, view, message, running, progress, busy, load, ensure, command, stop, memory };
}

export type StepperModel = ReturnType<typeof createStepperModel>;
