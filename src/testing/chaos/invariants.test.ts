import { describe, expect, it } from 'vitest';
import {
  type ChaosEvent,
  checkAll,
  checkClientActionable,
  checkDecidedOnce,
  checkEndedByExpiry,
  checkEndsWithReason,
  checkLeaderTakeover,
  checkNoLeftovers,
  checkSurvivesKubelet,
  checkWithinConcurrency,
  DEFAULT_CHECK_OPTIONS,
  expiryLags,
  INVARIANTS,
} from './invariants.js';

const T = Date.parse('2026-01-01T00:00:00Z');
const s = (
  at: number,
  session: string,
  fields: Partial<Extract<ChaosEvent, { type: 'session' }>> = {},
): ChaosEvent => ({
  at: T + at,
  type: 'session',
  session,
  project: 'p',
  admitted: false,
  ended: false,
  ...fields,
});
const end = (at: number): ChaosEvent => ({ at: T + at, type: 'end' });
const pod = (at: number, session: string, uid: string, present: boolean): ChaosEvent => ({
  at: T + at,
  type: 'owned',
  kind: 'Pod',
  session,
  uid,
  present,
});

/** A run where everything holds: two sessions admitted within concurrency 2, ended in time, cleaned up. */
const clean: ChaosEvent[] = [
  { at: T, type: 'project', project: 'p', concurrency: 2 },
  { at: T, type: 'lease', holder: 'op-1', renewedAt: T, leaseDurationMs: 15_000 },
  s(0, 'a'),
  s(100, 'a', { admitted: true, expiresAt: T + 5000 }),
  pod(100, 'a', 'pa', true),
  s(200, 'b', { admitted: true, expiresAt: T + 4000 }),
  { at: T + 300, type: 'client', client: 1, session: 'a', step: 'create', outcome: 'ok' },
  { at: T + 1000, type: 'kill', target: 'operator-leader', detail: 'pid 10' },
  { at: T + 9000, type: 'lease', holder: 'op-2', renewedAt: T + 8800, leaseDurationMs: 15_000 },
  s(4500, 'b', { ended: true, endReason: 'Expired', expiresAt: T + 4000 }),
  s(5200, 'a', { ended: true, endReason: 'Expired', expiresAt: T + 5000 }),
  {
    at: T + 5300,
    type: 'client',
    client: 1,
    session: 'a',
    step: 'connect',
    outcome: 'error',
    status: 410,
    message: 'gone',
  },
  pod(6000, 'a', 'pa', false),
  end(40_000),
];

describe('the chaos invariants', () => {
  it('all hold on a clean run, and every invariant is in the table', () => {
    const table = checkAll(clean);
    expect(Object.keys(table)).toEqual([...INVARIANTS]);
    expect(Object.values(table).flat()).toEqual([]);
  });

  it('no-leftovers: a pod still there past the grace, and one still there at the end', () => {
    const log = [s(0, 'a', { ended: true, endReason: 'Released' }), pod(10, 'a', 'pa', true)];
    expect(checkNoLeftovers(log, { ...DEFAULT_CHECK_OPTIONS, now: T + 20_000 })).toEqual([]);
    expect(checkNoLeftovers(log, { ...DEFAULT_CHECK_OPTIONS, now: T + 31_000 })).toHaveLength(1);
    expect(checkNoLeftovers([...log, end(1000)])[0]?.detail).toBe(
      'Pod pa still present 1.0 s after the session ended',
    );
    expect(checkNoLeftovers([...log, pod(900, 'a', 'pa', false), end(1000)])).toEqual([]);
  });

  it('ended-by-expiry: seen ended 1.5 s late, or never; API server outages do not count', () => {
    const late = [s(0, 'a', { expiresAt: T + 1000 }), s(2500, 'a', { ended: true, endReason: 'Expired' })];
    expect(checkEndedByExpiry(late).map((v) => v.detail)).toEqual([
      'seen ended (Expired) 1.5 s after expiresAt',
    ]);
    // The session's own endedAt tells the operator's lag from the watch's.
    const stamped = [
      late[0] as ChaosEvent,
      s(2500, 'a', { ended: true, endReason: 'Expired', expiresAt: T + 1000, endedAt: T + 2300 }),
    ];
    expect(checkEndedByExpiry(stamped).map((v) => v.detail)).toEqual([
      'seen ended (Expired) 1.5 s after expiresAt (endedAt 1.3 s after it)',
    ]);
    const never = [s(0, 'a', { expiresAt: T + 1000 }), end(5000)];
    expect(checkEndedByExpiry(never).map((v) => v.detail)).toEqual(['still not ended 4.0 s after expiresAt']);
    const outage: ChaosEvent = { at: T + 1200, type: 'outage', until: T + 2400 };
    expect(checkEndedByExpiry([outage, ...late])).toEqual([]);
  });

  it('ended-by-expiry: time without a leader (from the kill to the next renewal) does not count either', () => {
    const late = [s(0, 'a', { expiresAt: T + 1000 }), s(6000, 'a', { ended: true, endReason: 'Expired' })];
    const kill: ChaosEvent = { at: T + 500, type: 'kill', target: 'operator-leader', detail: '' };
    const renewed = (renewedAt: number): ChaosEvent => ({
      at: T + renewedAt + 100,
      type: 'lease',
      holder: 'op',
      renewedAt: T + renewedAt,
      leaseDurationMs: 15_000,
    });
    expect(checkEndedByExpiry([kill, renewed(5500), ...late])).toEqual([]);
    // A leader from 3.0 s on: 3.0 s late.
    expect(checkEndedByExpiry([kill, renewed(3000), ...late]).map((v) => v.detail)).toEqual([
      'seen ended (Expired) 3.0 s after expiresAt',
    ]);
    // A gateway kill leaves the leader be, and so does a kubelet restart (the operator's container runs on).
    for (const target of ['gateway', 'kubelet'] as const)
      expect(checkEndedByExpiry([{ ...kill, target }, renewed(5500), ...late])).toHaveLength(1);
  });

  it('within-concurrency: a third admitted session of a project with concurrency 2', () => {
    const log: ChaosEvent[] = [
      { at: T, type: 'project', project: 'p', concurrency: 2 },
      s(1, 'a', { admitted: true }),
      s(2, 'b', { admitted: true }),
      s(3, 'c', { admitted: true }),
    ];
    expect(checkWithinConcurrency(log).map((v) => v.detail)).toEqual([
      '3 sessions of p admitted at once, concurrency 2',
    ]);
    // One ending first (or being deleted) makes room.
    // One list showing a ended and c admitted: c replaced a (the count is taken per snapshot).
    const c = log[3] as ChaosEvent;
    expect(checkWithinConcurrency([...log.slice(0, 3), c, s(3, 'a', { ended: true })])).toEqual([]);
    expect(
      checkWithinConcurrency([...log.slice(0, 3), s(2, 'a', { ended: true }), log[3] as ChaosEvent]),
    ).toEqual([]);
    expect(
      checkWithinConcurrency([
        ...log.slice(0, 3),
        { at: T + 2, type: 'session-deleted', session: 'b' },
        log[3] as ChaosEvent,
      ]),
    ).toEqual([]);
  });

  it('ends-with-reason: ended without a reason, and never ended by the end of the run', () => {
    expect(checkEndsWithReason([s(0, 'a', { ended: true })]).map((v) => v.detail)).toEqual([
      'ended without a reason',
    ]);
    expect(checkEndsWithReason([s(0, 'a')])).toEqual([]); // still running, the run not over
    expect(checkEndsWithReason([s(0, 'a'), end(10)]).map((v) => v.detail)).toEqual(['never ended']);
  });

  it('client-actionable: a hang, and an error without a message', () => {
    const log: ChaosEvent[] = [
      { at: T, type: 'client', client: 1, step: 'create', outcome: 'hang' },
      { at: T, type: 'client', client: 2, step: 'connect', outcome: 'error', status: 502, message: ' ' },
      {
        at: T,
        type: 'client',
        client: 3,
        step: 'connect',
        outcome: 'error',
        status: 410,
        message: 'session ended',
      },
    ];
    log.push({ at: T, type: 'client', client: 4, step: 'connect after expiry', outcome: 'ok' });
    expect(checkClientActionable(log).map((v) => v.detail)).toEqual([
      'client 1 create: no answer (hang)',
      'client 2 connect: an error without a message (HTTP 502)',
      'client 4 connect after expiry: connected, to a session past its expiresAt',
    ]);
  });

  it('leader-takeover: the lease renewed too late after the kill, and never', () => {
    const lease = (at: number, holder: string, renewedAt: number): ChaosEvent => ({
      at: T + at,
      type: 'lease',
      holder,
      renewedAt: T + renewedAt,
      leaseDurationMs: 15_000,
    });
    const base: ChaosEvent[] = [
      lease(0, 'op-1', 0),
      { at: T + 1000, type: 'kill', target: 'operator-leader', detail: '' },
    ];
    expect(checkLeaderTakeover([...base, lease(19_500, 'op-2', 19_000)]).map((v) => v.detail)).toEqual([
      'a leader again only 18.0 s after the leader was killed',
    ]);
    // Seeing the renewal from before the kill again is no takeover.
    expect(checkLeaderTakeover([...base, lease(2000, 'op-1', 0), end(30_000)]).map((v) => v.detail)).toEqual([
      'no leader 29.0 s after the leader was killed',
    ]);
    // The restarted container taking its own lease back counts.
    expect(checkLeaderTakeover([...base, lease(3000, 'op-1', 2500), end(30_000)])).toEqual([]);
    expect(checkLeaderTakeover([...base, end(10_000)])).toEqual([]);
  });

  it('decided-once: a session ended twice with different reasons, and a second pod', () => {
    const log = [
      s(0, 'a', { ended: true, endReason: 'Released' }),
      s(5, 'a', { ended: true, endReason: 'Released' }),
      s(10, 'a', { ended: true, endReason: 'Expired' }),
      pod(1, 'b', 'p1', true),
      pod(2, 'b', 'p1', false),
      pod(3, 'b', 'p2', true),
    ];
    expect(checkDecidedOnce(log).map((v) => v.detail)).toEqual([
      'ended twice: Released, then Expired',
      'a second browser pod p2 (first p1)',
    ]);
  });

  it('survives-kubelet: a session running at a kubelet restart that ends with its pod failed', () => {
    const restart: ChaosEvent = { at: T + 1000, type: 'kubelet-down', until: T + 3000 };
    const running = s(0, 'a', { admitted: true, expiresAt: T + 60_000 });
    const failed = (at: number) => s(at, 'a', { ended: true, endReason: 'PodFailed' });
    expect(checkSurvivesKubelet([running, restart, failed(4000)]).map((v) => v.detail)).toEqual([
      'ended PodFailed 3.0 s after the kubelet was killed',
    ]);
    // Its own Chrome was killed: the pod failure is that kill's.
    const chrome: ChaosEvent = { at: T + 2000, type: 'kill', target: 'chrome', detail: '', session: 'a' };
    expect(checkSurvivesKubelet([running, restart, chrome, failed(4000)])).toEqual([]);
    // Ending as sessions do (expired), or long after the restart, or admitted only after it: not the kubelet's.
    expect(
      checkSurvivesKubelet([running, restart, s(4000, 'a', { ended: true, endReason: 'Expired' })]),
    ).toEqual([]);
    expect(checkSurvivesKubelet([running, restart, failed(3000 + 30_001)])).toEqual([]);
    const later = s(3500, 'a', { admitted: true, expiresAt: T + 60_000 });
    expect(checkSurvivesKubelet([restart, later, failed(4000)])).toEqual([]);
  });

  it('expiryLags: by endedAt and as seen, for expired sessions only, outages not counted', () => {
    const log: ChaosEvent[] = [
      s(0, 'a', { admitted: true, expiresAt: T + 1000 }),
      s(0, 'b', { admitted: true, expiresAt: T + 1000 }),
      { at: T + 1100, type: 'outage', until: T + 1400 },
      s(1700, 'a', { ended: true, endReason: 'NeverConnected', expiresAt: T + 1000, endedAt: T + 1500 }),
      s(1800, 'b', { ended: true, endReason: 'Released', expiresAt: T + 1000, endedAt: T + 1800 }),
    ];
    expect(expiryLags(log)).toEqual({ endedAt: [200], seen: [400] });
  });
});
