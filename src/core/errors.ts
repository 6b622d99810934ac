/**
 * Errors are values with a stable code and one sentence that names the field,
 * the value and the limit, and says what to do next. Every user-facing failure
 * throws through `fail()` with a code from ERRORS, so the CLI, the worker and
 * the page can show `error.message` as it is (never a stack) and tests can
 * match `error.code`. A broken internal invariant is a plain `Error`
 * ("internal: ..."), not an ImageError: it is a bug, not bad input.
 */

/** Every code, with what it means. One code per failure. */
export const ERRORS = {
  // The kernel file (validated once, by inspectKernel).
  KERNEL_EMPTY: 'the kernel file has no bytes',
  KERNEL_SIZE_LIMIT: 'the kernel file is larger than MAX_KERNEL_SIZE (1 GiB): not a unikernel',
  NOT_A_KERNEL: 'neither ELF nor Multiboot: some other kind of file',
  ELF_TRUNCATED: 'the ELF header or program headers end past the end of the file',
  ELF_BAD_CLASS: 'ELF class is neither 32- nor 64-bit',
  ELF_NOT_LITTLE_ENDIAN: 'ELF data encoding is not little-endian',
  ELF_NOT_X86: 'ELF machine is not x86 or x86-64',
  ELF_BAD_PHDR: 'program header table entry size or count is wrong',
  ELF_BAD_SEGMENT: 'a PT_LOAD segment is larger in the file than in memory',
  ELF_SEGMENT_PAST_EOF: 'a PT_LOAD segment reads bytes past the end of the file',
  ELF_SEGMENT_OVERLAP: 'two PT_LOAD segments overlap in memory',
  ELF_BAD_NOTES: 'the PT_NOTE segments name more note bytes than any kernel has',
  ELF_NO_LOAD: 'no PT_LOAD segment and no Multiboot address fields: nothing to load',
  MB_NO_HEADER: 'no Multiboot header in the first 8192 bytes',
  MB_BAD_CHECKSUM: 'the Multiboot header checksum does not match',
  MB_TRUNCATED: 'the Multiboot address fields end past the end of the file',
  MB_UNSUPPORTED_FLAGS: 'the Multiboot header requires a feature this loader lacks',
  MB_NO_LOAD_INFO: 'not ELF and no Multiboot address fields: no way to know where to load it',
  MB_BAD_ADDRESS: 'the Multiboot address fields contradict each other',
  MB_SLICE_PAST_EOF: 'the Multiboot load range reads past the end of the file',
  MB_BSS_BEFORE_DATA: 'the Multiboot bss ends before the data does',
  SOLO5_WRONG_TARGET: 'a Solo5 unikernel built for another target (hvt, spt, ...)',
  SOLO5_ABI_BAD_SIZE: 'the Solo5 ABI note is not the 16 bytes Solo5 writes',
  SOLO5_UNKNOWN_TARGET: 'the Solo5 ABI note names a target number Solo5 does not have',
  SOLO5_DUPLICATE_NOTE: 'two Solo5 ABI notes or two manifests in one kernel',
  MFT_TRUNCATED: 'the Solo5 manifest note is too short for its header',
  MFT_BAD_VERSION: 'the Solo5 manifest is not version 1 (MFT1)',
  MFT_TOO_MANY_ENTRIES: 'the Solo5 manifest counts more than 64 entries',
  MFT_ENTRIES_PAST_NOTE: 'the Solo5 manifest counts more entries than its note holds',
  MFT_RESERVED_ENTRY: 'the Solo5 manifest entry 0 is not the reserved entry, or a later one is',
  MFT_BAD_TYPE: 'a Solo5 manifest entry has a device type other than block (1) or net (2)',
  MFT_NAME_UNTERMINATED: 'a Solo5 manifest entry name has no NUL within its 68 bytes',
  MFT_BAD_NAME: 'a Solo5 manifest device name is empty, not letters and digits, or repeated',
  LOAD_BELOW_1MIB: 'the kernel loads below 1 MiB, over the BIOS and the loader',
  LOAD_ABOVE_4GIB: 'the kernel reaches above 4 GiB, out of a 32-bit loader’s reach',
  LOAD_ENTRY_OUTSIDE: 'the entry point is not inside the bytes loaded from the file',
  LOAD_TOO_MANY_SEGMENTS: 'more loadable segments than the boot loader handles',

  // What the user asks for (validated once, where the options enter the core).
  SIZE_MALFORMED: 'the size text is not a size',
  SIZE_NOT_SECTORS: 'the size is not a positive whole number of 512-byte sectors',
  SIZE_TOO_LARGE: 'the size is above 2 TiB, the most an MBR describes',
  SIZE_TOO_SMALL: 'the disk cannot hold the kernel, the boot loader and the file system',
  KERNEL_TOO_BIG: 'the kernel takes more than half of the disk asked for',
  SIZE_NOT_GIB: 'the format needs a whole number of GiB (GCE)',
  SIZE_NOT_MIB: 'the format needs a whole number of MiB (Azure VHD)',
  SIZE_FORMAT_LIMIT: 'the size is above what the output format can describe',
  SIZE_BELOW_DISK: 'convert --size is smaller than the disk it would hold',
  FORMAT_UNKNOWN: 'no output format has this id',
  ARGS_NUL: 'the kernel arguments contain a NUL character',
  ARGS_NOT_UTF8: 'an argument is not valid UTF-8 text (bytes on the command line, a lone surrogate in a string)',
  ARGS_TOO_LONG: 'the command line is longer than the boot loader passes',
  ARGS_MODULE_SEPARATOR: 'a "---" word, which SYSLINUX’s mboot.c32 takes as the start of a module list',
  FAT_BAD_LABEL: 'the volume label is not 1 to 11 FAT characters',
  FAT_NO_LAYOUT: 'no FAT type fits the partition',
  FAT_FULL: 'the files do not fit in the FAT volume',
  FAT_ROOT_FULL: 'too many files for the FAT root directory',
  FAT_FILE_TOO_BIG: 'a file is 4 GiB or larger, more than FAT can hold',
  BAD_TIMESTAMP: 'the timestamp is not a time, not a real date, not whole seconds, or outside FAT’s 1980..2107',

  // Reading an image back (src/core/disk, the decoders beside each format's writer).
  IMAGE_EMPTY: 'the image file has no bytes',
  IMAGE_UNSUPPORTED: 'a container, version or feature this reader does not handle (VHDX, QED, zstd clusters...)',
  IMAGE_BACKING_FILE: 'the image only holds changes against another file (backing file, parent, differencing disk)',
  IMAGE_ENCRYPTED: 'the image is encrypted',
  IMAGE_EXTENT_FILES: 'a VMDK descriptor whose data lives in other files',
  IMAGE_TRUNCATED: 'the image ends before a structure or data its own tables point to',
  IMAGE_CORRUPT: 'a header or table field of the image has an impossible value',
  IMAGE_CHECKSUM: 'a header checksum of the image does not match its bytes',
  IMAGE_TOO_LARGE: 'the image holds more than this reader keeps in memory or can address',
  IMAGE_NOT_FOUND: 'the image path does not exist',
  IMAGE_READ_ERROR: 'the image file could not be read (no permission, I/O error, changed while read)',
  IMAGE_NOT_A_FILE: 'the image path is a directory, FIFO, character device or socket (or a disk whose size is unknown)',

  // What is inside the disk (src/core/disk: MBR, FAT, boot loaders) and the operations on it.
  DISK_EMPTY: 'the image holds less than one sector',
  MBR_NO_SIGNATURE: 'LBA 0 does not end with the 55 AA signature: no partition table',
  MBR_BAD_TABLE: 'a partition entry has an impossible boot flag or lies outside the disk',
  FAT_NOT_FAT: 'the partition does not start with a FAT boot sector',
  FAT_BAD_BPB: 'a FAT boot sector field has an impossible value',
  FAT_BAD_CLUSTER: 'a cluster chain points at a free, bad or out-of-range cluster',
  FAT_CHAIN_LOOP: 'a cluster chain runs back into itself',
  FAT_CHAIN_SHORT: 'a cluster chain ends before the file does',
  FAT_TREE_TOO_BIG: 'a directory, or the whole tree, is larger than a reader follows',
  FILE_TOO_BIG_TO_READ: 'a file inside the image is larger than what is read into memory',
  NO_KERNEL: 'the image names no kernel, or the kernel it names is missing',
  PARAMS_DAMAGED: 'our boot loader’s parameter block fails its checks',
  SYSLINUX_NO_LABEL: 'syslinux.cfg has no label that starts a kernel',
  SETARGS_UNSUPPORTED: 'the image’s boot loader keeps no command line this tool rewrites',
  STAGE2_NO_ROOM: 'the new command line makes stage 2 too long for the gap before the partition',

  // Running a build.
  ABORTED: 'the build was cancelled or interrupted before it finished',
  DOWNLOAD_CANCELLED: 'the browser’s download was cancelled',
  BLOB_TOO_BIG: 'the in-memory save path passed its limit',
  NO_SPACE: 'no space left (or the disk quota used up) where the image or file was being saved',
  NOT_ALLOWED: 'the browser did not allow writing to the chosen file',
  KERNEL_NOT_FOUND: 'the kernel path does not exist',
  KERNEL_UNREADABLE: 'the kernel path exists but cannot be read as a file',
  KERNEL_NOT_A_FILE: 'the kernel path is a directory, device, FIFO or socket, not a regular file',
  OUTPUT_IS_KERNEL: 'the image would be written over the kernel file itself',
  OUTPUT_IS_INPUT: 'the output would be written over the image it is read from',
  OUTPUT_NOT_A_FILE: 'the image path is a device, FIFO or socket: never replaced',
  OUTPUT_IS_TERMINAL: 'the image would go to standard output, and that is a terminal',
  OUTPUT_CLOSED: 'standard output was closed before the whole image was written',
  OUTPUT_UNWRITABLE: 'the image cannot be written where asked',
  OUTPUT_TOO_LARGE: 'the file system or a limit (ulimit -f) refused a file this large',
  OUTPUT_IO_ERROR: 'the disk reported an input/output error while the output was written',

  // Running a unikernel (solo5-virtio-run): checked before the hypervisor starts.
  RUN_DEVICE_MISSING: 'the unikernel declares a device that no -d or -n attaches',
  RUN_DEVICE_EXTRA: 'a -d or -n has no declared device of its kind left to attach to',
  RUN_DISK_NOT_FOUND: 'a -d disk file does not exist or cannot be read',
  RUN_NETIF_NOT_FOUND: 'a -n network interface does not exist on this host',
  RUN_NETIF_NOT_TAP: 'a -n network interface exists but is not a tap interface',
  RUN_MEM_MALFORMED: 'the -m memory size is not a whole number of MiB in range',
  RUN_NOT_BOOTABLE: 'UNIKERNEL is neither a kernel nor a disk image',
  RUN_IMAGE_ARGS: 'arguments were given with a disk image, whose arguments are fixed inside it',
  RUN_IMAGE_UNSUPPORTED: 'the hypervisor cannot read this disk image format',
  RUN_NO_HYPERVISOR: 'the hypervisor program is not installed',
  RUN_NO_KVM: 'KVM was asked for but /dev/kvm cannot be used',
  RUN_KVM_FAILED: 'KVM was asked for and QEMU with KVM failed before the unikernel printed anything',
  RUN_GDB_PORT: 'the --gdb-port is not a TCP port number or is in use',
  RUN_TOO_MANY_DEVICES: 'more devices than free PCI slots',
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class ImageError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'ImageError';
    this.code = code;
  }
}

export function fail(code: ErrorCode, message: string): never {
  throw new ImageError(code, message);
}

export function isImageError(e: unknown): e is ImageError {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string' && e.name === 'ImageError';
}

/** The one ABORTED error: "The image was cancelled before it was finished (why)." */
export function aborted(why?: string): ImageError {
  return new ImageError('ABORTED', `The image was cancelled before it was finished${why ? ` (${why})` : ''}.`);
}
