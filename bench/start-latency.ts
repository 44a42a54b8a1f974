/**
 * Start latency: create → Running, split into its parts. Kubernetes records pod timestamps with one-second
 * resolution (metav1.Time), too coarse for steps of tens of milliseconds, so each step is taken as the moment
 * a watch on the benchmark's namespace first shows it (millisecond clock, same machine); the session's own
 * startedAt/readyAt are written by the operator with millisecond resolution and used as they are. The
 * recorded second-resolution pod timestamps are kept in the JSON next to them, as a cross-check.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { type BrowserSession, LABEL_SESSION } from '../src/api/index.js';
import { type KubeClient, paths } from '../src/shared/kube/client.js';
import { Informer } from '../src/shared/kube/informer.js';
import type { LifecycleResults } from './lifecycle.js';
import { type Cell, mapLimit, type Percentiles, percentiles, ratio, table } from './report.js';

interface PodMarks {
  /** Watch-observed, epoch ms. */
  created?: number;
  scheduled?: number;
  started?: number;
  ready?: number;
  /** What the pod itself records (RFC 3339, seconds). */
  recorded: { created?: string; scheduled?: string; started?: string; ready?: string };
}

/** Watches pods in a namespace and notes when each reaches each step, keyed by session name. */
export class StartObserver {
  private readonly pods: Informer<V1Pod>;
  private readonly marks = new Map<string, PodMarks>();

  constructor(client: KubeClient, namespace: string) {
    this.pods = new Informer<V1Pod>(client, paths.pods(namespace));
    this.pods.onChange((pod) => this.note(pod));
  }

  private note(pod: V1Pod): void {
    const session = pod.metadata?.labels?.[LABEL_SESSION];
    if (!session) return;
    const now = Date.now();
    let m = this.marks.get(session);
    if (!m) {
      m = { created: now, recorded: {} };
      this.marks.set(session, m);
    }
    const cond = (type: string) =>
      pod.status?.conditions?.find((c) => c.type === type && c.status === 'True');
    const iso = (t: unknown) =>
      t instanceof Date ? t.toISOString() : t === undefined ? undefined : String(t);
    m.recorded.created ??= iso(pod.metadata?.creationTimestamp);
    if (pod.spec?.nodeName && m.scheduled === undefined) {
      m.scheduled = now;
      m.recorded.scheduled = iso(cond('PodScheduled')?.lastTransitionTime);
    }
    const statuses = pod.status?.containerStatuses ?? [];
    const running = statuses.length > 0 && statuses.every((c) => c.state?.running);
    if (running && m.started === undefined) {
      m.started = now;
      m.recorded.started = statuses
        .map((c) => iso(c.state?.running?.startedAt) ?? '')
        .sort()
        .at(-1);
    }
    const ready = cond('Ready');
    if (ready && m.ready === undefined) {
      m.ready = now;
      m.recorded.ready = iso(ready.lastTransitionTime);
    }
  }

  start(): Promise<void> {
    return this.pods.start();
  }

  stop(): Promise<void> {
    return this.pods.stop();
  }

  get(session: string): PodMarks | undefined {
    return this.marks.get(session);
  }
}

const PARTS = [
  'admission',
  'pod created',
  'scheduled',
  'process started',
  'Running',
  'total',
  // Not a step of the path: the session is Running on the sidecar's report, whichever comes first.
  'pod Ready',
] as const;
type Part = (typeof PARTS)[number];

export interface SessionStart {
  session: string;
  mode: 'sequential' | 'concurrent';
  /** Epoch ms: create sent (client), admitted (status.startedAt), pod steps (watch), Running (status.readyAt). */
  at: {
    createSent: number;
    admitted: number;
    podCreated: number;
    scheduled: number;
    processStarted: number;
    /** NaN when the pod was never seen Ready (it is off the path). */
    podReady: number;
    running: number;
  };
  parts: Record<Part, number>;
  startupLatencyMs: number | undefined;
  recorded: PodMarks['recorded'];
}

export interface StartLatencyResults {
  sessions: SessionStart[];
  sequential: Record<Part, Percentiles>;
  concurrent: Record<Part, Percentiles>;
  /** Bare Chromium, spawn to "DevTools listening on" (the lifecycle baseline's launches). */
  baseline: { sequential: Percentiles; concurrent: Percentiles };
  /** Sessions whose steps the watch did not all see (left out of the figures). */
  incomplete: string[];
}

export async function benchStartLatency(
  client: KubeClient,
  namespace: string,
  lifecycle: LifecycleResults,
  observer: StartObserver,
): Promise<StartLatencyResults> {
  const incomplete: string[] = [];
  const sessions = await mapLimit(lifecycle.runs.platform, 8, async (run) => {
    const s = await client.get<BrowserSession>(paths.session(namespace, run.sessionId));
    const m = observer.get(run.sessionId);
    const admitted = Date.parse(s.status?.startedAt ?? '');
    const running = Date.parse(s.status?.readyAt ?? '');
    // Pod Ready is off the path: a session released quickly can be gone before its probe ever passes.
    if (!m?.created || !m.scheduled || !m.started || Number.isNaN(admitted + running)) {
      incomplete.push(run.sessionId);
      return undefined;
    }
    const at = {
      createSent: run.createSentAt,
      admitted,
      podCreated: m.created,
      scheduled: m.scheduled,
      processStarted: m.started,
      podReady: m.ready ?? Number.NaN,
      running,
    };
    const parts: Record<Part, number> = {
      admission: at.admitted - at.createSent,
      'pod created': at.podCreated - at.admitted,
      scheduled: at.scheduled - at.podCreated,
      'process started': at.processStarted - at.scheduled,
      Running: at.running - at.processStarted,
      total: at.running - at.createSent,
      'pod Ready': at.podReady - at.processStarted,
    };
    return {
      session: run.sessionId,
      mode: run.mode,
      at,
      parts,
      startupLatencyMs: s.status?.startupLatencyMs,
      recorded: m.recorded,
    } satisfies SessionStart;
  });
  const complete = sessions.filter((s): s is SessionStart => s !== undefined);
  const summary = (mode: string) =>
    Object.fromEntries(
      PARTS.map((p) => [
        p,
        percentiles(
          complete
            .filter((s) => s.mode === mode)
            .map((s) => s.parts[p])
            .filter((ms) => !Number.isNaN(ms)),
        ),
      ]),
    ) as Record<Part, Percentiles>;
  const bare = (mode: string) =>
    percentiles(lifecycle.runs.baseline.filter((r) => r.mode === mode).map((r) => r.devtoolsMs));
  return {
    sessions: complete,
    sequential: summary('sequential'),
    concurrent: summary('concurrent'),
    baseline: { sequential: bare('sequential'), concurrent: bare('concurrent') },
    incomplete,
  };
}

const EXPLAIN: Record<Part, string> = {
  admission: 'create sent → status.startedAt (gateway, apiserver, operator admits)',
  'pod created': 'admitted → pod seen',
  scheduled: 'pod → bound to the node (kube-scheduler)',
  'process started': 'bound → all containers running (node agent: netns, Chrome, sidecar)',
  Running: 'running → status.readyAt (Chrome answers the sidecar, its report reaches the operator)',
  total: 'create sent → Running',
  'pod Ready':
    '(off the path; only pods that got there) running → pod Ready: the readiness probe, 1 s period',
};

export function formatStartLatency(r: StartLatencyResults): string {
  const rows: Cell[][] = PARTS.map((p) => [
    p,
    r.sequential[p].p50,
    r.sequential[p].p95,
    r.sequential[p].p99,
    r.concurrent[p].p50,
    r.concurrent[p].p95,
    r.concurrent[p].p99,
    EXPLAIN[p],
  ]);
  const b = r.baseline;
  rows.push([
    'baseline: bare Chrome',
    b.sequential.p50,
    b.sequential.p95,
    b.sequential.p99,
    b.concurrent.p50,
    b.concurrent.p95,
    b.concurrent.p99,
    'spawn → "DevTools listening on"',
  ]);
  rows.push([
    'ratio total / bare',
    ratio(r.sequential.total.p50, b.sequential.p50),
    ratio(r.sequential.total.p95, b.sequential.p95),
    ratio(r.sequential.total.p99, b.sequential.p99),
    ratio(r.concurrent.total.p50, b.concurrent.p50),
    ratio(r.concurrent.total.p95, b.concurrent.p95),
    ratio(r.concurrent.total.p99, b.concurrent.p99),
    '',
  ]);
  return [
    `create → Running (ms), n=${r.sequential.total.n} sequential, n=${r.concurrent.total.n} concurrent` +
      (r.incomplete.length > 0 ? ` (${r.incomplete.length} incomplete, left out)` : ''),
    table(['part', 'seq p50', 'seq p95', 'seq p99', 'conc p50', 'conc p95', 'conc p99', ''], rows),
    'Reference: Kubernetes pod startup SLO, p99 ≤ 5 s (stateless pods, image already present).',
  ].join('\n');
}
