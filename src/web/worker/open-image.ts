/**
 * The Inside view's worker jobs as plain async functions (like build.ts):
 * the message plumbing is in worker.ts, so these run in tests without a
 * worker. The image is a Blob (a dropped File, or the image just built),
 * read through `blobSource` a slice at a time, so its size does not matter.
 */
import { openDisk } from '../../core/formats/open';
import { abortableDisk, abortableSource } from '../../core/disk/abortable';
import { planAsDisk } from '../../core/disk/plan-as-disk';
import { planBuild } from '../../core/build';
import { beforeWriting } from '../../core/sink';
import { readImage, type OpenedImage } from '../../core/disk/open-image';
import { inspectImage } from '../../core/disk/inspect';
import { verifyImage } from '../../core/disk/verify';
import { setArgsPlan, setArgsRefusal } from '../../core/disk/set-args';
import { diskMap } from '../../core/disk/map';
import { writeDiskPlan } from '../../core/disk/rewrite';
import { buildWalkthrough } from '../../core/disk/walkthrough';
import { requireFormat } from '../../core/formats/index';
import { blobSource } from './source';
import type { RunOptions, WorkerSink } from './build';
import type { CopyRequest, CopyResult, ImageReport, ImageSource } from '../protocol';

/**
 * The image, opened once (core/disk/open-image.ts); every read checks
 * `signal` (a cancelled job stops at its next read with the core's ABORTED
 * error). A file that is not a disk image (a text file, a photo) is refused
 * with the core's sentence for LBA 0.
 */
export async function openImageDisk(image: ImageSource, name: string, signal?: AbortSignal): Promise<OpenedImage> {
  if ('build' in image) {
    // The image just sent to the downloads: its plan, read as the file's disk (the same bytes), never built again.
    const { kernel, size, args, formatId } = image.build;
    const built = planBuild(kernel, { formatId, size, args });
    return readImage(abortableDisk(planAsDisk(built.plan, built.format), signal));
  }
  return readImage(abortableDisk(await openDisk(abortableSource(blobSource(image, name), signal)), signal));
}

/** Everything the view shows about an image. */
export async function openImage(
  image: ImageSource,
  name: string,
  opts: { signal?: AbortSignal } = {},
): Promise<ImageReport> {
  const img = await openImageDisk(image, name, opts.signal);
  const inspection = await inspectImage(img);
  const problems = await verifyImage(img);
  const map = await diskMap(img);
  const walkthrough = await buildWalkthrough(img, { fileName: name });
  const refused = setArgsRefusal(img);
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
  // Reading first (the image's stored data, a slice at a time: for a raw
  // image that is every byte), then writing; both report progress and stop on cancel.
  const { format, r } = await beforeWriting(sink, async () => {
    const img = await openImageDisk(req.image, req.name, opts.signal);
    const format = requireFormat(img.disk.formatId);
    const r = await setArgsPlan(img, req.args, {
      signal: opts.signal,
      onRead: (done, total) => opts.onProgress?.({ covered: done, total, written: 0, stage: 'reading' }),
    });
    return { format, r };
  });
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
}
