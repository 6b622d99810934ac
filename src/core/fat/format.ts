/**
 * FAT12/16/32 formatter that produces plan pieces instead of a volume-sized
 * buffer: boot sector(s), FSInfo, the used head of each FAT, the root
 * directory, the subdirectories and the files' data (referenced, not
 * copied). Everything else is zero. Files are allocated contiguously, in
 * order, right after the root directory (a subdirectory's one cluster just
 * before its first file), so a boot loader needs only a file's first sector
 * and size.
 *
 * The layout comes from layout.ts, the bytes of each structure from
 * boot-sector.ts, dir.ts and table.ts; this module checks the files, places
 * them and assembles the pieces and the regions.
 */
import { fail } from '../errors';
import { PART_TYPE } from '../mbr';
import type { Piece, Region } from '../plan';
import { formatBytes, SECTOR } from '../units';
import {
  encodeBootSector,
  encodeFsInfo,
  encodeSignatureSector,
  FAT32_BOOT_RECORD_SECTORS,
  FSINFO_UNKNOWN,
  MEDIA_FIXED,
  NO_LABEL,
  OEM_NAME,
} from './boot-sector';
import {
  ATTR,
  DIRENT,
  displayShortName,
  dosDateTime,
  encodeDirectory,
  encodeDotEntries,
  encodeShortEntry,
  encodeVolumeLabelEntry,
  lfnChecksum,
  lfnEntries,
  normaliseLabel,
  shortName,
} from './dir';
import {
  chooseLayout,
  clustersNeeded,
  dirPath,
  FAT32_RESERVED,
  FIRST_CLUSTER,
  NUM_FATS,
  ROOT_ENTRIES_12_16,
  rootClusters,
  type FatLayout,
  type FatType,
} from './layout';
import { encodeFatHead, type Chain } from './table';

/** The largest file FAT can hold: its size field is 32 bits. */
const MAX_FILE_SIZE = 0xffffffff;

export interface FatFile {
  /** Name as users see it, e.g. "unikernel.bin"; long names get a long-name entry. */
  name: string;
  /**
   * The directories it sits in, from the root down (["EFI", "BOOT"]); none:
   * the root. Each directory takes one cluster.
   */
  dir?: readonly string[];
  bytes: Uint8Array;
}

export interface FatOptions {
  /** Volume size in 512-byte sectors. */
  sectors: number;
  /** LBA of the volume on its disk (BPB hidden sectors). */
  hiddenSectors: number;
  /** Up to 11 characters; upper-cased. Empty for none. */
  label: string;
  serial: number;
  /** Seconds since 1970-01-01 UTC, for every timestamp. */
  timestamp: number;
  files: FatFile[];
  /** Force a FAT type (tests); normally chosen from the size. */
  type?: FatType;
}

export interface FatFileLocation {
  name: string;
  /** From the root, "/"-separated: "EFI/BOOT/BOOTX64.EFI". */
  path: string;
  shortName: string;
  firstCluster: number;
  clusters: number;
  /** Byte offset of the file's data from the start of the volume. */
  offset: number;
  size: number;
}

export interface FatVolume extends FatLayout {
  partitionType: number;
  /** Offsets relative to the start of the volume. */
  pieces: Piece[];
  regions: Region[];
  files: FatFileLocation[];
  freeClusters: number;
}

const PARTITION_TYPE: Record<FatType, number> = {
  12: PART_TYPE.fat12,
  16: PART_TYPE.fat16lba,
  32: PART_TYPE.fat32lba,
};

/** Byte offset of a volume sector. */
const at = (sector: number) => sector * SECTOR;

/** Fail unless every file fits in FAT's 32-bit size field and all of them in the data area. */
function checkFits(opts: FatOptions, l: FatLayout): void {
  for (const f of opts.files) {
    if (f.bytes.length > MAX_FILE_SIZE) {
      fail(
        'FAT_FILE_TOO_BIG',
        `The file ${f.name} is ${formatBytes(f.bytes.length)}; FAT files are at most 4 GiB - 1 byte.`,
      );
    }
  }
  const clusterBytes = l.sectorsPerCluster * SECTOR;
  const need =
    rootClusters(l.type) +
    clustersNeeded(
      opts.files.map((f) => ({ size: f.bytes.length, dir: f.dir })),
      clusterBytes,
    );
  if (need > l.clusterCount) {
    fail(
      'FAT_FULL',
      `The files need ${need} clusters of ${formatBytes(clusterBytes)} (${formatBytes(need * clusterBytes)}) but the FAT${l.type} volume of ${formatBytes(opts.sectors * SECTOR)} has ${l.clusterCount}; choose a larger disk size.`,
    );
  }
}

/** A directory being filled: its cluster (0 for the root), entries and short names. */
interface DirNode {
  cluster: number;
  path: string;
  entries: Uint8Array[];
  taken: Set<string>;
  children: Map<string, DirNode>;
}

/**
 * Place the files one after another (after FAT32's root directory), each
 * subdirectory in one cluster just before the first file inside it, and
 * write the directory entries: the root's volume label first, then entries
 * in the order the files come. Returns the locations, the directories and
 * the first cluster after the last of them.
 */
function allocate(
  opts: FatOptions,
  l: FatLayout,
  label: string,
): { files: FatFileLocation[]; root: DirNode; dirs: DirNode[]; end: number } {
  const clusterBytes = l.sectorsPerCluster * SECTOR;
  const when = dosDateTime(opts.timestamp);
  let next = FIRST_CLUSTER + rootClusters(l.type);
  const node = (cluster: number, path: string): DirNode => ({
    cluster,
    path,
    entries: [],
    taken: new Set(),
    children: new Map(),
  });
  const root = node(0, '');
  const dirs: DirNode[] = [];
  const files: FatFileLocation[] = [];
  const addEntries = (into: DirNode, name: string, attr: number, firstCluster: number, size: number) => {
    const n = shortName(name, into.taken);
    if (n.long) into.entries.push(...lfnEntries(n.long, lfnChecksum(n.short)));
    into.entries.push(encodeShortEntry({ name: n.short, attr, caseFlags: n.caseFlags, firstCluster, size, when }));
    return n;
  };
  if (label) root.entries.push(encodeVolumeLabelEntry(label, when));
  for (const f of opts.files) {
    let parent = root;
    for (const [i, name] of (f.dir ?? []).entries()) {
      const key = dirPath((f.dir ?? []).slice(0, i + 1));
      let d = parent.children.get(key);
      if (!d) {
        d = node(next++, parent.path ? `${parent.path}/${name}` : name);
        d.entries.push(...encodeDotEntries(d.cluster, parent.cluster, when));
        addEntries(parent, name, ATTR.directory, d.cluster, 0);
        parent.children.set(key, d);
        dirs.push(d);
      }
      parent = d;
    }
    const clusters = Math.ceil(f.bytes.length / clusterBytes);
    const first = clusters ? next : 0;
    next += clusters;
    const n = addEntries(parent, f.name, ATTR.archive, first, f.bytes.length);
    files.push({
      name: f.name,
      path: parent.path ? `${parent.path}/${f.name}` : f.name,
      shortName: displayShortName(n.short),
      firstCluster: first,
      clusters,
      offset: clusterOffset(l, first),
      size: f.bytes.length,
    });
  }
  const rootCapacity = l.type === 32 ? clusterBytes / DIRENT.size : ROOT_ENTRIES_12_16;
  for (const d of [root, ...dirs]) {
    const capacity = d === root ? rootCapacity : clusterBytes / DIRENT.size;
    if (d.entries.length > capacity) {
      fail(
        'FAT_ROOT_FULL',
        `The ${d === root ? 'root directory' : `directory /${d.path}`} holds ${capacity} entries here but ${d.entries.length} are needed; use fewer or shorter file names.`,
      );
    }
  }
  return { files, root, dirs, end: next };
}

/** Byte offset of a cluster from the start of the volume. */
function clusterOffset(l: FatLayout, cluster: number): number {
  return at(l.dataStart + (cluster - FIRST_CLUSTER) * l.sectorsPerCluster);
}

/** Byte offset of the root directory: the fixed area on FAT12/16, cluster 2 on FAT32. */
function rootOffset(l: FatLayout): number {
  return l.type === 32 ? at(l.dataStart) : at(l.reservedSectors + NUM_FATS * l.fatSectors);
}

/** The volume's regions, relative to its start, each with its kind. */
function fatRegions(l: FatLayout, sectors: number): Region[] {
  const fat32 = l.type === 32;
  const regions: Region[] = [
    {
      kind: 'fat-reserved',
      name: fat32 ? 'Reserved sectors' : 'Boot sector',
      start: 0,
      length: at(l.reservedSectors),
      note: fat32
        ? 'FAT32 boot record, FSInfo and their backups (reserved sectors)'
        : 'Boot sector with the BIOS parameter block',
    },
  ];
  for (let i = 0; i < NUM_FATS; i++) {
    regions.push({
      kind: 'fat',
      name: `FAT ${i + 1}`,
      start: at(l.reservedSectors + i * l.fatSectors),
      length: at(l.fatSectors),
      note: i === 0 ? `File allocation table: one ${l.type}-bit entry per cluster` : 'Second copy of the FAT',
    });
  }
  if (!fat32)
    regions.push({
      kind: 'root',
      name: 'Root directory',
      start: rootOffset(l),
      length: at(l.rootDirSectors),
      note: `${ROOT_ENTRIES_12_16} directory entries`,
    });
  regions.push({
    kind: 'data',
    name: 'Data',
    start: at(l.dataStart),
    length: at(sectors - l.dataStart),
    note: `${l.clusterCount} clusters of ${formatBytes(l.sectorsPerCluster * SECTOR)}`,
  });
  return regions;
}

/** Format a FAT volume holding `files`. */
export function formatFat(opts: FatOptions): FatVolume {
  const l = chooseLayout(opts.sectors, opts.type);
  const { type } = l;
  const label = normaliseLabel(opts.label);
  checkFits(opts, l);
  const { files, root, dirs, end } = allocate(opts, l, label);
  const freeClusters = l.clusterCount - (end - FIRST_CLUSTER);

  const chains: Chain[] = files.map((f) => ({ firstCluster: f.firstCluster, clusters: f.clusters }));
  for (const d of dirs) chains.push({ firstCluster: d.cluster, clusters: 1 });
  if (type === 32) chains.unshift({ firstCluster: FIRST_CLUSTER, clusters: rootClusters(type) });
  const fat = encodeFatHead(type, MEDIA_FIXED, end, chains);

  const bootSector = encodeBootSector({
    type,
    oemName: OEM_NAME,
    sectorsPerCluster: l.sectorsPerCluster,
    reservedSectors: l.reservedSectors,
    numFats: NUM_FATS,
    rootEntries: type === 32 ? 0 : ROOT_ENTRIES_12_16,
    totalSectors: opts.sectors,
    media: MEDIA_FIXED,
    fatSectors: l.fatSectors,
    hiddenSectors: opts.hiddenSectors,
    volumeId: opts.serial,
    volumeLabel: label || NO_LABEL,
    ...(type === 32 && {
      fat32: {
        rootCluster: FIRST_CLUSTER,
        fsInfoSector: FAT32_RESERVED.fsInfo,
        backupBootSector: FAT32_RESERVED.backupBoot,
      },
    }),
  });

  const pieces: Piece[] = [];
  if (type === 32) {
    // Sectors 0-2 are the boot record (the last carries only the signature, as
    // some tools expect); 6-8 are its backup.
    const record = new Uint8Array(at(FAT32_BOOT_RECORD_SECTORS));
    record.set(bootSector, 0);
    record.set(
      encodeFsInfo({ freeClusters, nextFree: freeClusters > 0 ? end : FSINFO_UNKNOWN }),
      at(FAT32_RESERVED.fsInfo),
    );
    record.set(encodeSignatureSector(), at(FAT32_BOOT_RECORD_SECTORS - 1));
    pieces.push({ offset: 0, bytes: record });
    pieces.push({ offset: at(FAT32_RESERVED.backupBoot), bytes: record.slice() });
  } else {
    pieces.push({ offset: 0, bytes: bootSector });
  }
  for (let i = 0; i < NUM_FATS; i++)
    pieces.push({ offset: at(l.reservedSectors + i * l.fatSectors), bytes: i === 0 ? fat : fat.slice() });
  pieces.push({ offset: rootOffset(l), bytes: encodeDirectory(root.entries) });
  for (const d of dirs) pieces.push({ offset: clusterOffset(l, d.cluster), bytes: encodeDirectory(d.entries) });
  opts.files.forEach((f, i) => {
    if (f.bytes.length) pieces.push({ offset: files[i].offset, bytes: f.bytes });
  });

  return {
    ...l,
    partitionType: PARTITION_TYPE[type],
    pieces,
    regions: fatRegions(l, opts.sectors),
    files,
    freeClusters,
  };
}
