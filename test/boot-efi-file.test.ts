/**
 * The UEFI loader's file, \EFI\BOOT\BOOTX64.EFI: a PE32+ EFI application as
 * binutils' objdump reads it, within its budget, and the header fields the
 * firmware relies on read back here on their own (PE/COFF revision 11: the DOS
 * header's e_lfanew, the COFF header, the PE32+ optional header, the section
 * table, the base relocation directory).
 */
import { describe, expect, test } from 'vitest';
import { writeFileSync } from 'node:fs';
import { EFI_LOADER } from '../src/core/boot/index';
import {
  EFI_IDENT_MAGIC,
  EFI_IDENT_OFF,
  EFI_MAX,
  EFI_VERSION_MAJOR,
  EFI_VERSION_MINOR,
  I_CMDLINE_OFF,
  I_PARAMS_VERSION,
  I_VERSION,
} from '../src/core/boot/efi.generated';
import { CMDLINE_OFF, PARAMS_VERSION } from '../src/core/boot/loader.generated';
import { rd16le, rd32le } from '../src/core/bytes';
import { run, tempDir, tools } from './helpers/tools';

const b = EFI_LOADER;
const pe = rd32le(b, 0x3c);
const opt = pe + 24;
const sections = Array.from({ length: rd16le(b, pe + 6) }, (_, i) => {
  const o = opt + rd16le(b, pe + 20) + i * 40;
  const name = String.fromCharCode(...b.subarray(o, o + 8)).replace(/\0+$/, '');
  return {
    name,
    virtualSize: rd32le(b, o + 8),
    rva: rd32le(b, o + 12),
    rawSize: rd32le(b, o + 16),
    rawOffset: rd32le(b, o + 20),
    flags: rd32le(b, o + 36),
  };
});

describe('BOOTX64.EFI, the UEFI loader', () => {
  test('a PE32+ EFI application for x86-64, within its budget, its version in the header', () => {
    expect(b.length).toBeLessThanOrEqual(EFI_MAX);
    expect(String.fromCharCode(b[0], b[1])).toBe('MZ');
    expect(rd32le(b, pe)).toBe(0x00004550); // "PE\0\0"
    expect(rd16le(b, pe + 4)).toBe(0x8664);
    expect(rd16le(b, opt)).toBe(0x20b);
    expect(rd16le(b, opt + 68)).toBe(10); // Subsystem: EFI application
    expect([rd16le(b, opt + 44), rd16le(b, opt + 46)]).toEqual([EFI_VERSION_MAJOR, EFI_VERSION_MINOR]);
    expect(rd32le(b, pe + 8)).toBe(0); // no time stamp: the same bytes every build
  });

  test('the sections: .text holds the entry and every file byte, .bss has none; SizeOfImage covers both', () => {
    const [text, bss] = sections;
    expect(sections.map((s) => s.name)).toEqual(['.text', '.bss']);
    const entry = rd32le(b, opt + 16);
    expect(entry).toBeGreaterThanOrEqual(text.rva);
    expect(entry).toBeLessThan(text.rva + text.virtualSize);
    expect(text.rawOffset + text.rawSize).toBe(b.length);
    expect(text.flags & 0x20000000).not.toBe(0); // executable
    expect(text.flags & 0x80000000).toBe(0); // not writable
    expect(bss.rawSize).toBe(0);
    expect(bss.rva).toBeGreaterThanOrEqual(text.rva + text.rawSize);
    const sectionAlign = rd32le(b, opt + 32);
    expect(bss.rva % sectionAlign).toBe(0);
    const sizeOfImage = rd32le(b, opt + 56);
    expect(sizeOfImage % sectionAlign).toBe(0);
    expect(sizeOfImage).toBeGreaterThanOrEqual(bss.rva + bss.virtualSize);
  });

  test('the identity block: this loader reads this stage 2 and this parameter block version', () => {
    expect(sections[0].rawOffset).toBe(EFI_IDENT_OFF); // the first bytes of .text
    expect(rd32le(b, EFI_IDENT_OFF)).toBe(EFI_IDENT_MAGIC);
    expect([rd16le(b, EFI_IDENT_OFF + I_VERSION), rd16le(b, EFI_IDENT_OFF + I_VERSION + 2)]).toEqual([
      EFI_VERSION_MAJOR,
      EFI_VERSION_MINOR,
    ]);
    expect(rd32le(b, EFI_IDENT_OFF + I_CMDLINE_OFF)).toBe(CMDLINE_OFF);
    expect(rd32le(b, EFI_IDENT_OFF + I_PARAMS_VERSION)).toBe(PARAMS_VERSION);
  });

  test('the base relocation directory: one well-formed block with nothing to relocate', () => {
    const dir = opt + 112 + 5 * 8;
    const [rva, size] = [rd32le(b, dir), rd32le(b, dir + 4)];
    const text = sections[0];
    const at = text.rawOffset + rva - text.rva;
    expect(rva).toBeGreaterThanOrEqual(text.rva);
    expect(rva + size).toBeLessThanOrEqual(text.rva + text.virtualSize);
    expect(rd32le(b, at + 4)).toBe(size); // one block: its SizeOfBlock is the whole directory
    for (let o = 8; o < size; o += 2) expect(rd16le(b, at + o) >> 12).toBe(0); // IMAGE_REL_BASED_ABSOLUTE only
  });

  test.skipIf(!tools('objdump'))('objdump reads it as pei-x86-64, an EFI application', () => {
    const t = tempDir('ukd-efi-');
    try {
      const path = t.path('BOOTX64.EFI');
      writeFileSync(path, b);
      const p = run('objdump', ['-p', path]);
      expect(p).toContain('file format pei-x86-64');
      expect(p).toMatch(/Subsystem\s+0000000a\s+\(EFI application\)/);
      expect(p).toMatch(new RegExp(`MajorImageVersion\\s+${EFI_VERSION_MAJOR}\\b`));
      const h = run('objdump', ['-h', path]);
      expect(h).toMatch(/\.text\s+[0-9a-f]+\s+0+1000\s+0+1000\s+00000200[\s\S]*CONTENTS, ALLOC, LOAD, READONLY, CODE/);
      expect(h).toMatch(/\.bss\s+[0-9a-f]+\s+[0-9a-f]+\s+[0-9a-f]+\s+0+\s+2\*\*\d+\s+ALLOC\n/);
    } finally {
      t.cleanup();
    }
  });
});
