/**
 * Messages between the page (bridge.ts) and the build worker (worker.ts), and
 * between the worker and the service worker's download stream (sw.ts). Plain
 * data only: everything here crosses postMessage.
 */
import type { Region } from '../core/plan';

/** What the page shows about a kernel before anything is built. */
export interface KernelSummary {
  size: number;
  /** 'elf64', 'elf32' or 'binary' (a Multiboot image without ELF headers). */
  format: string;
  /** Where the loader puts the kernel: lowest address, one past the highest, 32-bit entry. */
  loadStart: number;
  loadEnd: number;
  entry: number;
  /** 'aout-kludge' (Solo5), 'elf32' or 'elf64'. */
  source: string;
  /** 'virtio', or undefined when the kernel has no Solo5 note. */
  solo5Target?: string;
  /** Whether the kernel carries a Solo5 manifest, and the devices it declares, in manifest order. */
  solo5Manifest: boolean;
  devices: { name: string; kind: 'block' | 'net' }[];
  /** Things worth telling the user that do not stop the build. */
  notes: string[];
}

/** The image about to be built, for the layout picture. */
export interface PreviewResult {
  size: number;
  fatType: number;
  cmdline: string;
  regions: Region[];
}

export interface BuildRequest {
  kernel: Uint8Array;
  size: number;
  args: string;
  formatId: string;
  /** The output file's base name: some formats record it (a VMDK's extent), so the page's bytes equal the CLI's. */
  fileName: string;
}

/** Where the worker puts the bytes. */
export type SinkSpec =
  /** File System Access: the worker creates the writable, seeks over holes, aborts on cancel. */
  | { kind: 'file'; handle: FileSystemFileHandle }
  /** Service-worker download: bytes go over this port on request (see DownloadMessage). */
  | { kind: 'port'; port: MessagePort }
  /** Last resort: a Blob in memory, refused above `cap` bytes of output. */
  | { kind: 'blob'; cap: number };

export interface BuildResult {
  /** Bytes in the output file. */
  fileSize: number;
  /** Virtual disk size. */
  diskSize: number;
  /** Only for the blob sink. */
  blob?: Blob;
}

export interface Progress {
  /** Bytes of the virtual disk done. */
  covered: number;
  /** Virtual disk size. */
  total: number;
  /** Bytes of output produced. */
  written: number;
}

export type ToWorker =
  | { type: 'inspect'; id: number; kernel: Uint8Array }
  | { type: 'preview'; id: number; kernel: Uint8Array; size: number; args: string; sizeStep?: number }
  | { type: 'build'; id: number; req: BuildRequest; sink: SinkSpec }
  /** Write the image nowhere, counting its bytes: the download size of a compressed format. */
  | { type: 'measure'; id: number; req: BuildRequest }
  | { type: 'cancel'; id: number };

export type FromWorker =
  | { type: 'result'; id: number; value: unknown }
  | { type: 'progress'; id: number; progress: Progress }
  /** `code` is set for the core's user errors; `message` is what the page shows. */
  | { type: 'error'; id: number; code?: string; message: string; cancelled?: boolean };

/**
 * The download port protocol (worker <-> service worker). The service worker
 * asks for bytes with `pull` (one chunk per pull, so memory stays bounded by a
 * few chunks); the worker answers `chunk`, then `end`, or `abort` on failure.
 * `cancel` flows back when the user cancels the download in the browser.
 */
export type DownloadMessage =
  | { type: 'pull' }
  | { type: 'cancel' }
  | { type: 'chunk'; bytes: Uint8Array }
  | { type: 'end' }
  | { type: 'abort'; message: string };

/** Page -> service worker: get ready to serve `/__download/<id>/<name>`. */
export interface DownloadRegistration {
  type: 'download';
  id: string;
  name: string;
  mime: string;
  /** Known for raw (the disk size); undefined for compressed formats. */
  size?: number;
}

/** URL prefix the service worker answers with a download. */
export const DOWNLOAD_PREFIX = '/__download/';
