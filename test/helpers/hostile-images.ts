/**
 * Structured generators of hostile images (issue 17): not random byte flips
 * but the shapes that made cost follow what a file claims: tables whose
 * entries share one data block (qcow2 L2, VHD BAT, VMDK grain tables, VDI
 * block map), tar archives with many members and long or broken sparse
 * maps, FAT volumes whose directories share chains or nest deeply, and boot
 * loaders with one field broken. Each takes a seeded random source and
 * gives the file's bytes. Used by scripts/fuzz-images.ts (npm run fuzz, and
 * test/fuzz.test.ts for a short run).
 */
import { gzipSync } from 'fflate';
import { planImage } from '../../src/core/image';
import { DEMO_KERNEL } from '../../src/core/demo-kernel.generated';
import { makePlan, readPlan, type ImagePlan, type Piece } from '../../src/core/plan';
import { collect } from '../../src/core/sink';
import { requireFormat } from '../../src/core/formats/index';
import { QCOW2, qcow2Layout } from '../../src/core/formats/qcow2';
import { VHD, vhdDynamicLayout } from '../../src/core/formats/vhd';
import { VMDK, vmdkSparseLayout } from '../../src/core/formats/vmdk';
import { VDI, vdiLayout } from '../../src/core/formats/vdi';
import { BLOCK, headerChecksum, HDR } from '../../src/core/formats/tar';
import { STAGE1_FIELDS_OFF } from '../../src/core/boot/loader.generated';
import { FatReader } from '../../src/core/fat/read';
import type { Rand } from './seeded';

const MiB = 1 << 20;
const OPTS = { timestamp: 1_700_000_000, seed: 7 };

const int = (r: Rand, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)];

/** A block of data: all one byte, every other sector, or noise (the runs a copy has to track). */
function pattern(r: Rand, n: number): Uint8Array {
  const b = new Uint8Array(n);
  const kind = int(r, 3);
  for (let i = 0; i < n; i++) {
    if (kind === 0) b[i] = 0xa5;
    else if (kind === 1) b[i] = (i >> 9) & 1 ? 0 : 1 + ((i >> 9) & 0x7f);
    else b[i] = int(r, 256);
  }
  return b;
}

/** A plan with a few data blocks of `block` bytes spread over `size`. */
function spreadPlan(r: Rand, size: number, block: number): ImagePlan {
  const pieces: Piece[] = [];
  const used = new Set<number>();
  for (let k = 0; k < 1 + int(r, 6); k++) {
    const b = int(r, Math.floor(size / block));
    if (used.has(b)) continue;
    used.add(b);
    pieces.push({ offset: b * block, bytes: pattern(r, block) });
  }
  return makePlan(size, pieces);
}

function be64(f: Uint8Array, at: number): number {
  const v = new DataView(f.buffer, f.byteOffset);
  return Number(v.getBigUint64(at));
}

/** qcow2 whose L2 entries (allocated or not) point at the image's data clusters, shared. */
async function qcow2Shared(r: Rand): Promise<Uint8Array> {
  const size = pick(r, [64, 128, 256]) * MiB;
  const plan = spreadPlan(r, size, QCOW2.CLUSTER);
  const f = await collect(requireFormat('qcow2'), plan, OPTS);
  const l = qcow2Layout(plan);
  const C = QCOW2.CLUSTER;
  const share = r();
  // Tables cover only the L1 entries with data: make every L1 entry's table exist by pointing at the first.
  for (let n = 0; n < l.l2Indexes.length; n++) {
    const t = (l.l2Start + n) * C;
    for (let i = 0; i < QCOW2.L2_ENTRIES; i++) {
      if ((l.l2Indexes[n] * QCOW2.L2_ENTRIES + i) * C >= size || r() > share) continue;
      const target = pick(r, [l.dataStart + int(r, Math.max(1, l.dataClusters.length)), l.l2Start, 0, l.l1Start]);
      new DataView(f.buffer).setBigUint64(t + i * 8, BigInt(target * C) | (1n << 63n));
    }
  }
  if (be64(f, QCOW2.OFF.size) !== size) throw new Error('internal: qcow2 header');
  return f;
}

/** Dynamic VHD whose BAT entries point at stored blocks, shared. */
async function vhdShared(r: Rand): Promise<Uint8Array> {
  const size = pick(r, [64, 128, 256]) * MiB;
  const plan = spreadPlan(r, size, VHD.BLOCK_SIZE);
  const f = await collect(requireFormat('vhd-dynamic'), plan, OPTS);
  const l = vhdDynamicLayout(plan);
  const dv = new DataView(f.buffer);
  const stored = (i: number) => (l.dataOffset + i * (VHD.BITMAP_SIZE + VHD.BLOCK_SIZE)) / 512;
  const share = r();
  for (let b = 0; b < l.maxTableEntries; b++) {
    if (r() > share) continue;
    dv.setUint32(l.batOffset + b * 4, l.blocks.length ? stored(int(r, l.blocks.length)) : 3);
  }
  return f;
}

/** monolithicSparse VMDK whose grain table entries point at stored grains, shared. */
async function vmdkShared(r: Rand): Promise<Uint8Array> {
  const size = pick(r, [32, 64, 128]) * MiB;
  const plan = spreadPlan(r, size, VMDK.GRAIN);
  const f = await collect(requireFormat('vmdk-sparse'), plan, OPTS);
  const l = vmdkSparseLayout(plan);
  const dv = new DataView(f.buffer);
  const share = r();
  for (const start of [l.rgtStart, l.gtStart]) {
    for (let g = 0; g < Math.ceil(size / VMDK.GRAIN); g++) {
      if (r() > share || !l.grains.length) continue;
      dv.setUint32(start * 512 + g * 4, l.overHead + int(r, l.grains.length) * VMDK.GRAIN_SECTORS, true);
    }
  }
  return f;
}

/** VDI whose block map entries point at allocated blocks, shared. */
async function vdiShared(r: Rand): Promise<Uint8Array> {
  const size = pick(r, [64, 128, 256]) * MiB;
  const plan = spreadPlan(r, size, VDI.BLOCK_SIZE);
  const f = await collect(requireFormat('vdi'), plan, OPTS);
  const l = vdiLayout(plan);
  const dv = new DataView(f.buffer);
  const share = r();
  for (let b = 0; b < l.blocks; b++) {
    if (r() > share || !l.allocated.length) continue;
    dv.setUint32(VDI.BLOCK_MAP_OFFSET + b * 4, int(r, l.allocated.length), true);
  }
  return f;
}

/** A ustar header block. */
export function tarHeader(name: string, type: string, size: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const put = (f: readonly [number, number], v: string) => h.set(new TextEncoder().encode(v).subarray(0, f[1]), f[0]);
  put(HDR.name, name);
  put(HDR.mode, '0000644\0');
  put(HDR.size, size.toString(8).padStart(11, '0') + '\0');
  put(HDR.mtime, '00000000000\0');
  put(HDR.typeflag, type);
  put(HDR.magic, 'ustar\x0000');
  put(HDR.chksum, headerChecksum(h).toString(8).padStart(6, '0') + '\0 ');
  return h;
}

/** A pax extended header ('x', named `name`) and its records, padded. */
export function pax(records: Record<string, string>, name = 'PaxHeaders/x'): Uint8Array[] {
  let body = '';
  for (const [k, v] of Object.entries(records)) {
    const rest = ` ${k}=${v}\n`;
    let len = rest.length + 1;
    while (String(len).length + rest.length !== len) len++;
    body += `${len}${rest}`;
  }
  const data = new TextEncoder().encode(body);
  return [tarHeader(name, 'x', data.length), padded(data)];
}

/** `b` padded with zeros to whole tar blocks. */
export function padded(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(b.length / BLOCK) * BLOCK);
  out.set(b);
  return out;
}

/** A tar.gz of many members (zeros, as repeated gzip members), sparse 1.0 maps long or broken, disk.raw or not. */
function tarMany(r: Rand): Uint8Array {
  const parts: Uint8Array[] = [];
  const zeros = gzipSync(new Uint8Array(MiB), { level: 1 });
  const members = 1 + int(r, 64);
  for (let m = 0; m < members; m++) {
    const kind = int(r, 4);
    const name = pick(r, ['disk.raw', './disk.raw', 'README', `f${m}.bin`, 'disk.raw/', '\x1b[2Jx']);
    if (kind === 0) {
      // A member of whole MiB of zeros.
      const mib = int(r, 48);
      parts.push(gzipSync(tarHeader(name, pick(r, ['0', '5', '7', 'K']), mib * MiB)));
      for (let i = 0; i < mib; i++) parts.push(zeros);
    } else if (kind === 1) {
      // A sparse 1.0 map: long, short, without line ends, with a huge count.
      const n = int(r, 4000);
      let text = pick(r, [String(n), '9'.repeat(int(r, 40) + 1), '']) + (r() < 0.7 ? '\n' : '') + '0\n512\n'.repeat(n);
      if (r() < 0.3) text = text.replace(/\n/g, '');
      const map = padded(new TextEncoder().encode(text));
      const stored = map.length + (r() < 0.5 ? BLOCK : 0);
      parts.push(
        gzipSync(
          new Uint8Array([
            ...pax({
              'GNU.sparse.major': '1',
              'GNU.sparse.minor': '0',
              'GNU.sparse.name': name,
              'GNU.sparse.realsize': String(64 * MiB),
            }).flatMap((b) => [...b]),
            ...tarHeader('GNUSparseFile.0/x', '0', stored),
            ...map,
            ...new Uint8Array(stored - map.length),
          ]),
        ),
      );
    } else if (kind === 2) {
      // A plain small file.
      const body = new TextEncoder().encode('x'.repeat(int(r, 3000)));
      parts.push(gzipSync(new Uint8Array([...tarHeader(name, '0', body.length), ...padded(body)])));
    } else {
      // A member whose size runs past the archive.
      parts.push(gzipSync(tarHeader(name, '0', int(r, 2 ** 40))));
      break;
    }
  }
  parts.push(gzipSync(new Uint8Array(2 * BLOCK)));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Our 64 MiB raw image with directories added whose chains share a tail, nest, or loop, and names with escapes. */
async function fatDirs(r: Rand): Promise<Uint8Array> {
  const built = planImage(DEMO_KERNEL, { size: 64 * MiB, args: 'fuzz' });
  const disk = new Uint8Array(built.plan.size);
  readPlan(built.plan, 0, disk);
  const source = { read: async (o: number, n: number) => disk.slice(o, o + n) };
  const part = 2048 * 512;
  const fat = await FatReader.open(source, part, disk.length - part);
  const dv = new DataView(disk.buffer);
  const setFat = (c: number, v: number) => {
    for (let k = 0; k < fat.bpb.numFats; k++) dv.setUint16(fat.fatOffset(k) + c * 2, v, true);
  };
  const top = fat.clusterCount + 1;
  const tailLength = 1 + int(r, 1000);
  const tail = top - tailLength;
  for (let i = 0; i < tailLength; i++) setFat(tail + i, i === tailLength - 1 ? 0xffff : tail + i + 1);
  const root = fat.offset + fat.rootDirStart * fat.bpb.bytesPerSector;
  const dirs = int(r, fat.bpb.rootEntries - 4);
  let made = 0;
  for (let slot = 0; slot < fat.bpb.rootEntries && made < dirs; slot++) {
    const at = root + slot * 32;
    if (disk[at] !== 0) continue;
    const c = tail - 1 - made;
    disk.set(new TextEncoder().encode(`D${String(made).padStart(7, '0')}   `), at);
    disk[at + 11] = 0x10;
    dv.setUint16(at + 26, c, true);
    setFat(c, pick(r, [tail, 0xffff, c, tail - 1 - int(r, made + 1)]));
    // Its first cluster: entries pointing at other directories (nesting, cycles).
    const co = fat.clusterOffset(c);
    for (let e = 0; e < int(r, 8); e++) {
      const eo = co + e * 32;
      disk.set(new TextEncoder().encode(`S${String(e).padStart(7, '0')}   `), eo);
      disk[eo + 11] = 0x10;
      dv.setUint16(eo + 26, tail - 1 - int(r, made + 1), true);
    }
    made++;
  }
  return disk;
}

/** Our image with one boot loader field or sector broken. */
function loaderDamage(r: Rand): Uint8Array {
  const built = planImage(DEMO_KERNEL, { size: 64 * MiB, args: 'fuzz' });
  const disk = new Uint8Array(built.plan.size);
  readPlan(built.plan, 0, disk);
  const dv = new DataView(disk.buffer);
  switch (int(r, 5)) {
    case 0:
      dv.setUint32(STAGE1_FIELDS_OFF, int(r, 2 ** 32), true);
      break;
    case 1:
      dv.setUint16(STAGE1_FIELDS_OFF + 4, int(r, 2 ** 16), true);
      break;
    case 2: {
      const s = 1 + int(r, 8);
      disk.fill(0, s * 512, (s + 1) * 512);
      break;
    }
    case 3:
      disk.fill(int(r, 256), int(r, 440), 440);
      break;
    default:
      disk[int(r, 440)] ^= 1 << int(r, 8);
  }
  return disk;
}

export const GENERATORS: Record<string, (r: Rand) => Uint8Array | Promise<Uint8Array>> = {
  'qcow2 shared L2 entries': qcow2Shared,
  'vhd shared BAT entries': vhdShared,
  'vmdk-sparse shared grain entries': vmdkShared,
  'vdi shared block map entries': vdiShared,
  'tar.gz many members and maps': tarMany,
  'FAT shared and nested directories': fatDirs,
  'boot loader damage': loaderDamage,
};
