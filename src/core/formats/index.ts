/**
 * The output formats, in the order the CLI's --help and the page's Format list
 * show them. Each format is one module; add new ones here.
 */
import type { OutputFormat } from './types';
import { rawFormat } from './raw';
import { gceFormat } from './gce';

export const FORMATS: readonly OutputFormat[] = [rawFormat, gceFormat];

export function findFormat(id: string): OutputFormat | undefined {
  return FORMATS.find((f) => f.id === id);
}

export type { OutputFormat, OutputPart, FormatOptions } from './types';
