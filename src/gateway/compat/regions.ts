import { ApiError } from '../errors.js';

/**
 * Wire region (an SDK's region name) → the value of the session's `spec.region` (a node label value). An empty
 * map means a single-region install: any valid wire region is accepted and none is enforced. An empty value
 * accepts that wire region without a node selector.
 */
export type RegionMap = Readonly<Record<string, string>>;

export function mapRegion(wire: string | undefined, regions: RegionMap, field: string): string | undefined {
  if (wire === undefined) return undefined;
  const served = Object.keys(regions);
  if (served.length === 0) return undefined;
  const mapped = regions[wire];
  if (mapped === undefined) {
    throw new ApiError(
      'INVALID_REQUEST',
      `${field}: "${wire}" is not served here; served regions: ${served.join(', ')}`,
    );
  }
  return mapped === '' ? undefined : mapped;
}

/** The wire name (among one dialect's names) of a session's region, if the map names it. */
export function wireRegion(
  specRegion: string | undefined,
  dialectRegions: readonly string[],
  regions: RegionMap,
): string | undefined {
  if (specRegion === undefined) return undefined;
  return dialectRegions.find((r) => regions[r] === specRegion);
}
