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

/** Find the format, check the size, plan the image (coded errors for each). */
export function planBuild(kernel: Uint8Array, opts: BuildOptions): PlannedBuild {
  const { formatId, size, ...rest } = opts;
  const format = requireFormat(formatId);
  const checked = checkImageSize(size, format);
  return { ...planImage(kernel, { ...rest, size: checked, sizeStep: format.sizeStep }), format };
}
