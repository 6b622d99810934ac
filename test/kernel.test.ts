/** Kernel inspection: good kernels give the right load plan; bad ones give exact, coded errors. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { inspectKernel, describeKernel } from '../src/core/kernel';
import { ImageError } from '../src/core/errors';
import { elf32Kernel, solo5Kernel } from './helpers/fixtures';

function errorOf(f: () => unknown): ImageError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ImageError);
    return e as ImageError;
  }
  throw new Error('expected an ImageError, got none');
}

describe('inspectKernel on good kernels', () => {
  it('reads a Solo5-style ELF64 kernel through the a.out kludge, not e_entry', () => {
    const k = inspectKernel(solo5Kernel({ dataSize: 0x3000, bssSize: 0x2000, abiTarget: 3 }));
    expect(k.format).toBe('elf64');
    expect(k.solo5Target).toBe('virtio');
    expect(k.multiboot.offset).toBe(0x1020);
    expect(k.multiboot.flags).toBe(0x10003);
    expect(k.load).toEqual({
      source: 'aout-kludge',
      entry: 0x100040,
      segments: [{ fileOffset: 0x1000, fileSize: 0x4000, loadAddr: 0x100000, memSize: 0x6000 }],
      start: 0x100000,
      end: 0x106000,
    });
    expect(k.elfEntry).toBe(0x100300);
    expect(k.notes[0]).toContain('jumps to entry_addr');
    expect(describeKernel(k)).toBe('ELF64, 20 KiB, loads 0x100000..0x106000, entry 0x100040, Solo5 virtio');
  });

  it('treats load_end_addr 0 as "to the end of the file" and bss_end_addr 0 as no bss', () => {
    const b = solo5Kernel({ dataSize: 0x1000, loadEndAddr: 0, bssEndAddr: 0 });
    const k = inspectKernel(b);
    expect(k.load.segments).toEqual([
      { fileOffset: 0x1000, fileSize: b.length - 0x1000, loadAddr: 0x100000, memSize: b.length - 0x1000 },
    ]);
  });

  it('loads an ELF32 kernel without the kludge from its PT_LOAD headers', () => {
    const k = inspectKernel(elf32Kernel());
    expect(k.format).toBe('elf32');
    expect(k.load.source).toBe('elf32');
    expect(k.load.entry).toBe(0x200010);
    expect(k.load.segments).toEqual([
      { fileOffset: 0x1000, fileSize: 0x1000, loadAddr: 0x200000, memSize: 0x1000 },
      { fileOffset: 0x2000, fileSize: 0x800, loadAddr: 0x300000, memSize: 0x4000 },
    ]);
    expect(k.load.end).toBe(0x304000);
  });
});

describe('inspectKernel on bad input: exact messages', () => {
  const cases: [string, () => Uint8Array, string, string][] = [
    [
      'empty file',
      () => new Uint8Array(0),
      'KERNEL_EMPTY',
      'The kernel file is empty (0 bytes). Choose the .virtio file your unikernel build produced (for MirageOS: `mirage configure -t virtio && make`).',
    ],
    [
      'random bytes',
      () => Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24),
      'NOT_A_KERNEL',
      'The kernel file is not a kernel: it is not an ELF file (it starts with bytes 00 9E 3C DA, not 7F 45 4C 46) and has no Multiboot header (magic 0x1BADB002) in its first 8192 bytes. Choose the .virtio file your unikernel build produced (for MirageOS: `mirage configure -t virtio && make`).',
    ],
    [
      'a gzip file (an image built earlier)',
      () => Uint8Array.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]),
      'NOT_A_KERNEL',
      'The kernel file is gzip-compressed data (perhaps an image made earlier), not a kernel. Choose the .virtio file your unikernel build produced (for MirageOS: `mirage configure -t virtio && make`).',
    ],
    [
      'truncated ELF (20 bytes)',
      () => solo5Kernel().slice(0, 20),
      'ELF_TRUNCATED',
      'The kernel is truncated: an ELF header needs at least 52 bytes but the file has 20. Copy the file again or rebuild it.',
    ],
    [
      'truncated ELF (program headers cut)',
      () => solo5Kernel().slice(0, 100),
      'ELF_TRUNCATED',
      'The kernel is truncated: its 1 program headers end at byte 120 (e_phoff 0x40) but the file has 100 bytes. Copy the file again or rebuild it.',
    ],
    [
      'truncated in the load slice',
      () => solo5Kernel({ dataSize: 0x3000 }).slice(0, 0x3000),
      'MB_SLICE_PAST_EOF',
      'The kernel is truncated or its header is wrong: Multiboot load_addr..load_end_addr (0x100000..0x104000) asks for 16384 bytes from file offset 0x1000, which ends at byte 20480, but the file has 12288 bytes.',
    ],
    [
      'ELF with no multiboot header',
      () => solo5Kernel({ noMultiboot: true }),
      'MB_NO_HEADER',
      'The kernel has no Multiboot header (magic 0x1BADB002) in its first 8192 bytes, so no BIOS boot loader can start it. Build the unikernel with the Solo5 virtio target (e.g. `mirage configure -t virtio`).',
    ],
    [
      'bad checksum',
      () => solo5Kernel({ badChecksum: true }),
      'MB_BAD_CHECKSUM',
      "The kernel's Multiboot header at file offset 0x1020 has checksum 0xE4514FFC, but magic + flags (0x10003) need 0xE4514FFB. The file is damaged; rebuild it.",
    ],
    [
      'Solo5 hvt kernel',
      () => solo5Kernel({ noMultiboot: true, abiTarget: 1 }),
      'SOLO5_WRONG_TARGET',
      'This is a Solo5 hvt unikernel; rebuild it with the virtio target (for MirageOS: `mirage configure -t virtio`), which produces a .virtio file that boots from a disk.',
    ],
    [
      'Solo5 spt kernel',
      () => solo5Kernel({ noMultiboot: true, abiTarget: 2 }),
      'SOLO5_WRONG_TARGET',
      'This is a Solo5 spt unikernel; rebuild it with the virtio target (for MirageOS: `mirage configure -t virtio`), which produces a .virtio file that boots from a disk.',
    ],
    [
      'load address below 1 MiB',
      () =>
        solo5Kernel({
          loadAddr: 0x8000,
          headerAddr: 0x8020,
          entryAddr: 0x8040,
          loadEndAddr: 0xc000,
          bssEndAddr: 0xd000,
        }),
      'LOAD_BELOW_1MIB',
      "The kernel's Multiboot address fields (load_addr..bss_end_addr) load it at 0x8000..0xD000, below 1 MiB (0x100000), where the BIOS and the boot loader live. Link the kernel at 1 MiB or above, as Solo5 does (0x100000).",
    ],
    [
      'bss before data',
      () => solo5Kernel({ bssEndAddr: 0x100100 }),
      'MB_BSS_BEFORE_DATA',
      "The kernel's Multiboot bss_end_addr 0x100100 is below the end of its data 0x104000 (load_end_addr); the bss must follow the data. The header fields are wrong; rebuild the kernel.",
    ],
    [
      'unknown required flag bit',
      () => solo5Kernel({ flags: 0x10023 }),
      'MB_UNSUPPORTED_FLAGS',
      "The kernel's Multiboot flags 0x10023 set required bit 5, which this boot loader does not know (it supports required bits 0 and 1, and bit 16). Multiboot says to refuse such a kernel; Solo5 kernels use flags 0x10003.",
    ],
    [
      'video mode request',
      () => solo5Kernel({ flags: 0x10007 }),
      'MB_UNSUPPORTED_FLAGS',
      "The kernel's Multiboot flags 0x10007 request a video mode (bit 2), which this boot loader does not set up (it supports required bits 0 and 1). Solo5 kernels use flags 0x10003; rebuild without the video request.",
    ],
    [
      'entry outside the image',
      () => solo5Kernel({ entryAddr: 0x200000 }),
      'LOAD_ENTRY_OUTSIDE',
      "The kernel's entry point 0x200000 is not inside the bytes loaded from the file (0x100000..0x104000): it would jump into zeroed memory or nothing at all. The headers are wrong; rebuild the kernel.",
    ],
    [
      'header_addr below load_addr',
      () => solo5Kernel({ headerAddr: 0xff000 }),
      'MB_BAD_ADDRESS',
      "The kernel's Multiboot header_addr 0xFF000 is below load_addr 0x100000; the header must lie inside the loaded image. The header fields are wrong; rebuild the kernel.",
    ],
  ];
  for (const [name, make, code, message] of cases) {
    it(name, () => {
      const e = errorOf(() => inspectKernel(make()));
      expect(e.code).toBe(code);
      expect(e.message).toBe(message);
    });
  }

  it('never throws anything but an ImageError on arbitrary bytes (property)', () => {
    const base = solo5Kernel({ dataSize: 0x1000 });
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 9000 }),
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 20 }),
        (random, flips) => {
          for (const input of [
            random,
            (() => {
              const b = base.slice();
              for (const [i, v] of flips) b[i] = v;
              return b;
            })(),
          ]) {
            try {
              const k = inspectKernel(input);
              // Whatever passes must be a plan a loader can follow.
              for (const s of k.load.segments) {
                expect(s.fileOffset + s.fileSize).toBeLessThanOrEqual(input.length);
                expect(s.loadAddr).toBeGreaterThanOrEqual(0x100000);
                expect(s.memSize).toBeGreaterThanOrEqual(s.fileSize);
              }
              expect(k.load.entry).toBeGreaterThanOrEqual(k.load.start);
              expect(k.load.entry).toBeLessThan(k.load.end);
            } catch (e) {
              expect(e).toBeInstanceOf(ImageError);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
