/**
 * Multiboot 1 header: find it, check it, and turn its a.out-kludge address
 * fields into a LoadPlan. Facts: the Multiboot 1 specification (header in the
 * first 8192 bytes, 4-byte aligned, magic + flags + checksum = 0 mod 2^32;
 * bits 0-15 of flags are required, 16-31 optional; bit 16 = address fields).
 */
import { rd32le } from './bytes';
import { fail } from './errors';
import { hex } from './units';
import type { LoadPlan } from './load-plan';

export const MB_MAGIC = 0x1badb002;
export const MB_SEARCH = 8192;
export const MB_FLAG_PAGE_ALIGN = 1 << 0;
export const MB_FLAG_MEMORY_INFO = 1 << 1;
export const MB_FLAG_VIDEO_MODE = 1 << 2;
export const MB_FLAG_AOUT_KLUDGE = 1 << 16;
/** Byte offsets of the header's fields, from its magic; the five addresses only with MB_FLAG_AOUT_KLUDGE. */
export const MB_HEADER = {
  magic: 0,
  flags: 4,
  checksum: 8,
  headerAddr: 12,
  loadAddr: 16,
  loadEndAddr: 20,
  bssEndAddr: 24,
  entryAddr: 28,
  /** Bytes of magic, flags and checksum. */
  basicSize: 12,
  /** Bytes with the a.out-kludge address fields. */
  kludgeSize: 32,
} as const;
/** Required flags this loader honours: page-align modules (we load none) and memory info. */
const SUPPORTED_REQUIRED = MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY_INFO;

export interface MultibootHeader {
  /** File offset of the magic. */
  offset: number;
  flags: number;
  checksum: number;
  /** Present when flag bit 16 is set. */
  headerAddr?: number;
  loadAddr?: number;
  loadEndAddr?: number;
  bssEndAddr?: number;
  entryAddr?: number;
}

/** Find the first valid header; throws MB_NO_HEADER / MB_BAD_CHECKSUM. */
export function findMultiboot(b: Uint8Array, what = 'kernel'): MultibootHeader {
  const limit = Math.min(MB_SEARCH, b.length) - MB_HEADER.basicSize;
  let badAt = -1;
  for (let i = 0; i <= limit; i += 4) {
    if (rd32le(b, i + MB_HEADER.magic) !== MB_MAGIC) continue;
    const flags = rd32le(b, i + MB_HEADER.flags);
    const checksum = rd32le(b, i + MB_HEADER.checksum);
    if ((MB_MAGIC + flags + checksum) >>> 0 !== 0) {
      if (badAt < 0) badAt = i;
      continue;
    }
    const h: MultibootHeader = { offset: i, flags, checksum };
    if (flags & MB_FLAG_AOUT_KLUDGE) {
      if (i + MB_HEADER.kludgeSize > b.length) {
        fail(
          'MB_TRUNCATED',
          `The ${what} is truncated: its Multiboot header at file offset ${hex(i)} sets the address fields (flag bit 16), which end at byte ${i + MB_HEADER.kludgeSize}, but the file has ${b.length} bytes.`,
        );
      }
      h.headerAddr = rd32le(b, i + MB_HEADER.headerAddr);
      h.loadAddr = rd32le(b, i + MB_HEADER.loadAddr);
      h.loadEndAddr = rd32le(b, i + MB_HEADER.loadEndAddr);
      h.bssEndAddr = rd32le(b, i + MB_HEADER.bssEndAddr);
      h.entryAddr = rd32le(b, i + MB_HEADER.entryAddr);
    }
    return h;
  }
  if (badAt >= 0) {
    const flags = rd32le(b, badAt + MB_HEADER.flags);
    const checksum = rd32le(b, badAt + MB_HEADER.checksum);
    const want = (-(MB_MAGIC + flags) >>> 0) >>> 0;
    fail(
      'MB_BAD_CHECKSUM',
      `The ${what}'s Multiboot header at file offset ${hex(badAt)} has checksum ${hex(checksum)}, but magic + flags (${hex(flags)}) need ${hex(want)}. The file is damaged; rebuild it.`,
    );
  }
  fail(
    'MB_NO_HEADER',
    `The ${what} has no Multiboot header (magic ${hex(MB_MAGIC)}) in its first ${MB_SEARCH} bytes, so no BIOS boot loader can start it. Build the unikernel with the Solo5 virtio target (e.g. \`mirage configure -t virtio\`).`,
  );
}

/** Refuse required flag bits (0-15) we cannot honour, as the spec asks. */
export function checkFlags(h: MultibootHeader, what = 'kernel'): void {
  const unknown = h.flags & 0xffff & ~SUPPORTED_REQUIRED;
  if (unknown === 0) return;
  if (unknown & MB_FLAG_VIDEO_MODE) {
    fail(
      'MB_UNSUPPORTED_FLAGS',
      `The ${what}'s Multiboot flags ${hex(h.flags)} request a video mode (bit 2), which this boot loader does not set up (it supports required bits 0 and 1). Solo5 kernels use flags 0x10003; rebuild without the video request.`,
    );
  }
  const bits: number[] = [];
  for (let i = 0; i < 16; i++) if (unknown & (1 << i)) bits.push(i);
  fail(
    'MB_UNSUPPORTED_FLAGS',
    `The ${what}'s Multiboot flags ${hex(h.flags)} set required bit${bits.length > 1 ? 's' : ''} ${bits.join(', ')}, which this boot loader does not know (it supports required bits 0 and 1, and bit 16). Multiboot says to refuse such a kernel; Solo5 kernels use flags 0x10003.`,
  );
}

/**
 * The load plan from the a.out-kludge fields (flag bit 16), computed as the
 * specification, QEMU and GRUB do: the slice starts at file offset
 * header_offset - (header_addr - load_addr); load_end_addr 0 means "to the end
 * of the file"; bss_end_addr 0 means no bss.
 */
export function kludgePlan(h: MultibootHeader, fileSize: number, what = 'kernel'): LoadPlan {
  const headerAddr = h.headerAddr!;
  const loadAddr = h.loadAddr!;
  const loadEnd = h.loadEndAddr!;
  const bssEnd = h.bssEndAddr!;
  const entry = h.entryAddr!;
  if (headerAddr < loadAddr) {
    fail(
      'MB_BAD_ADDRESS',
      `The ${what}'s Multiboot header_addr ${hex(headerAddr)} is below load_addr ${hex(loadAddr)}; the header must lie inside the loaded image. The header fields are wrong; rebuild the kernel.`,
    );
  }
  const fileOffset = h.offset - (headerAddr - loadAddr);
  if (fileOffset < 0) {
    fail(
      'MB_BAD_ADDRESS',
      `The ${what}'s Multiboot header at file offset ${hex(h.offset)} says it is ${hex(headerAddr - loadAddr)} bytes past load_addr, which would start the image ${-fileOffset} bytes before the start of the file. The header fields are wrong; rebuild the kernel.`,
    );
  }
  let fileSizeToLoad: number;
  if (loadEnd === 0) {
    fileSizeToLoad = fileSize - fileOffset;
  } else {
    if (loadEnd < loadAddr) {
      fail(
        'MB_BAD_ADDRESS',
        `The ${what}'s Multiboot load_end_addr ${hex(loadEnd)} is below load_addr ${hex(loadAddr)}. The header fields are wrong; rebuild the kernel.`,
      );
    }
    fileSizeToLoad = loadEnd - loadAddr;
    if (fileOffset + fileSizeToLoad > fileSize) {
      fail(
        'MB_SLICE_PAST_EOF',
        `The ${what} is truncated or its header is wrong: Multiboot load_addr..load_end_addr (${hex(loadAddr)}..${hex(loadEnd)}) asks for ${fileSizeToLoad} bytes from file offset ${hex(fileOffset)}, which ends at byte ${fileOffset + fileSizeToLoad}, but the file has ${fileSize} bytes.`,
      );
    }
  }
  const dataEnd = loadAddr + fileSizeToLoad;
  let memEnd = dataEnd;
  if (bssEnd !== 0) {
    if (bssEnd < dataEnd) {
      fail(
        'MB_BSS_BEFORE_DATA',
        `The ${what}'s Multiboot bss_end_addr ${hex(bssEnd)} is below the end of its data ${hex(dataEnd)} (load_end_addr); the bss must follow the data. The header fields are wrong; rebuild the kernel.`,
      );
    }
    memEnd = bssEnd;
  }
  return {
    source: 'aout-kludge',
    entry,
    segments: [{ fileOffset, fileSize: fileSizeToLoad, loadAddr, memSize: memEnd - loadAddr }],
    start: loadAddr,
    end: memEnd,
  };
}
