import type { BrowserProject, BrowserSession } from '../api/index.js';
import { isAdmitted, isTerminal, projectSpec } from '../api/index.js';
import { isoTime } from './compat/fields.js';

export const RATE_WINDOW_MS = 60_000;

export interface CreateBudget {
  /** The x-ratelimit-* headers: creates allowed per window, creates left now, seconds until one frees up. */
  limit: number;
  remaining: number;
  resetSeconds: number;
  refusal?: { code: 'RATE_LIMITED' | 'QUOTA_EXCEEDED'; message: string; retryAfterSeconds: number };
}

/**
 * How many sessions the project may create right now, derived from its sessions (never from a counter): the
 * lower of the per-minute budget (`createsPerMinute`, sessions created in the last 60 s) and the free places
 * (`concurrency + maxQueued` minus the sessions not yet ended). The operator stays the authority on admission;
 * this lets the gateway answer 429 before it creates anything. `sessions` are the project's own, including
 * ones this gateway created that its cache has not shown yet.
 */
export function createBudget(
  project: Pick<BrowserProject, 'spec' | 'metadata'>,
  sessions: readonly BrowserSession[],
  now: number,
): CreateBudget {
  const name = project.metadata.name ?? '';
  const spec = projectSpec(project);
  const perMinute = spec.createsPerMinute;
  const capacity = spec.concurrency + spec.maxQueued;
  const live = sessions.filter((s) => !isTerminal(s) && !s.metadata.deletionTimestamp);
  const room = Math.max(0, capacity - live.length);

  let rateRemaining = Number.POSITIVE_INFINITY;
  let rateReset = 0;
  if (perMinute > 0) {
    const created = sessions
      .map((s) => Date.parse(isoTime(s.metadata.creationTimestamp) ?? ''))
      .filter((t) => !Number.isNaN(t) && t > now - RATE_WINDOW_MS)
      .sort((a, b) => a - b);
    rateRemaining = Math.max(0, perMinute - created.length);
    // The window frees a place when the oldest create in it (the one that would make room) drops out.
    const freeing = created[Math.max(0, created.length - perMinute)];
    if (freeing !== undefined) rateReset = Math.max(1, Math.ceil((freeing + RATE_WINDOW_MS - now) / 1000));
  }
  const budget: CreateBudget = {
    limit: perMinute > 0 ? perMinute : capacity,
    remaining: Math.min(rateRemaining, room),
    resetSeconds: rateReset,
  };
  if (rateRemaining === 0) {
    budget.refusal = {
      code: 'RATE_LIMITED',
      message: `project "${name}" allows ${perMinute} session creates per minute; try again in ${rateReset}s`,
      retryAfterSeconds: rateReset,
    };
  } else if (room === 0) {
    const retryAfterSeconds = secondsUntilAPlaceFrees(live, now);
    budget.resetSeconds = Math.max(budget.resetSeconds, retryAfterSeconds);
    budget.refusal = {
      code: 'QUOTA_EXCEEDED',
      message:
        `project "${name}" is at its limit: ${live.length} sessions running, starting or queued ` +
        `(concurrency ${project.spec.concurrency}, maxQueued ${spec.maxQueued})`,
      retryAfterSeconds,
    };
  }
  return budget;
}

/** The latest a place frees without anyone releasing: the earliest expiry of an admitted session (1..60 s). */
function secondsUntilAPlaceFrees(live: readonly BrowserSession[], now: number): number {
  const expiries = live
    .filter(isAdmitted)
    .map((s) => Date.parse(isoTime(s.status?.expiresAt) ?? ''))
    .filter((t) => !Number.isNaN(t));
  if (expiries.length === 0) return 60;
  return Math.min(60, Math.max(1, Math.ceil((Math.min(...expiries) - now) / 1000)));
}

export function rateLimitHeaders(
  b: Pick<CreateBudget, 'limit' | 'remaining' | 'resetSeconds'>,
): Record<string, string> {
  return {
    'x-ratelimit-limit': String(b.limit),
    'x-ratelimit-remaining': String(b.remaining),
    'x-ratelimit-reset': String(b.resetSeconds),
  };
}
