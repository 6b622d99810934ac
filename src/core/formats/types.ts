/**
 * The output format contract: what each container module in `formats/`
 * (raw, GCE's tar.gz, qcow2, VHD, VMDK, VDI) gives the rest of the program.
 * A format is one descriptor, an `OutputFormat`: its id, what the CLI and the
 * page show of it (label, extension, MIME type, where it is used), its size
 * rule, whether QEMU or a raw-disk tool reads the file as it is, and
 * `write()`, which turns an `ImagePlan` into the file's parts in order. What
 * differs between formats is a field here, so adapters never compare ids. The
 * list of formats, and the lookup that turns a string into one, is
 * `formats/index.ts`.
 */
import type { ImagePlan } from '../plan';

/**
 * What an output format produces: a sequence of parts written one after the
 * other. A `hole` is a run of zero bytes that a sink may seek over (sparse
 * file) or must write out (a download stream). `covered` is how many bytes of
 * the virtual disk this part brings the writer up to, for progress.
 */
export type OutputPart =
  { kind: 'data'; bytes: Uint8Array; covered?: number } | { kind: 'hole'; length: number; covered?: number };

export interface FormatOptions {
  /** Seconds since 1970 UTC for timestamps inside the container (tar mtime...). */
  timestamp: number;
  /** Used to derive identifiers (UUIDs, serials) so that output is reproducible. */
  seed: number;
  /**
   * Base name of the output file, for formats that record it (a VMDK's
   * descriptor names its extent). Optional; formats have a default.
   */
  fileName?: string;
}

/**
 * Every output format's id. A table over the formats is a
 * `Record<FormatId, …>`, so the compiler says which table misses a format
 * added here. A string from outside (the CLI's -f, the page's select) becomes
 * a FormatId only through `findFormat`/`requireFormat` (formats/index.ts).
 */
export type FormatId = 'raw' | 'tar' | 'qcow2' | 'vhd' | 'vhd-dynamic' | 'vmdk' | 'vmdk-sparse' | 'vdi';

export interface OutputFormat {
  /** CLI value of -f and the page's select value. */
  id: FormatId;
  /** For the page's Format list. */
  label: string;
  /** File name extension, with the dot: ".img", ".tar.gz". */
  extension: string;
  mime: string;
  /** Where it is used, one line, for --help and the page. */
  usedFor: string;
  /**
   * Throws an ImageError when a disk size suits this format no more (whole
   * GiB, whole MiB, a largest size). The rules every disk meets (whole
   * sectors, at most 2 TiB) are checked once, by `checkImageSize` in size.ts.
   */
  checkSize?(size: number): void;
  /** QEMU's block driver for this file (`-drive format=`, `qemu-img -f`); none when QEMU cannot open it as it is. */
  qemuDriver?: 'raw' | 'qcow2' | 'vpc' | 'vmdk' | 'vdi';
  /**
   * The file's bytes are the disk's bytes from offset 0 (raw; a fixed VHD,
   * whose footer follows the disk): a hypervisor that reads only raw disks
   * (bhyve), or `dd` to a USB stick, can use the file as it is.
   */
  plainDisk: boolean;
  /** The file's length before it is written, when the disk size decides it (a download's Content-Length). */
  outputLength?(diskSize: number): number;
  /**
   * The unit this format's sizes must be a multiple of, when it has one
   * beyond whole sectors (GCE: 1 GiB): suggested sizes are rounded to it.
   */
  sizeStep?: number;
  /**
   * Walk the plan and produce the file. Memory is bounded by the part size
   * (plus the format's tables); a stored plan's data is read as it is
   * needed, hence asynchronous.
   */
  write(plan: ImagePlan, opts: FormatOptions): AsyncIterable<OutputPart>;
}
