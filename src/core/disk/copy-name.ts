/** The default name of a changed copy of an image (pure; the page imports it without the readers). */
import type { OutputFormat } from '../formats/types';

/**
 * "demo.qcow2" → "demo-args.qcow2", "disk.tar.gz" → "disk-args.tar.gz"
 * (the format's own extension), so the copy never takes the input's name.
 */
export function copyFileName(inputName: string, format: Pick<OutputFormat, 'extension'>, tag = 'args'): string {
  const base = inputName.replace(/^.*[\\/]/, '');
  const ext = format.extension;
  let stem: string;
  if (ext && base.toLowerCase().endsWith(ext.toLowerCase()) && base.length > ext.length) {
    stem = base.slice(0, base.length - ext.length);
  } else {
    const dot = base.lastIndexOf('.');
    stem = dot > 0 ? base.slice(0, dot) : base;
  }
  const safe = stem.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '') || 'disk';
  return `${safe}-${tag}${ext}`;
}
