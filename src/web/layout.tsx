/**
 * The picture of the disk about to be built: one band per region (MBR, boot
 * loader, FAT structures, the kernel...), then a table with exact offsets.
 * A 1 GiB disk with a 2 MiB kernel cannot be drawn to scale, so widths grow
 * with the logarithm of the size; the table has the real numbers.
 */
import { formatBytes, hex } from '../core/units';
import type { Region, RegionKind } from '../core/plan';
import type { PreviewResult } from './protocol';
import { RangeTable } from './range-table';

/** What a band of the picture shows: a region's kind, or space no region covers. */
export type BandKind = RegionKind | 'unused';

/** The colours of style.css, one `.band-<colour>` class each. */
export type BandColour = 'mbr' | 'boot' | 'fat' | 'data' | 'kernel' | 'free';

/**
 * How the page shows each kind: its colour and what it is, in a few words.
 * Keyed by kind (the type checker wants every kind here), never by a region's
 * name, so renaming a region changes neither.
 */
export const BAND_KINDS: Record<BandKind, { colour: BandColour; explain: string }> = {
  mbr: { colour: 'mbr', explain: 'The first sector: boot code, disk signature and partition table' },
  loader: { colour: 'boot', explain: 'The boot loader, which loads the kernel from its sectors and starts it' },
  gap: { colour: 'free', explain: 'Unused space before the partition, which starts at 1 MiB' },
  'fat-reserved': { colour: 'fat', explain: "The FAT volume's first sectors: boot sector and parameter block" },
  fat: { colour: 'fat', explain: 'A file allocation table: which clusters each file occupies' },
  root: { colour: 'fat', explain: 'The root directory: name, size and first cluster of each file' },
  data: { colour: 'data', explain: 'The data area: the files, in clusters' },
  kernel: { colour: 'kernel', explain: 'The kernel, /unikernel.bin, stored contiguously' },
  unused: { colour: 'free', explain: 'Zeros: a hole, never written' },
};

/** The CSS class that colours a band of this kind. */
export function bandClass(kind: BandKind): string {
  return `band-${BAND_KINDS[kind].colour}`;
}

export interface Band {
  name: string;
  start: number;
  length: number;
  note?: string;
  kind: BandKind;
  x: number;
  width: number;
}

type Item = Omit<Band, 'x' | 'width'>;

/**
 * Flatten regions into bands covering [0, size): a region inside another
 * (the kernel inside the FAT data area) splits it, and uncovered space
 * becomes an "unused" band.
 */
export function flattenRegions(regions: readonly Region[], size: number): Item[] {
  const out: Item[] = [];
  let pos = 0;
  const push = (i: Item) => {
    if (i.length > 0) out.push(i);
  };
  const sorted = [...regions].sort((a, b) => a.start - b.start || b.length - a.length);
  // Parents still open (their end is past the current position).
  const open: Item[] = [];
  const closeUpTo = (limit: number) => {
    while (open.length) {
      const p = open[open.length - 1];
      const end = p.start + p.length;
      if (end <= pos) {
        open.pop();
        continue;
      }
      const to = Math.min(end, limit);
      if (to <= pos) return;
      push({ ...p, start: pos, length: to - pos });
      pos = to;
      if (to === end) open.pop();
      else return;
    }
  };
  for (const r of sorted) {
    closeUpTo(r.start);
    if (r.start > pos) {
      push({ name: 'unused', start: pos, length: r.start - pos, kind: 'unused' });
      pos = r.start;
    }
    const item: Item = { name: r.name, start: r.start, length: r.length, note: r.note, kind: r.kind };
    const end = r.start + r.length;
    const nestedChild = sorted.some(
      (c) => c !== r && c.start >= r.start && c.start + c.length <= end && c.length < r.length,
    );
    if (nestedChild) {
      open.push(item);
    } else {
      push({ ...item, start: pos, length: end - pos });
      pos = Math.max(pos, end);
    }
  }
  closeUpTo(size);
  if (pos < size) push({ name: 'unused', start: pos, length: size - pos, kind: 'unused' });
  return out;
}

/** Bands laid out on a `total`-wide strip; widths grow with log2 of the length. */
export function layoutBands(regions: readonly Region[], size: number, total = 1000): Band[] {
  const items = flattenRegions(regions, size);
  const weights = items.map((i) => Math.max(1, Math.log2(Math.max(2, i.length)) - 7));
  const sum = weights.reduce((a, b) => a + b, 0) || 1;
  let x = 0;
  return items.map((i, k) => {
    const width = (weights[k] / sum) * total;
    const band = { ...i, x, width };
    x += width;
    return band;
  });
}

export function Layout({ preview }: { preview: PreviewResult }) {
  const W = 1000;
  const bands = layoutBands(preview.regions, preview.size, W);
  const fat = `FAT${preview.fatType}`;
  return (
    <figure class="layout">
      <svg
        viewBox={`0 0 ${W} 40`}
        role="img"
        aria-labelledby="layout-title layout-desc"
        preserveAspectRatio="none"
        class="layout-svg"
      >
        <title id="layout-title">Disk layout</title>
        <desc id="layout-desc">
          {`A ${formatBytes(preview.size)} disk, from the start: ` +
            bands.map((b) => `${b.name} (${formatBytes(b.length)})`).join(', ')}
        </desc>
        {bands.map((b) => (
          <rect
            key={b.start + b.name}
            class={`band ${bandClass(b.kind)}`}
            x={b.x}
            y={0}
            width={Math.max(b.width - 2, 1)}
            height={40}
          >
            <title>{`${b.name}: ${formatBytes(b.length)} at ${hex(b.start)}`}</title>
          </rect>
        ))}
      </svg>
      <div class="axis" aria-hidden="true">
        <span>0</span>
        <span>{formatBytes(preview.size)}</span>
      </div>
      <ul class="legend" aria-hidden="true">
        {bands.map((b) => (
          <li key={b.start + b.name} title={BAND_KINDS[b.kind].explain}>
            <span class={`swatch ${bandClass(b.kind)}`} /> {b.name} <span class="muted">{formatBytes(b.length)}</span>
          </li>
        ))}
      </ul>
      <figcaption>
        The disk, not to scale: {fat} partition, kernel stored contiguously as <code>/unikernel.bin</code>; the boot
        loader passes it <code>{preview.cmdline}</code>.
      </figcaption>
      <RangeTable
        summary="Regions in detail"
        label="Regions in detail"
        heading="Region"
        rows={bands.map((b) => ({
          key: b.start + b.name,
          label: b.name,
          start: b.start,
          length: b.length,
          swatch: bandClass(b.kind),
          what: b.note ?? BAND_KINDS[b.kind].explain,
        }))}
      />
    </figure>
  );
}
