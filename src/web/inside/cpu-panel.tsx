/**
 * The stepper's CPU panel: the general registers, EIP, the segment
 * registers with their hidden base, EFLAGS decoded, CR0 and the CPU mode,
 * every value changed by the last command marked (a dot and the words
 * "changed", never colour alone); at the kernel's entry, the Multiboot
 * machine state table (specification 3.2) filled from the real values
 * (`Handoff`, drawn below the panel).
 * The region's name, "Registers", is one scripts rely on.
 */
import type { StepperView } from '../../core/x86/stepper';
import type { Registers } from '../../core/x86/state';

const hex8 = (n: number) => (n >>> 0).toString(16).toUpperCase().padStart(8, '0');
const hex4 = (n: number) => (n >>> 0).toString(16).toUpperCase().padStart(4, '0');

const GENERAL: (keyof Registers)[] = ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp', 'esp', 'eip'];

function Changed({ on }: { on: boolean }) {
  return on ? (
    <span class="st-changed">
      <span aria-hidden="true">•</span>
      <span class="visually-hidden"> (changed)</span>
    </span>
  ) : null;
}

export function CpuPanel({ view }: { view: StepperView }) {
  const changed = new Set(view.changed);
  const r = view.registers;
  return (
    <section class="st-cpu" aria-label="Registers">
      <h4 class="st-h">Registers</h4>
      <p class="st-mode">
        <span class="muted">Mode:</span> <strong>{view.mode.text}</strong>
        <Changed on={changed.has('cr0')} />
      </p>
      <table class="st-regs">
        <caption class="visually-hidden">General registers and EIP (hexadecimal)</caption>
        <tbody>
          {GENERAL.map((k) => (
            <tr key={k} class={changed.has(k) ? 'st-is-changed' : undefined}>
              <th scope="row">{k.toUpperCase()}</th>
              <td class="st-mono">
                {hex8(r[k])}
                <Changed on={changed.has(k)} />
              </td>
            </tr>
          ))}
          <tr class={changed.has('cr0') ? 'st-is-changed' : undefined}>
            <th scope="row">CR0</th>
            <td class="st-mono">
              {hex8(r.cr0)} <span class="muted">PE {r.cr0 & 1}</span>
              <Changed on={changed.has('cr0')} />
            </td>
          </tr>
        </tbody>
      </table>
      <table class="st-segs">
        <caption class="visually-hidden">Segment registers: selector and the base the CPU keeps for it</caption>
        <thead>
          <tr>
            <th scope="col">Segment</th>
            <th scope="col">Selector</th>
            <th scope="col">Base</th>
          </tr>
        </thead>
        <tbody>
          {view.segments.map((s) => (
            <tr key={s.name} class={changed.has(s.name) ? 'st-is-changed' : undefined}>
              <th scope="row">{s.name.toUpperCase()}</th>
              <td class="st-mono">
                {hex4(s.selector)}
                <Changed on={changed.has(s.name)} />
              </td>
              <td class="st-mono">
                {hex8(s.base)}
                {s.name === 'cs' && view.mode.id !== 'real' ? (
                  <span class="muted"> {s.big ? '32' : '16'}-bit</span>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="st-flags">
        <p class="st-flags-h">
          EFLAGS <span class="st-mono">{hex8(r.eflags)}</span>
          <Changed on={changed.has('eflags')} />
        </p>
        <ul class="st-flag-list">
          {view.flags.map((f) => (
            <li
              key={f.name}
              class={`st-flag ${f.set ? 'st-flag-set' : ''} ${changed.has(f.name) ? 'st-is-changed' : ''}`}
              title={f.meaning}
            >
              <abbr title={f.meaning}>{f.name}</abbr> {f.set ? '1' : '0'}
              <span class="visually-hidden">
                {' '}
                ({f.meaning}
                {changed.has(f.name) ? ', changed' : ''})
              </span>
            </li>
          ))}
        </ul>
      </div>
    </section>
  );
}

/** At the kernel's entry: the specification's machine state, row by row, from the real values. */
export function Handoff({ view }: { view: StepperView }) {
  if (!view.handoff) return null;
  return (
    <div class="table-wrap st-handoff">
      <table>
        <caption>The Multiboot machine state at the kernel's entry (specification, section 3.2)</caption>
        <thead>
          <tr>
            <th scope="col">State</th>
            <th scope="col">Required</th>
            <th scope="col">Value</th>
            <th scope="col">Met</th>
          </tr>
        </thead>
        <tbody>
          {view.handoff!.map((h) => (
            <tr key={h.what}>
              <th scope="row">{h.what}</th>
              <td>{h.required}</td>
              <td class="st-mono st-wrap">{h.value}</td>
              <td>{h.ok === null ? 'not required' : h.ok ? '✓ yes' : '✗ no'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
