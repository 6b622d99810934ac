/**
 * Tests write images the way the CLI does: the core's `writeImage` into the
 * CLI's file sink (temporary file, holes skipped, renamed into place).
 */
import { openFileSink } from '../../src/cli/file-sink';
import type { FormatOptions, OutputFormat } from '../../src/core/formats/types';
import type { ImagePlan } from '../../src/core/plan';
import { writeImage } from '../../src/core/sink';

/**
 * Write `format` over `plan` to `path`; returns the file size. `seekable:
 * false` makes the sink append-only, so holes arrive as zero data.
 */
export async function writeFile(
  path: string,
  plan: ImagePlan,
  format: OutputFormat,
  opts: FormatOptions & { seekable?: boolean },
): Promise<number> {
  const sink = { ...openFileSink(path), seekable: opts.seekable ?? true };
  const { fileSize } = await writeImage(plan, format, sink, { fileName: opts.fileName ?? 'disk', ...opts });
  return fileSize;
}
