/**
 * The stepper's memory: the first MiB and the kernel at 1 MiB as the loader
 * lays them out (core/x86/layout.ts, from its own constants), one box per
 * region, taller for larger ones (by the logarithm of the size, so 88 bytes
 * and 600 KiB both stay readable); the regions the last command wrote are
 * highlighted and say "written". Below, hex views of the memory it wrote,
 * written bytes marked (<mark>: bold and underlined, not colour alone).
 */
import type { MemoryRegion } from '../../core/x86/layout';
import type { MemoryDump, StepperInfo, StepperView } from '../../core/x86/stepper';
import { formatBytes } from '../../core/units';

const hex = (n: number, w = 5) => '0x' + (n >>> 0).toString(16).toUpperCase().padStart(w, '0');
const hex2 = (b: number) => b.toString(16).toUpperCase().padStart(2, '0');
/** Bytes a row of a hex view: narrow enough for a phone. */
const ROW = 8;

function height(r: MemoryRegion): number {
  return Math.max(1.7, Math.min(5, Math.log2(Math.max(2, r.end - r.start)) / 4));
}

function RegionList({
  title,
  regions,
  touched,
  id,
}: {
  title: string;
  regions: MemoryRegion[];
  touched: Set<string>;
  id: string;
}) {
  return (
    <div class="mm-col">
      <h5 class="st-h5" id={id}>
        {title}
      </h5>
      <ol class="mm" aria-labelledby={id}>
        {regions.map((r) => {
          const w = touched.has(r.id);
          return (
            <li
              key={r.id}
              class={`mm-r mm-${r.kind}${w ? ' mm-written' : ''}`}
              style={{ minHeight: `${height(r)}rem` }}
            >
              <span class="mm-addr">{hex(r.start)}</span>
              <span class="mm-name">
                {r.name}
                {w ? <strong class="mm-tag"> written</strong> : null}
                {r.note ? <span class="mm-note">{r.note}</span> : null}
              </span>
              <span class="mm-size">{formatBytes(r.end - r.start)}</span>
            </li>
          );
        })}
      </ol>
    </div>
  );
}

function Dump({ d }: { d: MemoryDump }) {
  const mark = new Uint8Array(d.bytes.length);
  for (const [o, n] of d.written) mark.fill(1, o, o + n);
  const rows: number[] = [];
  for (let i = 0; i < d.bytes.length; i += ROW) rows.push(i);
  return (
    <figure class="st-dump">
      <figcaption>
        {d.region} at {hex(d.address)}: {d.writtenBytes.toLocaleString('en')} byte{d.writtenBytes === 1 ? '' : 's'}{' '}
        written{d.writtenBytes > d.bytes.length ? ` (the first ${d.bytes.length} bytes shown)` : ''}
      </figcaption>
      <pre class="st-hex">
        {rows.map((r) => (
          <span key={r} class="st-hex-row">
            <span class="st-hex-off">{hex(d.address + r)}</span>
            {Array.from(d.bytes.subarray(r, r + ROW), (b, k) => (
              <span key={k}> {mark[r + k] ? <mark>{hex2(b)}</mark> : hex2(b)}</span>
            ))}
            {'\n'}
          </span>
        ))}
      </pre>
    </figure>
  );
}

export function MemoryMap({ info, view }: { info: StepperInfo; view: StepperView }) {
  const touched = new Set(view.touched);
  return (
    <section class="st-mem" aria-labelledby="st-mem-h">
      <h4 class="st-h" id="st-mem-h">
        Memory
      </h4>
      <p class="hint">
        {view.writes.length === 0
          ? 'The last command wrote no memory.'
          : `The last command wrote ${formatBytes(view.writes.reduce((n, w) => n + w.length, 0))} in ${view.writes.length} range${view.writes.length === 1 ? '' : 's'}${view.writesCoarse ? ' (counted by whole 4 KiB pages: a long run)' : ''}; the regions it touched say “written”.`}
      </p>
      <div class="mm-cols">
        <RegionList title="The first MiB" regions={info.low} touched={touched} id="st-mm-low" />
        {info.kernel.length ? (
          <RegionList title="The kernel at 1 MiB" regions={info.kernel} touched={touched} id="st-mm-kernel" />
        ) : null}
      </div>
      {view.dumps.length ? (
        <div class="st-dumps">
          {view.dumps.map((d) => (
            <Dump key={d.address} d={d} />
          ))}
        </div>
      ) : null}
    </section>
  );
}
