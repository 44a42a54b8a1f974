import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { runClients } from './clients.js';
import {
  type ChaosEvent,
  type CheckOptions,
  checkAll,
  DEFAULT_CHECK_OPTIONS,
  expiryLags,
  INVARIANTS,
  type InvariantName,
  type Violation,
} from './invariants.js';
import { runKills } from './killer.js';
import { startObserver } from './observer.js';
import { type ChaosParams, planChaos } from './schedule.js';
import { type ChaosWorld, startChaosWorld } from './world.js';

/**
 * One chaos run: the chart on its own cluster, clients through the SDKs, kills on a seeded schedule, the
 * invariants checked every few seconds while it runs (new violations printed as they appear) and once more at
 * the end. `make chaos` runs it at full size; the cluster suite runs a short one with a fixed seed.
 */
export interface ChaosResult {
  params: ChaosParams;
  table: Record<InvariantName, Violation[]>;
  kills: Record<string, number>;
  skippedKills: string[];
  sessions: number;
  clientSteps: Record<string, number>;
  /** Milliseconds past expiresAt of expired sessions: by their endedAt, and as the watch saw them. */
  expiry: { endedAt: number[]; seen: number[] };
  durationMs: number;
  report: string;
}

export function chaosParamsFromEnv(
  env: Record<string, string | undefined>,
  defaults: ChaosParams,
): ChaosParams & { concurrency: number } {
  const int = (name: string, fallback: number, min: number) => {
    const v = env[name];
    if (v === undefined || v === '') return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`${name}: must be an integer of at least ${min}, got "${v}"`);
    return n;
  };
  const minutes = env['CHAOS_MINUTES'];
  let durationMs = defaults.durationMs;
  if (minutes !== undefined && minutes !== '') {
    const m = Number(minutes);
    if (!Number.isFinite(m) || m <= 0)
      throw new Error(`CHAOS_MINUTES: must be a positive number, got "${minutes}"`);
    durationMs = Math.round(m * 60_000);
  }
  const concurrency = int('CHAOS_CONCURRENCY', 3, 1);
  return {
    seed: int('CHAOS_SEED', defaults.seed, 0),
    sessions: int('CHAOS_SESSIONS', defaults.sessions, 1),
    kills: int('CHAOS_KILLS', defaults.kills, 0),
    durationMs,
    parallel: int('CHAOS_PARALLEL', concurrency + 2, 1),
    concurrency,
  };
}

export async function runChaos(
  params: ChaosParams & { concurrency: number },
  out: (line: string) => void = console.log,
): Promise<ChaosResult> {
  const timeoutSeconds = 6;
  out(
    `chaos: seed ${params.seed}, ${params.sessions} sessions, ${params.kills} kills + 1 API server restart, ` +
      `${(params.durationMs / 60_000).toFixed(1)} min, concurrency ${params.concurrency}, ${params.parallel} clients at once`,
  );
  const plan = planChaos(params);
  const world: ChaosWorld = await startChaosWorld({
    concurrency: params.concurrency,
    maxQueued: params.parallel,
    timeoutSeconds,
  });
  out(`chaos: cluster up (logs and values in ${world.logDir})`);
  const log: ChaosEvent[] = [];
  const opts: CheckOptions = DEFAULT_CHECK_OPTIONS;
  const printed = new Set<string>();
  const report = (now?: number) => {
    const table = checkAll(log, now === undefined ? opts : { ...opts, now });
    for (const v of Object.values(table).flat()) {
      const line = `chaos: VIOLATION ${v.invariant}: ${v.session ? `session ${v.session}: ` : ''}${v.detail}`;
      const key = `${v.invariant}/${v.session}/${v.detail.replace(/[\d.]+ s/g, '')}`;
      if (!printed.has(key)) {
        printed.add(key);
        out(line);
      }
    }
    return table;
  };
  try {
    const observer = startObserver(world, log);
    const startedAt = Date.now();
    const checker = setInterval(() => report(Date.now()), 5000);
    const [, kills] = await Promise.all([
      runClients(
        plan.clients,
        {
          gatewayUrl: world.gatewayUrl,
          apiKey: world.apiKey,
          parallel: params.parallel,
          stepDeadlineMs: 45_000,
          startedAt,
          timeoutSeconds,
        },
        log,
      ),
      runKills(plan.kills, world, log, startedAt, { kubeletDownMs: 2000 }),
    ]);
    // Settle: every session ended and its objects gone (or the cleanup grace over), then the final check.
    const settleUntil = Date.now() + opts.cleanupGraceMs + 30_000;
    while (Date.now() < settleUntil) {
      const pending = checkAll([...log, { at: Date.now(), type: 'end' }], opts);
      if (pending['no-leftovers'].length === 0 && pending['ends-with-reason'].length === 0) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    clearInterval(checker);
    await observer.stop();
    log.push({ at: Date.now(), type: 'end' });
    writeFileSync(path.join(world.logDir, 'events.jsonl'), log.map((e) => JSON.stringify(e)).join('\n'));
    out(`chaos: event log in ${path.join(world.logDir, 'events.jsonl')}`);
    const table = report();
    const durationMs = Date.now() - startedAt;
    const sessions = new Set(log.flatMap((e) => (e.type === 'session' ? [e.session] : []))).size;
    const clientSteps: Record<string, number> = {};
    for (const e of log)
      if (e.type === 'client') {
        const key = `${e.step.replace(/ \d+$/, '')} ${e.outcome}${e.status ? ` ${e.status}` : ''}`;
        clientSteps[key] = (clientSteps[key] ?? 0) + 1;
      }
    const result = {
      params,
      table,
      kills: kills.done,
      skippedKills: kills.skipped,
      sessions,
      clientSteps,
      expiry: expiryLags(log),
      durationMs,
      report: '',
    };
    result.report = formatReport(result);
    out(result.report);
    return result;
  } finally {
    await world.stop();
  }
}

export function formatReport(r: Omit<ChaosResult, 'report'>): string {
  const lines = [
    `chaos run: seed ${r.params.seed}, ${(r.durationMs / 1000).toFixed(1)} s, ${r.sessions} sessions seen`,
    `kills: ${Object.entries(r.kills)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}${r.skippedKills.length ? `; skipped: ${r.skippedKills.join('; ')}` : ''}`,
    `client steps: ${Object.entries(r.clientSteps)
      .sort()
      .map(([k, n]) => `${k}: ${n}`)
      .join(', ')}`,
    `expiry, ms past expiresAt (p50 / p95 / max): endedAt ${spread(r.expiry.endedAt)}, seen by the watch ${spread(r.expiry.seen)}`,
    'invariant            violations',
    ...INVARIANTS.map((name) => `${name.padEnd(20)} ${r.table[name].length}`),
  ];
  return lines.join('\n');
}

function spread(ms: number[]): string {
  if (ms.length === 0) return '-';
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0);
  return `${at(0.5)} / ${at(0.95)} / ${at(1)} (${s.length})`;
}
