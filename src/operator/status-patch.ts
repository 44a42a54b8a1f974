import { LIFECYCLE_FIELDS, type LifecycleStatus } from './plan.js';

/** JSON with object keys sorted (and, as JSON has it, undefined members left out). */
export function canonicalJson(value: unknown): string | undefined {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

/** A JSON merge patch of the lifecycle fields that differ; null removes a field. Undefined when equal. */
export function statusPatch(
  before: LifecycleStatus,
  after: LifecycleStatus,
): Record<string, unknown> | undefined {
  const patch: Record<string, unknown> = {};
  for (const f of LIFECYCLE_FIELDS) {
    const a = before[f];
    const b = after[f];
    // Key order is not a difference: the API server returns conditions with their keys sorted, and a patch
    // that changes nothing but order is a write that changes nothing (not even the resourceVersion).
    if (canonicalJson(a) === canonicalJson(b)) continue;
    patch[f] = b === undefined ? null : b;
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}
