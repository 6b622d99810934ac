/**
 * Ranges of a disk as a table behind a disclosure: the build's regions in
 * detail (layout.tsx) and the Inside view's every structure (inside/disk-map.tsx).
 * A row is a range's name with its colour swatch, where it starts (hex and
 * LBA), its length and what it is; the table scrolls in a focusable region.
 */
import type { ComponentChildren } from 'preact';
import { formatBytes, hex, SECTOR } from '../core/units';

export interface RangeRow {
  key: string;
  label: string;
  start: number;
  length: number;
  /** The class that colours the row's swatch. */
  swatch: string;
  what: ComponentChildren;
  /** The row's own class (the map's nesting level). */
  class?: string;
}

export function RangeTable({
  summary,
  label,
  heading,
  rows,
  class: cls,
}: {
  /** The disclosure's summary. */
  summary: string;
  /** The scrolling region's accessible name. */
  label: string;
  /** The first column's heading: what a range is called. */
  heading: string;
  rows: RangeRow[];
  class?: string;
}) {
  return (
    <details class={cls}>
      <summary>{summary}</summary>
      <div class="table-wrap" tabIndex={0} role="region" aria-label={label}>
        <table>
          <thead>
            <tr>
              <th scope="col">{heading}</th>
              <th scope="col">Starts at</th>
              <th scope="col">Length</th>
              <th scope="col">What it is</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.key} class={r.class}>
                <th scope="row">
                  <span class={`swatch ${r.swatch}`} aria-hidden="true" /> {r.label}
                </th>
                <td>
                  {hex(r.start)} <span class="muted">(LBA {Math.floor(r.start / SECTOR)})</span>
                </td>
                <td>{formatBytes(r.length)}</td>
                <td>{r.what}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  );
}
