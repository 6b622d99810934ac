/**
 * Writing an image that was read back: the one path set-args and convert
 * take, in the CLI and in the page. The disk (with its patches) becomes an
 * `ImagePlan` (`copyPlan`), and the plan goes through the same format
 * writer and the same write loop (`writeImage`) as a fresh build, so the
 * sink is aborted on any failure and nothing half-written is left.
 * Identifiers come from the plan's bytes (`planSeed`), so the same input
 * gives the same file.
 */
import { DEFAULT_TIMESTAMP } from '../image';
import type { ImagePlan } from '../plan';
import type { OutputFormat } from '../formats/types';
import { checkImageSize } from '../size';
import { beforeWriting, writeImage, type Sink, type Written } from '../sink';
import type { AbortSignalLike, Progress } from '../stream';
import { checkTimestamp } from '../timestamp';
import { planSeed } from './copy';

export interface RewriteOptions {
  /** Base name of the output file (a VMDK records it). */
  fileName: string;
  /** Seconds since 1970 for container headers; default DEFAULT_TIMESTAMP (1980-01-01), as a build. */
  timestamp?: number;
  signal?: AbortSignalLike;
  onProgress?: (p: Progress) => void;
}

/**
 * Write a plan read back from an image in `format` into `sink`: the format's
 * size rule first, then the one write loop. The sink is aborted on any
 * failure, including a refused size.
 */
export async function writeDiskPlan<R>(
  plan: ImagePlan,
  format: OutputFormat,
  sink: Sink<R>,
  opts: RewriteOptions,
): Promise<Written<R>> {
  const timestamp = await beforeWriting(sink, () => {
    checkImageSize(plan.size, format);
    return checkTimestamp(opts.timestamp ?? DEFAULT_TIMESTAMP);
  });
  return writeImage(plan, format, sink, {
    fileName: opts.fileName,
    timestamp,
    seed: planSeed(plan),
    signal: opts.signal,
    onProgress: opts.onProgress,
  });
}

export { copyFileName } from './copy-name';
