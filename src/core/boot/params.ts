/**
 * PLACEHOLDER until the boot loader lands (issue 3): no code, so images do not
 * boot yet. The boot loader issue replaces this file with the parameter block
 * encoder for the generated stage 1/stage 2 bytes.
 */
import type { BootCode, BootInput } from './index';

export function buildBootCode(_input: BootInput): BootCode {
  return { mbrCode: new Uint8Array(0), stage2: new Uint8Array(0) };
}
