import { describe, expect, it } from 'vitest';
import { type BrowserSession, sessionKey } from '../api/index.js';
import { iso, project, session, T0 } from '../testing/fixtures.js';
import { AdmissionLedger } from './admission-ledger.js';

const admitted = { phase: 'Starting' as const, startedAt: iso(T0) };
const queued = (position: number) => ({ phase: 'Queued' as const, queuePosition: position });

/** A ledger over an in-memory cache of sessions, recording what it queues. */
function ledger(concurrency: number, workers = 4) {
  const cache = new Map<string, BrowserSession>();
  const added: { key: string; urgent: boolean }[] = [];
  const delayed: { key: string; ms: number }[] = [];
  const l = new AdmissionLedger({
    session: (key) => cache.get(key),
    concurrency: (p) => (p === 'default' ? concurrency : 0),
    queue: {
      add: (key, opts) => added.push({ key, urgent: opts?.urgent === true }),
      addAfter: (key, ms) => delayed.push({ key, ms }),
    },
    workers,
  });
  /** Puts sessions in the cache and tells the ledger, as the informer would. */
  const put = (...ss: BrowserSession[]) => {
    for (const s of ss) {
      cache.set(sessionKey(s), s);
      l.observe(s, false);
    }
    return ss;
  };
  const remove = (s: BrowserSession) => {
    cache.delete(sessionKey(s));
    return l.observe(s, true);
  };
  const clear = () => {
    added.length = 0;
    delayed.length = 0;
  };
  return { l, put, remove, added, delayed, clear };
}

/** Sessions in arrival order (creation revisions ascending). */
const arrivals = (n: number, status: Parameters<typeof session>[0] = {}) =>
  Array.from({ length: n }, (_, i) => session({ ...status, creationRevision: String(500 + i) }));

describe('AdmissionLedger', () => {
  it.each([
    ['new', {}, true],
    ['queued', queued(1), true],
    ['admitted', admitted, false],
    ['ended', { phase: 'Failed' as const, endReason: 'PodFailed' as const, startedAt: iso(T0) }, false],
  ])('says whether a %s session waits for a place', (_name, status, waiting) => {
    const { l } = ledger(1);
    expect(l.observe(session(status), false).waiting).toBe(waiting);
  });

  it('a session that left the cache waits for nothing', () => {
    const { put, remove } = ledger(1);
    const [s] = put(session());
    expect(remove(s as BrowserSession).waiting).toBe(false);
  });

  it('keeps the verdicts of one admission pass until a session of the project changes', () => {
    const { l, put } = ledger(1);
    const [a, b] = put(...arrivals(2));
    const p = project({ concurrency: 1 });
    expect(l.verdictFor(p, a as BrowserSession)).toEqual({ kind: 'admit' });
    expect(l.verdictFor(p, b as BrowserSession)).toEqual({ kind: 'queue', position: 1 });
    // Served from the same pass: a verdict is not recomputed per session.
    expect(l.verdictFor(p, a as BrowserSession)).toEqual({ kind: 'admit' });
    const [c] = put(session({ creationRevision: '100' })); // arrived before both
    expect(l.verdictFor(p, c as BrowserSession)).toEqual({ kind: 'admit' });
    expect(l.verdictFor(p, a as BrowserSession)).toEqual({ kind: 'queue', position: 1 });
  });

  it('counts an admission written but not yet in the cache, so its place is not given twice', () => {
    const { l, put } = ledger(1);
    const [a, b] = put(...arrivals(2)) as [BrowserSession, BrowserSession];
    const p = project({ concurrency: 1 });
    l.admitting(a);
    l.projectChanged('default'); // any change recomputes: the place stays taken
    expect(l.verdictFor(p, b)).toEqual({ kind: 'queue', position: 1 });
    // The cache shows the admission: the session's own status now takes the place.
    put({ ...a, status: admitted });
    expect(l.verdictFor(p, b)).toEqual({ kind: 'queue', position: 1 });
  });

  it('gives the place back when the admission write failed', () => {
    const { l, put } = ledger(1);
    const [a, b] = put(...arrivals(2)) as [BrowserSession, BrowserSession];
    const p = project({ concurrency: 1 });
    l.admitting(a);
    l.statusWriteFailed(a, true);
    expect(l.verdictFor(p, a)).toEqual({ kind: 'admit' });
    expect(l.verdictFor(p, b)).toEqual({ kind: 'queue', position: 1 });
  });

  it('returns the place of an admitted session that ended: the next in line is admitted', () => {
    const { l, put } = ledger(1);
    const [a] = put(session({ ...admitted, creationRevision: '1' })) as [BrowserSession];
    const [b] = put(session({ ...queued(1), creationRevision: '2' })) as [BrowserSession];
    const p = project({ concurrency: 1 });
    expect(l.verdictFor(p, b)).toEqual({ kind: 'queue', position: 1 });
    put({ ...a, status: { ...admitted, phase: 'Failed', endReason: 'PodFailed' } });
    expect(l.verdictFor(p, b)).toEqual({ kind: 'admit' });
  });

  it('with room for everyone waiting, queues each once in the normal lane', () => {
    const { l, put, added, delayed, clear } = ledger(5);
    const waiting = put(...arrivals(3));
    clear();
    l.promoteWaiting('default');
    expect(added).toEqual(waiting.map((s) => ({ key: sessionKey(s), urgent: false })));
    expect(delayed).toEqual([]);
  });

  it('with places scarce, sends the first to the urgent lane (at most one per worker), the rest that fit to the normal lane, and gives the queued ones behind new positions a moment later', () => {
    const { l, put, added, delayed, clear } = ledger(4, 2);
    put(session({ ...admitted, creationRevision: '1' }));
    const inflight = put(session({ creationRevision: '2' }))[0] as BrowserSession;
    l.admitting(inflight);
    // 4 places, 1 admitted and 1 being admitted: 2 free, for 5 waiting (3 of them already queued).
    const [, w2, w3, w4] = put(
      session({ creationRevision: '13' }),
      session({ creationRevision: '11' }),
      session({ ...queued(1), creationRevision: '12' }),
      session({ ...queued(2), creationRevision: '14' }),
      session({ creationRevision: '15' }),
    ) as BrowserSession[];
    clear();
    l.promoteWaiting('default');
    expect(added).toEqual([
      { key: sessionKey(w2 as BrowserSession), urgent: true },
      { key: sessionKey(w3 as BrowserSession), urgent: true },
    ]);
    // Of those behind, only the one already Queued needs a new position; the new ones' own events queue them.
    expect(delayed).toEqual([{ key: sessionKey(w4 as BrowserSession), ms: 250 }]);
  });

  it('jumps no more sessions than there are workers', () => {
    const { l, put, added, clear } = ledger(3, 1);
    const waiting = put(...arrivals(5));
    clear();
    l.promoteWaiting('default');
    expect(added).toEqual([
      { key: sessionKey(waiting[0] as BrowserSession), urgent: true },
      { key: sessionKey(waiting[1] as BrowserSession), urgent: false },
      { key: sessionKey(waiting[2] as BrowserSession), urgent: false },
    ]);
  });

  it('forgets a session that left the cache', () => {
    const { l, put, remove } = ledger(1);
    const [a, b] = put(...arrivals(2)) as [BrowserSession, BrowserSession];
    remove(a);
    expect(l.verdictFor(project({ concurrency: 1 }), b)).toEqual({ kind: 'admit' });
  });
});
