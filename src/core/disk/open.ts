/**
 * openDisk(): any image file → the virtual disk inside it. The container is
 * recognised by its content (magic numbers), never by the file name:
 *
 *   "QFI\xfb" at 0                      qcow2
 *   "KDMV" at 0                         VMDK sparse extent (streamOptimized, monolithicSparse)
 *   "# Disk DescriptorFile" at 0        VMDK text descriptor (data in other files: an error)
 *   0xBEDA107F (LE) at 64               VDI
 *   "conectix" in the last 512 bytes    VHD (fixed, or dynamic with its footer at the end)
 *   "conectix" at 0                     VHD dynamic (its footer copy; the end may be cut off)
 *   1F 8B at 0, or "ustar" at 257       our GCE tar.gz (or a plain tar) holding disk.raw
 *   anything else                       raw
 *
 * Containers we recognise but do not read (VHDX, QED, compressed archives,
 * a kernel given instead of an image) get IMAGE_UNSUPPORTED with what it is.
 */
import { latin1, rd32be, rd32le } from '../bytes';
import { fail } from '../errors';
import { VDI } from '../formats/vdi';
import { VMDK } from '../formats/vmdk';
import { QCOW2 } from '../formats/qcow2';
import { VHD } from '../formats/vhd';
import { openRaw } from '../formats/raw-read';
import { openQcow2 } from '../formats/qcow2-read';
import { openVhd } from '../formats/vhd-read';
import { openVdi } from '../formats/vdi-read';
import { openVmdk, vmdkDescriptorError } from '../formats/vmdk-read';
import { openGce } from '../formats/gce-read';
import type { ByteSource, DiskImage } from './types';

export type ContainerKind = 'raw' | 'qcow2' | 'vmdk' | 'vmdk-descriptor' | 'vdi' | 'vhd' | 'tar';

/** Magic numbers of files we recognise but do not read, and what to say about them. */
const FOREIGN: { at: number; magic: number[]; what: string; fix: string }[] = [
  {
    at: 0,
    magic: [...'vhdxfile'].map((c) => c.charCodeAt(0)),
    what: 'a VHDX image',
    fix: 'convert it first: `qemu-img convert -O vpc` or `-O qcow2`',
  },
  { at: 0, magic: [0x51, 0x45, 0x44, 0x00], what: 'a QED image', fix: 'convert it first: `qemu-img convert -O qcow2`' },
  {
    at: 0,
    magic: [...'COWD'].map((c) => c.charCodeAt(0)),
    what: 'a VMware ESX 2 (COWD) sparse extent',
    fix: 'convert it first: `qemu-img convert -O vmdk`',
  },
  {
    at: 0,
    magic: [...'WithoutFreeSpace'].map((c) => c.charCodeAt(0)),
    what: 'a Parallels image',
    fix: 'convert it first: `qemu-img convert -O qcow2`',
  },
  {
    at: 0,
    magic: [...'WithouFreSpacExt'].map((c) => c.charCodeAt(0)),
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

function startsWith(b: Uint8Array, at: number, magic: readonly number[]): boolean {
  if (b.length < at + magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (b[at + i] !== magic[i]) return false;
  return true;
}

const CONECTIX = [...'conectix'].map((c) => c.charCodeAt(0));
const DESCRIPTOR_START = '# Disk DescriptorFile';

/** How much of the start of the file detection looks at. */
const HEAD = 1024;

/** Recognise the container by its bytes (see the module comment). */
export async function detectContainer(source: ByteSource): Promise<ContainerKind> {
  if (source.size <= 0)
    fail('IMAGE_EMPTY', 'The image file is empty (0 bytes): there is no disk in it; choose the image file itself.');
  const head = await source.read(0, Math.min(HEAD, source.size));
  if (head.length >= 4 && rd32be(head, 0) === QCOW2.MAGIC) return 'qcow2';
  if (head.length >= 4 && rd32le(head, 0) === VMDK.MAGIC) return 'vmdk';
  if (latin1(head, 0, DESCRIPTOR_START.length) === DESCRIPTOR_START) return 'vmdk-descriptor';
  if (head.length >= VDI.OFF.signature + 4 && rd32le(head, VDI.OFF.signature) === VDI.SIGNATURE) return 'vdi';
  for (const f of FOREIGN) {
    if (startsWith(head, f.at, f.magic)) {
      fail('IMAGE_UNSUPPORTED', `The file is ${f.what}, which this tool does not read; ${f.fix}.`);
    }
  }
  if (source.size >= VHD.FOOTER_SIZE) {
    const tail = await source.read(source.size - VHD.FOOTER_SIZE, VHD.FOOTER_SIZE);
    // The footer is 512 bytes; some old writers made it 511 (the last byte missing).
    if (startsWith(tail, 0, CONECTIX) || startsWith(tail, 1, CONECTIX)) return 'vhd';
  }
  if (startsWith(head, 0, CONECTIX)) return 'vhd';
  if (startsWith(head, 0, [0x1f, 0x8b])) return 'tar';
  if (latin1(head, 257, 5) === 'ustar') return 'tar';
  return 'raw';
}

/** The virtual disk inside an image file, whatever its container. */
export async function openDisk(source: ByteSource): Promise<DiskImage> {
  const kind = await detectContainer(source);
  switch (kind) {
    case 'raw':
      return openRaw(source);
    case 'qcow2':
      return openQcow2(source);
    case 'vmdk':
      return openVmdk(source);
    case 'vmdk-descriptor':
      return vmdkDescriptorError(source);
    case 'vdi':
      return openVdi(source);
    case 'vhd':
      return openVhd(source);
    case 'tar':
      return openGce(source);
  }
}
