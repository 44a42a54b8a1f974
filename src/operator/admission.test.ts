import { describe, expect, it } from 'vitest';
import type { BrowserSession } from '../api/index.js';
import { iso, project, session, T0 } from '../testing/fixtures.js';
import { decideAdmissions } from './admission.js';

const admittedStatus = { phase: 'Running' as const, startedAt: iso(T0) };

describe('decideAdmissions', () => {
  it('admits up to concurrency in creation order and queues the rest with positions', () => {
    const sessions = Array.from({ length: 6 }, () => session());
    const v = decideAdmissions(project({ concurrency: 3, maxQueued: 10 }), sessions, new Set());
    expect(sessions.map((s) => v.get(s.metadata.uid ?? ''))).toEqual([
      { kind: 'admit' },
      { kind: 'admit' },
      { kind: 'admit' },
      { kind: 'queue', position: 1 },
      { kind: 'queue', position: 2 },
      { kind: 'queue', position: 3 },
    ]);
  });

  it('orders by creation revision within the same second, whatever the list order', () => {
    const a = session({}, {}, { resourceVersion: '30' });
    const b = session({}, {}, { resourceVersion: '10' });
    const c = session({}, {}, { resourceVersion: '20' });
    const v = decideAdmissions(project({ concurrency: 1, maxQueued: 5 }), [a, b, c], new Set());
    expect(v.get(b.metadata.uid ?? '')).toEqual({ kind: 'admit' });
    expect(v.get(c.metadata.uid ?? '')).toEqual({ kind: 'queue', position: 1 });
    expect(v.get(a.metadata.uid ?? '')).toEqual({ kind: 'queue', position: 2 });
  });

  it('counts admissions not yet visible in the cache, so the same place is never given twice', () => {
    const waiting = [session(), session()];
    const inflight = new Set([waiting[0]?.metadata.uid ?? '']);
    const v = decideAdmissions(project({ concurrency: 1, maxQueued: 5 }), waiting, inflight);
    expect(v.get(waiting[1]?.metadata.uid ?? '')).toEqual({ kind: 'queue', position: 1 });
  });

  it('rejects a new session past maxQueued, but keeps an already queued one when maxQueued drops', () => {
    const running = session(admittedStatus);
    const queued = session({ phase: 'Queued', queuePosition: 1 });
    const fresh = session();
    const v = decideAdmissions(
      project({ concurrency: 1, maxQueued: 0 }),
      [running, queued, fresh],
      new Set(),
    );
    expect(v.get(queued.metadata.uid ?? '')).toEqual({ kind: 'queue', position: 1 });
    expect(v.get(fresh.metadata.uid ?? '')?.kind).toBe('reject');
  });

  it('ignores ended, released and deleting sessions', () => {
    const ended = session({ ...admittedStatus, phase: 'Completed', endReason: 'Released', endedAt: iso(T0) });
    const released = session({}, { release: true });
    const deleting = session({}, {}, { deletionTimestamp: new Date(T0) });
    const fresh = session();
    const v = decideAdmissions(project({ concurrency: 1 }), [ended, released, deleting, fresh], new Set());
    expect([...v.keys()]).toEqual([fresh.metadata.uid]);
    expect(v.get(fresh.metadata.uid ?? '')).toEqual({ kind: 'admit' });
  });
});

/** A tiny deterministic PRNG so that a failing sequence can be replayed from its seed. */
function rng(seed: number) {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x / 0x7fffffff;
  };
}

describe('admission over random create/release/expire sequences', () => {
  it.each(Array.from({ length: 20 }, (_, i) => i + 1))(
    'seed %i: never over concurrency, FIFO, no starvation',
    (seed) => {
      const rand = rng(seed);
      const concurrency = 1 + Math.floor(rand() * 4);
      const maxQueued = Math.floor(rand() * 6);
      const p = project({ concurrency, maxQueued });
      let sessions: BrowserSession[] = [];
      const admittedOrder: string[] = [];
      let clock = T0;
      let revision = 1;
      for (let step = 0; step < 200; step++) {
        clock += 1000;
        const r = rand();
        if (r < 0.45) {
          sessions.push(
            session(
              {},
              {},
              { resourceVersion: String(revision++), creationTimestamp: new Date(clock) as never },
            ),
          );
        } else if (r < 0.75) {
          // release or expire a random admitted session: either way it ends
          const live = sessions.filter((s) => s.status?.startedAt && !s.status.endReason);
          const victim = live[Math.floor(rand() * live.length)];
          if (victim)
            victim.status = {
              ...victim.status,
              phase: 'Completed',
              endReason: 'Released',
              endedAt: iso(clock),
            };
        } else if (r < 0.85) {
          // a queued session is released while it waits
          const queued = sessions.filter((s) => s.status?.phase === 'Queued');
          const victim = queued[Math.floor(rand() * queued.length)];
          if (victim)
            victim.status = {
              ...victim.status,
              phase: 'Completed',
              endReason: 'Released',
              endedAt: iso(clock),
            };
        }
        const verdicts = decideAdmissions(p, sessions, new Set());
        for (const s of sessions) {
          const v = verdicts.get(s.metadata.uid ?? '');
          if (!v) continue;
          if (v.kind === 'admit') {
            s.status = { phase: 'Running', startedAt: iso(clock) };
            admittedOrder.push(s.metadata.uid ?? '');
          } else if (v.kind === 'queue') s.status = { phase: 'Queued', queuePosition: v.position };
          else s.status = { phase: 'Failed', endReason: 'QuotaExceeded', endedAt: iso(clock) };
        }
        const admitted = sessions.filter((s) => s.status?.startedAt && !s.status.endReason).length;
        expect(admitted).toBeLessThanOrEqual(concurrency);
        const queued = sessions.filter((s) => s.status?.phase === 'Queued');
        expect(queued.length).toBeLessThanOrEqual(maxQueued);
        // Whenever anyone waits, every place is taken: a free place with a waiting session is starvation.
        if (queued.length > 0) expect(admitted).toBe(concurrency);
        sessions = sessions.filter(
          (s) => !(s.status?.endReason && Date.parse(s.status.endedAt ?? '') < clock - 50_000),
        );
      }
      // FIFO: sessions were admitted in the order they were created (uids are numbered in creation order).
      const created = admittedOrder.map((u) => Number(u.replace('uid-', '')));
      expect(created).toEqual([...created].sort((a, b) => a - b));
    },
  );
});
