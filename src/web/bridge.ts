/**
 * The page's side of the worker: one lazily started worker, calls as
 * promises, cancellation through AbortSignal, progress through a callback.
 * Errors arrive as `BuildError` with the core's code and sentence.
 */
import type {
  EmuReply,
  EmuRequest,
  CopyRequest,
  CopyResult,
  ImageReport,
  ImageSource,
  BuildRequest,
  BuildResult,
  FromWorker,
  KernelSummary,
  PreviewResult,
  Progress,
  SinkSpec,
  ToWorker,
} from './protocol';
import { sinkTransfer } from './protocol';

export class BuildError extends Error {
  readonly code?: string;
  readonly cancelled: boolean;
  constructor(message: string, code?: string, cancelled = false) {
    super(message);
    this.name = 'BuildError';
    this.code = code;
    this.cancelled = cancelled;
  }
}

/** What the model needs from the worker; tests provide a fake. */
export interface Backend {
  inspect(kernel: Uint8Array): Promise<KernelSummary>;
  /** `sizeStep`: the chosen format's size unit, so that a suggested size is one it accepts. */
  preview(kernel: Uint8Array, size: number, args: string, sizeStep?: number): Promise<PreviewResult>;
  build(
    req: BuildRequest,
    sink: SinkSpec,
    opts: { signal?: AbortSignal; onProgress?: (p: Progress) => void },
  ): Promise<BuildResult>;
  /** The exact length of the file `build` would write, without writing it. */
  measure?(req: BuildRequest, opts: { signal?: AbortSignal }): Promise<number>;
}

/** What the Inside view needs from the worker; tests provide a fake. */
export interface InsideBackend {
  openImage(image: ImageSource, name: string, opts?: { signal?: AbortSignal }): Promise<ImageReport>;
  saveCopy(
    req: CopyRequest,
    sink: SinkSpec,
    opts: { signal?: AbortSignal; onProgress?: (p: Progress) => void },
  ): Promise<CopyResult>;
}

/** The emulator's sessions ("How it boots"); tests provide a fake or the worker module itself. */
export interface EmuBackend {
  emulate<R extends EmuRequest>(
    session: number,
    req: R,
    opts?: { signal?: AbortSignal; onProgress?: (instructions: number) => void },
  ): Promise<EmuReply<R>>;
}

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

type Pending = {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  onProgress?: (p: Progress) => void;
  onInstructions?: (n: number) => void;
};

export function workerBackend(makeWorker: () => Worker): Backend & InsideBackend & EmuBackend {
  let worker: Worker | null = null;
  let next = 1;
  const pending = new Map<number, Pending>();

  const get = () => {
    if (!worker) {
      worker = makeWorker();
      worker.onmessage = (e: MessageEvent<FromWorker>) => {
        const m = e.data;
        const p = pending.get(m.id);
        if (!p) return;
        if (m.type === 'progress') p.onProgress?.(m.progress);
        else if (m.type === 'emu-progress') p.onInstructions?.(m.instructions);
        else {
          pending.delete(m.id);
          if (m.type === 'result') p.resolve(m.value);
          else p.reject(new BuildError(m.message, m.code, m.cancelled));
        }
      };
      worker.onerror = (e) => {
        e.preventDefault();
        for (const p of pending.values())
          p.reject(new BuildError('The build worker stopped unexpectedly; reload the page and try again.'));
        pending.clear();
        worker = null;
      };
    }
    return worker;
  };

  function call<T>(
    msg: WithoutId<Exclude<ToWorker, { type: 'cancel' }>>,
    transfer: Transferable[],
    opts: { signal?: AbortSignal; onProgress?: (p: Progress) => void; onInstructions?: (n: number) => void } = {},
  ): Promise<T> {
    const id = next++;
    const w = get();
    return new Promise<T>((resolve, reject) => {
      pending.set(id, {
        resolve: resolve as (v: unknown) => void,
        reject,
        onProgress: opts.onProgress,
        onInstructions: opts.onInstructions,
      });
      opts.signal?.addEventListener('abort', () => w.postMessage({ type: 'cancel', id } satisfies ToWorker), {
        once: true,
      });
      w.postMessage({ ...msg, id } as ToWorker, transfer);
    });
  }

  return {
    inspect: (kernel) => call({ type: 'inspect', kernel }, []),
    preview: (kernel, size, args, sizeStep) => call({ type: 'preview', kernel, size, args, sizeStep }, []),
    build: (req, sink, opts) => call({ type: 'build', req, sink }, sinkTransfer(sink), opts),
    measure: (req, opts) => call({ type: 'measure', req }, [], opts),
    openImage: (image, name, opts) => call({ type: 'open-image', image, name }, [], opts),
    saveCopy: (req, sink, opts) => call({ type: 'save-copy', req, sink }, sinkTransfer(sink), opts),
    emulate: (session, req, opts) =>
      call({ type: 'emu', session, req }, [], { signal: opts?.signal, onInstructions: opts?.onProgress }),
  };
}
