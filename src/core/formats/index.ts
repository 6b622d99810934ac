/**
 * The output formats, in the order the CLI's --help and the page's Format list
 * show them. Each format is one module; add new ones here.
 */
import { fail } from '../errors';
import type { OutputFormat } from './types';
import { rawFormat } from './raw';
import { gceFormat } from './gce';
import { qcow2Format } from './qcow2';
import { vhdFormat, vhdDynamicFormat } from './vhd';
import { vmdkFormat, vmdkSparseFormat } from './vmdk';
import { vdiFormat } from './vdi';

export const FORMATS: readonly OutputFormat[] = [
  rawFormat,
  gceFormat,
  qcow2Format,
  vhdFormat,
  vhdDynamicFormat,
  vmdkFormat,
  vmdkSparseFormat,
  vdiFormat,
];

export function findFormat(id: string): OutputFormat | undefined {
  return FORMATS.find((f) => f.id === id);
}

/** The format with this id, or the one FORMAT_UNKNOWN error that lists the ids. */
export function requireFormat(id: string): OutputFormat {
  const format = findFormat(id);
  if (!format) {
    fail('FORMAT_UNKNOWN', `Unknown format "${id}"; choose one of: ${FORMATS.map((f) => f.id).join(', ')}.`);
  }
  return format;
}

export type { FormatId, OutputFormat, OutputPart, FormatOptions } from './types';
