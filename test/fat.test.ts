/**
 * The FAT boot sector module (src/core/fat/boot-sector.ts): its field table
 * and encoders, read back by the one FAT reader (src/core/fat/read.ts), on the boot records of planned images at FAT12, FAT16
 * and FAT32 sizes, checked against mtools' minfo, which reads the same fields.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { planImage, type BuiltImage } from '../src/core/image';
import { decodeBpb, encodeBootSector, type BootSector } from '../src/core/fat/index';
import { FatReader } from '../src/core/fat/read';
import { FSINFO, FSINFO_LEAD, FSINFO_STRUCT, FSINFO_TRAIL } from '../src/core/fat/boot-sector';
import { readPlan } from '../src/core/plan';
import { rd32le } from '../src/core/bytes';
import { PARTITION_LBA, SECTOR } from '../src/core/units';
import { parseSize } from '../src/core/size';
import { solo5Kernel } from './helpers/fixtures';
import { writePlanRange } from './helpers/image-files';
import { run, tempDir, tools } from './helpers/tools';

const tmp = tempDir('ukd-fat-');
afterAll(() => tmp.cleanup());

const SIZES = [
  ['5M', 12],
  ['64M', 16],
  ['600M', 32],
] as const;

/** `count` sectors of the FAT volume, from its sector `first`. */
function volumeSectors(img: BuiltImage, first: number, count = 1): Uint8Array {
  const out = new Uint8Array(count * SECTOR);
  readPlan(img.plan, (PARTITION_LBA + first) * SECTOR, out);
  return out;
}

/** The boot sector as the encoder takes it, read back by the one FAT reader (the one `unikernel-disk` uses). */
async function readBootSector(img: BuiltImage): Promise<BootSector> {
  const disk = {
    read: async (offset: number, length: number) => {
      const out = new Uint8Array(length);
      readPlan(img.plan, offset, out);
      return out;
    },
  };
  const f = await FatReader.open(disk, PARTITION_LBA * SECTOR, img.partition.sectors * SECTOR);
  const b = f.bpb;
  return {
    type: f.type,
    oemName: b.oemName,
    sectorsPerCluster: b.sectorsPerCluster,
    reservedSectors: b.reservedSectors,
    numFats: b.numFats,
    rootEntries: b.rootEntries,
    totalSectors: b.totalSectors,
    media: b.media,
    fatSectors: b.fatSectors,
    hiddenSectors: b.hiddenSectors,
    volumeId: f.serial ?? 0,
    volumeLabel: f.label,
    ...(f.type === 32
      ? { fat32: { rootCluster: b.rootCluster, fsInfoSector: b.fsInfoSector, backupBootSector: b.backupBootSector } }
      : {}),
  };
}

describe('FAT boot sector: field table, encoder, read back', () => {
  const kernel = solo5Kernel({ dataSize: 100 * 1024 });
  for (const [size, type] of SIZES) {
    it(`${size}: the FAT reader reads back the layout, and re-encoding gives the same sector (FAT${type})`, async () => {
      const img = planImage(kernel, { size: parseSize(size) });
      expect(img.fat.type).toBe(type);
      const bytes = volumeSectors(img, 0);
      const bs = await readBootSector(img);
      expect(bs).toMatchObject({
        type,
        oemName: 'U5IMAGE',
        sectorsPerCluster: img.fat.sectorsPerCluster,
        reservedSectors: img.fat.reservedSectors,
        numFats: 2,
        rootEntries: type === 32 ? 0 : 512,
        totalSectors: img.partition.sectors,
        media: 0xf8,
        fatSectors: img.fat.fatSectors,
        hiddenSectors: PARTITION_LBA,
        volumeLabel: 'UNIKERNEL',
      });
      expect(bs.fat32).toEqual(type === 32 ? { rootCluster: 2, fsInfoSector: 1, backupBootSector: 6 } : undefined);
      expect(encodeBootSector(bs)).toEqual(bytes);
    });
  }

  it('FAT32: FSInfo holds the free count, and sectors 6-8 back up sectors 0-2', () => {
    const img = planImage(kernel, { size: parseSize('600M') });
    const record = volumeSectors(img, 0, 3);
    expect(volumeSectors(img, 6, 3)).toEqual(record);
    const fsinfo = record.subarray(SECTOR, 2 * SECTOR);
    expect(rd32le(fsinfo, FSINFO.leadSignature)).toBe(FSINFO_LEAD);
    expect(rd32le(fsinfo, FSINFO.structSignature)).toBe(FSINFO_STRUCT);
    expect(rd32le(fsinfo, FSINFO.trailSignature)).toBe(FSINFO_TRAIL);
    expect(rd32le(fsinfo, FSINFO.freeCount)).toBe(img.fat.freeClusters);
    const f = img.fat.files[img.fat.files.length - 1]; // the UEFI loader, allocated last
    expect(rd32le(fsinfo, FSINFO.nextFree)).toBe(f.firstCluster + f.clusters);
    expect(record.subarray(2 * SECTOR + 510)).toEqual(Uint8Array.of(0x55, 0xaa));
  });

  it('the reader refuses a sector without the 55 AA signature', () => {
    expect(() => decodeBpb(new Uint8Array(SECTOR), SECTOR)).toThrow(/55 AA/);
  });
});

/** minfo's "key: value" and "key=value" lines. */
function minfo(path: string): Map<string, string> {
  const out = run('minfo', ['-i', `${path}@@${PARTITION_LBA * SECTOR}`, '::']);
  const fields = new Map<string, string>();
  for (const line of out.split('\n')) {
    const m = /^([^:=]+?)\s*[:=]\s*(.*)$/.exec(line.trim());
    if (m) fields.set(m[1], m[2].replace(/^"|"$/g, ''));
  }
  return fields;
}

describe.skipIf(!tools('minfo'))('FAT boot sector read by mtools (minfo)', () => {
  const kernel = solo5Kernel({ dataSize: 100 * 1024 });
  for (const [size, type] of SIZES) {
    it(`${size}: minfo sees the fields the FAT reader sees (FAT${type})`, async () => {
      const img = planImage(kernel, { size: parseSize(size) });
      const bs = await readBootSector(img);
      const disk = tmp.path(`fat-${size}.img`);
      writePlanRange(img.plan, disk);
      const m = minfo(disk);
      expect(m.get('banner')).toBe(bs.oemName.padEnd(8));
      expect(m.get('sector size')).toBe(`${SECTOR} bytes`);
      expect(m.get('cluster size')).toBe(`${bs.sectorsPerCluster} sectors`);
      expect(m.get('reserved (boot) sectors')).toBe(String(bs.reservedSectors));
      expect(m.get('fats')).toBe(String(bs.numFats));
      expect(m.get('max available root directory slots')).toBe(String(bs.rootEntries));
      expect(m.get('media descriptor byte')).toBe('0x' + bs.media.toString(16));
      expect(m.get('hidden sectors')).toBe(String(bs.hiddenSectors));
      expect(m.get('serial number')).toBe(bs.volumeId.toString(16).toUpperCase().padStart(8, '0'));
      expect(m.get('disk label')).toBe(bs.volumeLabel.padEnd(11));
      expect(m.get('disk type')).toBe(`FAT${bs.type}`.padEnd(8));
      // The 16-bit count holds FAT12/16 sizes below 65536 sectors; the rest use the 32-bit one.
      const small = type !== 32 && bs.totalSectors < 0x10000;
      expect(m.get('small size')).toBe(`${small ? bs.totalSectors : 0} sectors`);
      expect(m.get('big size')).toBe(small ? undefined : `${bs.totalSectors} sectors`);
      if (type === 32) {
        expect(m.get('sectors per fat')).toBe('0');
        expect(m.get('Big fatlen')).toBe(String(bs.fatSectors));
        expect(m.get('rootCluster')).toBe(String(bs.fat32!.rootCluster));
        expect(m.get('infoSector location')).toBe(String(bs.fat32!.fsInfoSector));
        expect(m.get('backup boot sector')).toBe(String(bs.fat32!.backupBootSector));
        expect(m.get('free clusters')).toBe(String(img.fat.freeClusters));
      } else {
        expect(m.get('sectors per fat')).toBe(String(bs.fatSectors));
      }
    });
  }
});
