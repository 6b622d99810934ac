// Types of nasm-listing.mjs, for the tests that import it.
export interface ListingRegion {
  /** Offset in the assembled file. */
  start: number;
  end: number;
  kind: 'code' | 'data';
  /** Operand size of code regions (16 or 32). */
  bits: 16 | 32;
}
export function parseListing(
  text: string,
  length: number,
  evalOrg: (expr: string) => number,
): { origin: number; regions: ListingRegion[]; labels: Map<string, number> };
export function evalOrg(s: string, layout: string): number;
