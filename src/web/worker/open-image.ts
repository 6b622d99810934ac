/**
 * The Inside view's worker jobs as plain async functions (like build.ts):
 * the message plumbing is in worker.ts, so these run in tests without a
 * worker. The image is a Blob (a dropped File, or the image just built),
 * read through `blobSource` a slice at a time, so its size does not matter.
 */
import { openDisk } from '../../core/disk/open';
import { abortableDisk, abortableSource } from '../../core/disk/abortable';
import { planDisk } from '../../core/disk/plan-disk';
import { planImage } from '../../core/image';
import { checkImageSize } from '../../core/size';
import { identifyBootloader, openContext } from '../../core/disk/bootloader';
import { inspectDisk, setArgsRefusal, verifyDisk } from '../../core/disk/ops';
import { diskMap } from '../../core/disk/map';
import { setArgsPlan, writeDiskPlan } from '../../core/disk/rewrite';
import { buildWalkthrough } from '../../core/disk/walkthrough';
import type { DiskImage } from '../../core/disk/types';
import { requireFormat } from '../../core/formats/index';
import { blobSource } from './source';
import type { RunOptions, WorkerSink } from './build';
import type { CopyRequest, CopyResult, ImageReport, ImageSource } from '../protocol';

/**
 * The virtual disk in an image file; every read checks `signal` (a cancelled
 * job stops at its next read with the core's ABORTED error). A file that opens as a "raw" disk but
 * has neither a partition table nor a FAT volume at LBA 0 (a text file, a
 * photo) is refused with the core's sentence for LBA 0, rather than shown as
 * an empty disk.
 */
export async function openImageDisk(image: ImageSource, name: string, signal?: AbortSignal): Promise<DiskImage> {
  if ('build' in image) {
    // The image just sent to the downloads: its plan, read as the file's disk (the same bytes), never built again.
    const { kernel, size, args, formatId } = image.build;
    const format = requireFormat(formatId);
    checkImageSize(size, format);
    const built = planImage(kernel, { size, args, sizeStep: format.sizeStep });
    return abortableDisk(planDisk(built.plan, format), signal);
  }
  const disk = abortableDisk(await openDisk(abortableSource(blobSource(image, name), signal)), signal);
  const ctx = await openContext(disk);
  if (!ctx.mbr && !ctx.fat) throw ctx.mbrError ?? ctx.fatError ?? new Error('internal: no MBR and no error');
  return disk;
}

/** Everything the view shows about an image. */
export async function openImage(
  image: ImageSource,
  name: string,
  opts: { signal?: AbortSignal } = {},
): Promise<ImageReport> {
  const disk = await openImageDisk(image, name, opts.signal);
  const inspection = await inspectDisk(disk);
  const problems = await verifyDisk(disk);
  const map = await diskMap(disk);
  const walkthrough = await buildWalkthrough(disk);
  const ctx = await openContext(disk);
  const refused = setArgsRefusal(ctx, await identifyBootloader(ctx));
  return {
    name,
    fileSize: 'build' in image ? image.fileSize : image.size,
    inspection,
    problems,
    map,
    walkthrough,
    canSetArgs: refused === null,
    argsRefusal: refused && { code: refused.code, message: refused.message },
  };
}

/**
 * A copy of the image with new arguments, in the format it came in (the
 * disk's own format id), through the core's one rewrite path: the sink gets
 * the whole file or is aborted.
 */
export async function saveCopy(req: CopyRequest, sink: WorkerSink, opts: RunOptions = {}): Promise<CopyResult> {
  let started = false;
  try {
    const disk = await openImageDisk(req.image, req.name, opts.signal);
    const format = requireFormat(disk.formatId);
    // Reading first (the image's stored data, a slice at a time: for a raw
    // image that is every byte), then writing; both report progress and stop on cancel.
    const r = await setArgsPlan(disk, req.args, {
      signal: opts.signal,
      onRead: (done, total) => opts.onProgress?.({ covered: done, total, written: 0, stage: 'reading' }),
    });
    started = true;
    const w = await writeDiskPlan(r.plan, format, sink, {
      fileName: req.fileName,
      signal: opts.signal,
      onProgress: (p) => opts.onProgress?.({ ...p, stage: 'writing' }),
    });
    return {
      fileSize: w.fileSize,
      diskSize: r.plan.size,
      formatId: format.id,
      before: r.before,
      after: r.after,
      ...(w.result ? { blob: w.result } : {}),
    };
  } catch (e) {
    // writeDiskPlan aborts the sink itself; a failure before it must too.
    if (!started) await Promise.resolve(sink.abort(e)).catch(() => {});
    throw e;
  }
}
