/**
 * "How it boots", run: the image's own loader in the emulator (the worker
 * holds the machine; stepper-state.ts drives it). Controls, each with a key
 * that works while focus is inside the stepper (S, O, N, K, R; Escape
 * stops a long run): Step, Step over (calls, INT, REP), Run to the next
 * step, Run to the kernel, Back to the start. The current instruction is
 * highlighted in the loader's disassembly with the walkthrough's words for
 * its step beside it; then the registers (cpu-panel.tsx), the console, and
 * the memory (memory-map.tsx). A status line says where the machine is, so
 * a screen reader hears each step.
 */
import { useEffect } from 'preact/hooks';
import type { StepCommand, StepperView } from '../../core/x86/stepper';
import type { Walkthrough } from '../../core/disk/walkthrough/types';
import type { StepperModel } from './stepper-state';
import { CpuPanel, Handoff } from './cpu-panel';
import { MemoryMap } from './memory-map';
import { Prose } from '../ui';
import './stepper.css';

const hex = (n: number) => '0x' + (n >>> 0).toString(16).toUpperCase();

const CONTROLS: { cmd: StepCommand; label: string; key: string; hint: string }[] = [
  { cmd: 'step', label: 'Step', key: 'S', hint: 'one instruction' },
  { cmd: 'over', label: 'Step over', key: 'O', hint: 'a call, INT or REP to its end' },
  { cmd: 'next-step', label: 'Run to the next step', key: 'N', hint: 'of the walkthrough' },
  { cmd: 'kernel', label: 'Run to the kernel', key: 'K', hint: "its first instruction, or the loader's stop" },
  { cmd: 'reset', label: 'Back to the start', key: 'R', hint: 'power on again' },
];

/** Where the machine is, in one sentence (the status line). */
function whereText(v: StepperView, stepTitle: string | null): string {
  const ins = v.disasm[v.current];
  const at = `${hex(v.address)}${v.where ? ` (${v.where.label}${v.where.offset ? `+${v.where.offset}` : ''})` : ''}`;
  const n = `${v.instructions.toLocaleString('en')} instruction${v.instructions === 1 ? '' : 's'} run`;
  if (v.stop?.kind === 'kernel')
    return `At the kernel's first instruction, ${hex(v.stop.entry)}, after ${n}: EAX = ${v.registers.eax.toString(16).toUpperCase().padStart(8, '0')}.`;
  if (v.stop) return `Stopped after ${n}: ${v.stop.message}.`;
  return `${v.interrupted ? 'Stopped by you. ' : ''}Next: ${ins ? ins.text : '?'} at ${at}; ${n}${stepTitle ? `; step: ${stepTitle}` : ''}.`;
}

function Disassembly({ v }: { v: StepperView }) {
  return (
    <section class="st-code" aria-labelledby="st-code-h">
      <h4 class="st-h" id="st-code-h">
        {v.stop?.kind === 'kernel' ? "The kernel's first instructions" : "The loader's code"}
      </h4>
      {v.stop?.kind === 'kernel' ? (
        <p class="hint">The emulator decodes the instructions the loader uses; others show as bytes (db).</p>
      ) : null}
      <ol class="st-disasm">
        {v.disasm.map((l, i) => {
          const cur = i === v.current;
          return (
            <li
              key={l.address}
              class={`${cur ? 'st-cur' : ''} ${l.kind === 'data' ? 'st-data' : ''}`}
              aria-current={cur ? 'step' : undefined}
            >
              {l.labels.map((name) => (
                <span key={name} class="st-label">
                  {name}:
                </span>
              ))}
              <span class="st-line">
                <span class="st-arrow" aria-hidden="true">
                  {cur ? '▶' : ''}
                </span>
                <span class="st-addr">{hex(l.address)}</span>
                <span class="st-bytes" aria-hidden="true">
                  {l.bytes.length > 12 ? l.bytes.slice(0, 12) + '…' : l.bytes}
                </span>
                <code class="st-text">{l.text}</code>
                {cur ? <span class="visually-hidden"> (next instruction)</span> : null}
              </span>
            </li>
          );
        })}
      </ol>
    </section>
  );
}

function StepProse({ w, id, index, total }: { w: Walkthrough; id: string | null; index: number; total: number }) {
  const s = id ? w.steps.find((x) => x.id === id) : null;
  return (
    <section class="st-prose" aria-labelledby="st-prose-h">
      <h4 class="st-h" id="st-prose-h">
        {s ? `Step ${index + 1} of ${total}: ${s.title}` : 'The step'}
      </h4>
      {s ? (
        s.text.map((p, i) => (
          <p key={i}>
            <Prose text={p} />
          </p>
        ))
      ) : (
        <p class="muted">Outside the walkthrough's steps.</p>
      )}
    </section>
  );
}

/** The status line alone re-renders on a run's progress (not the whole stepper). */
function StatusLine({ stepper, walkthrough }: { stepper: StepperModel; walkthrough: Walkthrough }) {
  const v = stepper.view.value;
  const running = stepper.running.value;
  const stepTitle = v?.step ? (walkthrough.steps.find((s) => s.id === v.step)?.title ?? null) : null;
  return (
    <p class="st-status" role="status">
      {stepper.status.value === 'starting'
        ? 'Powering on…'
        : running && running !== 'step'
          ? `Running… ${stepper.progress.value.toLocaleString('en')} instructions`
          : v
            ? whereText(v, stepTitle)
            : ''}
    </p>
  );
}

export function Stepper({ stepper, walkthrough }: { stepper: StepperModel; walkthrough: Walkthrough }) {
  const status = stepper.status.value;
  const v = stepper.view.value;
  const info = stepper.info.value;
  const running = stepper.running.value;
  // The machine powers on when the stepper is shown (the image's LBA 0 read once).
  useEffect(() => {
    if (stepper.status.value === 'idle') void stepper.ensure();
  }, [stepper, status]);

  if (!stepper.available) return null;
  if (status === 'refused')
    return (
      <div class="stepper">
        <p class="hint" id="stepper-refused">
          {stepper.message.value}
        </p>
      </div>
    );

  const onKey = (e: KeyboardEvent) => {
    if (e.ctrlKey || e.altKey || e.metaKey) return;
    const t = e.target as HTMLElement;
    if (t.closest('input, textarea, select')) return;
    if (e.key === 'Escape') {
      if (stepper.running.value) {
        e.preventDefault();
        stepper.stop();
      }
      return;
    }
    const c = CONTROLS.find((x) => x.key === e.key.toUpperCase());
    if (!c) return;
    e.preventDefault();
    void stepper.command(c.cmd);
  };

  const stepIndex = v?.step && info ? info.steps.findIndex((s) => s.step === v.step) : -1;
  const ended = !!v?.stop;
  return (
    <div class="stepper" onKeyDown={onKey}>
      <h3 id="stepper-h">Run it, one instruction at a time</h3>
      <p class="hint" id="stepper-hint">
        The loader runs here, in an x86 emulator in your browser that boots the image as QEMU does; nothing leaves your
        machine. Keys, while the focus is in this part: S, O, N, K and R for the buttons, Escape to stop a run.
      </p>
      <div class="st-controls" role="group" aria-labelledby="stepper-h" aria-describedby="stepper-hint">
        {CONTROLS.map((c) => {
          const off = running !== null || status === 'starting' || (ended && c.cmd !== 'reset');
          return (
            <button
              key={c.cmd}
              type="button"
              class={c.cmd === 'kernel' ? 'primary small' : 'secondary small'}
              aria-keyshortcuts={c.key}
              aria-disabled={off ? 'true' : undefined}
              title={`${c.label}: ${c.hint} (${c.key})`}
              onClick={() => void stepper.command(c.cmd)}
            >
              {c.label}
              <kbd aria-hidden="true">{c.key}</kbd>
            </button>
          );
        })}
        {running !== null && running !== 'step' ? (
          <button type="button" class="secondary small" aria-keyshortcuts="Escape" onClick={() => stepper.stop()}>
            Stop
            <kbd aria-hidden="true">Esc</kbd>
          </button>
        ) : null}
      </div>
      <StatusLine stepper={stepper} walkthrough={walkthrough} />
      {status === 'error' ? (
        <div class="error" role="alert">
          <Prose text={stepper.message.value} />
        </div>
      ) : null}
      {info && info.known !== 'all' ? (
        <p class="hint">
          {info.known === 'stage1'
            ? "This image's stage 2 is damaged or was built by another version of this tool: it runs, but only stage 1's labels and steps are shown."
            : "This image's loader was built by another version of this tool: it runs, but its labels and steps are not this version's, so they are not shown."}
        </p>
      ) : null}
      {v && info ? (
        <>
          <div class="st-top">
            <Disassembly v={v} />
            <StepProse w={walkthrough} id={v.step} index={stepIndex} total={info.steps.length} />
          </div>
          <div class="st-mid">
            <CpuPanel view={v} />
            <section class="st-console" aria-labelledby="st-console-h">
              <h4 class="st-h" id="st-console-h">
                Console (COM1)
              </h4>
              <pre class="st-pre" tabIndex={0} aria-labelledby="st-console-h">
                {v.console === '' ? '(nothing printed yet)' : v.console.replace(/\r\n/g, '\n')}
              </pre>
            </section>
          </div>
          <Handoff view={v} />
          <MemoryMap info={info} view={v} />
        </>
      ) : null}
    </div>
  );
}
