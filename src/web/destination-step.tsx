/**
 * Step 2: where it will run. One radio per destination (named by its
 * platform), which picks the format and the size rule; the size and the file
 * name; every format of the core under "Advanced". Validation hints change as
 * the user types but are not live regions: the page's announcer says them
 * once typing pauses.
 */
import { formatBytes } from '../core/units';
import type { Model } from './model';
import { Prose, TextField } from './ui';

/** "VMware (ESXi, Workstation, Fusion)" -> "VMware": the tile names the platform; the hint below has the rest. */
function tileName(name: string): string {
  return name.replace(/\s*\(.*\)$/, '');
}

export function DestinationStep({ model }: { model: Model }) {
  const dest = model.destination.value;
  const fmt = model.format.value;
  const busy = model.busy.value;
  const size = model.size.value;
  const nameErr = model.fileNameError.value;
  const ext = (id: string) => model.formats.find((f) => f.id === id)?.extension ?? '';
  return (
    <section class="step">
      <h2 id="dest-h">
        <span class="num" aria-hidden="true">
          2
        </span>{' '}
        Where it will run
      </h2>
      <div class="dests" role="radiogroup" aria-labelledby="dest-h">
        {model.destinations.map((d) => (
          <div key={d.id} class={d.id === dest.id ? 'dest chosen' : 'dest'}>
            <input
              type="radio"
              name="destination"
              id={`dest-${d.id}`}
              value={d.id}
              checked={d.id === dest.id}
              disabled={busy}
              aria-describedby={`dest-${d.id}-f`}
              onChange={() => void model.setDestination(d.id)}
            />
            <label for={`dest-${d.id}`}>{tileName(d.name)}</label>
            <span class="dest-fmt" id={`dest-${d.id}-f`}>
              {ext(d.formats[0])}
            </span>
          </div>
        ))}
      </div>
      <p class="hint dest-hint" id="dest-hint">
        {dest.name}: <strong>{fmt.label}</strong>
        {dest.formats.includes(fmt.id) ? '' : ` (not what ${dest.short} usually takes)`}; size:{' '}
        <Prose text={dest.size} />.
      </p>
      <div class="fields">
        <TextField
          id="size"
          label="Size"
          value={model.sizeText.value}
          disabled={busy}
          onInput={(v) => void model.setSize(v)}
          problem={size.ok ? null : size.message}
          hint={size.ok ? `A ${formatBytes(size.bytes)} disk; e.g. 1G, 512M.` : ''}
        />
        <TextField
          id="filename"
          label="File name"
          value={model.fileName.value}
          disabled={busy}
          onInput={(v) => model.setFileName(v)}
          problem={nameErr ?? null}
          hint="Your browser may ask where to save it."
        />
      </div>
      <details class="more advanced" id="advanced">
        <summary>Advanced: every output format</summary>
        <div class="field">
          <label for="format" class="field-label">
            Format
          </label>
          <select
            id="format"
            value={fmt.id}
            disabled={busy}
            aria-describedby="format-hint"
            onChange={(e) => void model.setFormat((e.currentTarget as HTMLSelectElement).value)}
          >
            {model.formats.map((f) => (
              <option key={f.id} value={f.id}>
                {f.label}
              </option>
            ))}
          </select>
          <p id="format-hint" class="hint">
            <Prose text={fmt.usedFor} />
          </p>
        </div>
      </details>
    </section>
  );
}
