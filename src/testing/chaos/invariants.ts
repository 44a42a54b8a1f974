/**
 * The chaos run's invariants, as pure checks over the event log the run writes: what its watches saw, what
 * its clients got, and what it killed. Each check names the rule and returns one violation per breach, so the
 * run prints a table of rule → violations (which must all be 0). Times are milliseconds since the epoch.
 */

export type KillTarget = 'operator-leader' | 'gateway' | 'sidecar' | 'chrome' | 'kubelet' | 'apiserver';

/** Something a session owns that must go when it ends: its pod, its Service, its network namespace on the node. */
export type OwnedKind = 'Pod' | 'Service' | 'netns';

export type ChaosEvent =
  | { at: number; type: 'project'; project: string; concurrency: number }
  /** One watch observation of a session (its status as the API server served it then). */
  | {
      at: number;
      type: 'session';
      session: string;
      project: string;
      /** Counts against the project's concurrency (admitted, not ended). */
      admitted: boolean;
      ended: boolean;
      endReason?: string | undefined;
      expiresAt?: number | undefined;
      /** The session's own endedAt: when the operator's pass ended it (the watch sees it some time later). */
      endedAt?: number | undefined;
    }
  | { at: number; type: 'session-deleted'; session: string }
  /** An owned object appeared (present) or went away (not present). */
  | { at: number; type: 'owned'; kind: OwnedKind; session: string; uid: string; present: boolean }
  /** What one client step got: ok, an error it can act on (message, HTTP status if any), or nothing (hang). */
  | {
      at: number;
      type: 'client';
      client: number;
      session?: string | undefined;
      step: string;
      outcome: 'ok' | 'error' | 'hang';
      status?: number | undefined;
      message?: string | undefined;
    }
  /** A kill; `session` is the session whose browser pod it hit (a sidecar or Chrome kill). */
  | { at: number; type: 'kill'; target: KillTarget; detail: string; session?: string | undefined }
  /** The kubelet killed at `at` served again at `until` (its containers ran on without it). */
  | { at: number; type: 'kubelet-down'; until: number }
  /** The API server was down (restarting) from `at` to `until`: no watch could see anything then. */
  | { at: number; type: 'outage'; until: number }
  /** The operator's Lease as the watch saw it. */
  | { at: number; type: 'lease'; holder: string; renewedAt: number; leaseDurationMs: number }
  /** The run is over and has settled: what is still present now is left over. */
  | { at: number; type: 'end' };

export interface Violation {
  invariant: InvariantName;
  at: number;
  session?: string | undefined;
  detail: string;
}

export const INVARIANTS = [
  'no-leftovers',
  'ended-by-expiry',
  'within-concurrency',
  'ends-with-reason',
  'client-actionable',
  'leader-takeover',
  'decided-once',
  'survives-kubelet',
] as const;
export type InvariantName = (typeof INVARIANTS)[number];

export interface CheckOptions {
  /** How long an ended session's objects may take to go (graceful pod deletion, garbage collection). */
  cleanupGraceMs: number;
  /** How late past expiresAt the watch may first see a session ended. */
  expiryToleranceMs: number;
  /** Slack on top of the lease duration for the new leader (its retry period). */
  takeoverSlackMs: number;
  /** After a kubelet restart, how long a session's end may still be the restart's doing. */
  kubeletAftermathMs: number;
  /** Up to when the log is complete (the last check of a running log); defaults to the last event. */
  now?: number;
}

export const DEFAULT_CHECK_OPTIONS: CheckOptions = {
  cleanupGraceMs: 30_000,
  expiryToleranceMs: 1000,
  takeoverSlackMs: 2000,
  kubeletAftermathMs: 30_000,
};

type SessionEvent = Extract<ChaosEvent, { type: 'session' }>;

function endOf(log: readonly ChaosEvent[], opts: CheckOptions): { now: number; final: boolean } {
  const last = log.at(-1);
  const final = last?.type === 'end';
  return { now: opts.now ?? last?.at ?? 0, final };
}

/** When the watch first saw each session ended (or deleted). */
function endedAt(log: readonly ChaosEvent[]): Map<string, number> {
  const ended = new Map<string, number>();
  for (const e of log)
    if ((e.type === 'session' && e.ended) || e.type === 'session-deleted')
      if (!ended.has(e.session)) ended.set(e.session, e.at);
  return ended;
}

/** No Pod, Service or network namespace is left for a session cleanupGraceMs after it ended, nor at the end. */
export function checkNoLeftovers(log: readonly ChaosEvent[], opts = DEFAULT_CHECK_OPTIONS): Violation[] {
  const { now, final } = endOf(log, opts);
  const ended = endedAt(log);
  const present = new Map<string, Extract<ChaosEvent, { type: 'owned' }>>();
  for (const e of log)
    if (e.type === 'owned') {
      const key = `${e.kind}/${e.uid}`;
      if (e.present) present.set(key, e);
      else present.delete(key);
    }
  const out: Violation[] = [];
  for (const o of present.values()) {
    const end = ended.get(o.session);
    if (end === undefined) continue;
    if (final || now - end > opts.cleanupGraceMs)
      out.push({
        invariant: 'no-leftovers',
        at: now,
        session: o.session,
        detail: `${o.kind} ${o.uid} still present ${((now - end) / 1000).toFixed(1)} s after the session ended`,
      });
  }
  return out;
}

/**
 * Windows in which no operator could end a session: the API server down (no writes, and no watch can see
 * anything), and from a kill of the leader to the first Lease renewal after it. How long those last is
 * leader-takeover's business; expiry is judged on the time a leader had. A kubelet restart is no such window:
 * the operator's container runs on without its kubelet.
 */
function blindWindows(log: readonly ChaosEvent[], now: number): [number, number][] {
  const windows: [number, number][] = [];
  let leaderlessSince: number | undefined;
  for (const e of log) {
    if (e.type === 'outage') windows.push([e.at, e.until]);
    if (e.type === 'kill' && e.target === 'operator-leader') leaderlessSince ??= e.at;
    if (e.type === 'lease' && leaderlessSince !== undefined && e.renewedAt > leaderlessSince) {
      windows.push([leaderlessSince, e.renewedAt]);
      leaderlessSince = undefined;
    }
  }
  if (leaderlessSince !== undefined) windows.push([leaderlessSince, now]);
  // Merged, so that overlapping windows are not counted twice.
  windows.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const w of windows) {
    const last = merged.at(-1);
    if (last && w[0] <= last[1]) last[1] = Math.max(last[1], w[1]);
    else merged.push([w[0], w[1]]);
  }
  return merged;
}

function overlap(windows: [number, number][], from: number, to: number): number {
  let ms = 0;
  for (const [a, b] of windows) ms += Math.max(0, Math.min(to, b) - Math.max(from, a));
  return ms;
}

/**
 * No session runs more than expiryToleranceMs past its expiresAt without the watch seeing it ended (the
 * watch's time, not the session's own endedAt), not counting time without an API server or without a leader.
 */
export function checkEndedByExpiry(log: readonly ChaosEvent[], opts = DEFAULT_CHECK_OPTIONS): Violation[] {
  const { now } = endOf(log, opts);
  const ended = endedAt(log);
  const blind = blindWindows(log, now);
  const reasons = new Map<string, string>();
  /** How late the operator itself ended it, by its endedAt: the rest of the lag is the write and the watch's. */
  const ownLag = new Map<string, number>();
  for (const e of log)
    if (e.type === 'session' && e.ended && !reasons.has(e.session)) {
      if (e.endReason) reasons.set(e.session, e.endReason);
      if (e.endedAt !== undefined && e.expiresAt !== undefined)
        ownLag.set(e.session, e.endedAt - e.expiresAt);
    }
  const expires = new Map<string, number>();
  // The deadline the session had when the watch last saw it running (or last saw it, if it never ended).
  for (const e of log)
    if (e.type === 'session' && e.expiresAt !== undefined && e.at <= (ended.get(e.session) ?? now))
      expires.set(e.session, e.expiresAt);
  const out: Violation[] = [];
  for (const [session, expiresAt] of expires) {
    const seenEnded = ended.get(session) ?? now;
    const late = seenEnded - expiresAt - overlap(blind, expiresAt, seenEnded);
    if (late > opts.expiryToleranceMs)
      out.push({
        invariant: 'ended-by-expiry',
        at: expiresAt + opts.expiryToleranceMs,
        session,
        detail: ended.has(session)
          ? `seen ended${reasons.get(session) ? ` (${reasons.get(session)})` : ''} ${(late / 1000).toFixed(1)} s after expiresAt${
              ownLag.has(session)
                ? ` (endedAt ${((ownLag.get(session) ?? 0) / 1000).toFixed(1)} s after it)`
                : ''
            }`
          : `still not ended ${(late / 1000).toFixed(1)} s after expiresAt`,
      });
  }
  return out;
}

/**
 * For the report: how late past expiresAt each expired session (Expired, NeverConnected) was ended by its own
 * endedAt (the operator's pass) and as the watch first saw it, in milliseconds, time without an API server or a
 * leader not counted.
 */
export function expiryLags(log: readonly ChaosEvent[]): { endedAt: number[]; seen: number[] } {
  const ended = endedAt(log);
  const blind = blindWindows(log, log.at(-1)?.at ?? 0);
  const out = { endedAt: [] as number[], seen: [] as number[] };
  const done = new Set<string>();
  for (const e of log)
    if (e.type === 'session' && e.ended && !done.has(e.session)) {
      done.add(e.session);
      if (e.expiresAt === undefined || !['Expired', 'NeverConnected'].includes(e.endReason ?? '')) continue;
      const seen = ended.get(e.session) ?? e.at;
      out.seen.push(seen - e.expiresAt - overlap(blind, e.expiresAt, seen));
      if (e.endedAt !== undefined)
        out.endedAt.push(e.endedAt - e.expiresAt - overlap(blind, e.expiresAt, e.endedAt));
    }
  return out;
}

/**
 * Never more admitted sessions of a project at once than its concurrency. The count is taken after each
 * snapshot (the events of one list, which share their time), not between its events: a list that shows one
 * session ended and another admitted shows one replacing the other.
 */
export function checkWithinConcurrency(log: readonly ChaosEvent[]): Violation[] {
  const concurrency = new Map<string, number>();
  const admitted = new Map<string, Set<string>>();
  const projectOf = new Map<string, string>();
  const out: Violation[] = [];
  const touched = new Map<string, string>(); // project -> a session of this snapshot
  const count = (at: number) => {
    for (const [project, session] of touched) {
      const n = admitted.get(project)?.size ?? 0;
      const limit = concurrency.get(project);
      if (limit !== undefined && n > limit)
        out.push({
          invariant: 'within-concurrency',
          at,
          session,
          detail: `${n} sessions of ${project} admitted at once, concurrency ${limit}`,
        });
    }
    touched.clear();
  };
  for (const [i, e] of log.entries()) {
    if (e.type === 'project') concurrency.set(e.project, e.concurrency);
    if (e.type === 'session' || e.type === 'session-deleted') {
      const project = e.type === 'session' ? e.project : projectOf.get(e.session);
      if (project !== undefined) {
        projectOf.set(e.session, project);
        const set = admitted.get(project) ?? new Set<string>();
        admitted.set(project, set);
        if (e.type === 'session' && e.admitted && !e.ended) {
          set.add(e.session);
          touched.set(project, e.session);
        } else set.delete(e.session);
      }
    }
    if (log[i + 1]?.at !== e.at) count(e.at);
  }
  return out;
}

/** Every session the run saw ends (by the end of the run), and every ended session says why. */
export function checkEndsWithReason(log: readonly ChaosEvent[], opts = DEFAULT_CHECK_OPTIONS): Violation[] {
  const { now, final } = endOf(log, opts);
  const last = new Map<string, SessionEvent>();
  const deleted = new Set<string>();
  for (const e of log) {
    if (e.type === 'session') last.set(e.session, e);
    if (e.type === 'session-deleted') deleted.add(e.session);
  }
  const out: Violation[] = [];
  const reported = new Set<string>();
  for (const e of log)
    if (e.type === 'session' && e.ended && !e.endReason && !reported.has(e.session)) {
      reported.add(e.session);
      out.push({
        invariant: 'ends-with-reason',
        at: e.at,
        session: e.session,
        detail: 'ended without a reason',
      });
    }
  if (final)
    for (const [session, e] of last)
      if (!e.ended && !deleted.has(session))
        out.push({ invariant: 'ends-with-reason', at: now, session, detail: 'never ended' });
  return out;
}

/** The client step that connects once more after its session's expiresAt (src/testing/chaos/clients.ts). */
export const AFTER_EXPIRY_STEP = 'connect after expiry';

/**
 * Every client step ends: with success or an error that says what happened (a message; no hang). A connect
 * after the session's expiresAt (the client waits past it) must be refused: it was served by a session that
 * should be over, leader or no leader (the gateway knows the deadline).
 */
export function checkClientActionable(log: readonly ChaosEvent[]): Violation[] {
  const out: Violation[] = [];
  for (const e of log) {
    if (e.type === 'client' && e.outcome === 'ok' && e.step === AFTER_EXPIRY_STEP)
      out.push({
        invariant: 'client-actionable',
        at: e.at,
        session: e.session,
        detail: `client ${e.client} ${e.step}: connected, to a session past its expiresAt`,
      });
    if (e.type !== 'client' || e.outcome === 'ok') continue;
    if (e.outcome === 'hang')
      out.push({
        invariant: 'client-actionable',
        at: e.at,
        session: e.session,
        detail: `client ${e.client} ${e.step}: no answer (hang${e.message ? ` ${e.message}` : ''})`,
      });
    else if (!e.message?.trim())
      out.push({
        invariant: 'client-actionable',
        at: e.at,
        session: e.session,
        detail: `client ${e.client} ${e.step}: an error without a message${e.status ? ` (HTTP ${e.status})` : ''}`,
      });
  }
  return out;
}

/**
 * After the leader is killed, leadership resumes within the lease's duration (plus the candidates' retry
 * period): the Lease is renewed again, by another replica or by the killed one's restarted container (the
 * chart's identity is the pod name, so a restarted container may take its own lease back at once). The
 * killed process renews nothing, so any renewal after the kill is a live leader's.
 */
export function checkLeaderTakeover(log: readonly ChaosEvent[], opts = DEFAULT_CHECK_OPTIONS): Violation[] {
  const { now } = endOf(log, opts);
  const out: Violation[] = [];
  let leaseDurationMs = 0;
  let killedAt: number | undefined;
  const overdue = (at: number) =>
    killedAt !== undefined && at - killedAt > leaseDurationMs + opts.takeoverSlackMs;
  for (const e of log) {
    if (e.type === 'kill' && e.target === 'operator-leader') {
      if (killedAt !== undefined && overdue(e.at)) out.push(takeoverViolation(killedAt, e.at, true));
      killedAt = e.at;
    }
    if (e.type !== 'lease') continue;
    leaseDurationMs = e.leaseDurationMs;
    if (killedAt !== undefined && e.renewedAt > killedAt) {
      if (overdue(e.renewedAt)) out.push(takeoverViolation(killedAt, e.renewedAt));
      killedAt = undefined;
    }
  }
  if (killedAt !== undefined && overdue(now)) out.push(takeoverViolation(killedAt, now, true));
  return out;
}

function takeoverViolation(killedAt: number, at: number, open = false): Violation {
  return {
    invariant: 'leader-takeover',
    at,
    detail: `${open ? 'no leader' : 'a leader again only'} ${((at - killedAt) / 1000).toFixed(1)} s after the leader was killed`,
  };
}

/** No decision twice: a session ends once (its reason never changes after), and gets one browser pod. */
export function checkDecidedOnce(log: readonly ChaosEvent[]): Violation[] {
  const out: Violation[] = [];
  const reason = new Map<string, string>();
  const pods = new Map<string, string>();
  for (const e of log) {
    if (e.type === 'session' && e.ended && e.endReason) {
      const before = reason.get(e.session);
      if (before !== undefined && before !== e.endReason)
        out.push({
          invariant: 'decided-once',
          at: e.at,
          session: e.session,
          detail: `ended twice: ${before}, then ${e.endReason}`,
        });
      reason.set(e.session, e.endReason);
    }
    if (e.type === 'owned' && e.kind === 'Pod' && e.present) {
      const before = pods.get(e.session);
      if (before !== undefined && before !== e.uid)
        out.push({
          invariant: 'decided-once',
          at: e.at,
          session: e.session,
          detail: `a second browser pod ${e.uid} (first ${before})`,
        });
      if (before === undefined) pods.set(e.session, e.uid);
    }
  }
  return out;
}

/** End reasons that say the browser pod or its node failed, rather than the session running its course. */
const POD_FAILURES = new Set(['PodFailed', 'PodLost', 'NodeLost']);

/**
 * What a kubelet restart does to running sessions: nothing. Its containers keep running (containerd and the
 * shims do not depend on it), the node stays Ready (the restart is far shorter than the node-loss grace), and
 * the new kubelet adopts the containers it finds. So a session that was running when the kubelet was killed
 * does not end with its pod or node failed (PodFailed, PodLost, NodeLost) while the kubelet is away or within
 * kubeletAftermathMs after it is back, unless its own sidecar or Chrome was killed.
 */
export function checkSurvivesKubelet(log: readonly ChaosEvent[], opts = DEFAULT_CHECK_OPTIONS): Violation[] {
  const out: Violation[] = [];
  const running = new Set<string>();
  const podKilled = new Set<string>();
  /** Sessions running at a kubelet kill, with the end of its aftermath. */
  const exposed = new Map<string, { killedAt: number; until: number }>();
  const reported = new Set<string>();
  for (const e of log) {
    if (e.type === 'session') {
      if (e.admitted && !e.ended) running.add(e.session);
      if (e.ended) {
        running.delete(e.session);
        const x = exposed.get(e.session);
        if (
          x &&
          e.at <= x.until &&
          POD_FAILURES.has(e.endReason ?? '') &&
          !podKilled.has(e.session) &&
          !reported.has(e.session)
        ) {
          reported.add(e.session);
          out.push({
            invariant: 'survives-kubelet',
            at: e.at,
            session: e.session,
            detail: `ended ${e.endReason} ${((e.at - x.killedAt) / 1000).toFixed(1)} s after the kubelet was killed`,
          });
        }
      }
    }
    if (e.type === 'session-deleted') running.delete(e.session);
    if (e.type === 'kill' && (e.target === 'sidecar' || e.target === 'chrome') && e.session)
      podKilled.add(e.session);
    if (e.type === 'kubelet-down')
      for (const session of running)
        exposed.set(session, { killedAt: e.at, until: e.until + opts.kubeletAftermathMs });
  }
  return out;
}

/** Every invariant over the log: name → its violations (every name present, with [] when it holds). */
export function checkAll(
  log: readonly ChaosEvent[],
  opts: CheckOptions = DEFAULT_CHECK_OPTIONS,
): Record<InvariantName, Violation[]> {
  return {
    'no-leftovers': checkNoLeftovers(log, opts),
    'ended-by-expiry': checkEndedByExpiry(log, opts),
    'within-concurrency': checkWithinConcurrency(log),
    'ends-with-reason': checkEndsWithReason(log, opts),
    'client-actionable': checkClientActionable(log),
    'leader-takeover': checkLeaderTakeover(log, opts),
    'decided-once': checkDecidedOnce(log),
    'survives-kubelet': checkSurvivesKubelet(log, opts),
  };
}
