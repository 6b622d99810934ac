/**
 * FAT12/16/32, split by job:
 *   layout.ts       type, cluster size and where each structure goes (pure arithmetic)
 *   boot-sector.ts  BPB / FSInfo field offsets, their encoders, a BPB decoder
 *   dir.ts          directory entries: short names, long names, the volume label, DOS dates
 *   table.ts        the allocation table's entries and chains
 *   format.ts       formatFat(): files → plan pieces and regions of one volume
 *   read.ts         FatReader: a volume read back from a disk (untrusted), on demand
 *   rewrite.ts      rewriteFile(): one file of a volume read back given new bytes, as patches
 */
export { formatFat, type FatFile, type FatFileLocation, type FatOptions, type FatVolume } from './format';
export { chooseLayout, clustersNeeded, rootClusters, typeForCount, type FatLayout, type FatType } from './layout';
export { dosDateTime, FAT_EPOCH, FAT_LAST_TIME, lfnChecksum, normaliseLabel, shortName } from './dir';
export { decodeBpb, encodeBootSector, encodeFsInfo, type BootSector, type FatBpb } from './boot-sector';
export { FatReader, FAT_LIMITS, utf8Decode, type FatEntry, type FsInfo, type Readable } from './read';
export { rewriteFile } from './rewrite';
