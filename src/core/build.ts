/**
 * The build recipe every face runs (the CLI, the page's worker, the Inside
 * view reading a download back, the bench): find the format, check the
 * disk size against it, and plan the image. One function, so the faces
 * cannot drift apart in what they check or in what they pass on.
 */
import { requireFormat, type OutputFormat } from './formats/index';
import { planImage, type BuiltImage, type ImageOptions } from './image';
import { checkImageSize } from './size';

export interface BuildOptions extends Omit<ImageOptions, 'size' | 'sizeStep'> {
  /** The output format's id (`-f`, the page's select); FORMAT_UNKNOWN when there is none such. */
  formatId: string;
  /** Disk size in bytes; checked against every disk's rules and the format's own. */
  size: number;
}

/** The format, and the image planned for it: `writeImage(plan, format, sink, …)` makes the file. */
export interface PlannedBuild extends BuiltImage {
  format: OutputFormat;
}

/**
 * Find the format and check the size against it: the first half of
 * `planBuild`, for a face that wants to refuse a bad size before it reads
 * a kernel (the CLI); planBuild runs it again.
 */
export function checkBuild(opts: Pick<BuildOptions, 'formatId' | 'size'>): { format: OutputFormat; size: number } {
  const format = requireFormat(opts.formatId);
  return { format, size: checkImageSize(opts.size, format) };
}

/** Find the format, check the size, plan the image (coded errors for each). */
export function planBuild(kernel: Uint8Array, opts: BuildOptions): PlannedBuild {
  const { formatId, size, ...rest } = opts;
  const { format } = checkBuild({ formatId, size });
  return { ...planImage(kernel, { ...rest, size, sizeStep: format.sizeStep }), format };
}
