import { describe, expect, it } from 'vitest';
import { iso, project, running, session, T0 } from '../testing/fixtures.js';
import { createBudget, rateLimitHeaders } from './quota.js';

const createdAt = (ms: number) => ({ creationTimestamp: new Date(ms).toISOString() as never });

describe('createBudget', () => {
  it('counts free places (concurrency + queue) when there is no per-minute limit', () => {
    const p = project({ concurrency: 2, maxQueued: 1, createsPerMinute: 0 });
    const sessions = [session(running(300)), session({ phase: 'Completed', endedAt: iso(T0) })];
    expect(createBudget(p, sessions, T0 + 1000)).toEqual({ limit: 3, remaining: 2, resetSeconds: 0 });
  });

  it('refuses with QUOTA_EXCEEDED when running, starting and queued sessions fill every place', () => {
    const p = project({ concurrency: 1, maxQueued: 1 }, 'p');
    const sessions = [session(running(300)), session({ phase: 'Queued', queuePosition: 1 })];
    const b = createBudget(p, sessions, T0 + 100_000);
    expect(b.remaining).toBe(0);
    expect(b.refusal).toEqual({
      code: 'QUOTA_EXCEEDED',
      message:
        'project "p" is at its limit: 2 sessions running, starting or queued (concurrency 1, maxQueued 1)',
      // The running session expires at T0+300 s: the latest a place frees up, capped at a minute.
      retryAfterSeconds: 60,
    });
    expect(createBudget(p, sessions, T0 + 290_000).refusal?.retryAfterSeconds).toBe(10);
  });

  it('does not count sessions that are ending or being deleted', () => {
    const p = project({ concurrency: 1, maxQueued: 0 });
    const deleting = session(running(300), {}, { deletionTimestamp: new Date(T0) as never });
    const failed = session({ phase: 'Failed', endReason: 'QuotaExceeded' });
    expect(createBudget(p, [deleting, failed], T0).refusal).toBeUndefined();
  });

  it('applies createsPerMinute over a sliding minute of creation times', () => {
    const p = project({ concurrency: 100, maxQueued: 0, createsPerMinute: 2 }, 'p');
    const old = session({ phase: 'Completed' }, {}, createdAt(T0 - 61_000));
    const a = session(running(300), {}, createdAt(T0 - 50_000));
    const b = session(running(300), {}, createdAt(T0 - 20_000));
    expect(createBudget(p, [old, a], T0)).toEqual({ limit: 2, remaining: 1, resetSeconds: 10 });
    expect(createBudget(p, [old, a, b], T0)).toEqual({
      limit: 2,
      remaining: 0,
      resetSeconds: 10,
      refusal: {
        code: 'RATE_LIMITED',
        message: 'project "p" allows 2 session creates per minute; try again in 10s',
        retryAfterSeconds: 10,
      },
    });
    // Ten seconds on, `a` has left the window.
    expect(createBudget(p, [old, a, b], T0 + 10_001).refusal).toBeUndefined();
  });

  it('renders the Browserbase rate-limit headers', () => {
    expect(rateLimitHeaders({ limit: 5, remaining: 0, resetSeconds: 42 })).toEqual({
      'x-ratelimit-limit': '5',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': '42',
    });
  });
});
