/**
 * The built-in demo kernel, behind one module so that the page does not care
 * where it is generated (src/boot/demo-kernel.asm, assembled by
 * `npm run build:boot`). Null if a checkout's generated module is empty.
 */
import { DEMO_KERNEL as GENERATED } from '../core/demo-kernel.generated';

export const DEMO_KERNEL: Uint8Array | null = GENERATED.length > 0 ? GENERATED : null;
