/**
 * Where a FAT volume's structures go: the FAT type, the cluster size, the
 * reserved sectors, the FATs, the FAT12/16 root directory and the data area.
 * Pure arithmetic on sector counts; nothing here writes bytes.
 *
 * Facts from Microsoft's "FAT: General Overview of On-Disk Format" (fatgen103):
 * the FAT type follows from the cluster count alone (< 4085 FAT12, < 65525
 * FAT16, else FAT32) and the recommended sectors-per-cluster tables.
 */
import { fail } from '../errors';
import { formatBytes, SECTOR } from '../units';
import { DIRENT } from './dir';

export type FatType = 12 | 16 | 32;

export interface FatLayout {
  type: FatType;
  sectorsPerCluster: number;
  reservedSectors: number;
  fatSectors: number;
  rootDirSectors: number;
  /** First sector of cluster 2, relative to the volume. */
  dataStart: number;
  clusterCount: number;
}

/** Two copies of the FAT, as every tool expects. */
export const NUM_FATS = 2;
/** Entries of the fixed FAT12/16 root directory (FAT32's root is a cluster chain). */
export const ROOT_ENTRIES_12_16 = 512;
/** Clusters are numbered from 2; FAT entries 0 and 1 are reserved. */
export const FIRST_CLUSTER = 2;
/** FAT32's reserved area: 32 sectors, FSInfo in sector 1, the boot record's backup from sector 6. */
export const FAT32_RESERVED = { sectors: 32, fsInfo: 1, backupBoot: 6 } as const;
/** FAT12/16 reserve only the boot sector (before padding to a cluster boundary). */
const RESERVED_12_16 = 1;
/** The smallest cluster counts of FAT16 and FAT32; fewer clusters make the type below. */
export const MIN_CLUSTERS = { 16: 4085, 32: 65525 } as const;
/** FAT12/16 sectors per cluster stop at 128 (64 KiB clusters). */
const MAX_SPC = 128;

/** fatgen103's recommended cluster sizes, by volume size in sectors. */
const FAT32_SPC: [number, number][] = [
  [532480, 1],
  [16777216, 8],
  [33554432, 16],
  [67108864, 32],
  [Infinity, 64],
];
const FAT16_SPC: [number, number][] = [
  [32680, 2],
  [262144, 4],
  [524288, 8],
  [1048576, 16],
  [2097152, 32],
  [4194304, 64],
];
/** Volumes from 512 MiB on are FAT32 (Microsoft's default); below 8400 sectors FAT12. */
const FAT32_FROM = 1048576;
const FAT12_BELOW = 8400;

function pick(table: [number, number][], sectors: number): number {
  for (const [limit, spc] of table) if (sectors <= limit) return spc;
  return table[table.length - 1][1];
}

/** The FAT type a volume with `clusters` data clusters is, whatever its boot sector says. */
export function typeForCount(clusters: number): FatType {
  return clusters < MIN_CLUSTERS[16] ? 12 : clusters < MIN_CLUSTERS[32] ? 16 : 32;
}

/** Sectors of the fixed root directory: none on FAT32. */
export function rootDirSectorsFor(type: FatType): number {
  return type === 32 ? 0 : (ROOT_ENTRIES_12_16 * DIRENT.size) / SECTOR;
}

/**
 * Compute a layout for `sectors` with the given type and cluster size:
 * reserved sectors are padded so that the data area starts on a cluster
 * boundary (relative to the volume, which itself starts 1 MiB-aligned).
 */
function layoutFor(sectors: number, type: FatType, spc: number): FatLayout {
  const rootDirSectors = rootDirSectorsFor(type);
  const baseReserved = type === 32 ? FAT32_RESERVED.sectors : RESERVED_12_16;
  const entryBits = type;
  let fatSectors = 1;
  for (let iter = 0; iter < 64; iter++) {
    const unpadded = baseReserved + NUM_FATS * fatSectors + rootDirSectors;
    const reserved = baseReserved + ((spc - (unpadded % spc)) % spc);
    const dataStart = reserved + NUM_FATS * fatSectors + rootDirSectors;
    const clusters = Math.max(0, Math.floor((sectors - dataStart) / spc));
    const need = Math.ceil(((clusters + FIRST_CLUSTER) * entryBits) / 8 / SECTOR);
    if (need <= fatSectors) {
      return {
        type,
        sectorsPerCluster: spc,
        reservedSectors: reserved,
        fatSectors,
        rootDirSectors,
        dataStart,
        clusterCount: clusters,
      };
    }
    fatSectors = need;
  }
  throw new Error('internal: FAT layout did not converge');
}

/** Choose type and cluster size for a volume of `sectors`, per fatgen103. */
export function chooseLayout(sectors: number, forced?: FatType): FatLayout {
  let type: FatType = forced ?? (sectors >= FAT32_FROM ? 32 : sectors < FAT12_BELOW ? 12 : 16);
  let spc = type === 32 ? pick(FAT32_SPC, sectors) : type === 16 ? pick(FAT16_SPC, sectors) : 1;
  for (;;) {
    const l = layoutFor(sectors, type, spc);
    const actual = typeForCount(l.clusterCount);
    if (actual === type) return l;
    // Too many clusters for the type: bigger clusters. Too few: forced types fail, auto drops a type.
    if ((type === 12 && actual > 12) || (type === 16 && actual === 32)) {
      if (spc >= MAX_SPC) break;
      spc *= 2;
      continue;
    }
    if (forced !== undefined) break;
    if (type === 32) {
      type = 16;
      spc = pick(FAT16_SPC, sectors);
    } else if (type === 16) {
      type = 12;
      spc = 1;
    } else break;
  }
  fail(
    'FAT_NO_LAYOUT',
    `A FAT${forced ?? ''} volume of ${formatBytes(sectors * SECTOR)} (${sectors} sectors) cannot be laid out with a valid cluster count; choose another size.`,
  );
}

/**
 * How many clusters `files` need on a volume with this layout (excluding the
 * FAT32 root): their data, and one cluster for each directory they sit in
 * (`dir`: the names from the root down; the root itself is not counted).
 */
export function clustersNeeded(files: { size: number; dir?: readonly string[] }[], clusterBytes: number): number {
  let n = 0;
  const dirs = new Set<string>();
  for (const f of files) {
    n += Math.ceil(f.size / clusterBytes);
    (f.dir ?? []).forEach((_, i, d) => dirs.add(dirPath(d.slice(0, i + 1))));
  }
  return n + dirs.size;
}

/** A directory's path from the root as the allocator keys it ("EFI/BOOT"); FAT names ignore case. */
export function dirPath(names: readonly string[]): string {
  return names.join('/').toUpperCase();
}

/** Clusters the FAT32 root directory takes before the files (one); none on FAT12/16. */
export function rootClusters(type: FatType): number {
  return type === 32 ? 1 : 0;
}
