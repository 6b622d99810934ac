/**
 * The PE/COFF fields a UEFI firmware reads before it starts an application
 * (Microsoft PE/COFF specification, revision 11): the DOS header's pointer
 * to the PE header, the COFF file header, the PE32+ optional header and its
 * data directories, the section table. Offsets only, and a lenient reader
 * (`readPe`) that says what is wrong instead of throwing, for inspect,
 * verify and the walkthrough. Our loader writes these fields out in NASM
 * (src/boot/efi.asm).
 */
import { rd16le, rd32le, rd64le } from '../bytes';
import { hex } from '../units';

/** The DOS header: "MZ", and at 0x3C the file offset of the PE signature. */
export const DOS = { magic: 0x00, lfanew: 0x3c, size: 0x40 } as const;
/** "PE\0\0", then the COFF file header (offsets from the signature). */
export const COFF = {
  signature: 0x00,
  machine: 0x04,
  sections: 0x06,
  timeDateStamp: 0x08,
  symbolTable: 0x0c,
  symbols: 0x10,
  optionalSize: 0x14,
  characteristics: 0x16,
  /** The optional header starts here (signature + 20-byte COFF header). */
  optional: 0x18,
} as const;
/** The PE32+ optional header (offsets from its start). */
export const OPT = {
  magic: 0x00,
  linkerVersion: 0x02,
  sizeOfCode: 0x04,
  sizeOfInitializedData: 0x08,
  sizeOfUninitializedData: 0x0c,
  entry: 0x10,
  baseOfCode: 0x14,
  imageBase: 0x18,
  sectionAlignment: 0x20,
  fileAlignment: 0x24,
  osVersion: 0x28,
  imageVersion: 0x2c,
  subsystemVersion: 0x30,
  win32Version: 0x34,
  sizeOfImage: 0x38,
  sizeOfHeaders: 0x3c,
  checksum: 0x40,
  subsystem: 0x44,
  dllCharacteristics: 0x46,
  rvaCount: 0x6c,
  /** The data directories: `{u32 rva, u32 size}` each. */
  directories: 0x70,
} as const;
/** One section header (40 bytes). */
export const SECTION = {
  name: 0x00,
  virtualSize: 0x08,
  rva: 0x0c,
  rawSize: 0x10,
  rawOffset: 0x14,
  characteristics: 0x24,
  size: 0x28,
} as const;

export const PE_SIGNATURE = 0x00004550; // "PE\0\0"
export const PE32_PLUS = 0x20b;
export const MACHINE_X64 = 0x8664;
export const SUBSYSTEM_EFI_APPLICATION = 10;
/** Data directory 4: the certificate table (Authenticode signatures); its "RVA" is a file offset. */
export const DIR_CERTIFICATE = 4;
/** Data directory 5: base relocations. */
export const DIR_BASE_RELOC = 5;
export const DIRECTORY_SIZE = 8;

/** Machine types a reader may meet, for sentences. */
const MACHINES: Record<number, string> = {
  0x014c: 'i386',
  0x8664: 'x86-64',
  0xaa64: 'ARM64',
  0x01c4: 'ARM Thumb-2',
  0x5064: 'RISC-V 64',
};

export function machineName(m: number): string {
  return MACHINES[m] ? `${hex(m)} (${MACHINES[m]})` : hex(m);
}

export interface PeSection {
  name: string;
  virtualSize: number;
  rva: number;
  rawSize: number;
  rawOffset: number;
  characteristics: number;
}

/** The fields of a PE32+ file that a UEFI firmware checks, read back. */
export interface PeHeader {
  /** File offset of "PE\0\0" (e_lfanew). */
  peOffset: number;
  /** File offset of the optional header. */
  optOffset: number;
  machine: number;
  optionalMagic: number;
  entry: number;
  imageBase: number;
  imageVersion: { major: number; minor: number };
  sizeOfImage: number;
  sizeOfHeaders: number;
  checksum: number;
  subsystem: number;
  dllCharacteristics: number;
  /** The certificate table: file offset and length (0, 0 when the file is not signed). */
  certificate: { offset: number; size: number };
  sections: PeSection[];
}

/** What `readPe` found: the header, or why the file is not one firmware starts (one sentence each). */
export interface PeReport {
  header: PeHeader | null;
  problems: string[];
}

/**
 * Read a PE32+ header leniently: the fields when the structure holds, and a
 * sentence for each thing a UEFI firmware would refuse (not MZ/PE, not
 * x86-64, not PE32+, not an EFI application). `name` starts the sentences.
 */
export function readPe(b: Uint8Array, name: string): PeReport {
  const problems: string[] = [];
  const not = (why: string): PeReport => ({ header: null, problems: [`${name} is not a PE file: ${why}.`] });
  if (b.length < DOS.size) return not(`it is ${b.length} bytes long, shorter than a DOS header (${DOS.size})`);
  if (b[0] !== 0x4d || b[1] !== 0x5a) return not(`it starts with ${hex(rd16le(b, 0))}, not "MZ"`);
  const pe = rd32le(b, DOS.lfanew);
  const opt = pe + COFF.optional;
  if (pe + COFF.optional + OPT.directories > b.length) {
    return not(`its DOS header points at offset ${hex(pe)} for the PE header, past the end of its ${b.length} bytes`);
  }
  if (rd32le(b, pe) !== PE_SIGNATURE) return not(`offset ${hex(pe)} holds ${hex(rd32le(b, pe))}, not "PE\\0\\0"`);
  const machine = rd16le(b, pe + COFF.machine);
  if (machine !== MACHINE_X64) {
    problems.push(
      `${name} is built for machine ${machineName(machine)}, not x86-64 (0x8664): the firmware would not start it.`,
    );
  }
  const optionalMagic = rd16le(b, opt + OPT.magic);
  if (optionalMagic !== PE32_PLUS) {
    problems.push(`${name}'s optional header has magic ${hex(optionalMagic)}, not PE32+ (0x20B).`);
    return { header: null, problems };
  }
  const subsystem = rd16le(b, opt + OPT.subsystem);
  if (subsystem !== SUBSYSTEM_EFI_APPLICATION) {
    problems.push(
      `${name} has subsystem ${subsystem}, not 10 (EFI application): the firmware would not start it as a boot program.`,
    );
  }
  const rvaCount = rd32le(b, opt + OPT.rvaCount);
  const optSize = rd16le(b, pe + COFF.optionalSize);
  const certAt = opt + OPT.directories + DIR_CERTIFICATE * DIRECTORY_SIZE;
  const certificate =
    rvaCount > DIR_CERTIFICATE && certAt + DIRECTORY_SIZE <= Math.min(b.length, opt + optSize)
      ? { offset: rd32le(b, certAt), size: rd32le(b, certAt + 4) }
      : { offset: 0, size: 0 };
  const sections: PeSection[] = [];
  const count = rd16le(b, pe + COFF.sections);
  for (let i = 0; i < Math.min(count, 96); i++) {
    const o = opt + optSize + i * SECTION.size;
    if (o + SECTION.size > b.length) {
      problems.push(`${name}'s section table (${count} sections) runs past the end of the file.`);
      break;
    }
    let name8 = '';
    for (let k = 0; k < 8 && b[o + k] !== 0; k++) name8 += String.fromCharCode(b[o + k]);
    sections.push({
      name: name8,
      virtualSize: rd32le(b, o + SECTION.virtualSize),
      rva: rd32le(b, o + SECTION.rva),
      rawSize: rd32le(b, o + SECTION.rawSize),
      rawOffset: rd32le(b, o + SECTION.rawOffset),
      characteristics: rd32le(b, o + SECTION.characteristics),
    });
  }
  return {
    header: {
      peOffset: pe,
      optOffset: opt,
      machine,
      optionalMagic,
      entry: rd32le(b, opt + OPT.entry),
      imageBase: rd64le(b, opt + OPT.imageBase),
      imageVersion: { major: rd16le(b, opt + OPT.imageVersion), minor: rd16le(b, opt + OPT.imageVersion + 2) },
      sizeOfImage: rd32le(b, opt + OPT.sizeOfImage),
      sizeOfHeaders: rd32le(b, opt + OPT.sizeOfHeaders),
      checksum: rd32le(b, opt + OPT.checksum),
      subsystem,
      dllCharacteristics: rd16le(b, opt + OPT.dllCharacteristics),
      certificate,
      sections,
    },
    problems,
  };
}
