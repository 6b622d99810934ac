/**
 * openDisk(): any image file → the virtual disk inside it. The container is
 * recognised by its content (magic numbers), never by the file name: each
 * reader in `READERS` (index.ts) says what its container looks like, and the
 * first that recognises the file opens it (raw, last, takes anything).
 * Containers we recognise but do not read (VHDX, QED, compressed archives,
 * a kernel given instead of an image) are refused first, with IMAGE_UNSUPPORTED
 * and what to do.
 */
import { isElf } from '../elf';
import { fail, isImageError } from '../errors';
import { findMultiboot } from '../multiboot';
import { SECTOR } from '../units';
import { READERS } from './index';
import { gceReader } from './gce-read';
import { rawReader } from './raw-read';
import { hasMagic, type ByteSource, type ContainerProbe, type DiskImage, type ImageReader } from './reader';

/** Magic numbers of files we recognise but do not read, and what to say about them. */
const FOREIGN: readonly { at: number; magic: string | readonly number[]; what: string; fix: string }[] = [
  {
    at: 0,
    magic: 'vhdxfile',
    what: 'a VHDX image',
    fix: 'convert it first: `qemu-img convert -O vpc` or `-O qcow2`',
  },
  { at: 0, magic: [0x51, 0x45, 0x44, 0x00], what: 'a QED image', fix: 'convert it first: `qemu-img convert -O qcow2`' },
  {
    at: 0,
    magic: 'COWD',
    what: 'a VMware ESX 2 (COWD) sparse extent',
    fix: 'convert it first: `qemu-img convert -O vmdk`',
  },
  {
    at: 0,
    magic: 'WithoutFreeSpace',
    what: 'a Parallels image',
    fix: 'convert it first: `qemu-img convert -O qcow2`',
  },
  {
    at: 0,
    magic: 'WithouFreSpacExt',
    what: 'a Parallels image',
    fix: 'convert it first: `qemu-img convert -O qcow2`',
  },
  {
    at: 0,
    magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
    what: 'an xz-compressed file',
    fix: 'decompress it first (`xz -d`)',
  },
  { at: 0, magic: [0x28, 0xb5, 0x2f, 0xfd], what: 'a zstd-compressed file', fix: 'decompress it first (`zstd -d`)' },
  { at: 0, magic: [0x42, 0x5a, 0x68], what: 'a bzip2-compressed file', fix: 'decompress it first (`bzip2 -d`)' },
  { at: 0, magic: [0x50, 0x4b, 0x03, 0x04], what: 'a ZIP archive', fix: 'extract the disk image from it first' },
  {
    at: 0,
    magic: [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c],
    what: 'a 7-Zip archive',
    fix: 'extract the disk image from it first',
  },
  {
    at: 0,
    magic: [0x7f, 0x45, 0x4c, 0x46],
    what: 'an ELF file (a kernel, not a disk image)',
    fix: 'build an image from it with solo5-virtio-mkimage, or open the image instead',
  },
];

/** How much of the start of the file recognising looks at. */
const HEAD = 1024;
/** How much of its end: a VHD footer. */
const TAIL = 512;

/** The files we recognise but do not read whose magic number these first bytes hold. */
function foreign(head: Uint8Array) {
  return FOREIGN.find((f) => hasMagic(head, f.at, f.magic));
}

/** The reader for this file (see the module comment); IMAGE_EMPTY or IMAGE_UNSUPPORTED when there is none. */
export async function findReader(source: ByteSource): Promise<ImageReader> {
  if (source.size <= 0)
    fail('IMAGE_EMPTY', 'The image file is empty (0 bytes): there is no disk in it; choose the image file itself.');
  const head = await source.read(0, Math.min(HEAD, source.size));
  const tail = await source.read(Math.max(0, source.size - TAIL), Math.min(TAIL, source.size));
  const probe: ContainerProbe = { size: source.size, head, tail };
  const f = foreign(head);
  if (f) fail('IMAGE_UNSUPPORTED', `The file is ${f.what}, which this tool does not read; ${f.fix}.`);
  const reader = READERS.find((r) => r.recognise(probe));
  if (!reader) throw new Error('internal: no reader, not even raw, recognised the file');
  return reader;
}

/** What a file is, as far as its first and last bytes tell (`whatIsThis`). */
export type FileKind =
  /** An ELF file, or one with a Multiboot header in its first 8 KiB: to be read whole as a kernel. */
  | { kind: 'kernel' }
  /** A disk image the readers open: `reader` is its reader's name ("qcow2", "raw"). */
  | { kind: 'image'; what: string; reader: string }
  /** A file we recognise but do not read (VHDX, an archive, an ELF file): what it is and what to do. */
  | { kind: 'other'; what: string; fix: string };

/** Whether these first bytes hold a Multiboot header, whole or damaged (findMultiboot's search). */
function hasMultiboot(head: Uint8Array): boolean {
  try {
    findMultiboot(head);
    return true;
  } catch (e) {
    if (isImageError(e) && e.code === 'MB_NO_HEADER') return false;
    return true;
  }
}

/**
 * What a file is from its first bytes and its last 512 (a `ContainerProbe`; a
 * longer `head` is fine), for a face given a file meant for another job: a
 * disk image or an archive chosen as the kernel is named at once, without
 * reading the rest. A kernel is an ELF file, or one with a Multiboot header in
 * the first 8 KiB (give that much); the containers are the readers' own
 * (`recognise`) and the foreign list above; a raw disk is one whose first
 * sector ends with the MBR boot signature 55 AA (and holds no Multiboot
 * header). Undefined when nothing is recognised.
 */
export function whatIsThis(probe: ContainerProbe): FileKind | undefined {
  if (isElf(probe.head)) return { kind: 'kernel' };
  const f = foreign(probe.head);
  if (f) return { kind: 'other', what: f.what, fix: f.fix };
  const reader = READERS.find((r) => r.recognise(probe));
  // gzip is GCE's container, and everyone else's too: say both.
  if (reader === gceReader && hasMagic(probe.head, 0, [0x1f, 0x8b]))
    return {
      kind: 'image',
      what: 'gzip-compressed data (a GCE tar.gz image, or another compressed file)',
      reader: reader.name,
    };
  if (reader && reader !== rawReader)
    return { kind: 'image', what: `a ${reader.name} disk image`, reader: reader.name };
  if (hasMultiboot(probe.head)) return { kind: 'kernel' };
  if (hasMagic(probe.head, SECTOR - 2, [0x55, 0xaa]))
    return {
      kind: 'image',
      what: 'a raw disk image (its first sector ends with the MBR boot signature 55 AA)',
      reader: rawReader.name,
    };
  return undefined;
}

/** The virtual disk inside an image file, whatever its container. */
export async function openDisk(source: ByteSource): Promise<DiskImage> {
  return (await findReader(source)).open(source);
}
