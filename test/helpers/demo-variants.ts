/**
 * Demo kernels that declare devices in their Solo5 manifest (-D MFT_BLOCKS,
 * MFT_NETS, MFT_ALTERNATE of src/boot/demo-kernel.asm), with the devices each
 * must show through inspectKernel. Assemble them with `assembleDemo`.
 */
import type { Solo5Device } from '../../src/core/solo5';

export interface DemoVariant {
  /** File name for assembleDemo. */
  file: string;
  defines: Record<string, number>;
  devices: Solo5Device[];
}

const blocks = (n: number, one = 'storage'): Solo5Device[] =>
  n === 1
    ? [{ name: one, kind: 'block' }]
    : Array.from({ length: n }, (_, i) => ({ name: `storage${i}`, kind: 'block' }));
const nets = (n: number): Solo5Device[] => Array.from({ length: n }, (_, i) => ({ name: `service${i}`, kind: 'net' }));

export const DEMO_VARIANTS = {
  /** Like Solo5's test_blk: one block device `storage`. */
  block: { file: 'block.virtio', defines: { MFT_BLOCKS: 1 }, devices: blocks(1) },
  /** Like Solo5's test_net: one net device `service0`. */
  net: { file: 'net.virtio', defines: { MFT_NETS: 1 }, devices: nets(1) },
  /** Like test_net_2if: service0, service1. */
  net2: { file: 'net2.virtio', defines: { MFT_NETS: 2 }, devices: nets(2) },
  /** Two of each, blocks first. */
  both: { file: 'both.virtio', defines: { MFT_BLOCKS: 2, MFT_NETS: 2 }, devices: [...blocks(2), ...nets(2)] },
  /** Three blocks and two nets, alternating from a net: service0, storage0, service1, storage1, storage2. */
  mixed: {
    file: 'mixed.virtio',
    defines: { MFT_BLOCKS: 3, MFT_NETS: 2, MFT_ALTERNATE: 1 },
    devices: [
      { name: 'service0', kind: 'net' },
      { name: 'storage0', kind: 'block' },
      { name: 'service1', kind: 'net' },
      { name: 'storage1', kind: 'block' },
      { name: 'storage2', kind: 'block' },
    ],
  },
  /** The most a manifest holds: 63 devices (64 entries with the reserved one). */
  full: { file: 'full.virtio', defines: { MFT_BLOCKS: 40, MFT_NETS: 23 }, devices: [...blocks(40), ...nets(23)] },
} satisfies Record<string, DemoVariant>;

/**
 * A QEMU command printed by `nextSteps(..., 'qemu', ...)`, made runnable in a
 * test: TCG instead of KVM, user networking instead of tap (which needs
 * root), relative `*.img` files taken from `dir`, no -nographic (the caller
 * adds its own console options).
 */
export function runnableQemuArgs(command: string, dir: string): string[] {
  return command
    .replace(/ \\\n\s*/g, ' ')
    .split(' ')
    .slice(1)
    .map((a) => (a === 'kvm' ? 'tcg' : a))
    .map((a) => a.replace(/^tap,id=([^,]+),.*$/, 'user,id=$1'))
    .map((a) => a.replace(/^file=([^,/][^,]*\.img),/, `file=${dir}/$1,`))
    .filter((a) => a !== '-nographic');
}
