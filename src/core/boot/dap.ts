/**
 * The disk address packet of INT 13h function 42h (the "extensions" read):
 * field offsets and an encoder. Stage 1 (src/boot/stage1.asm) builds one on
 * its stack to read stage 2, and stage 2 (disk.inc) one per chunk of the kernel.
 */
import { u16le, u64le } from '../bytes';

export const DAP = {
  packetSize: 0,
  reserved: 1,
  sectors: 2,
  bufferOffset: 4,
  bufferSegment: 6,
  lba: 8,
  /** Bytes of the packet, and the value of its first byte. */
  size: 16,
} as const;

/** A packet reading `sectors` sectors from `lba` to segment:offset. */
export function encodeDap(sectors: number, segment: number, offset: number, lba: number): Uint8Array {
  const b = new Uint8Array(DAP.size);
  b[DAP.packetSize] = DAP.size;
  u16le(b, DAP.sectors, sectors);
  u16le(b, DAP.bufferOffset, offset);
  u16le(b, DAP.bufferSegment, segment);
  u64le(b, DAP.lba, lba);
  return b;
}
