/**
 * Issue 9, the core's part: hostile kernels are accepted or refused quickly
 * and in bounded memory; inspection refuses what the build refuses; times,
 * sizes and arguments are checked once, in the core, with one sentence.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { checkKernelSize, inspectKernel, MAX_KERNEL_SIZE } from '../src/core/kernel';
import { MAX_NOTE_BYTES } from '../src/core/elf';
import { ImageError, isImageError } from '../src/core/errors';
import { kernelFits, minimumSize, planImage, checkArgs } from '../src/core/image';
import { checkImageSize, checkSize, parseSize, MAX_SIZE } from '../src/core/size';
import { checkTimestamp, parseTimestamp, MAX_TIMESTAMP, MIN_TIMESTAMP } from '../src/core/timestamp';
import { FORMATS } from '../src/core/formats/index';
import { collect } from '../src/core/sink';
import { chooseLayout } from '../src/core/fat';
import { GIB, MIB, SECTOR, PARTITION_LBA } from '../src/core/units';
import { elf32Kernel, solo5Kernel } from './helpers/fixtures';
import { noteBomb, w32, w64 } from './helpers/hostile-kernels';
import { tempDir } from './helpers/tools';

const tmp = tempDir('ukd-hostile-core-');
afterAll(() => tmp.cleanup());

function errorOf(f: () => unknown): ImageError {
  try {
    f();
  } catch (e) {
    if (!isImageError(e)) throw e;
    return e;
  }
  throw new Error('expected an ImageError, got none');
}

/** Inspect + plan a file in a child process with a 160 MiB heap and a 30 s limit. */
function inspectInChild(bytes: Uint8Array, name: string) {
  const path = tmp.path(name);
  writeFileSync(path, bytes);
  const r = spawnSync(
    process.execPath,
    [
      '--max-old-space-size=160',
      '--import',
      'tsx',
      new URL('./helpers/inspect-child.ts', import.meta.url).pathname,
      path,
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  expect(r.signal, `child killed (${r.signal}); stderr: ${r.stderr.slice(-400)}`).toBeNull();
  expect(r.status, r.stderr.slice(-400)).toBe(0);
  return JSON.parse(r.stdout) as { ok: boolean; code?: string; message?: string; ms: number; maxRssMiB: number };
}

describe('note walking is bounded by the file, not headers × region', () => {
  it('a 1.2 MiB ELF with 3,700 PT_NOTE headers over one 1 MiB region is accepted at once (same range walked once)', () => {
    const b = noteBomb(3700);
    expect(b.length).toBeGreaterThan(1.2 * MIB);
    expect(b.length).toBeLessThan(1.3 * MIB);
    const r = inspectInChild(b, 'same.virtio');
    expect(r).toMatchObject({ ok: true });
    expect(r.ms).toBeLessThan(1000);
    expect(r.maxRssMiB).toBeLessThan(400);
  }, 40_000);

  it('the same headers each shifted by 4 bytes are refused with ELF_BAD_NOTES', () => {
    const r = inspectInChild(noteBomb(3700, true), 'shifted.virtio');
    expect(r.code).toBe('ELF_BAD_NOTES');
    expect(r.message).toBe(
      "The kernel's 3700 PT_NOTE program headers name 3.59 GiB of notes in all, more than the 1 MiB this tool reads (a real kernel has a few KiB). The file is damaged or not a kernel; rebuild it.",
    );
    expect(r.ms).toBeLessThan(1000);
  }, 40_000);

  it('real notes are still read (the Solo5 ABI note), and MAX_NOTE_BYTES is 1 MiB', () => {
    expect(MAX_NOTE_BYTES).toBe(MIB);
    expect(inspectKernel(solo5Kernel({ abiTarget: 3 })).solo5Target).toBe('virtio');
  });
});

describe('kernel size limit', () => {
  it('refuses a file over MAX_KERNEL_SIZE by its size alone', () => {
    expect(MAX_KERNEL_SIZE).toBe(GIB);
    expect(() => checkKernelSize(MAX_KERNEL_SIZE)).not.toThrow();
    const e = errorOf(() => checkKernelSize(13 * GIB));
    expect(e.code).toBe('KERNEL_SIZE_LIMIT');
    expect(e.message).toBe(
      'The kernel file is 13 GiB (13958643712 bytes); the largest kernel accepted is 1 GiB (1073741824 bytes), and a Solo5 kernel is a few MiB. Choose the .virtio file your unikernel build produced, not a disk image or an archive.',
    );
  });
});

describe('inspection refuses what the build refuses (load plans)', () => {
  it('a.out kludge: addresses above 4 GiB', () => {
    const b = solo5Kernel({
      loadAddr: 0xfffff000,
      headerAddr: 0xfffff020,
      loadEndAddr: 0,
      bssEndAddr: 0,
      entryAddr: 0xfffff040,
    });
    const e = errorOf(() => inspectKernel(b));
    expect(e.code).toBe('LOAD_ABOVE_4GIB');
    expect(e.message).toMatch(
      /^The kernel's Multiboot address fields \(load_addr\.\.bss_end_addr\) reach 0xFFFFF000\.\.0x100003000, above 4 GiB/,
    );
  });
  it('a.out kludge: entry point in the bss', () => {
    // Slice 0x100000..0x104000, bss to 0x106000.
    const e = errorOf(() => inspectKernel(solo5Kernel({ entryAddr: 0x104800 })));
    expect(e.code).toBe('LOAD_ENTRY_OUTSIDE');
    expect(e.message).toMatch(
      /^The kernel's entry point 0x104800 is not inside the bytes loaded from the file \(0x100000\.\.0x104000\)/,
    );
  });
  it('program headers: a segment above 4 GiB', () => {
    const b = elf32Kernel();
    // ELF32: second PT_LOAD at 84; p_paddr at +12 → 0xFFFFF000 with memsz 0x4000 crosses 4 GiB.
    w32(b, 84 + 8, 0xfffff000);
    w32(b, 84 + 12, 0xfffff000);
    const e = errorOf(() => inspectKernel(b));
    expect(e.code).toBe('LOAD_ABOVE_4GIB');
    expect(e.message).toMatch(/PT_LOAD segment reach 0xFFFFF000\.\.0x100003000, above 4 GiB/);
  });
  it('program headers: entry point in the bss of a segment', () => {
    const b = elf32Kernel();
    w32(b, 24, 0x300900); // second segment: file bytes 0x300000..0x300800, bss to 0x304000
    const e = errorOf(() => inspectKernel(b));
    expect(e.code).toBe('LOAD_ENTRY_OUTSIDE');
    expect(e.message).toMatch(/^The kernel's entry point 0x300900 is not inside the bytes loaded from the file/);
  });
  it('program headers: entry point outside every segment', () => {
    const b = elf32Kernel();
    w32(b, 24, 0x500000);
    const e = errorOf(() => inspectKernel(b));
    expect(e.code).toBe('LOAD_ENTRY_OUTSIDE');
    expect(e.message).toMatch(/^The kernel's ELF entry 0x500000 is in none of its PT_LOAD segments/);
  });
  it('ELF64 program headers: a physical address past 4 GiB', () => {
    const b = solo5Kernel({ flags: 0x3 }); // no kludge: the PT_LOAD header is used
    w64(b, 64 + 24, 2 ** 32 + 0x100000);
    const e = errorOf(() => inspectKernel(b));
    expect(e.code).toBe('LOAD_ABOVE_4GIB');
  });
});

describe('timestamps: checked once, in the core', () => {
  const refused: [string, RegExp][] = [
    ['1960-01-01', /^--timestamp "1960-01-01" \(1960-01-01T00:00:00Z\) is outside 1980-01-01 to 2107-12-31 \(UTC\)/],
    ['-1', /^--timestamp "-1" is before 1970/],
    ['2024-02-30', /^--timestamp "2024-02-30" is not a date: month 2 of 2024 has 29 days\.$/],
    ['2023-02-29', /month 2 of 2023 has 28 days/],
    ['2024-13-01', /there is no month 13/],
    ['2024-01-31T24:00:00Z', /is not a time of day/],
    ['2024-01-31T12:00:00.5Z', /has a fraction of a second/],
    ['1.5', /not a whole number of seconds/],
    ['2108-01-01', /is outside 1980-01-01 to 2107-12-31/],
    ['9'.repeat(40), /is outside 1980-01-01 to 2107-12-31/],
    ['315532799', /\(1979-12-31T23:59:59Z\) is outside/],
    ['tomorrow', /is not a time: give seconds since 1970/],
    ['', /is not a time/],
  ];
  for (const [text, re] of refused) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      const e = errorOf(() => parseTimestamp(text, '--timestamp'));
      expect(e.code).toBe('BAD_TIMESTAMP');
      expect(e.message).toMatch(re);
      expect(e.message).not.toMatch(/\n/);
    });
  }
  it('accepts the range ends, real dates, zones, and seconds', () => {
    expect(parseTimestamp('1980-01-01')).toBe(MIN_TIMESTAMP);
    expect(parseTimestamp('2107-12-31T23:59:59Z')).toBe(MAX_TIMESTAMP);
    expect(parseTimestamp('2024-02-29')).toBe(Date.UTC(2024, 1, 29) / 1000);
    expect(parseTimestamp('2024-01-31T12:00:00Z')).toBe(1706702400);
    expect(parseTimestamp('2024-01-31T12:00:00')).toBe(1706702400); // no zone: UTC
    expect(parseTimestamp('2024-01-31T14:00:00+02:00')).toBe(1706702400);
    expect(parseTimestamp('1700000000')).toBe(1700000000);
  });
  it('planImage refuses a bad number with BAD_TIMESTAMP, never an internal error', () => {
    for (const t of [-1, 0, MIN_TIMESTAMP - 1, MAX_TIMESTAMP + 1, 1.5, Number.NaN, Infinity]) {
      expect(errorOf(() => planImage(solo5Kernel(), { size: 8 * MIB, timestamp: t })).code).toBe('BAD_TIMESTAMP');
    }
    expect(() => checkTimestamp(MIN_TIMESTAMP)).not.toThrow();
  });
  it('every format builds with both ends of the range', async () => {
    for (const timestamp of [MIN_TIMESTAMP, MAX_TIMESTAMP]) {
      for (const format of FORMATS) {
        const size = format.sizeStep === GIB ? GIB : 8 * MIB;
        const built = planImage(solo5Kernel(), { size, timestamp });
        const bytes = await collect(format, built.plan, { timestamp, seed: built.seed });
        expect(bytes.length, format.id).toBeGreaterThan(0);
      }
    }
  });
});

describe('sizes: exact fit, honest messages, suggestions that are accepted', () => {
  it('a 31.5 MiB disk holds a 30 MiB kernel (any whole number of sectors that fits)', () => {
    const k = solo5Kernel({ dataSize: 30 * MIB - 0x2000, fill: 1 });
    expect(k.length).toBe(30 * MIB);
    expect(kernelFits(31.5 * MIB, k.length)).toBe(true);
    const built = planImage(k, { size: 31.5 * MIB });
    expect(built.plan.size).toBe(31.5 * MIB);
    expect(parseSize('31.5M')).toBe(31.5 * MIB);
  });

  it('what fits grows with the disk at every whole MiB from 2 MiB to 2 TiB (why "at least" is true)', () => {
    let prev = -1;
    for (let mib = 2; mib <= MAX_SIZE / MIB; mib++) {
      const l = chooseLayout(mib * (MIB / SECTOR) - PARTITION_LBA);
      const cap = (l.clusterCount - (l.type === 32 ? 1 : 0)) * l.sectorsPerCluster * SECTOR;
      if (cap < prev) throw new Error(`capacity drops at ${mib} MiB`);
      prev = cap;
    }
    expect(prev).toBeGreaterThan(2000 * GIB);
  }, 60_000);

  it('every suggestion is accepted when fed back (property over kernels, sizes and formats)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 80 * MIB }),
        fc.integer({ min: 1, max: 2 * 80 * 2048 }).map((s) => s * SECTOR),
        fc.constantFrom(...FORMATS),
        (kernelSize, size, format) => {
          const suggestion = minimumSize(kernelSize, Math.max(MIB, format.sizeStep ?? MIB));
          expect(kernelFits(suggestion, kernelSize)).toBe(true);
          expect(() => checkImageSize(suggestion, format)).not.toThrow();
          // Every whole MiB from the suggestion on holds the kernel too ("at least").
          expect(kernelFits(suggestion + MIB, kernelSize)).toBe(true);
          // The size check is exact: a size that fits is never refused.
          if (size >= 2 * MIB) {
            const fits = kernelFits(size, kernelSize);
            if (fits) expect(minimumSize(kernelSize)).toBeLessThanOrEqual(Math.ceil(size / MIB) * MIB);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('the message names a --size that planImage then accepts, for every format', () => {
    const k = solo5Kernel({ dataSize: 70 * MIB, fill: 3 });
    for (const format of FORMATS) {
      for (const size of [MIB, 3 * MIB, 64 * MIB, GIB]) {
        if (size === GIB && format.sizeStep !== GIB) continue;
        let e: ImageError;
        try {
          planImage(k, { size, sizeStep: format.sizeStep });
          continue;
        } catch (x) {
          e = x as ImageError;
        }
        const m = /\(--size (\S+)\)\.$/.exec(e.message);
        expect(m, e.message).not.toBeNull();
        const again = checkImageSize(parseSize(m![1]), format);
        expect(() => planImage(k, { size: again, sizeStep: format.sizeStep })).not.toThrow();
      }
    }
  });

  it('size messages: no "1 bytes", no Infinity, and their suggestion parses', () => {
    const cases: [string, string][] = [
      ['1b', 'The size 1b (1 byte) is not a positive whole number of 512-byte sectors; round it, for example to 512.'],
      ['0', 'The size 0 bytes is not a positive whole number of 512-byte sectors; round it, for example to 1G.'],
      ['1000', 'The size 1000 bytes is not a positive whole number of 512-byte sectors; round it, for example to 1K.'],
      [
        '9'.repeat(400) + 'T',
        `The size ${'9'.repeat(400)}T is larger than 2 TiB, the most an MBR partition table can describe; choose 2T or less.`,
      ],
      [
        '3T',
        'The size 3T (3 TiB) is larger than 2 TiB, the most an MBR partition table can describe; choose 2T or less.',
      ],
    ];
    for (const [text, message] of cases) {
      const e = errorOf(() => parseSize(text));
      expect(e.message).toBe(message);
      expect(e.message).not.toMatch(/\b1 bytes|Infinity|NaN/);
      const fix = /(?:to|choose) (\S+?)(?: or less)?\.$/.exec(e.message)![1];
      expect(() => checkSize(parseSize(fix))).not.toThrow();
    }
  });

  it('format size messages suggest a size the format accepts', () => {
    for (const format of FORMATS) {
      for (const size of [1536 * MIB, 1.4 * GIB - 512, 2047 * GIB]) {
        let e: ImageError;
        try {
          checkImageSize(size, format);
          continue;
        } catch (x) {
          e = x as ImageError;
        }
        expect(e.message).not.toMatch(/\b1 bytes|Infinity|NaN/);
        const m = /(?:--size |round it to )(\d+[KMGT]?)\b/.exec(e.message);
        if (m) expect(() => checkImageSize(parseSize(m[1]), format), e.message).not.toThrow();
      }
    }
  });
});

describe('kernel arguments are text', () => {
  it('refuses a string that is not well-formed Unicode (a lone surrogate), never turning it into U+FFFD', () => {
    const e = errorOf(() => checkArgs('ok \ud800 bad'));
    expect(e.code).toBe('ARGS_NOT_UTF8');
    expect(e.message).toBe(
      'The kernel arguments are not valid text: character 4 is half of a UTF-16 surrogate pair (U+D800), which has no UTF-8 form. Remove it.',
    );
    expect(checkArgs('grüße ✓ 🐫')).toBe('unikernel.bin grüße ✓ 🐫');
  });
});
