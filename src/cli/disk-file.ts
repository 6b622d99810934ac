/**
 * A disk read back from an image, written to a file: unikernel-disk's
 * set-args and convert, and solo5-virtio-run's unpacked copy of a disk QEMU
 * cannot read. One path: the core's `writeDiskPlan` (the format's size rule,
 * the time, the one write loop; the sink aborted on any failure) into the
 * file sink (a temporary file next to the target, renamed at the end).
 */
import { basename } from 'node:path';
import type { OutputFormat } from '../core/formats/index';
import type { ImagePlan } from '../core/plan';
import { writeDiskPlan } from '../core/disk/rewrite';
import { openFileSink, type OutputTarget } from './file-sink';
import type { Job } from './tool';

/** Write `plan` in `format` to `target`; a signal to `job` stops it and removes the temporary file. */
export async function writeDiskFile(
  plan: ImagePlan,
  format: OutputFormat,
  target: string | OutputTarget,
  job: Job,
  timestamp?: number,
): Promise<void> {
  const sink = openFileSink(target);
  const forget = job.atExit(() => sink.abort(undefined));
  try {
    await writeDiskPlan(plan, format, sink, {
      fileName: basename(typeof target === 'string' ? target : target.path),
      timestamp,
      signal: job.signal,
    });
  } finally {
    forget();
  }
}
