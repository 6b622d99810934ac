/**
 * Small generated kernels for tests: ELF files with a Multiboot header, built
 * byte by byte here (nothing from other projects). `solo5Kernel()` has the
 * layout of a real Solo5 virtio kernel (ELF64, header at file offset 0x1000+,
 * flags 0x10003, a.out-kludge fields, load at 0x100000).
 */
import { encodeManifest, type Solo5Device } from '../../src/core/solo5';

const MB_MAGIC = 0x1badb002;

function w16(b: Uint8Array, o: number, v: number) {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}
function w32(b: Uint8Array, o: number, v: number) {
  w16(b, o, v & 0xffff);
  w16(b, o + 2, v >>> 16);
}
function w64(b: Uint8Array, o: number, v: number) {
  w32(b, o, v % 2 ** 32);
  w32(b, o + 4, Math.floor(v / 2 ** 32));
}

export interface Solo5KernelOptions {
  /** Bytes of the load slice after the header page (code + data). */
  dataSize?: number;
  bssSize?: number;
  /** Solo5 ABI note target: 1 hvt, 2 spt, 3 virtio; undefined for none. */
  abiTarget?: number;
  /** Multiboot flags (default 0x10003). */
  flags?: number;
  /** Break the checksum. */
  badChecksum?: boolean;
  /** Leave the Multiboot header out. */
  noMultiboot?: boolean;
  /** Override individual kludge fields. */
  headerAddr?: number;
  loadAddr?: number;
  loadEndAddr?: number;
  bssEndAddr?: number;
  entryAddr?: number;
  /** Fill byte for the data (a pattern by default). */
  fill?: number;
  /** Solo5 ABI version in the ABI note (default 1). */
  abiVersion?: number;
  /** Raw ABI note descriptor, instead of {abiTarget, abiVersion, 0, 0}. */
  abiDesc?: Uint8Array;
  /** Declared devices: adds an MFT1 manifest note (in its own PT_NOTE segment after the load slice). */
  devices?: Solo5Device[];
  /** Raw MFT1 descriptor (padding first), instead of one encoded from `devices`. */
  manifestDesc?: Uint8Array;
  /** Write the manifest note twice. */
  twoManifests?: boolean;
}

function note(type: number, desc: Uint8Array): Uint8Array {
  const n = new Uint8Array(20 + ((desc.length + 3) & ~3));
  w32(n, 0, 6); // namesz "Solo5\0"
  w32(n, 4, desc.length);
  w32(n, 8, type);
  n.set([0x53, 0x6f, 0x6c, 0x6f, 0x35, 0], 12);
  n.set(desc, 20);
  return n;
}

/**
 * ELF64 x86-64 file: ELF header + 2 program headers (PT_LOAD, PT_NOTE) in the
 * first page; the load slice is file [0x1000, 0x1000 + 0x1000 + dataSize),
 * loaded at 0x100000; the Multiboot header sits at file offset 0x1000 + 0x20
 * (header_addr 0x100020), entry_addr 0x100040 and the ELF e_entry elsewhere.
 */
export function solo5Kernel(o: Solo5KernelOptions = {}): Uint8Array {
  const dataSize = o.dataSize ?? 0x3000;
  const sliceSize = 0x1000 + dataSize;
  const fileSize = 0x1000 + sliceSize;
  const mftDesc = o.manifestDesc ?? (o.devices ? encodeManifest(o.devices) : undefined);
  let mftNotes = new Uint8Array(0);
  if (mftDesc) {
    const one = note(0x3154464d, mftDesc);
    mftNotes = new Uint8Array(one.length * (o.twoManifests ? 2 : 1));
    mftNotes.set(one, 0);
    if (o.twoManifests) mftNotes.set(one, one.length);
  }
  const mftAt = (fileSize + 7) & ~7;
  const b = new Uint8Array(mftDesc ? mftAt + mftNotes.length : fileSize);
  // ELF header
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0);
  w16(b, 16, 2); // ET_EXEC
  w16(b, 18, 62); // EM_X86_64
  w32(b, 20, 1);
  w64(b, 24, 0x100300); // e_entry: 64-bit code, not the Multiboot entry
  w64(b, 32, 64); // e_phoff
  w16(b, 52, 64);
  w16(b, 54, 56);
  const notes = o.abiTarget !== undefined || o.abiDesc !== undefined;
  w16(b, 56, 1 + (notes ? 1 : 0) + (mftDesc ? 1 : 0));
  // PT_LOAD
  const ph = 64;
  w32(b, ph, 1);
  w32(b, ph + 4, 7);
  w64(b, ph + 8, 0x1000);
  w64(b, ph + 16, 0x100000);
  w64(b, ph + 24, 0x100000);
  w64(b, ph + 32, sliceSize);
  w64(b, ph + 40, sliceSize + (o.bssSize ?? 0x2000));
  w64(b, ph + 48, 0x1000);
  const ptNote = (at: number, size: number, align: number) => {
    const p = ph + 56 * w16count++;
    w32(b, p, 4);
    w32(b, p + 4, 4);
    w64(b, p + 8, at);
    w64(b, p + 32, size);
    w64(b, p + 40, size);
    w64(b, p + 48, align);
  };
  let w16count = 1;
  if (notes) {
    // PT_NOTE pointing at a "Solo5" ABI1 note at file offset 0x200
    let desc = o.abiDesc;
    if (!desc) {
      desc = new Uint8Array(16);
      w32(desc, 0, o.abiTarget!);
      w32(desc, 4, o.abiVersion ?? 1);
    }
    const n = note(0x31494241, desc);
    b.set(n, 0x200);
    ptNote(0x200, n.length, 4);
  }
  if (mftDesc) {
    b.set(mftNotes, mftAt);
    ptNote(mftAt, mftNotes.length, 4); // p_align 4, as readelf reads Solo5 notes
  }
  // Load slice content: a recognisable pattern.
  for (let i = 0x2000; i < fileSize; i++) b[i] = o.fill ?? (i * 7 + (i >>> 8)) & 0xff;
  if (!o.noMultiboot) {
    const h = 0x1020;
    const flags = o.flags ?? 0x00010003;
    w32(b, h, MB_MAGIC);
    w32(b, h + 4, flags);
    w32(b, h + 8, (-(MB_MAGIC + flags) >>> 0) + (o.badChecksum ? 1 : 0));
    w32(b, h + 12, o.headerAddr ?? 0x100020);
    w32(b, h + 16, o.loadAddr ?? 0x100000);
    w32(b, h + 20, o.loadEndAddr ?? 0x100000 + sliceSize);
    w32(b, h + 24, o.bssEndAddr ?? 0x100000 + sliceSize + (o.bssSize ?? 0x2000));
    w32(b, h + 28, o.entryAddr ?? 0x100040);
  }
  return b;
}

/** ELF32 kernel with two PT_LOAD segments and a Multiboot header without the kludge bit. */
export function elf32Kernel(): Uint8Array {
  const b = new Uint8Array(0x3000);
  b.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1, 0], 0);
  w16(b, 16, 2);
  w16(b, 18, 3);
  w32(b, 20, 1);
  w32(b, 24, 0x200010); // entry
  w32(b, 28, 52);
  w16(b, 40, 52);
  w16(b, 42, 32);
  w16(b, 44, 2);
  const seg = (o: number, off: number, addr: number, filesz: number, memsz: number) => {
    w32(b, o, 1);
    w32(b, o + 4, off);
    w32(b, o + 8, addr);
    w32(b, o + 12, addr);
    w32(b, o + 16, filesz);
    w32(b, o + 20, memsz);
    w32(b, o + 24, 5);
    w32(b, o + 28, 0x1000);
  };
  seg(52, 0x1000, 0x200000, 0x1000, 0x1000);
  seg(84, 0x2000, 0x300000, 0x800, 0x4000);
  const h = 0x1008;
  w32(b, h, MB_MAGIC);
  w32(b, h + 4, 3);
  w32(b, h + 8, -(MB_MAGIC + 3) >>> 0);
  return b;
}
