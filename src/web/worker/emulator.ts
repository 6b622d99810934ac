/**
 * The Inside view's emulator sessions, as a plain async function (the
 * message plumbing is in worker.ts, so this runs in tests without a
 * worker): `start` opens the image again (a slice at a time, as every job
 * does) and boots its loader in the core's LoaderRun; commands step and run
 * it (long runs in slices: progress, and a cancel leaves the machine where
 * it is); every answer is the machine's plain-data view. Commands of one
 * session run one after another.
 */
import { notOurLoader, startLoaderRun } from '../../core/disk/trace';
import type { LoaderRun } from '../../core/x86/stepper';
import type { EmuRequest, EmuStart } from '../protocol';
import { openImageDisk } from './open-image';

interface Session {
  run: LoaderRun | null;
  /** The previous request's end: commands of a session go one at a time. */
  queue: Promise<unknown>;
}

const sessions = new Map<number, Session>();

export interface EmuOptions {
  signal?: AbortSignal;
  onProgress?: (instructions: number) => void;
}

/** Answer one request of session `id` (see EmuRequest). */
export function emulate(id: number, req: EmuRequest, opts: EmuOptions = {}): Promise<unknown> {
  let s = sessions.get(id);
  if (!s) {
    s = { run: null, queue: Promise.resolve() };
    sessions.set(id, s);
  }
  const session = s;
  const next = session.queue.then(() => answer(id, session, req, opts));
  session.queue = next.catch(() => undefined);
  return next;
}

async function answer(id: number, s: Session, req: EmuRequest, opts: EmuOptions): Promise<unknown> {
  if (req.op === 'close') {
    sessions.delete(id);
    return null;
  }
  if (req.op === 'start') {
    const img = await openImageDisk(req.image, req.name, opts.signal);
    const refused = notOurLoader(img);
    if (refused !== null) return { refused } satisfies EmuStart;
    s.run = await startLoaderRun(img, req.memoryMiB);
    return { info: s.run.info, view: s.run.view(), refused: null } satisfies EmuStart;
  }
  const run = s.run;
  if (!run) throw new Error(`internal: emulator session ${id} was not started`);
  if (req.op === 'memory') return run.read(req.address, req.length);
  await run.command(req.command, { signal: opts.signal, onProgress: opts.onProgress });
  return run.view();
}
