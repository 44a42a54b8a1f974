import { describe, expect, it } from 'vitest';
import { INVARIANTS, type InvariantName, type Violation } from '../src/testing/chaos/invariants.js';
import { chaosParamsFromEnv, runChaos } from '../src/testing/chaos/run.js';

/**
 * The chaos run (src/testing/chaos/run.ts): the chart on a cluster and real node of its own, sessions through
 * the SDKs while the operator leader's, a gateway replica's, a sidecar's and a Chrome's container processes and
 * the kubelet are SIGKILLed and the API server restarts; every invariant must hold. Its own vitest project
 * (`chaos`, no global setup: one real node per machine), which `make test` runs after the cluster project, a
 * short run with a fixed seed; `make chaos` sets CHAOS_FULL=1 for the full size, and CHAOS_SEED,
 * CHAOS_SESSIONS, CHAOS_KILLS, CHAOS_MINUTES override either. Needs root (it runs a kubelet) and `make images`.
 */
const full = process.env['CHAOS_FULL'] === '1';
const params = chaosParamsFromEnv(
  process.env,
  full
    ? {
        seed: Math.floor(Math.random() * 2 ** 31),
        sessions: 300,
        kills: 30,
        durationMs: 15 * 60_000,
        parallel: 0,
      }
    : { seed: 1801, sessions: 20, kills: 5, durationMs: 60_000, parallel: 0 },
);
const budgetMs = params.durationMs + 6 * 60_000;

/**
 * Defects the chaos run found that are reported and not fixed yet: the short run in `make test` prints them and
 * does not fail on them (timing decides whether a short run meets them); `make chaos` fails on every violation.
 * Remove an entry with its fix.
 */
const OPEN_DEFECTS: Partial<Record<InvariantName, RegExp>> = {};
const open = (v: Violation) => !full && (OPEN_DEFECTS[v.invariant]?.test(v.detail) ?? false);

describe.skipIf(process.getuid?.() !== 0 || process.env['BF_TEST_KUBECONFIG'] !== undefined)('chaos', () => {
  it(
    `${params.sessions} sessions, ${params.kills} kills and an API server restart (seed ${params.seed}): every invariant holds`,
    async () => {
      const result = await runChaos(params);
      expect(Object.keys(result.table)).toEqual([...INVARIANTS]);
      const violations = Object.values(result.table).flat();
      for (const v of violations.filter(open))
        console.log(`chaos: open defect, not failing the short run: ${v.detail}`);
      expect(
        violations.filter((v) => !open(v)).map((v) => `${v.invariant}: ${v.session ?? ''} ${v.detail}`),
      ).toEqual([]);
      expect(result.sessions).toBeGreaterThan(0);
    },
    budgetMs,
  );
});
