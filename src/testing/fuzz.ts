import type fc from 'fast-check';

/**
 * Settings for the property-based (fast-check) tests: a fixed seed so `make test` is repeatable, a bounded
 * number of runs so it stays quick. BF_FUZZ_SEED and BF_FUZZ_RUNS override both (to replay a failure, or to
 * fuzz longer); every suite prints what it used, and fast-check's failure report names the seed and path.
 */
export const FUZZ_SEED = intFromEnv('BF_FUZZ_SEED', 18_2026);
const RUNS_SCALE = process.env['BF_FUZZ_RUNS'] === undefined ? undefined : intFromEnv('BF_FUZZ_RUNS', 1);

/** fast-check parameters for one property: `defaultRuns` unless BF_FUZZ_RUNS sets the count for all. */
export function fuzzParams<T>(name: string, defaultRuns: number): fc.Parameters<T> {
  const numRuns = RUNS_SCALE ?? defaultRuns;
  console.log(`fuzz ${name}: seed ${FUZZ_SEED}, ${numRuns} runs (BF_FUZZ_SEED / BF_FUZZ_RUNS override)`);
  return { seed: FUZZ_SEED, numRuns, endOnFailure: true };
}

function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new Error(`${name}: must be an integer, got ${JSON.stringify(raw)}`);
  return n;
}

/** JSON values nested `depth` levels deep in objects (`{"a":{"a":...}}`), built without recursion. */
export function deeplyNested(depth: number, leaf: unknown = 1): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

/** The same as JSON text, built without JSON.stringify (which overflows the stack on a few thousand levels). */
export function deeplyNestedJson(depth: number, leaf = '1'): string {
  return `${'{"a":'.repeat(depth)}${leaf}${'}'.repeat(depth)}`;
}
