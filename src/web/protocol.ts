/**
 * Messages between the page (bridge.ts) and the build worker (worker/worker.ts), and
 * between the worker and the page's download pump (save.ts). Plain data (and
 * transferables) only: everything here crosses postMessage.
 */
import type { Region } from '../core/plan';
import type { Inspection } from '../core/disk/inspect';
import type { Problem } from '../core/disk/verify';
import type { DiskMap } from '../core/disk/map';
import type { Walkthrough } from '../core/disk/walkthrough/types';
import type { DownloadChunk } from './zeros';
import type { StepCommand, StepperInfo, StepperView } from '../core/x86/stepper';

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
  /** Download (streamsaver): the worker writes into the transferred stream, which flows to the service worker (zeros as lengths, src/web/zeros.ts). */
  | { kind: 'stream'; stream: WritableStream<DownloadChunk> }
  /** Download where streams cannot be transferred: the page pulls bytes over this port (DownloadMessage) and writes them. */
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
  /**
   * A changed copy first reads the image's stored data (`covered` of `total`
   * bytes read), then writes; a build only writes (absent).
   */
  stage?: 'reading' | 'writing';
}

/** An image opened in the Inside view: everything the worker read from it. */
export interface ImageReport {
  /** The file's name, for people and for the copy's default name. */
  name: string;
  /** Bytes in the image file (the container). */
  fileSize: number;
  inspection: Inspection;
  /** What verify found (empty: sound as far as can be told). */
  problems: Problem[];
  map: DiskMap;
  walkthrough: Walkthrough;
  /** The core's setArgs would rewrite the command line (ours with a sound parameter block, SYSLINUX). */
  canSetArgs: boolean;
  /** Why it would not (the core's `setArgsRefusal`): PARAMS_DAMAGED or SETARGS_UNSUPPORTED, and its sentence. */
  argsRefusal: { code: string; message: string } | null;
}

/**
 * An image to open: a file (a dropped or picked File, a Blob just built), or
 * the image just sent to the downloads, read from its build request's plan
 * (nothing is built again; `fileSize` is the file's length, for the report).
 */
export type ImageSource = Blob | { build: BuildRequest; fileSize: number };

/** Save a copy of `image` with new arguments, in the format it is in. */
export interface CopyRequest {
  /** The image file itself (a File or the Blob just built), read a slice at a time. */
  image: ImageSource;
  name: string;
  /** The kernel's arguments (without its name), as the builder's Arguments field. */
  args: string;
  /** The copy's base name (a VMDK records it). */
  fileName: string;
}

export interface CopyResult {
  fileSize: number;
  diskSize: number;
  formatId: string;
  /** The whole command line before and after. */
  before: string;
  after: string;
  /** Only for the blob sink. */
  blob?: Blob;
}

/**
 * The emulator running an opened image's loader ("How it boots"): one
 * session per image, created by `start`, driven by commands, each answered
 * with the machine's view (never its memory: windows of it on request).
 */
export type EmuRequest =
  /** `memoryMiB`: the model PC's RAM (default the trace's, 128). */
  | { op: 'start'; image: ImageSource; name: string; memoryMiB?: number }
  | { op: 'command'; command: StepCommand }
  | { op: 'memory'; address: number; length: number }
  | { op: 'close' };

/** What `start` answers: the session's fixed parts and the first view, or why this image's loader is not run. */
export type EmuStart = { info: StepperInfo; view: StepperView; refused: null } | { refused: string };

/** The answer to each request. */
export type EmuReply<R extends EmuRequest> = R extends { op: 'start' }
  ? EmuStart
  : R extends { op: 'command' }
    ? StepperView
    : R extends { op: 'memory' }
      ? Uint8Array
      : null;

export type ToWorker =
  | { type: 'inspect'; id: number; kernel: Uint8Array }
  | { type: 'preview'; id: number; kernel: Uint8Array; size: number; args: string; sizeStep?: number }
  | { type: 'build'; id: number; req: BuildRequest; sink: SinkSpec }
  /** Write the image nowhere, counting its bytes: the download size of a compressed format. */
  | { type: 'measure'; id: number; req: BuildRequest }
  /** Inside the image: open, inspect, verify, map and walk through an image file. */
  | { type: 'open-image'; id: number; image: ImageSource; name: string }
  /** Inside the image: write a copy with new arguments through the sink, in the image's own format. */
  | { type: 'save-copy'; id: number; req: CopyRequest; sink: SinkSpec }
  /** Inside the image: the emulator session `session` (a long run answers `emu-progress`; cancel stops it where it is). */
  | { type: 'emu'; id: number; session: number; req: EmuRequest }
  | { type: 'cancel'; id: number };

export type FromWorker =
  | { type: 'result'; id: number; value: unknown }
  | { type: 'progress'; id: number; progress: Progress }
  /** A long emulator run: instructions executed so far. */
  | { type: 'emu-progress'; id: number; instructions: number }
  /** `code` is set for the core's user errors; `message` is what the page shows. */
  | { type: 'error'; id: number; code?: string; message: string; cancelled?: boolean };

/**
 * The download port protocol (worker <-> page), used only where the browser
 * cannot transfer a WritableStream to the worker. The page asks for bytes
 * with `pull` (one chunk per pull, so memory stays bounded by a few chunks)
 * and writes each `chunk` into streamsaver's stream (`zeros`: a chunk of
 * that many zero bytes, sent as its length, src/web/zeros.ts); the worker ends with
 * `end`, or `abort` on failure. `cancel` flows back when the download was
 * cancelled in the browser.
 */
export type DownloadMessage =
  | { type: 'pull' }
  | { type: 'cancel' }
  | { type: 'chunk'; bytes: Uint8Array }
  | { type: 'zeros'; length: number }
  | { type: 'end' }
  | { type: 'abort'; message: string };

/** What moves (rather than is copied) with a sink spec. */
export function sinkTransfer(spec: SinkSpec): Transferable[] {
  if (spec.kind === 'stream') return [spec.stream];
  if (spec.kind === 'port') return [spec.port];
  return [];
}
