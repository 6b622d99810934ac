/**
 * The built-in demo kernel, behind one module so that the page does not care
 * where it is generated. Null while the generated module is still a placeholder.
 */
import { DEMO_KERNEL as GENERATED } from '../core/demo-kernel.generated';

export const DEMO_KERNEL: Uint8Array | null = GENERATED.length > 0 ? GENERATED : null;
