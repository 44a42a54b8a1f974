/**
 * When `make dev` restarts a child that exited: a kubelet's CrashLoopBackOff in small. The first restart waits
 * `initialMs`, each further one twice as long up to `maxMs`; a child that ran `resetAfterMs` without exiting
 * starts over at `initialMs` (a crash after a long healthy run is not a crash loop). Pure: time is an input.
 */
export interface RestartPolicy {
  initialMs: number;
  maxMs: number;
  resetAfterMs: number;
}

export const DEV_RESTART_POLICY: RestartPolicy = { initialMs: 1000, maxMs: 30_000, resetAfterMs: 60_000 };

/** What the supervisor remembers of one child between its runs. */
export interface RestartState {
  /** Restarts so far. */
  restarts: number;
  /** The wait before the last restart; 0 before the first. */
  lastDelayMs: number;
}

export const NEVER_RESTARTED: RestartState = { restarts: 0, lastDelayMs: 0 };

export interface RestartDecision {
  delayMs: number;
  next: RestartState;
}

/** The wait before restarting a child that started at `startedAt` and exited at `exitedAt`. */
export function decideRestart(
  state: RestartState,
  run: { startedAt: number; exitedAt: number },
  policy: RestartPolicy = DEV_RESTART_POLICY,
): RestartDecision {
  const ranMs = run.exitedAt - run.startedAt;
  const delayMs =
    state.lastDelayMs === 0 || ranMs >= policy.resetAfterMs
      ? policy.initialMs
      : Math.min(state.lastDelayMs * 2, policy.maxMs);
  return { delayMs, next: { restarts: state.restarts + 1, lastDelayMs: delayMs } };
}
