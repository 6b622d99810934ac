/**
 * The disk drawn to scale (the core's `diskMap`, src/core/disk/map.ts): one
 * linear track of the whole virtual disk, then a zoomed track per inset (the
 * loader's sectors, the FAT volume's first sectors, the tables, the kernel),
 * each with its structures in rows by nesting and a row of what the
 * container stores versus holes. Drawn with positioned boxes (HTML), so the
 * labels stay readable at any width; a table below says the same in words.
 */
import type { DiskMap, MapKind, MapRange, Allocation } from '../../core/disk/map';
import { formatBytes, hex, plural, SECTOR } from '../../core/units';
import { findFormat } from '../../core/formats/index';
import { RangeTable } from '../range-table';

/** Colour and words for each kind of structure (a Record: the type checker keeps it complete). */
export const MAP_STYLE: Record<MapKind, { colour: string; explain: string }> = {
  mbr: { colour: 'mbr', explain: 'Boot code (stage 1), disk signature and partition table: what the BIOS loads first' },
  loader: { colour: 'boot', explain: 'Stage 2 of the boot loader, which stage 1 reads from the sectors after LBA 0' },
  params: { colour: 'params', explain: "The boot loader's parameter block: where the kernel is, its size and CRC" },
  cmdline: { colour: 'params', explain: 'The command line the loader passes to the kernel' },
  gap: { colour: 'free', explain: 'Sectors between the boot loader and the first partition' },
  partition: { colour: 'part', explain: 'A partition of the MBR table' },
  unpartitioned: { colour: 'free', explain: 'Space after the last partition' },
  'boot-sector': { colour: 'fat', explain: "The FAT volume's boot sector: its parameters (BPB)" },
  fsinfo: { colour: 'fat', explain: 'FAT32 FSInfo: a hint of free clusters' },
  reserved: { colour: 'fat-light', explain: 'Reserved sectors of the FAT volume' },
  fat: { colour: 'fat', explain: 'A file allocation table: which clusters each file occupies' },
  root: { colour: 'fat-light', explain: 'The root directory: name, size and first cluster of each file' },
  data: { colour: 'data', explain: 'The data area: the files, in clusters' },
  kernel: { colour: 'kernel', explain: 'The kernel the boot loader starts' },
  file: { colour: 'file', explain: 'A file in the FAT volume' },
  dir: { colour: 'fat-light', explain: 'A directory in the FAT volume' },
};

/** A label fits inside a box this wide (a fraction of the track); narrower boxes get a number and a key below. */
const LABEL_FITS = 0.12;
const NUMBER_FITS = 0.018;

function Track({
  start,
  length,
  ranges,
  allocation,
  markers = [],
}: {
  start: number;
  length: number;
  ranges: MapRange[];
  allocation: Allocation;
  markers?: { letters: string; at: number }[];
}) {
  const end = start + length;
  const pct = (x: number) => `${(((Math.min(end, Math.max(start, x)) - start) / length) * 100).toFixed(4)}%`;
  const inWindow = ranges.filter((r) => r.start < end && r.start + r.length > start);
  const rows = [0, 1, 2].map((level) => inWindow.filter((r) => r.level === level)).filter((r) => r.length);
  const frac = (r: MapRange) => (Math.min(end, r.start + r.length) - Math.max(start, r.start)) / length;
  // Boxes too narrow for their label: numbered, and named in the key below the track.
  const keyed = inWindow.filter((r) => frac(r) < LABEL_FITS);
  const num = new Map(keyed.map((r, i) => [r, i + 1]));
  return (
    <div class="track" aria-hidden="true">
      {markers.length ? (
        <div class="marker-row">
          {markers.map((m) => (
            <span key={m.letters} class="marker" style={{ left: pct(m.at) }}>
              {m.letters}
            </span>
          ))}
        </div>
      ) : null}
      {rows.map((row, i) => (
        <div class="track-row" key={i}>
          {row.map((r) => {
            const s = Math.max(start, r.start);
            const e = Math.min(end, r.start + r.length);
            const f = frac(r);
            return (
              <div
                key={`${r.start}-${r.label}`}
                class={`seg mc-${MAP_STYLE[r.kind].colour}`}
                style={{ left: pct(s), width: pct(start + (e - s)) }}
                title={`${r.label}: ${formatBytes(r.length)} at ${hex(r.start)}`}
              >
                {f >= LABEL_FITS ? <span>{r.label}</span> : f >= NUMBER_FITS ? <span>{num.get(r)}</span> : null}
              </div>
            );
          })}
        </div>
      ))}
      <div class="track-row alloc">
        {allocation.runs
          .filter((a) => a.start < end && a.start + a.length > start)
          .map((a) => (
            <div
              key={a.start}
              class="seg stored"
              style={{
                left: pct(a.start),
                width: pct(start + (Math.min(end, a.start + a.length) - Math.max(start, a.start))),
              }}
            />
          ))}
      </div>
      <div class="axis">
        <span>
          {hex(start)} <span class="muted">({formatBytes(start)})</span>
        </span>
        <span>
          {hex(end)} <span class="muted">({formatBytes(end)})</span>
        </span>
      </div>
      {keyed.length ? (
        <p class="track-key">
          {keyed.map((r) => (
            <span key={`${r.start}-${r.label}`}>
              <span class={`swatch mc-${MAP_STYLE[r.kind].colour}`} /> {num.get(r)} {r.label}{' '}
              <span class="muted">{formatBytes(r.length)}</span>
            </span>
          ))}
        </p>
      ) : null}
    </div>
  );
}

/** Inset letters at their place on the whole disk; letters closer than 4% of the track share one mark ("A–C"). */
function markersFor(insets: { start: number }[], size: number): { letters: string; at: number }[] {
  const out: { letters: string; at: number; first: number; last: number }[] = [];
  insets.forEach((i, k) => {
    const last = out[out.length - 1];
    if (last && (i.start - last.at) / size < 0.04) last.last = k;
    else out.push({ letters: '', at: i.start, first: k, last: k });
  });
  return out.map((m) => ({
    at: m.at,
    letters: m.first === m.last ? LETTERS[m.first] : `${LETTERS[m.first]}–${LETTERS[m.last]}`,
  }));
}

const LETTERS = 'ABCDEFGH';

export function storedWords(map: DiskMap): string {
  const runs = map.allocation.runs.length;
  const f = findFormat(map.formatId);
  if (map.storedBytes >= map.size) {
    return f?.plainDisk
      ? `The ${f.label} file stores every byte of the disk, zeros included (its bytes are the disk's, with no table of holes; any sparseness is the file system’s, not visible from here).`
      : `The ${f?.label ?? map.formatId} file stores every byte of the disk: its table marks no holes.`;
  }
  return `The ${f?.label ?? map.formatId} file stores ${formatBytes(map.storedBytes)} of the ${formatBytes(map.size)} disk in ${plural(runs, 'run')}${map.allocation.granularity > 1 ? ` (drawn to the nearest ${formatBytes(map.allocation.granularity)})` : ''}; the rest are holes that read as zeros.`;
}

export function DiskMapView({ map }: { map: DiskMap }) {
  const insets = map.insets;
  return (
    <figure class="disk-map" aria-labelledby="map-caption">
      <figcaption id="map-caption">
        The whole {formatBytes(map.size)} disk to scale, from LBA 0 on the left. Small structures are shown again zoomed
        in below ({insets.map((i, k) => `${LETTERS[k]}: ${i.title}`).join('; ')}).
      </figcaption>
      <Track
        start={0}
        length={map.size}
        ranges={map.ranges}
        allocation={map.allocation}
        markers={markersFor(insets, map.size)}
      />
      <p class="map-stored">
        <span class="swatch stored" aria-hidden="true" /> {storedWords(map)}{' '}
        <span class="swatch hole" aria-hidden="true" /> Holes.
      </p>
      <div class="insets">
        {insets.map((i, k) => (
          <section class="inset" key={i.id} aria-label={`Zoom ${LETTERS[k]}: ${i.title}`}>
            <h3>
              <span class="marker-badge" aria-hidden="true">
                {LETTERS[k]}
              </span>{' '}
              {i.title}{' '}
              <span class="muted">
                ({formatBytes(i.length)} from LBA {Math.floor(i.start / SECTOR)})
              </span>
            </h3>
            <Track start={i.start} length={i.length} ranges={map.ranges} allocation={i.allocation} />
          </section>
        ))}
      </div>
      <ul class="legend" aria-hidden="true">
        {[...new Set(map.ranges.map((r) => r.kind))].map((k) => (
          <li key={k}>
            <span class={`swatch mc-${MAP_STYLE[k].colour}`} /> {MAP_STYLE[k].explain.split(':')[0]}
          </li>
        ))}
      </ul>
      {map.notes.map((n, i) => (
        <p class="notes" key={i}>
          {n}
        </p>
      ))}
      <RangeTable
        class="map-table"
        summary="Every structure, as a table"
        label="Every structure on the disk"
        heading="Structure"
        rows={map.ranges.map((r) => ({
          key: `${r.start}-${r.label}`,
          label: r.label,
          start: r.start,
          length: r.length,
          swatch: `mc-${MAP_STYLE[r.kind].colour}`,
          class: `lvl-${r.level}`,
          what: (
            <>
              {MAP_STYLE[r.kind].explain}
              {r.note ? <span class="muted"> · {r.note}</span> : null}
            </>
          ),
        }))}
      />
    </figure>
  );
}
