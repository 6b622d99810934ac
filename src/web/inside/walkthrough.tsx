/**
 * The boot walkthrough, drawn: what the disk offsets are, a table of
 * contents, numbered steps, each with its explanation and its bytes, then
 * "check it yourself" (QEMU and gdb) and the references. Data is drawn as a
 * hex view (offset column, 16 bytes a row, or 8 where the dump is narrow (a
 * phone), every field's bytes tinted, outlined and numbered) with a legend
 * table below it; the table is the text alternative: the hex grid is hidden
 * from assistive technology, and colour is never the only cue (numbers and
 * outlines mark the fields too). Machine code is drawn as its disassembly,
 * one row per instruction: address, bytes, instruction, what it does. Each
 * dump read from the disk gives the `xxd` command that prints its bytes.
 * The data comes from the core (`core/disk/walkthrough/`); nothing here
 * reads a disk. `walkthrough.css` also holds the print stylesheet (a handout).
 */
import type { HexDump, HexField, Walkthrough, WalkStep } from '../../core/disk/walkthrough/types';
import { xxdCommand } from '../../core/disk/walkthrough/check';
import { Prose } from '../ui';
import './walkthrough.css';

const ROW = 16;
/**
 * A row is drawn as two halves of HALF bytes, the second with its own offset:
 * side by side (16 a row, that offset hidden) when there is room, one under
 * the other (8 a row) in a narrow dump; walkthrough.css decides by a
 * container query, so the bytes stay readable on a phone.
 */
const HALF = ROW / 2;
/** Tints cycle through this many colours; the number and outline tell fields apart beyond that. */
const TINTS = 6;
/** Bytes listed per field in the legend table; longer fields are shortened with their length. */
const LEGEND_BYTES = 24;

const hex2 = (b: number) => b.toString(16).toUpperCase().padStart(2, '0');
const addr = (n: number) => '0x' + n.toString(16).toUpperCase().padStart(4, '0');
const printable = (b: number) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.');

const LOADER_NAMES: Record<Walkthrough['loader'], string> = {
  'unikernel-disk': 'the unikernel-disk boot loader',
  syslinux: 'SYSLINUX',
  grub: 'GRUB',
  none: 'no boot loader this tool knows',
};

/** Where a dump's offsets count from, and what to call them. */
function base(d: HexDump): { at: number; what: string } {
  if (d.diskOffset !== null) return { at: d.diskOffset, what: 'Disk offset' };
  if (d.memoryAddress !== null) return { at: d.memoryAddress, what: 'Address' };
  return { at: 0, what: 'Offset' };
}

function where(d: HexDump): string {
  if (d.diskOffset !== null) {
    const mem = d.memoryAddress !== null ? `; ${d.code ? 'run' : 'loaded'} at ${addr(d.memoryAddress)}` : '';
    return `Read from the disk at offset ${addr(d.diskOffset)}${mem}.`;
  }
  if (d.memoryAddress !== null) return `Built in memory at ${addr(d.memoryAddress)}, not read from the disk.`;
  return 'Built in memory, not read from the disk.';
}

/** For each byte, the index of its field (or -1). */
function fieldOf(d: HexDump): Int32Array {
  const out = new Int32Array(d.bytes.length).fill(-1);
  d.fields.forEach((f, i) => out.fill(i, f.start, Math.min(d.bytes.length, f.start + f.length)));
  return out;
}

function ByteCell({ d, i, owner }: { d: HexDump; i: number; owner: Int32Array }) {
  const f = owner[i];
  if (f < 0) return <span class="wt-b">{hex2(d.bytes[i])}</span>;
  const field = d.fields[f];
  const col = i % ROW;
  const first = i === field.start;
  const last = i === field.start + field.length - 1;
  const cls = [
    'wt-b',
    'wt-in',
    `wt-t${f % TINTS}`,
    first || col === 0 ? 'wt-l' : col === HALF ? 'wt-l8' : '',
    last || col === ROW - 1 ? 'wt-r' : col === HALF - 1 ? 'wt-r8' : '',
  ]
    .filter(Boolean)
    .join(' ');
  return (
    <span class={cls}>
      {first && <span class="wt-n">{f + 1}</span>}
      {hex2(d.bytes[i])}
    </span>
  );
}

function HexGrid({ d }: { d: HexDump }) {
  const owner = fieldOf(d);
  const { at } = base(d);
  const rows: number[] = [];
  for (let r = 0; r < d.bytes.length; r += ROW) rows.push(r);
  return (
    <div class="wt-hex" aria-hidden="true">
      {rows.map((r) => {
        const n = Math.min(ROW, d.bytes.length - r);
        const idx = Array.from({ length: n }, (_, k) => r + k);
        const half = (from: number, to: number) => (
          <span class="wt-bytes">
            {idx.slice(from, to).map((i) => (
              <ByteCell key={i} d={d} i={i} owner={owner} />
            ))}
          </span>
        );
        return (
          <div class="wt-row" key={r}>
            <span class="wt-off">{addr(at + r)}</span>
            {half(0, HALF)}
            {n > HALF && <span class="wt-off wt-off2">{addr(at + r + HALF)}</span>}
            {n > HALF && half(HALF, n)}
            <span class="wt-ascii">{idx.map((i) => printable(d.bytes[i])).join('')}</span>
          </div>
        );
      })}
    </div>
  );
}

function fieldBytes(d: HexDump, f: HexField): string {
  const n = Math.min(f.length, LEGEND_BYTES);
  const shown = Array.from(d.bytes.subarray(f.start, f.start + n), hex2).join(' ');
  return n < f.length ? `${shown} … (${f.length} bytes)` : shown;
}

function Legend({ d }: { d: HexDump }) {
  const { at, what } = base(d);
  return (
    <table class="wt-legend">
      <thead>
        <tr>
          <th scope="col">#</th>
          <th scope="col">Field</th>
          <th scope="col" class="wt-aux">
            {what}
          </th>
          <th scope="col" class="wt-aux">
            Bytes
          </th>
          <th scope="col">Meaning</th>
        </tr>
      </thead>
      <tbody>
        {d.fields.map((f, i) => (
          <tr key={i} class={`wt-t${i % TINTS}`}>
            <td class="wt-key">
              <span class="wt-n wt-n-key">{i + 1}</span>
            </td>
            <th scope="row">
              {f.label}
              <span class="visually-hidden wt-aux-inline">
                {' '}
                ({what.toLowerCase()} {addr(at + f.start)}, bytes {fieldBytes(d, f)})
              </span>
            </th>
            <td class="wt-mono wt-aux">{addr(at + f.start)}</td>
            <td class="wt-mono wt-aux wt-legend-bytes">{fieldBytes(d, f)}</td>
            <td>{f.value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Machine code: one row per instruction (the bytes are in the table, so no hex view). */
function CodeTable({ d }: { d: HexDump }) {
  return (
    <table class="wt-legend wt-code">
      <thead>
        <tr>
          <th scope="col" class="wt-aux">
            Address
          </th>
          <th scope="col" class="wt-aux">
            Bytes
          </th>
          <th scope="col">Instruction</th>
          <th scope="col">What it does</th>
        </tr>
      </thead>
      <tbody>
        {d.fields.map((f, i) => {
          const at = addr((d.memoryAddress ?? 0) + f.start);
          const bytes = fieldBytes(d, f);
          return (
            <tr key={i}>
              <td class="wt-mono wt-aux">{at}</td>
              <td class="wt-mono wt-aux wt-legend-bytes">{bytes}</td>
              <th scope="row" class="wt-mono wt-ins">
                {f.label}
                <span class="wt-code-aux">
                  {at} · {bytes}
                </span>
              </th>
              <td>{f.value}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function Dump({ d, rawFile }: { d: HexDump; rawFile: string }) {
  return (
    <figure class={d.code ? 'wt-dump wt-dump-code' : 'wt-dump'}>
      <figcaption>
        <span class="wt-caption">{d.caption}</span> <span class="wt-where">{where(d)}</span>
        {d.diskOffset !== null && (
          <span class="wt-xxd">
            {' '}
            Check: <code>{xxdCommand(rawFile, d.diskOffset, d.bytes.length)}</code>
          </span>
        )}
      </figcaption>
      {d.code ? (
        <CodeTable d={d} />
      ) : (
        <>
          <HexGrid d={d} />
          {d.fields.length > 0 && <Legend d={d} />}
        </>
      )}
    </figure>
  );
}

/**
 * In-page links: the page's views follow the URL's fragment, so a link moves
 * focus and scrolls instead of changing it.
 */
function jump(e: MouseEvent, id: string) {
  const target = document.getElementById(id);
  if (!target) return;
  e.preventDefault();
  const focus = target.matches('[tabindex]') ? target : target.querySelector<HTMLElement>('[tabindex="-1"]');
  (focus ?? target).focus({ preventScroll: true });
  target.scrollIntoView({ block: 'start' });
}

function Step({ step, rawFile }: { step: WalkStep; rawFile: string }) {
  return (
    <li class="wt-step" id={`walk-${step.id}`}>
      <h3 class="wt-title" tabIndex={-1}>
        {step.title}
      </h3>
      {step.text.map((p, i) => (
        <p key={i}>
          <Prose text={p} />
        </p>
      ))}
      {step.dumps.map((d, i) => (
        <Dump key={i} d={d} rawFile={rawFile} />
      ))}
    </li>
  );
}

function CheckBox({ w }: { w: Walkthrough }) {
  return (
    <section class="wt-check" id="walk-check" aria-labelledby="walk-check-h">
      <h3 id="walk-check-h" tabIndex={-1}>
        Check it yourself with QEMU and gdb
      </h3>
      {w.check.text.map((p, i) => (
        <p key={i}>
          <Prose text={p} />
        </p>
      ))}
      <ol class="wt-session">
        {w.check.lines.map((l, i) => (
          <li key={i}>
            <code class="wt-cmd">
              <span class="wt-prompt">{l.prompt}</span> {l.command}
            </code>
            <span class="wt-note">
              <Prose text={l.note} />
            </span>
          </li>
        ))}
      </ol>
    </section>
  );
}

function References({ w }: { w: Walkthrough }) {
  return (
    <section class="wt-refs" id="walk-refs" aria-labelledby="walk-refs-h">
      <h3 id="walk-refs-h" tabIndex={-1}>
        References
      </h3>
      <ul>
        {w.references.map((r, i) => (
          <li key={i}>
            {r.url ? <a href={r.url}>{r.name}</a> : r.name}: {r.about}.
          </li>
        ))}
      </ul>
    </section>
  );
}

export function WalkthroughView({ walkthrough }: { walkthrough: Walkthrough }) {
  const w = walkthrough;
  const rawFile = w.source.rawFile;
  return (
    <div class="walkthrough">
      <a class="wt-skip" href="#walk-end" onClick={(e) => jump(e, 'walk-end')}>
        Skip the boot walkthrough
      </a>
      <p class="wt-print-title">
        How this disk boots, with {LOADER_NAMES[w.loader]}
        {w.cmdline !== null && (
          <>
            : the kernel gets <code>{w.cmdline}</code>
          </>
        )}
      </p>
      {w.notes.length > 0 && (
        <ul class="wt-notes">
          {w.notes.map((n, i) => (
            <li key={i}>{n}</li>
          ))}
        </ul>
      )}
      <div class="wt-source">
        {w.source.text.map((p, i) => (
          <p key={i}>
            <Prose text={p} />
          </p>
        ))}
      </div>
      <nav class="wt-toc" aria-label="Steps of the boot walkthrough">
        <ol>
          {w.steps.map((s) => (
            <li key={s.id}>
              <a href={`#walk-${s.id}`} onClick={(e) => jump(e, `walk-${s.id}`)}>
                {s.title}
              </a>
            </li>
          ))}
        </ol>
        <p>
          Then:{' '}
          <a href="#walk-check" onClick={(e) => jump(e, 'walk-check')}>
            check it yourself with QEMU and gdb
          </a>
          , and the{' '}
          <a href="#walk-refs" onClick={(e) => jump(e, 'walk-refs')}>
            references
          </a>
          .
        </p>
      </nav>
      <ol class="wt-steps">
        {w.steps.map((s) => (
          <Step key={s.id} step={s} rawFile={rawFile} />
        ))}
      </ol>
      {w.uefi.length > 0 && (
        // Behind a disclosure: the BIOS path is the lesson; this is its other door. Closed, it prints as one line,
        // so the printed walkthrough stays about 8 pages; opened, it prints whole.
        <details class="wt-uefi">
          <summary>
            <h3 id="walk-uefi-h">Under UEFI</h3>
          </summary>
          <p>The same disk started by a UEFI firmware instead of a BIOS: these steps replace the ones above.</p>
          <ol class="wt-steps">
            {w.uefi.map((s) => (
              <Step key={s.id} step={s} rawFile={rawFile} />
            ))}
          </ol>
        </details>
      )}
      <CheckBox w={w} />
      <References w={w} />
      <p class="wt-end" id="walk-end" tabIndex={-1}>
        End of the boot walkthrough.
      </p>
    </div>
  );
}
