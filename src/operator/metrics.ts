import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BrowserSession } from '../api/index.js';
import type { LifecycleStatus } from './plan.js';

/**
 * The operator's metrics. Session names and UIDs are never labels (unbounded cardinality); projects are,
 * because their number is small and set by the platform team.
 */
export function createOperatorMetrics() {
  const registry = new Registry();
  const m = {
    registry,
    sessions: new Gauge({
      name: 'browserfleet_sessions',
      help: 'BrowserSessions in the cache, by phase',
      labelNames: ['phase'],
      registers: [registry],
    }),
    projectSessions: new Gauge({
      name: 'browserfleet_project_sessions',
      help: 'Sessions per project that are running, starting or queued',
      labelNames: ['project', 'state'],
      registers: [registry],
    }),
    startupLatency: new Histogram({
      name: 'browserfleet_session_startup_latency_seconds',
      help: 'Time from admission to the browser being ready',
      buckets: [0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13, 30],
      registers: [registry],
    }),
    queueWait: new Histogram({
      name: 'browserfleet_session_queue_wait_seconds',
      help: 'Time a session waited in its project queue before admission',
      buckets: [0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
      registers: [registry],
    }),
    ended: new Counter({
      name: 'browserfleet_sessions_ended_total',
      help: 'Sessions ended, by end reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    endLag: new Histogram({
      name: 'browserfleet_session_end_lag_seconds',
      help: 'How late the operator acted on a session end (actual minus due time), for expiry precision',
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 30],
      registers: [registry],
    }),
    rejections: new Counter({
      name: 'browserfleet_admission_rejections_total',
      help: 'Sessions refused at admission, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: 'browserfleet_reconcile_duration_seconds',
      help: 'Duration of one session reconcile',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: [registry],
    }),
    reconcileErrors: new Counter({
      name: 'browserfleet_reconcile_errors_total',
      help: 'Session reconciles that failed, by error class (notFound, conflict, refused, throttled, unavailable)',
      labelNames: ['class'],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'browserfleet_workqueue_depth',
      help: 'Keys waiting in the reconcile queue',
      registers: [registry],
    }),
    informerRestarts: new Counter({
      name: 'browserfleet_informer_restarts_total',
      help: 'Watch restarts after errors, by resource',
      labelNames: ['resource'],
      registers: [registry],
    }),
    leader: new Gauge({
      name: 'browserfleet_leader',
      help: '1 if this replica holds the leader lease',
      registers: [registry],
    }),
    reports: new Counter({
      name: 'browserfleet_connection_reports_total',
      help: 'Connection reports received from sidecars, by result',
      labelNames: ['result'],
      registers: [registry],
    }),
  };
  return m;
}

export type OperatorMetrics = ReturnType<typeof createOperatorMetrics>;

/** Observes what a session's status write changed: queue wait, startup latency, how and how late it ended. */
export function observeTransition(
  metrics: OperatorMetrics,
  session: BrowserSession,
  after: LifecycleStatus,
  now: number,
): void {
  const before = session.status ?? {};
  if (before.startedAt === undefined && after.startedAt !== undefined) {
    const created = Date.parse(session.metadata.creationTimestamp?.toString() ?? '');
    if (before.phase === 'Queued' && created) metrics.queueWait.observe(Math.max(0, now - created) / 1000);
  }
  if (before.readyAt === undefined && after.readyAt !== undefined && after.startupLatencyMs !== undefined) {
    metrics.startupLatency.observe(after.startupLatencyMs / 1000);
  }
  if (before.endReason === undefined && after.endReason !== undefined) {
    metrics.ended.inc({ reason: after.endReason });
    if (after.endReason === 'QuotaExceeded') metrics.rejections.inc({ reason: 'QuotaExceeded' });
    if (after.endedAt) metrics.endLag.observe(Math.max(0, now - Date.parse(after.endedAt)) / 1000);
  }
}
