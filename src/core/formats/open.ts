/**
 * openDisk(): any image file → the virtual disk inside it. The container is
 * recognised by its content (magic numbers), never by the file name: each
 * reader in `READERS` (index.ts) says what its container looks like, and the
 * first that recognises the file opens it (raw, last, takes anything).
 * Containers we recognise but do not read (VHDX, QED, compressed archives,
 * a kernel given instead of an image) are refused first, with IMAGE_UNSUPPORTED
 * and what to do.
 */
import { fail } from '../errors';
import { READERS } from './index';
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

/** The reader for this file (see the module comment); IMAGE_EMPTY or IMAGE_UNSUPPORTED when there is none. */
export async function findReader(source: ByteSource): Promise<ImageReader> {
  if (source.size <= 0)
    fail('IMAGE_EMPTY', 'The image file is empty (0 bytes): there is no disk in it; choose the image file itself.');
  const head = await source.read(0, Math.min(HEAD, source.size));
  const tail = await source.read(Math.max(0, source.size - TAIL), Math.min(TAIL, source.size));
  const probe: ContainerProbe = { size: source.size, head, tail };
  for (const f of FOREIGN) {
    if (hasMagic(head, f.at, f.magic)) {
      fail('IMAGE_UNSUPPORTED', `The file is ${f.what}, which this tool does not read; ${f.fix}.`);
    }
  }
  const reader = READERS.find((r) => r.recognise(probe));
  if (!reader) throw new Error('internal: no reader, not even raw, recognised the file');
  return reader;
}

/** The virtual disk inside an image file, whatever its container. */
export async function openDisk(source: ByteSource): Promise<DiskImage> {
  return (await findReader(source)).open(source);
}
