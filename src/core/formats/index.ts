/**
 * The containers: `FORMATS`, the writers, in the order the CLI's --help and
 * the page's Format list show them; `READERS`, the readers, in the order
 * openDisk tries them. Each container is one writer module (`qcow2.ts`) with
 * its reader beside it (`qcow2-read.ts`); add new ones to both lists.
 */
import { fail } from '../errors';
import type { OutputFormat } from './types';
import { rawFormat } from './raw';
import { gceFormat } from './gce';
import { qcow2Format } from './qcow2';
import { vhdFormat, vhdDynamicFormat } from './vhd';
import { vmdkFormat, vmdkSparseFormat } from './vmdk';
import { vdiFormat } from './vdi';
import type { ImageReader } from './reader';
import { qcow2Reader } from './qcow2-read';
import { vmdkReader } from './vmdk-read';
import { vdiReader } from './vdi-read';
import { vhdReader } from './vhd-read';
import { gceReader } from './gce-read';
import { rawReader } from './raw-read';

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

/**
 * The readers, in the order openDisk asks them: magic numbers at the start
 * first, then the VHD footer at the end, then gzip/tar; raw takes anything
 * that is left.
 */
export const READERS: readonly ImageReader[] = [qcow2Reader, vmdkReader, vdiReader, vhdReader, gceReader, rawReader];

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
