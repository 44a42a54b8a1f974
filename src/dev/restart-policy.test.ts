import { describe, expect, it } from 'vitest';
import { decideRestart, NEVER_RESTARTED, type RestartPolicy, type RestartState } from './restart-policy.js';

const policy: RestartPolicy = { initialMs: 1000, maxMs: 8000, resetAfterMs: 60_000 };
const T0 = Date.parse('2026-01-01T00:00:00Z');

/** Delays of a child that crashes `ranMs` after each start, `n` times in a row, on a fixed clock. */
function delays(n: number, ranMs: number): number[] {
  let state: RestartState = NEVER_RESTARTED;
  let now = T0;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const startedAt = now;
    now += ranMs;
    const d = decideRestart(state, { startedAt, exitedAt: now }, policy);
    out.push(d.delayMs);
    state = d.next;
    now += d.delayMs;
  }
  return out;
}

describe('decideRestart', () => {
  it('waits 1 s after the first exit, then doubles up to the cap', () => {
    expect(delays(6, 200)).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
  });

  it('counts restarts', () => {
    const first = decideRestart(NEVER_RESTARTED, { startedAt: T0, exitedAt: T0 + 5 }, policy);
    const second = decideRestart(first.next, { startedAt: T0 + 1005, exitedAt: T0 + 1010 }, policy);
    expect([first.next.restarts, second.next.restarts]).toEqual([1, 2]);
  });

  it('starts over at 1 s after a run of resetAfterMs or longer', () => {
    const looping: RestartState = { restarts: 4, lastDelayMs: 8000 };
    expect(decideRestart(looping, { startedAt: T0, exitedAt: T0 + 60_000 }, policy).delayMs).toBe(1000);
    expect(decideRestart(looping, { startedAt: T0, exitedAt: T0 + 59_999 }, policy).delayMs).toBe(8000);
  });
});
