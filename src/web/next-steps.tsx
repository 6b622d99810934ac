/**
 * After a build: the next commands for the destination it was built for, each
 * with a Copy button, and a field for each placeholder they contain (bucket,
 * project, zone...): what is typed there replaces the placeholder in every
 * command, quoted for the shell when it needs it.
 */
import { signal } from '@preact/signals';
import { shellQuote, type NextStep } from '../core/platforms';
import { CopyButton, Prose, TextField } from './ui';

/** The placeholders the core's commands use, in the order the fields appear. */
const PLACEHOLDERS: readonly { word: string; label: string; example: string }[] = [
  { word: 'PROJECT', label: 'Project', example: 'my-project' },
  { word: 'ZONE', label: 'Zone', example: 'europe-west1-b' },
  { word: 'REGION', label: 'Region', example: 'europe-west1' },
  { word: 'BUCKET', label: 'Bucket', example: 'my-bucket' },
  // GCE: a VPC network for each declared network device (at most 8 interfaces a VM).
  ...Array.from({ length: 8 }, (_, i) => ({
    word: `NETWORK${i + 1}`,
    label: `Network ${i + 1}`,
    example: `net${i + 1}`,
  })),
  { word: 'ACCOUNT', label: 'Storage account', example: 'mystorage' },
  { word: 'RG', label: 'Resource group', example: 'my-group' },
  { word: 'VMID', label: 'VM ID', example: '100' },
  { word: 'NET', label: 'Network', example: 'private' },
  { word: 'FOLDER', label: 'Folder', example: '/dc/vm' },
];

const wordRe = (w: string) => new RegExp(`\\b${w}\\b`, 'g');

/** The placeholders that occur in these commands. */
export function placeholdersIn(steps: readonly NextStep[]) {
  const all = steps.map((s) => s.command).join('\n');
  return PLACEHOLDERS.filter((p) => wordRe(p.word).test(all));
}

/** Commands with the typed values in place of their placeholders. */
export function fillPlaceholders(command: string, values: Readonly<Record<string, string>>): string {
  let out = command;
  for (const p of PLACEHOLDERS) {
    const v = values[p.word]?.trim();
    if (v) out = out.replace(wordRe(p.word), shellQuote(v));
  }
  return out;
}

/**
 * A command as text that wraps on a narrow screen and still reads (and copies) as
 * one: each line a block whose wrapped part hangs indented under it, each word kept
 * whole where it fits (a browser would break `--project` after its dashes).
 * The lines are blocks, with no newline characters of their own: a selection
 * (or innerText) gives the command with one newline between lines, as Copy does.
 */
function CommandLines({ command }: { command: string }) {
  const lines = command.split('\n');
  return (
    <>
      {lines.map((line, n) => (
        <span class="line" key={n}>
          {line.split(/( +)/).map((part, i) => (i % 2 ? part : part ? <span class="word">{part}</span> : null))}
        </span>
      ))}
    </>
  );
}

/** What the user typed, kept across builds. */
const typed = signal<Record<string, string>>({});

export function NextSteps({
  steps,
  destination,
  traps,
}: {
  steps: readonly NextStep[];
  destination: string;
  traps: readonly string[];
}) {
  const values = typed.value;
  const setValues = (v: Record<string, string>) => (typed.value = v);
  const fields = placeholdersIn(steps);
  return (
    <div class="next">
      <h3 id="next-h">Next: run it on {destination}</h3>
      {fields.length ? (
        <div class="placeholders">
          {fields.map((p) => (
            <TextField
              key={p.word}
              id={`ph-${p.word}`}
              label={p.label}
              placeholder={p.example}
              value={values[p.word] ?? ''}
              describedBy="ph-hint"
              onInput={(v) => setValues({ ...values, [p.word]: v })}
            />
          ))}
          <p class="hint" id="ph-hint">
            Fills in the commands below ({fields.map((p) => p.word).join(', ')}).
          </p>
        </div>
      ) : null}
      <ol class="step-list">
        {steps.map((s, i) => {
          const cmd = fillPlaceholders(s.command, values);
          return (
            <li key={i}>
              <p id={`step-${i}`}>
                <Prose text={s.what.charAt(0).toUpperCase() + s.what.slice(1)} />:
              </p>
              <div class="cmd">
                <pre tabIndex={0} role="region" aria-label={`Command ${i + 1}`}>
                  <code>
                    <CommandLines command={cmd} />
                  </code>
                </pre>
                <CopyButton text={cmd} describedBy={`step-${i}`} />
              </div>
            </li>
          );
        })}
      </ol>
      {traps.length ? (
        <>
          <h3 id="traps-h">Good to know about {destination}</h3>
          <ul id="traps" aria-labelledby="traps-h">
            {traps.map((t) => (
              <li key={t}>
                <Prose text={t} />
              </li>
            ))}
          </ul>
        </>
      ) : null}
    </div>
  );
}
