/**
 * Reading VMDK sparse extents with their descriptor embedded, whoever wrote
 * them (VMware, ovftool, VirtualBox, `qemu-img -O vmdk`, ours):
 * `streamOptimized` (compressed grains after markers, the grain directory
 * found through the footer) and `monolithicSparse` (plain grains, grain
 * directory in the header). Zeroed-grain entries read as zeros.
 *
 * A text descriptor (a small file starting "# Disk DescriptorFile") keeps the
 * disk in other files, which a single ByteSource cannot open: a clear error
 * that names them (a single flat extent is the raw disk: open that file). So
 * is an embedded descriptor naming more than one extent, or a parent.
 *
 * Memory: the grain directory, a few grain tables and one decompressed grain.
 */
import { latin1, rd32le, rd64le } from '../bytes';
import { fail } from '../errors';
import { blockDisk, blockRuns, inflateBlock, hasMagic, readExact, type BlockLoc, type ImageReader } from './reader';
import type { ByteSource, DiskExtent, DiskImage } from './reader';
import { isZero } from '../plan';
import { formatBytes, hex, KIB, MIB, SECTOR } from '../units';
import { VMDK, vmdkFormat, vmdkSparseFormat } from './vmdk';
import { terminalSafe } from '../terminal';

export const VMDK_READ = {
  MAX_VERSION: 3,
  /** GTE value of a grain that reads as zeros (when FLAG_ZERO_GRAIN is set). */
  GTE_ZEROED: 1,
  FLAG_ZERO_GRAIN: 1 << 2,
  MAX_GRAIN_SECTORS: 2048,
  MAX_GTES_PER_GT: 4096,
  MAX_GD_BYTES: 32 * MIB,
  /** Descriptor text read at most (embedded or a descriptor file). */
  MAX_DESCRIPTOR: 64 * KIB,
  /** streamOptimized footer: footer marker, footer (a header copy), end-of-stream marker, from the end. */
  FOOTER_FROM_END: 3 * SECTOR,
  /** zlib stream header: CM = 8 (deflate) in the low nibble, FDICT bit 0x20 in the second byte. */
  ZLIB_HEADER: 2,
  GT_CACHE: 4,
  /** Contiguous grain tables read at once when walking the extents. */
  GT_BATCH: MIB,
} as const;

const R = VMDK_READ;
const DESCRIPTOR_FILE = 'descriptor file';

export interface VmdkExtentLine {
  access: string;
  sectors: number;
  type: string;
  file?: string;
  offset?: number;
}

export interface VmdkDescriptor {
  createType?: string;
  parentCID?: string;
  parentFileNameHint?: string;
  extents: VmdkExtentLine[];
}

/** Parse descriptor text (the `key=value` lines and the extent lines; comments and the DDB ignored). */
export function parseVmdkDescriptor(text: string): VmdkDescriptor {
  const d: VmdkDescriptor = { extents: [] };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const ext = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+([A-Z]+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?/.exec(line);
    if (ext) {
      d.extents.push({
        access: ext[1],
        sectors: Number(ext[2]),
        type: ext[3],
        file: ext[4],
        offset: ext[5] === undefined ? undefined : Number(ext[5]),
      });
      continue;
    }
    const kv = /^([A-Za-z.]+)\s*=\s*"?([^"]*)"?$/.exec(line);
    if (!kv) continue;
    if (kv[1] === 'createType') d.createType = kv[2];
    else if (kv[1] === 'parentCID') d.parentCID = kv[2];
    else if (kv[1] === 'parentFileNameHint') d.parentFileNameHint = kv[2];
  }
  return d;
}

function checkParent(d: VmdkDescriptor): void {
  if (d.parentFileNameHint || (d.parentCID && d.parentCID.toLowerCase() !== 'ffffffff')) {
    fail(
      'IMAGE_BACKING_FILE',
      `vmdk: the disk holds only changes against a parent${d.parentFileNameHint ? ` ("${terminalSafe(d.parentFileNameHint)}")` : ''}; consolidate it first (\`vmware-vdiskmanager -r\`, or \`qemu-img convert -O vmdk\` next to the parent) and open the result.`,
    );
  }
}

/** A text descriptor file: the disk is elsewhere. Always throws; says where. */
async function vmdkDescriptorError(source: ByteSource): Promise<never> {
  const head = await source.read(0, Math.min(source.size, R.MAX_DESCRIPTOR));
  const d = parseVmdkDescriptor(latin1(head, 0, head.length));
  checkParent(d);
  const files = d.extents.filter((e) => e.file).map((e) => `"${terminalSafe(e.file!)}"`);
  const single = d.extents.length === 1 ? d.extents[0] : undefined;
  if (single && single.type === 'FLAT' && single.file && !single.offset) {
    fail(
      'IMAGE_EXTENT_FILES',
      `vmdk: this is a ${terminalSafe(d.createType ?? 'VMDK')} ${DESCRIPTOR_FILE}; the disk itself is the file "${terminalSafe(single.file!)}" next to it, a raw disk: open that file instead.`,
    );
  }
  fail(
    'IMAGE_EXTENT_FILES',
    `vmdk: this is a ${terminalSafe(d.createType ?? 'VMDK')} ${DESCRIPTOR_FILE}; the disk is in ${files.length ? `other files (${files.join(', ')})` : 'other files'}, which cannot be opened from here; make one file of it first (\`qemu-img convert -O vmdk -o subformat=streamOptimized DESCRIPTOR.vmdk ONE.vmdk\`) and open that.`,
  );
}

interface Header {
  version: number;
  flags: number;
  capacity: number;
  grainSectors: number;
  descriptorOffset: number;
  descriptorSize: number;
  gtes: number;
  gdOffset: number;
  compress: number;
}

function parseHeader(b: Uint8Array): Header {
  const O = VMDK.OFF;
  return {
    version: rd32le(b, O.version),
    flags: rd32le(b, O.flags),
    capacity: rd64le(b, O.capacity),
    grainSectors: rd64le(b, O.grainSize),
    descriptorOffset: rd64le(b, O.descriptorOffset),
    descriptorSize: rd64le(b, O.descriptorSize),
    gtes: rd32le(b, O.numGTEsPerGT),
    gdOffset: rd64le(b, O.gdOffset),
    compress: b[O.compressAlgorithm] | (b[O.compressAlgorithm + 1] << 8),
  };
}

export async function openVmdk(source: ByteSource): Promise<DiskImage> {
  let h = parseHeader(await readExact(source, 0, SECTOR, 'vmdk: the header'));
  if (h.version < 1 || h.version > R.MAX_VERSION) {
    fail(
      'IMAGE_UNSUPPORTED',
      `vmdk: sparse extent version ${h.version} is not read here (1 to 3 are); convert it with \`qemu-img convert -O vmdk\`.`,
    );
  }
  // The embedded descriptor (if any) may name a parent or other extent files.
  let createType: string | undefined;
  if (h.descriptorOffset > 0 && h.descriptorSize > 0) {
    const len = Math.min(h.descriptorSize * SECTOR, R.MAX_DESCRIPTOR);
    const text = await readExact(source, h.descriptorOffset * SECTOR, len, 'vmdk: the embedded descriptor');
    const d = parseVmdkDescriptor(latin1(text, 0, text.length));
    checkParent(d);
    createType = d.createType;
    if (d.extents.length > 1 || d.extents.some((e) => e.type !== 'SPARSE')) {
      fail(
        'IMAGE_EXTENT_FILES',
        `vmdk: the embedded descriptor (${terminalSafe(d.createType ?? 'no createType')}) names ${d.extents.length} extents (${d.extents.map((e) => `${terminalSafe(e.type)} "${terminalSafe(e.file ?? '')}"`).join(', ')}), in other files that cannot be opened from here; make one file of it first (\`qemu-img convert -O vmdk -o subformat=streamOptimized\`) and open that.`,
      );
    }
  }
  const compressed = (h.flags & VMDK.FLAG_COMPRESSED) !== 0;
  const markers = (h.flags & VMDK.FLAG_MARKERS) !== 0;
  if (h.gdOffset === VMDK.GD_AT_END) {
    // streamOptimized written as a stream: the footer (a header copy) has the real gdOffset.
    const at = source.size - R.FOOTER_FROM_END;
    const tail = at >= SECTOR ? await source.read(at, R.FOOTER_FROM_END) : new Uint8Array(0);
    const ok =
      tail.length === R.FOOTER_FROM_END &&
      rd32le(tail, VMDK.MARKER.type) === VMDK.MARKER_FOOTER &&
      rd32le(tail, SECTOR) === VMDK.MAGIC &&
      rd32le(tail, 2 * SECTOR + VMDK.MARKER.type) === VMDK.MARKER_EOS;
    if (!ok) {
      fail(
        'IMAGE_TRUNCATED',
        'vmdk: the grain directory is "at the end", but the file does not end with a footer and an end-of-stream marker: it is truncated; copy it again.',
      );
    }
    h = parseHeader(tail.subarray(SECTOR, 2 * SECTOR));
    if (h.gdOffset === VMDK.GD_AT_END) {
      fail(
        'IMAGE_CORRUPT',
        'vmdk: the footer does not say where the grain directory is (gdOffset "at end" again): the image is damaged.',
      );
    }
  }
  if (compressed && h.compress !== VMDK.COMPRESS_DEFLATE) {
    fail(
      'IMAGE_UNSUPPORTED',
      `vmdk: compression algorithm ${h.compress} is not read here (1, deflate, is); convert it with \`qemu-img convert -O vmdk\`.`,
    );
  }
  const gs = h.grainSectors;
  if (gs < 1 || gs > R.MAX_GRAIN_SECTORS || (gs & (gs - 1)) !== 0) {
    fail(
      'IMAGE_CORRUPT',
      `vmdk: the grain size is ${gs} sectors, not a power of two from 1 to ${R.MAX_GRAIN_SECTORS}: the header is damaged.`,
    );
  }
  if (h.gtes < 1 || h.gtes > R.MAX_GTES_PER_GT) {
    fail(
      'IMAGE_CORRUPT',
      `vmdk: ${h.gtes} entries per grain table is outside 1..${R.MAX_GTES_PER_GT}: the header is damaged.`,
    );
  }
  const size = h.capacity * SECTOR;
  if (!Number.isSafeInteger(size)) {
    fail(
      'IMAGE_TOO_LARGE',
      `vmdk: the capacity of ${h.capacity} sectors is beyond what this reader addresses: the header is damaged.`,
    );
  }
  const grain = gs * SECTOR;
  const grains = Math.ceil(size / grain);
  const gts = Math.ceil(grains / h.gtes);
  if (gts * 4 > R.MAX_GD_BYTES) {
    fail(
      'IMAGE_TOO_LARGE',
      `vmdk: the grain directory would be ${formatBytes(gts * 4)}, above ${formatBytes(R.MAX_GD_BYTES)}: the header is damaged.`,
    );
  }
  const gd = await readExact(source, h.gdOffset * SECTOR, gts * 4, 'vmdk: the grain directory');
  const zeroGrains = (h.flags & R.FLAG_ZERO_GRAIN) !== 0;

  // Every grain table lives in the file, once: more tables than the file can hold means
  // directory entries share or overlap tables, and walking them would read the same bytes without end.
  let gtCount = 0;
  for (let k = 0; k < gts; k++) {
    const at = rd32le(gd, k * 4);
    if (at !== 0 && !(zeroGrains && at === R.GTE_ZEROED)) gtCount++;
  }
  if (gtCount * h.gtes * 4 > source.size) {
    fail(
      'IMAGE_CORRUPT',
      `vmdk: the grain directory points at ${gtCount} grain tables (${formatBytes(gtCount * h.gtes * 4)}), more than the ${formatBytes(source.size)} file holds: entries share tables; the image is damaged.`,
    );
  }

  const gtCache = new Map<number, Uint8Array>();
  async function table(k: number): Promise<Uint8Array | undefined> {
    const at = rd32le(gd, k * 4);
    if (at === 0 || (zeroGrains && at === R.GTE_ZEROED)) return undefined;
    let t = gtCache.get(at);
    if (t) return t;
    t = await readExact(source, at * SECTOR, h.gtes * 4, `vmdk: grain table ${k}`);
    if (gtCache.size >= R.GT_CACHE) gtCache.delete(gtCache.keys().next().value as number);
    gtCache.set(at, t);
    return t;
  }
  function isAllocated(gte: number): boolean {
    return gte !== 0 && !(zeroGrains && gte === R.GTE_ZEROED);
  }

  async function locate(index: number): Promise<BlockLoc> {
    const t = await table(Math.floor(index / h.gtes));
    if (!t) return { kind: 'zero' };
    const gte = rd32le(t, (index % h.gtes) * 4);
    if (!isAllocated(gte)) return { kind: 'zero' };
    if (!compressed) return { kind: 'data', offset: gte * SECTOR };
    return { kind: 'decoded', decode: () => readCompressedGrain(source, index, gte, grain, gs, markers) };
  }
  async function* runs(): AsyncGenerator<DiskExtent> {
    const span = grain * h.gtes;
    const gtBytes = h.gtes * 4;
    for (let k = 0; k < gts;) {
      const at = rd32le(gd, k * 4);
      if (at === 0 || (zeroGrains && at === R.GTE_ZEROED)) {
        yield { offset: k * span, length: span, allocated: false };
        k++;
        continue;
      }
      // Grain tables laid out one after another (monolithicSparse preallocates them all) are read together.
      let n = 1;
      while (k + n < gts && n * gtBytes < R.GT_BATCH && rd32le(gd, (k + n) * 4) === at + (n * gtBytes) / SECTOR) n++;
      const batch = await readExact(source, at * SECTOR, n * gtBytes, `vmdk: grain tables ${k} to ${k + n - 1}`);
      for (let i = 0; i < n; i++) {
        const t = batch.subarray(i * gtBytes, (i + 1) * gtBytes);
        if (isZero(t)) yield { offset: (k + i) * span, length: span, allocated: false };
        else yield* blockRuns((k + i) * span, h.gtes, grain, (j) => isAllocated(rd32le(t, j * 4)));
      }
      k += n;
    }
  }

  const id = compressed || createType === 'streamOptimized' ? vmdkFormat.id : vmdkSparseFormat.id;
  return blockDisk(id, size, source, { blockSize: grain, locate, runs });
}

async function readCompressedGrain(
  source: ByteSource,
  index: number,
  sector: number,
  grain: number,
  grainSectors: number,
  markers: boolean,
): Promise<Uint8Array> {
  const at = sector * SECTOR;
  const what = `vmdk: grain ${index} at ${hex(at)}`;
  let z: Uint8Array;
  if (markers) {
    const m = await readExact(source, at, 12, what);
    const lba = rd64le(m, VMDK.MARKER.value);
    const len = rd32le(m, VMDK.MARKER.size);
    if (len === 0 || len > 2 * grain) {
      fail(
        'IMAGE_CORRUPT',
        `${what}: its marker gives a compressed size of ${len} bytes, not 1 to ${2 * grain}: the image is damaged.`,
      );
    }
    if (lba !== index * grainSectors) {
      fail(
        'IMAGE_CORRUPT',
        `${what}: its marker says it holds LBA ${lba}, not ${index * grainSectors}: the image is damaged.`,
      );
    }
    z = await readExact(source, at + 12, len, what);
  } else {
    // No marker: the zlib stream starts at the sector; its length is not stored.
    z = await readExact(source, at, Math.min(2 * grain, source.size - at), what);
  }
  if (z.length < R.ZLIB_HEADER || (z[0] & 0x0f) !== 8 || (z[1] & 0x20) !== 0 || ((z[0] << 8) | z[1]) % 31 !== 0) {
    fail('IMAGE_CORRUPT', `${what}: the compressed grain does not start with a zlib header: the image is damaged.`);
  }
  return inflateBlock(z.subarray(R.ZLIB_HEADER), grain, what);
}

/** The text a VMDK descriptor file starts with (its data is in other files). */
const DESCRIPTOR_START = '# Disk DescriptorFile';

/** A sparse extent ("KDMV": streamOptimized, monolithicSparse), or a descriptor file, which is refused with what to do. */
export const vmdkReader: ImageReader = {
  name: 'VMDK',
  recognise: (p) => (p.head.length >= 4 && rd32le(p.head, 0) === VMDK.MAGIC) || hasMagic(p.head, 0, DESCRIPTOR_START),
  async open(source) {
    const head = await source.read(0, DESCRIPTOR_START.length);
    return hasMagic(head, 0, DESCRIPTOR_START) ? vmdkDescriptorError(source) : openVmdk(source);
  },
};
