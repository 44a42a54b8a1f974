import { describe, expect, it } from 'vitest';
import { planChaos, seededRandom } from './schedule.js';

const params = { seed: 42, sessions: 20, kills: 7, durationMs: 100_000, parallel: 6 };

describe('planChaos', () => {
  it('is the same plan for the same seed, another for another seed', () => {
    expect(planChaos(params)).toEqual(planChaos(params));
    expect(planChaos({ ...params, seed: 43 })).not.toEqual(planChaos(params));
  });

  it('kills every kind at least once, restarts the API server once, all within the run', () => {
    const { kills } = planChaos(params);
    expect(kills).toHaveLength(8);
    expect(new Set(kills.map((k) => k.target))).toEqual(
      new Set(['operator-leader', 'gateway', 'sidecar', 'chrome', 'kubelet', 'apiserver']),
    );
    expect(kills.filter((k) => k.target === 'apiserver')).toHaveLength(1);
    for (const k of kills) expect(k.atMs).toBeGreaterThanOrEqual(10_000);
    for (const k of kills) expect(k.atMs).toBeLessThanOrEqual(90_000);
    expect(kills.map((k) => k.atMs)).toEqual([...kills.map((k) => k.atMs)].sort((a, b) => a - b));
  });

  it('plans every session: up to two connections, mixed keepAlive, release or expiry', () => {
    const { clients } = planChaos({ ...params, sessions: 200 });
    expect(clients).toHaveLength(200);
    for (const c of clients) {
      expect(c.connectionsMs.length).toBeLessThanOrEqual(2);
      expect(c.startMs).toBeLessThanOrEqual(70_000);
    }
    expect(new Set(clients.map((c) => c.keepAlive))).toEqual(new Set([true, false]));
    expect(new Set(clients.map((c) => c.release))).toEqual(new Set([true, false]));
  });
});

describe('seededRandom', () => {
  it('repeats from its seed and stays in [0, 1)', () => {
    const a = seededRandom(7);
    const b = seededRandom(7);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
  });
});
