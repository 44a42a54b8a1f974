import type { KillTarget } from './invariants.js';

/**
 * What a chaos run does and when, drawn from one seed: which kill happens at which moment, and what each client
 * does. Pure, so a run is reproduced from the seed it prints.
 */

/** mulberry32: a tiny seeded generator (32-bit state), uniform in [0, 1). Enough for a test schedule. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ChaosParams {
  seed: number;
  sessions: number;
  /** Kills besides the one API server restart. */
  kills: number;
  durationMs: number;
  /** Clients running at once. */
  parallel: number;
}

export interface PlannedKill {
  atMs: number;
  target: KillTarget;
  /** Which of the candidates (pods, replicas) to kill: an index taken modulo their number when it happens. */
  pick: number;
}

export interface ClientPlan {
  client: number;
  /** When the client starts, from the run's start. */
  startMs: number;
  keepAlive: boolean;
  /** CDP connections one after the other, each held this long before the client disconnects. */
  connectionsMs: number[];
  /** Ends the session itself (release) instead of letting it expire. */
  release: boolean;
}

export interface ChaosPlan {
  kills: PlannedKill[];
  clients: ClientPlan[];
}

const KILL_KINDS: readonly KillTarget[] = ['operator-leader', 'gateway', 'sidecar', 'chrome', 'kubelet'];

export function planChaos(p: ChaosParams): ChaosPlan {
  const rnd = seededRandom(p.seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  // Every kind once (when there are kills enough), the rest at random; shuffled, at random times in the
  // middle 80 % of the run, so that clients are busy when things die. The API server restarts once, mid-run.
  const kinds: KillTarget[] = [];
  for (let i = 0; i < p.kills; i++)
    kinds.push(KILL_KINDS[i < KILL_KINDS.length ? i : int(0, 4)] as KillTarget);
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = int(0, i);
    [kinds[i], kinds[j]] = [kinds[j] as KillTarget, kinds[i] as KillTarget];
  }
  const kills: PlannedKill[] = kinds.map((target) => ({
    atMs: Math.round(p.durationMs * (0.1 + 0.8 * rnd())),
    target,
    pick: int(0, 1000),
  }));
  kills.push({ atMs: Math.round(p.durationMs * (0.4 + 0.2 * rnd())), target: 'apiserver', pick: 0 });
  kills.sort((a, b) => a.atMs - b.atMs);

  // Clients start spread over the first 70 % of the run, so the last ones end within it.
  const clients: ClientPlan[] = Array.from({ length: p.sessions }, (_, client) => {
    const connections = int(0, 2);
    return {
      client,
      startMs: Math.round(p.durationMs * 0.7 * rnd()),
      keepAlive: rnd() < 0.5,
      connectionsMs: Array.from({ length: connections }, () => int(200, 2500)),
      release: rnd() < 0.5,
    };
  });
  clients.sort((a, b) => a.startMs - b.startMs);
  return { kills, clients };
}
