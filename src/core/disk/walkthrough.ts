/**
 * PLACEHOLDER (branch inside-page): the boot walkthrough is written on the
 * `walkthrough` branch; the lead takes that version at merge. This stub only
 * has the agreed signature, so the Inside view compiles.
 */
import type { DiskImage } from './types';
import type { Walkthrough } from './walkthrough-types';

export async function buildWalkthrough(disk: DiskImage): Promise<Walkthrough> {
  void disk;
  return { loader: 'none', cmdline: null, steps: [], notes: ['not yet'] };
}
