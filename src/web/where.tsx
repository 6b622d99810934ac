/**
 * "Where it will run": the devices the kernel declares, in plain words, and
 * the core's verdict for the destination of the chosen format, shown before
 * Build. Self-contained (the page redesign will give it a destination picker);
 * every sentence comes from src/core (solo5.ts, platforms.ts).
 */
import { describeDevices } from '../core/solo5';
import { destinationForFormat, nextSteps, verdict, type Level } from '../core/platforms';
import type { Model } from './model';

/** Text from the core, where `backquoted` parts are code. */
function Prose({ text }: { text: string }) {
  return <>{text.split('`').map((part, i) => (i % 2 ? <code key={i}>{part}</code> : part))}</>;
}

const HEADLINE: Record<Level, string> = {
  ok: 'it will run.',
  warn: 'it can run, with care.',
  fail: 'it will not run.',
};

export function WhereItRuns({ model }: { model: Model }) {
  const k = model.kernel.value;
  if (k.status !== 'ok') return null;
  const fmt = model.format.value;
  const dest = destinationForFormat(fmt.id);
  const info = k.info;
  const devices = info.solo5Manifest
    ? `The unikernel declares ${describeDevices(info.devices)}.`
    : 'The kernel has no Solo5 manifest, so it declares no devices.';
  const v = dest ? verdict(info, dest) : null;
  const steps = dest ? nextSteps(info, dest, { file: model.fileName.value, formatId: fmt.id }) : [];
  return (
    <section aria-labelledby="where-h" id="where">
      <h2 id="where-h">Where it will run</h2>
      <p id="where-devices">
        <Prose text={devices} />
      </p>
      {dest && v ? (
        <div
          class={v.level === 'ok' ? 'verdict ok' : v.level === 'warn' ? 'warning verdict' : 'error verdict'}
          id="verdict"
          data-level={v.level}
          role={v.level === 'fail' ? 'alert' : 'status'}
        >
          <p>
            <strong>
              On {dest.name}, where this format goes: {HEADLINE[v.level]}
            </strong>
          </p>
          <ul>
            {v.sentences.map((s) => (
              <li key={s}>
                <Prose text={s} />
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      {dest && steps.length ? (
        <details id="next-steps">
          <summary>Next commands for {dest.name}</summary>
          <ol>
            {steps.map((step) => (
              <li key={step.command}>
                <Prose text={step.what} />
                <pre>
                  <code>{step.command}</code>
                </pre>
              </li>
            ))}
          </ol>
          <p>Good to know about {dest.name}:</p>
          <ul id="traps">
            {dest.traps.map((t) => (
              <li key={t}>
                <Prose text={t} />
              </li>
            ))}
          </ul>
        </details>
      ) : null}
    </section>
  );
}
