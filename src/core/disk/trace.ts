/**
 * `trace`: boot an opened image in the emulator (src/core/x86) and run our
 * loader to the kernel's entry, noting the walkthrough's steps on the way,
 * the instructions, the console, and the final state (registers, the
 * Multiboot hand-over and information). Only this project's loader is run:
 * SYSLINUX and GRUB images get one sentence saying so. The page's stepper
 * starts its sessions the same way (`startLoaderRun`).
 */
import { abortError, type AbortSignalLike } from '../stream';
import { utf8Decode } from '../fat/read';
import { isOurStage1, isThisLoader } from '../x86/listing';
import { LoaderRun, type LoaderKnown, type StepPassed } from '../x86/stepper';
import type { StopReason } from '../x86/machine';
import type { LayoutInput } from '../x86/layout';
import {
  cpuMode,
  multibootHandoff,
  multibootInfo,
  reachedMultiboot,
  registers,
  type CpuMode,
  type HandoffRow,
  type Registers,
} from '../x86/state';
import type { BootloaderKind } from './bootloader';
import type { OpenedImage } from './open-image';

/** RAM the model PC may have, in MiB (QEMU's -m): the default, and the limits a trace accepts. */
export const TRACE_MEMORY = { default: 128, min: 2, max: 4096 } as const;

export interface TraceOptions {
  memoryMiB?: number;
  /** Aborting it stops the run between slices; `traceImage` then throws the signal's reason. */
  signal?: AbortSignalLike;
  onProgress?: (instructions: number) => void;
}

export interface TraceResult {
  loader: BootloaderKind;
  /** The emulator ran the image (this project's loader, or its stage 1 in LBA 0). */
  ran: boolean;
  /** How much of the loader's code is this build's, so that its steps could be followed. */
  known: LoaderKnown;
  memoryMiB: number;
  /** The kernel's entry was reached in the Multiboot state (EAX = 2BADB002h, EBX at the information). */
  reached: boolean;
  /** Why not, or how it ended, in a sentence. */
  reason: string;
  stop: StopReason | null;
  /** The loader's own message ("kernel CRC-32 mismatch ..."), when it stopped with one. */
  loaderError: string | null;
  instructions: number;
  steps: StepPassed[];
  console: string;
  registers: Registers | null;
  mode: CpuMode | null;
  handoff: HandoffRow[] | null;
  multiboot: {
    address: number;
    info: Uint8Array;
    mmapAddress: number;
    mmap: Uint8Array;
    cmdlineAddress: number;
    cmdline: string;
  } | null;
}

/** Why the emulator does not run this image's loader, or null when it does. */
export function notOurLoader(img: OpenedImage): string | null {
  if (img.boot.kind === 'unikernel-disk' || isOurStage1(img.lba0)) return null;
  const only = "the emulator runs this project's boot loader only";
  if (img.boot.kind === 'syslinux')
    return `This image boots with SYSLINUX (Solo5's old solo5-virtio-mkimage made it); ${only}, not SYSLINUX.`;
  if (img.boot.kind === 'grub') return `This image boots with GRUB; ${only}, not GRUB.`;
  return `This image has no boot loader this tool knows in LBA 0; ${only}.`;
}

/** The loader's memory map input from the image's parameter block (what is known of it). */
function layoutOf(img: OpenedImage): LayoutInput {
  const ours = img.boot.ours;
  if (!ours) return {};
  const p = ours.report.params;
  return {
    stage2Bytes: ours.stage2Sectors * 512,
    ...(p ? { cmdlineBytes: p.cmdline.length + 1, segments: p.segments, entry: p.entry } : {}),
  };
}

/** Boot the image's loader in the emulator, ready to step (call `notOurLoader` first). */
export function startLoaderRun(img: OpenedImage, memoryMiB: number = TRACE_MEMORY.default): Promise<LoaderRun> {
  if (!Number.isInteger(memoryMiB) || memoryMiB < TRACE_MEMORY.min || memoryMiB > TRACE_MEMORY.max)
    throw new Error(`internal: memory ${memoryMiB} MiB is outside ${TRACE_MEMORY.min}..${TRACE_MEMORY.max}`);
  const known: LoaderKnown = isThisLoader(img.lba0, img.boot.ours?.stage2 ?? null)
    ? 'all'
    : isOurStage1(img.lba0)
      ? 'stage1'
      : 'none';
  return LoaderRun.boot(img.disk, { memoryMiB, known, layout: layoutOf(img) });
}

/** Run the image's loader to the kernel's entry (or its stop) and report. */
export async function traceImage(img: OpenedImage, options: TraceOptions = {}): Promise<TraceResult> {
  const memoryMiB = options.memoryMiB ?? TRACE_MEMORY.default;
  const refused = notOurLoader(img);
  if (refused !== null)
    return {
      loader: img.boot.kind,
      ran: false,
      known: 'none',
      memoryMiB,
      reached: false,
      reason: refused,
      stop: null,
      loaderError: null,
      instructions: 0,
      steps: [],
      console: '',
      registers: null,
      mode: null,
      handoff: null,
      multiboot: null,
    };
  const run = await startLoaderRun(img, memoryMiB);
  const stop = await run.run({ signal: options.signal, onProgress: options.onProgress });
  if (stop === null) {
    if (!options.signal) throw new Error('internal: a trace was interrupted without a signal');
    throw abortError(options.signal);
  }
  const m = run.machine;
  const verdict = reachedMultiboot(m);
  let multiboot: TraceResult['multiboot'] = null;
  if (verdict.reached) {
    const mb = multibootInfo(m);
    multiboot = { ...mb, cmdline: utf8Decode(mb.cmdline) };
  }
  return {
    loader: img.boot.kind,
    ran: true,
    known: run.info.known,
    memoryMiB,
    reached: verdict.reached,
    reason: verdict.reason,
    stop,
    loaderError: stop.kind === 'loader-error' ? stop.error : null,
    instructions: m.instructions,
    steps: [...run.stepsPassed],
    console: m.console,
    registers: registers(m),
    mode: cpuMode(m),
    handoff: stop.kind === 'kernel' ? multibootHandoff(m) : null,
    multiboot,
  };
}
