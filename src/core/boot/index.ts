/**
 * The boot loader slot. The image engine calls `buildBootCode()` once the FAT
 * layout is known (so the kernel's LBA is known) and places:
 *   - `mbrCode` at bytes 0..439 of LBA 0 (the disk signature and partition
 *     table that follow are the engine's);
 *   - `stage2` at `STAGE2_LBA`, in the gap before the partition at LBA 2048;
 *   - `EFI_LOADER` as the file \EFI\BOOT\BOOTX64.EFI, after the kernel's file.
 * See docs/boot-loader.md. The contract lives in types.ts, the encoder in
 * params.ts; this module only gathers them (imports form a tree: index → params → types).
 */
export type { BootCode, BootInput } from './types';
export { EFI_BOOT_DIR, EFI_BOOT_NAME, MAX_CMDLINE, STAGE2_LBA } from './types';
export { EFI_LOADER } from './efi.generated';
export { buildBootCode } from './params';
