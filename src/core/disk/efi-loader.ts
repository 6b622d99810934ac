/**
 * The UEFI side of an image read back: `\EFI\BOOT\BOOTX64.EFI` in the FAT
 * volume (the removable-media path a UEFI firmware starts without a boot
 * entry), read once and described (`readEfiLoader`, for inspect and the
 * walkthrough), and checked against the image's stage 2 (`checkEfiLoader`,
 * for verify).
 *
 * Our loader says what it is in a 16-byte identity block at file offset
 * `EFI_IDENT_OFF`: `UKEF`, its version (also the PE header's image version),
 * the stage 2 code size it was built for (where it looks for the command
 * line) and the parameter block version it reads. It checks the parameter
 * block's CRC over stage 2's code and command line exactly as stage 2 does,
 * so a loader from one build with a stage 2 from another stops at boot;
 * verify finds that pair here, before a boot does.
 */
import { crc32, rd16le, rd32le } from '../bytes';
import { isImageError } from '../errors';
import { EFI_BOOT_DIR, EFI_BOOT_NAME, EFI_LOADER } from '../boot/index';
import {
  EFI_IDENT_MAGIC,
  EFI_IDENT_OFF,
  EFI_IDENT_SIZE,
  EFI_VERSION_MAJOR,
  EFI_VERSION_MINOR,
  I_CMDLINE_OFF,
  I_PARAMS_VERSION,
  I_VERSION,
} from '../boot/efi.generated';
import { CMDLINE_OFF, PARAMS_OFF, P_CMDLINE_LEN, P_FLAGS } from '../boot/loader.generated';
import { DIR_CERTIFICATE, DIRECTORY_SIZE, OPT, readPe, type PeReport } from '../boot/pe';
import type { FatEntry } from '../fat/read';
import { hex, MIB } from '../units';
import type { DiskContext, OurLoader } from './bootloader';

/** Where UEFI firmware looks on removable media (UEFI 3.5.1.1), as a FAT path. */
export const EFI_LOADER_PATH = `/${[...EFI_BOOT_DIR, EFI_BOOT_NAME].join('/')}`;
/** The same path as UEFI writes it, for sentences. */
export const EFI_LOADER_NAME = `\\${[...EFI_BOOT_DIR, EFI_BOOT_NAME].join('\\')}`;
/** A BOOTX64.EFI larger than this is described by its directory entry only (ours is 8 KiB at most; GRUB's or a shim's a few MiB). */
export const EFI_READ_LIMIT = 16 * MIB;

/** This tool's loader version, "1.0". */
export const EFI_VERSION = `${EFI_VERSION_MAJOR}.${EFI_VERSION_MINOR}`;

/** What our loader's identity block says. */
export interface EfiIdentity {
  version: string;
  /** The stage 2 code size it was built for: where it reads the command line. */
  stage2CodeSize: number;
  /** The parameter block version it reads. */
  paramsVersion: number;
}

/**
 * Which loader it is: `this` (this tool's, byte for byte, a signature
 * aside), `other-version` (ours, another release), `changed` (it says it is
 * this version but its bytes differ), `foreign` (no identity block: GRUB, a
 * shim, anything else).
 */
export type EfiBuild = 'this' | 'other-version' | 'changed' | 'foreign';

export interface EfiLoader {
  /** The path as found in the volume. */
  path: string;
  size: number;
  entry: FatEntry;
  /** Why the file could not be read (a damaged chain, too large), else null. */
  readError: string | null;
  /** The file's bytes (null when not read). */
  bytes: Uint8Array | null;
  pe: PeReport | null;
  identity: EfiIdentity | null;
  build: EfiBuild | null;
  /** The first byte (signature aside) where it differs from this tool's loader, for `changed`. */
  differsAt: number | null;
  /** Bytes of its Authenticode certificate table (0: not signed). */
  signatureBytes: number;
}

/** `\EFI\BOOT\BOOTX64.EFI`, read and described; null when the volume has no such file (or no volume). */
export async function readEfiLoader(img: DiskContext): Promise<EfiLoader | null> {
  const fat = img.fat;
  if (!fat) return null;
  let entry: FatEntry | undefined;
  try {
    entry = await fat.find(EFI_LOADER_PATH);
  } catch (e) {
    if (!isImageError(e)) throw e;
    return null;
  }
  if (!entry || entry.isDir) return null;
  const out: EfiLoader = {
    path: entry.path,
    size: entry.size,
    entry,
    readError: null,
    bytes: null,
    pe: null,
    identity: null,
    build: null,
    differsAt: null,
    signatureBytes: 0,
  };
  try {
    out.bytes = await fat.readFile(entry, EFI_READ_LIMIT);
  } catch (e) {
    if (!isImageError(e)) throw e;
    out.readError = e.message;
    return out;
  }
  const b = out.bytes;
  out.pe = readPe(b, EFI_BOOT_NAME);
  out.identity = readIdentity(b);
  const cert = out.pe.header?.certificate;
  if (cert && cert.size > 0 && cert.offset < b.length) out.signatureBytes = Math.min(cert.size, b.length - cert.offset);
  if (!out.identity) out.build = 'foreign';
  else {
    out.differsAt = firstDifference(b, out.pe);
    out.build = out.differsAt === null ? 'this' : out.identity.version === EFI_VERSION ? 'changed' : 'other-version';
  }
  return out;
}

function readIdentity(b: Uint8Array): EfiIdentity | null {
  const at = EFI_IDENT_OFF;
  if (b.length < at + EFI_IDENT_SIZE || rd32le(b, at) !== EFI_IDENT_MAGIC) return null;
  return {
    version: `${rd16le(b, at + I_VERSION)}.${rd16le(b, at + I_VERSION + 2)}`,
    stage2CodeSize: rd32le(b, at + I_CMDLINE_OFF),
    paramsVersion: rd32le(b, at + I_PARAMS_VERSION),
  };
}

/**
 * Where the file first differs from this tool's loader, or null when it is
 * the same. An Authenticode signature (what `sbsign` or `osslsigncode` add
 * for Secure Boot) is allowed: the header's checksum and certificate
 * directory entry are skipped, and the file may go on with zero padding and
 * the certificate table.
 */
function firstDifference(b: Uint8Array, pe: PeReport): number | null {
  const want = EFI_LOADER;
  const h = pe.header;
  const skip: [number, number][] = [];
  let end = b.length;
  if (h && h.certificate.size > 0) {
    skip.push([h.optOffset + OPT.checksum, 4]);
    skip.push([h.optOffset + OPT.directories + DIR_CERTIFICATE * DIRECTORY_SIZE, DIRECTORY_SIZE]);
    end = Math.min(end, h.certificate.offset);
  }
  const skipped = (i: number) => skip.some(([s, n]) => i >= s && i < s + n);
  const n = Math.min(end, want.length);
  for (let i = 0; i < n; i++) if (b[i] !== want[i] && !skipped(i)) return i;
  if (end < want.length) return end;
  for (let i = want.length; i < end; i++) if (b[i] !== 0) return i;
  return null;
}

/** The CRC our UEFI loader computes over stage 2 when it reads the command line at `codeSize`: does it match the block's? */
function crcMatchesAt(stage2: Uint8Array, codeSize: number, storedCrc: number): boolean {
  const len = rd16le(stage2, PARAMS_OFF + P_CMDLINE_LEN);
  const end = codeSize + len + 1;
  if (codeSize <= PARAMS_OFF + P_FLAGS || end > stage2.length) return false;
  return crc32(stage2.subarray(PARAMS_OFF + P_FLAGS, end)) === storedCrc;
}

/** One finding of `checkEfiLoader` (verify files it under the area `uefi`). */
export interface EfiProblem {
  message: string;
  severity: 'error' | 'warning';
}

/** What the UEFI loader prints when the parameter block does not check out. */
const BAD_PARAMS = '"Boot error: stage 2 or its parameter block damaged; rebuild the image"';

/**
 * verify's UEFI checks, for an image with our BIOS loader: the file is
 * there and readable, its PE header is one firmware starts, it is our
 * loader, its identity agrees with its header and with this image's stage 2
 * (the stage 2 code size, the parameter block version), and its bytes are
 * this version's. Images of other loaders (the old tool's SYSLINUX, GRUB)
 * are not judged here: their UEFI side, if any, is theirs.
 */
export async function checkEfiLoader(img: DiskContext, ours: OurLoader | undefined): Promise<EfiProblem[]> {
  if (!ours || !img.fat) return [];
  const out: EfiProblem[] = [];
  const error = (message: string) => out.push({ message, severity: 'error' });
  const efi = await readEfiLoader(img);
  if (!efi) {
    error(
      `${EFI_LOADER_NAME} is missing: UEFI firmware finds nothing to start on this disk (BIOS still boots it). Rebuild the image with this version to boot it under UEFI too.`,
    );
    return out;
  }
  if (efi.readError) {
    error(`${EFI_LOADER_NAME} cannot be read: ${efi.readError}`);
    return out;
  }
  for (const m of efi.pe!.problems) error(m);
  if (!efi.pe!.header) return out;
  const id = efi.identity;
  if (!id) {
    out.push({
      message: `${EFI_LOADER_NAME} is not this project's UEFI loader (no identity block at ${hex(EFI_IDENT_OFF)}): UEFI firmware starts that program, not the loader that reads this image's parameter block.`,
      severity: 'warning',
    });
    return out;
  }
  const hv = efi.pe!.header.imageVersion;
  if (`${hv.major}.${hv.minor}` !== id.version) {
    error(
      `${EFI_LOADER_NAME}'s PE header says version ${hv.major}.${hv.minor} (image version at ${hex(efi.pe!.header.optOffset + OPT.imageVersion)}) but its identity block says ${id.version}: the file is damaged. Rebuild the image.`,
    );
  }
  const r = ours.report;
  if (r.version !== 0 && id.paramsVersion !== r.version) {
    error(
      `${EFI_LOADER_NAME} (version ${id.version}) reads parameter block version ${id.paramsVersion} but stage 2's block is version ${r.version}: under UEFI it would stop with ${BAD_PARAMS}. The loader and stage 2 come from different builds; rebuild the image.`,
    );
  } else if (r.params && r.problems.length === 0 && !crcMatchesAt(ours.stage2, id.stage2CodeSize, r.storedCrc)) {
    error(
      `${EFI_LOADER_NAME} (version ${id.version}) was built for a stage 2 of ${hex(id.stage2CodeSize)} code bytes (its identity block) but this image's stage 2 has ${hex(CMDLINE_OFF)} (its command line starts there): under UEFI the parameter block's CRC would not match and the loader would stop with ${BAD_PARAMS}. The loader and stage 2 come from different builds; rebuild the image.`,
    );
  }
  if (out.length === 0 && efi.build === 'changed') {
    error(
      `${EFI_LOADER_NAME} says it is version ${id.version}, but its bytes differ from that version's from offset ${hex(efi.differsAt!)} on: it was changed after the build. Rebuild the image.`,
    );
  }
  return out;
}
