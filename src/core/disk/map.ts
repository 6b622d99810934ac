/**
 * The disk drawn to scale, as data: every structure we can name (the MBR,
 * stage 2 and its parameter block, the gap, each partition, the FAT volume's
 * boot sector, FSInfo, reserved sectors, FAT copies, root directory, data
 * area, and the clusters of each file, the kernel's marked) as labelled byte
 * ranges, plus which parts of the virtual disk the container really stores
 * (from `DiskImage.extents()`). A linear axis of a 1 GiB disk cannot show a
 * 512-byte sector, so the map also names a few zoomed windows ("insets")
 * around the small structures, each with its own allocation runs.
 *
 * Everything is bounded whatever the disk: at most MAP_LIMITS.ranges ranges,
 * and at most MAP_LIMITS.runs allocation runs per axis (beyond that the runs
 * are snapped to a grid and the map says how coarse it is). Plain data: it
 * crosses postMessage, and the page only draws it.
 */
import { isImageError } from '../errors';
import { partitionTypeName } from '../mbr';
import { CMDLINE_OFF, PARAMS_OFF, PARAMS_SIZE } from '../boot/loader.generated';
import { formatBytes, plural, SECTOR } from '../units';
import type { OpenedImage } from './open-image';
import type { FormatId } from '../formats/types';

export const MAP_KINDS = [
  'mbr',
  'loader',
  'params',
  'cmdline',
  'gap',
  'partition',
  'unpartitioned',
  'boot-sector',
  'fsinfo',
  'reserved',
  'fat',
  'root',
  'data',
  'kernel',
  'file',
  'dir',
] as const;
export type MapKind = (typeof MAP_KINDS)[number];

/** One labelled structure: bytes [start, start + length) of the virtual disk. */
export interface MapRange {
  kind: MapKind;
  /** For people ("FAT 1", "/unikernel.bin"). */
  label: string;
  start: number;
  length: number;
  /** Nesting: 0 the disk's own parts (MBR, loader, partition), 1 inside them (FAT structures, parameter block), 2 files. */
  level: 0 | 1 | 2;
  /** A few more words ("FAT32 with LBA, active", "cluster 3 to 900"). */
  note?: string;
}

/** Stored (allocated) runs of one window of the disk; everything else in the window is a hole. */
export interface Allocation {
  /** Allocated runs in order, not touching. */
  runs: { start: number; length: number }[];
  /** 1 when exact; else the grid (bytes) the runs were snapped to, because there were too many. */
  granularity: number;
}

/** A zoomed window of the disk around small structures. */
export interface MapInset {
  id: 'boot' | 'volume' | 'tables' | 'kernel';
  title: string;
  start: number;
  length: number;
  allocation: Allocation;
}

export interface DiskMap {
  formatId: FormatId;
  size: number;
  ranges: MapRange[];
  allocation: Allocation;
  /** Bytes the container stores (allocated), exactly. */
  storedBytes: number;
  insets: MapInset[];
  /** What could not be mapped, for people. */
  notes: string[];
}

export const MAP_LIMITS = {
  /** Labelled ranges in all. */
  ranges: 256,
  /** Files whose clusters are drawn, and runs drawn per file. */
  files: 32,
  fileRuns: 16,
  /** Exact allocation runs kept per axis before snapping them to a grid of `grid` cells. */
  runs: 1024,
  grid: 2048,
} as const;

/**
 * Allocation runs of the window [start, end), exact until there are more than
 * MAP_LIMITS.runs, then snapped to a grid of MAP_LIMITS.grid cells (memory:
 * the grid, whatever the number of extents).
 */
class RunCollector {
  private runs: { start: number; length: number }[] = [];
  private grid: Uint8Array | null = null;
  private readonly cell: number;
  constructor(
    readonly start: number,
    readonly end: number,
  ) {
    const len = Math.max(1, end - start);
    this.cell = Math.max(1, Math.ceil(len / MAP_LIMITS.grid / SECTOR) * SECTOR);
  }

  add(offset: number, length: number): void {
    const s = Math.max(this.start, offset);
    const e = Math.min(this.end, offset + length);
    if (e <= s) return;
    if (this.grid) {
      this.mark(s, e);
      return;
    }
    const last = this.runs[this.runs.length - 1];
    if (last && last.start + last.length >= s) last.length = Math.max(last.length, e - last.start);
    else this.runs.push({ start: s, length: e - s });
    if (this.runs.length > MAP_LIMITS.runs) {
      this.grid = new Uint8Array(Math.ceil((this.end - this.start) / this.cell));
      for (const r of this.runs) this.mark(r.start, r.start + r.length);
      this.runs = [];
    }
  }

  private mark(s: number, e: number): void {
    const a = Math.floor((s - this.start) / this.cell);
    const b = Math.ceil((e - this.start) / this.cell);
    this.grid!.fill(1, a, b);
  }

  result(): Allocation {
    if (!this.grid) return { runs: this.runs, granularity: 1 };
    const runs: { start: number; length: number }[] = [];
    for (let i = 0; i < this.grid.length; i++) {
      if (!this.grid[i]) continue;
      let j = i;
      while (j + 1 < this.grid.length && this.grid[j + 1]) j++;
      const start = this.start + i * this.cell;
      runs.push({ start, length: Math.min(this.end, this.start + (j + 1) * this.cell) - start });
      i = j;
    }
    return { runs, granularity: this.cell };
  }
}

/** Contiguous runs of a cluster chain, as [first cluster, count]. */
function clusterRuns(chain: number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const c of chain) {
    const last = out[out.length - 1];
    if (last && last[0] + last[1] === c) last[1]++;
    else out.push([c, 1]);
  }
  return out;
}

/** The labelled structures: what the MBR, our loader and the FAT volume say. */
async function structures(ctx: OpenedImage, notes: string[]): Promise<MapRange[]> {
  const { disk, boot } = ctx;
  const out: MapRange[] = [];
  const add = (r: MapRange) => {
    const start = Math.max(0, Math.min(r.start, disk.size));
    const end = Math.max(start, Math.min(r.start + r.length, disk.size));
    if (end > start) out.push({ ...r, start, length: end - start });
  };
  let firstPartition = disk.size;
  // A FAT volume at LBA 0 (no partition table): its boot sector may also decode as an empty table.
  const superfloppy = ctx.fat !== null && ctx.partition === null;
  if (ctx.mbr && !superfloppy) {
    add({ kind: 'mbr', label: 'LBA 0: master boot record', start: 0, length: SECTOR, level: 0 });
    const parts = [...ctx.mbr.partitions].sort((a, b) => a.startLba - b.startLba);
    let end = SECTOR;
    for (const p of parts) {
      const start = p.startLba * SECTOR;
      firstPartition = Math.min(firstPartition, start);
      add({
        kind: 'partition',
        label: `Partition ${p.index + 1}`,
        start,
        length: p.sectors * SECTOR,
        level: 0,
        note: `${partitionTypeName(p.type)}${p.active ? ', active' : ''}`,
      });
      end = Math.max(end, start + p.sectors * SECTOR);
    }
    if (end < disk.size && parts.length) {
      add({ kind: 'unpartitioned', label: 'After the partitions', start: end, length: disk.size - end, level: 0 });
    }
  }
  let loaderEnd = ctx.mbr && !superfloppy ? SECTOR : 0;
  if (boot.ours) {
    const o = boot.ours;
    const at = o.stage2Lba * SECTOR;
    add({
      kind: 'loader',
      label: 'Stage 2 boot loader',
      start: at,
      length: o.stage2Sectors * SECTOR,
      level: 0,
      note: `LBA ${o.stage2Lba}, ${plural(o.stage2Sectors, 'sector')}`,
    });
    add({ kind: 'params', label: 'Parameter block', start: at + PARAMS_OFF, length: PARAMS_SIZE, level: 1 });
    add({
      kind: 'cmdline',
      label: 'Command line',
      start: at + CMDLINE_OFF,
      length: o.params.cmdline.length + 1,
      level: 1,
      note: `${plural(o.params.cmdline.length, 'byte')} and a NUL`,
    });
    loaderEnd = at + o.stage2Sectors * SECTOR;
  }
  if (ctx.mbr && firstPartition < disk.size && loaderEnd < firstPartition) {
    const lba = firstPartition / SECTOR;
    add({
      kind: 'gap',
      label: 'Gap before the partition',
      start: loaderEnd,
      length: firstPartition - loaderEnd,
      level: 0,
      note:
        boot.kind === 'grub'
          ? `up to LBA ${lba}, where the partition starts; GRUB usually keeps its core image here`
          : `up to LBA ${lba} (${formatBytes(firstPartition)}), where the partition starts`,
    });
  }
  const fat = ctx.fat;
  if (fat) {
    const bps = fat.bpb.bytesPerSector;
    const v = fat.offset;
    if (!ctx.partition) {
      add({
        kind: 'partition',
        label: 'FAT volume (no partition table)',
        start: v,
        length: fat.bpb.totalSectors * bps,
        level: 0,
      });
    }
    add({
      kind: 'boot-sector',
      label: 'FAT boot sector',
      start: v,
      length: bps,
      level: 1,
      note: `FAT${fat.type}, ${plural(fat.bpb.reservedSectors, 'reserved sector')}`,
    });
    const special = new Set([0]);
    if (fat.type === 32) {
      const fs = fat.bpb.fsInfoSector;
      if (fs > 0 && fs < fat.bpb.reservedSectors) {
        special.add(fs);
        add({ kind: 'fsinfo', label: 'FSInfo', start: v + fs * bps, length: bps, level: 1 });
      }
      const bb = fat.bpb.backupBootSector;
      if (bb > 0 && bb < fat.bpb.reservedSectors) {
        special.add(bb);
        add({ kind: 'boot-sector', label: 'Backup boot sector', start: v + bb * bps, length: bps, level: 1 });
      }
    }
    // The other reserved sectors, between the special ones.
    let s = 0;
    while (s < fat.bpb.reservedSectors) {
      if (special.has(s)) {
        s++;
        continue;
      }
      let e = s;
      while (e < fat.bpb.reservedSectors && !special.has(e)) e++;
      add({ kind: 'reserved', label: 'Reserved sectors', start: v + s * bps, length: (e - s) * bps, level: 1 });
      s = e;
    }
    for (let copy = 0; copy < fat.bpb.numFats; copy++) {
      add({
        kind: 'fat',
        label: `FAT ${copy + 1}`,
        start: fat.fatOffset(copy),
        length: fat.bpb.fatSectors * bps,
        level: 1,
        note: `${plural(fat.clusterCount, 'cluster')} of ${formatBytes(fat.clusterBytes)}`,
      });
    }
    if (fat.rootDirSectors > 0) {
      add({
        kind: 'root',
        label: 'Root directory',
        start: v + fat.rootDirStart * bps,
        length: fat.rootDirSectors * bps,
        level: 1,
        note: `${fat.bpb.rootEntries} entries`,
      });
    }
    add({
      kind: 'data',
      label: 'Data area',
      start: v + fat.dataStart * bps,
      length: fat.clusterCount * fat.clusterBytes,
      level: 1,
      note: `clusters 2 to ${fat.clusterCount + 1}`,
    });
    try {
      if (fat.type === 32) {
        const chain = await fat.chain(fat.bpb.rootCluster, fat.clusterCount, 'the root directory');
        for (const [c, n] of clusterRuns(chain).slice(0, MAP_LIMITS.fileRuns)) {
          add({
            kind: 'root',
            label: 'Root directory',
            start: fat.clusterOffset(c),
            length: n * fat.clusterBytes,
            level: 2,
            note: n === 1 ? `cluster ${c}` : `clusters ${c} to ${c + n - 1}`,
          });
        }
      }
      const entries = await fat.list();
      const files = entries.filter((e) => e.firstCluster !== 0);
      if (files.length > MAP_LIMITS.files) {
        notes.push(
          `The volume has ${files.length} files and directories; the clusters of ${MAP_LIMITS.files} are drawn (the kernel's first, then in directory order).`,
        );
      }
      // The kernel's file first: it is drawn whatever its place in the directories.
      const drawn = [
        ...files.filter((e) => e.path === boot.kernelPath),
        ...files.filter((e) => e.path !== boot.kernelPath),
      ];
      for (const e of drawn.slice(0, MAP_LIMITS.files)) {
        const kernel = !e.isDir && e.path === boot.kernelPath;
        const chain = await fat.chain(e.firstCluster, fat.clusterCount, e.path);
        const runs = clusterRuns(chain);
        if (runs.length > MAP_LIMITS.fileRuns) {
          notes.push(`${e.path} is in ${runs.length} pieces; the first ${MAP_LIMITS.fileRuns} are drawn.`);
        }
        runs.slice(0, MAP_LIMITS.fileRuns).forEach(([c, n], i) => {
          add({
            kind: kernel ? 'kernel' : e.isDir ? 'dir' : 'file',
            label: runs.length > 1 ? `${e.path} (piece ${i + 1} of ${runs.length})` : e.path,
            start: fat.clusterOffset(c),
            length: n * fat.clusterBytes,
            level: 2,
            note: `${e.isDir ? 'directory, ' : `${e.size.toLocaleString('en')} bytes, `}${n === 1 ? `cluster ${c}` : `clusters ${c} to ${c + n - 1}`}`,
          });
        });
      }
    } catch (e) {
      if (!isImageError(e)) throw e;
      notes.push(e.message);
    }
  }
  // Our loader finds the kernel by LBA even when no FAT file starts there.
  const p = boot.ours?.report.params;
  if (p && p.kernelSize > 0 && !out.some((r) => r.kind === 'kernel')) {
    add({
      kind: 'kernel',
      label: 'Kernel (by the parameter block)',
      start: p.kernelLba * SECTOR,
      length: Math.ceil(p.kernelSize / SECTOR) * SECTOR,
      level: 2,
      note: `LBA ${p.kernelLba}, ${p.kernelSize.toLocaleString('en')} bytes`,
    });
  }
  out.sort((a, b) => a.start - b.start || a.level - b.level);
  if (out.length <= MAP_LIMITS.ranges) return out;
  // Too many: the disk's and the loader's structures and the kernel's pieces stay (the kernel's inset
  // is drawn from them); other files' pieces are cut, the last ones on the disk first.
  const other = (r: MapRange) => r.kind === 'file' || r.kind === 'dir';
  const kept = out.filter((r) => !other(r));
  const room = Math.max(0, MAP_LIMITS.ranges - kept.length);
  const files = out.filter(other);
  notes.push(
    `The disk has ${out.length} structures to label; ${files.length - room} pieces of files other than the kernel, the last ones on the disk, are not drawn.`,
  );
  return [...kept, ...files.slice(0, room)].sort((a, b) => a.start - b.start || a.level - b.level);
}

/** The zoomed windows: the loader's sectors, the volume's first sectors, the tables, the kernel. */
function insetsFor(size: number, ranges: MapRange[]): Omit<MapInset, 'allocation'>[] {
  const out: Omit<MapInset, 'allocation'>[] = [];
  const first = (kind: MapKind) => ranges.find((r) => r.kind === kind);
  const endOf = (r: MapRange) => r.start + r.length;
  const window = (id: MapInset['id'], title: string, start: number, end: number) => {
    const s = Math.max(0, Math.floor(start / SECTOR) * SECTOR);
    const e = Math.min(size, Math.ceil(end / SECTOR) * SECTOR);
    // A window as large as the disk adds nothing to the main axis.
    if (e > s && e - s < size / 4) out.push({ id, title, start: s, length: e - s });
  };
  const mbr = first('mbr');
  const loader = first('loader');
  if (mbr || loader) {
    const end = loader ? endOf(loader) : SECTOR;
    // A little of the gap after stage 2, so that where it ends shows.
    window('boot', 'LBA 0 and the boot loader', 0, end + Math.max(2 * SECTOR, Math.ceil(end / 4 / SECTOR) * SECTOR));
  }
  const bs = first('boot-sector');
  const reserved = ranges.filter((r) => r.level === 1 && ['boot-sector', 'fsinfo', 'reserved'].includes(r.kind));
  if (bs && reserved.length)
    window('volume', "The FAT volume's first sectors", bs.start, Math.max(...reserved.map(endOf)));
  const tables = ranges.filter((r) => r.kind === 'fat' || (r.kind === 'root' && r.level === 1));
  const data = first('data');
  if (tables.length) {
    const start = Math.min(...tables.map((r) => r.start));
    const root2 = ranges.find((r) => r.kind === 'root' && r.level === 2);
    const end = Math.max(...tables.map(endOf), root2 ? endOf(root2) : data ? data.start : 0);
    window('tables', 'The FATs and the root directory', start, end);
  }
  const kernel = ranges.filter((r) => r.kind === 'kernel');
  if (kernel.length) {
    const start = Math.min(...kernel.map((r) => r.start));
    const end = Math.max(...kernel.map(endOf));
    const pad = Math.max(SECTOR, Math.ceil((end - start) / 8 / SECTOR) * SECTOR);
    window('kernel', "The kernel's clusters", start - pad, end + pad);
  }
  return out;
}

/** The map of an opened image: labelled structures, stored runs, zoomed windows. */
export async function diskMap(img: OpenedImage): Promise<DiskMap> {
  const { disk } = img;
  const notes: string[] = [];
  const ranges = await structures(img, notes);
  const insets = insetsFor(disk.size, ranges);
  const whole = new RunCollector(0, disk.size);
  const parts = insets.map((i) => new RunCollector(i.start, i.start + i.length));
  let storedBytes = 0;
  for await (const x of disk.extents()) {
    if (!x.allocated) continue;
    storedBytes += x.length;
    whole.add(x.offset, x.length);
    for (const p of parts) p.add(x.offset, x.length);
  }
  return {
    formatId: disk.formatId,
    size: disk.size,
    ranges,
    allocation: whole.result(),
    storedBytes,
    insets: insets.map((i, k) => ({ ...i, allocation: parts[k].result() })),
    notes,
  };
}
