/**
 * Start latency on the real node: create → Running, split into its parts, the container runtime included.
 *
 * Kubernetes records pod timestamps with one-second resolution (metav1.Time: conditions, containers'
 * startedAt, core Events' firstTimestamp), too coarse for steps of tens of milliseconds. So each step is the
 * moment this process's watch first shows it (millisecond clock, same machine as every component), from the
 * sources that say it first:
 *
 *   pod created, scheduled        the pod watch (the object appears; spec.nodeName is set)
 *   sandbox ready                 the kubelet's first Event for the pod ("Pulled": image present, emitted once
 *                                 containerd has the sandbox up, its network set up by the CNI bridge plugin)
 *   containers started            the kubelet's "Started" Events, the later of chrome's and the sidecar's (runc
 *                                 has started the process; the kubelet starts the containers one after another)
 *   Chrome and sidecar up         the later of the "DevTools listening on" line in Chrome's container log and
 *                                 "sidecar listening" in the sidecar's: containerd stamps each line with
 *                                 nanoseconds as it reads it (kubectl logs --timestamps)
 *   sidecar report seen           the session watch: status.chromeReachable, which only the report handler
 *                                 writes, becomes true
 *   Running                       status.readyAt, which the operator writes with milliseconds
 *
 * The operator's admitted time (status.startedAt) is its own, with milliseconds too. The second-resolution
 * API timestamps (PodScheduled, PodReadyToStartContainers, Initialized, ContainersReady, Ready, containers'
 * startedAt) are kept in the JSON as a cross-check, and summarised in whole seconds.
 */
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import { type BrowserSession, LABEL_SESSION } from '../src/api/index.js';
import { childName } from '../src/operator/children.js';
import { type KubeClient, paths } from '../src/shared/kube/client.js';
import { Informer } from '../src/shared/kube/informer.js';
import type { LifecycleResults } from './lifecycle.js';
import { type Cell, mapLimit, type Percentiles, percentiles, ratio, sleep, table } from './report.js';

/** Watch-observed moments (epoch ms) and what the API records (RFC 3339, seconds), for one session. */
interface Marks {
  podSeen?: number;
  scheduled?: number;
  sandboxReady?: number;
  chromeStarted?: number;
  sidecarStarted?: number;
  /** Off the path: the kubelet's pod status shows every container running, and the pod Ready. */
  podStatusRunning?: number;
  podReady?: number;
  reportSeen?: number;
  runningSeen?: number;
  /** From the container logs (containerd's timestamps). */
  devtools?: number;
  sidecarListening?: number;
  logError?: string;
  recorded: Record<string, string | undefined>;
}

const iso = (t: unknown) => (t instanceof Date ? t.toISOString() : t === undefined ? undefined : String(t));
/** A CRI log line: "<RFC 3339 with nanoseconds> <text>". */
const logTime = (line: string) => Date.parse(line.slice(0, line.indexOf(' ')));

/**
 * Watches a namespace's pods, Events and sessions and notes when each session's pod reaches each step; once
 * the report is seen it reads the pod's container logs (the pod is still there: the client has not connected).
 */
export class StartObserver {
  private readonly pods: Informer<V1Pod>;
  private readonly events: Informer<CoreV1Event>;
  private readonly sessions: Informer<BrowserSession>;
  private readonly marks = new Map<string, Marks>();
  /** Pod name → session name. */
  private readonly podSession = new Map<string, string>();
  private readonly logReads: Promise<void>[] = [];

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
  ) {
    this.pods = new Informer<V1Pod>(client, paths.pods(namespace));
    this.events = new Informer<CoreV1Event>(client, paths.events(namespace));
    this.sessions = new Informer<BrowserSession>(client, paths.sessions(namespace));
    this.pods.onChange((pod) => this.notePod(pod));
    this.events.onChange((e) => this.noteEvent(e));
    this.sessions.onChange((s) => this.noteSession(s));
  }

  private mark(session: string): Marks {
    let m = this.marks.get(session);
    if (!m) {
      m = { recorded: {} };
      this.marks.set(session, m);
    }
    return m;
  }

  private notePod(pod: V1Pod): void {
    const session = pod.metadata?.labels?.[LABEL_SESSION];
    if (!session) return;
    const now = Date.now();
    this.podSession.set(pod.metadata?.name ?? '', session);
    const m = this.mark(session);
    m.podSeen ??= now;
    m.recorded['created'] ??= iso(pod.metadata?.creationTimestamp);
    const cond = (type: string) =>
      pod.status?.conditions?.find((c) => c.type === type && c.status === 'True')?.lastTransitionTime;
    if (pod.spec?.nodeName) m.scheduled ??= now;
    for (const type of [
      'PodScheduled',
      'PodReadyToStartContainers',
      'Initialized',
      'ContainersReady',
      'Ready',
    ]) {
      m.recorded[type] ??= iso(cond(type));
    }
    const statuses = pod.status?.containerStatuses ?? [];
    for (const c of statuses) m.recorded[`${c.name} startedAt`] ??= iso(c.state?.running?.startedAt);
    if (statuses.length > 0 && statuses.every((c) => c.state?.running)) m.podStatusRunning ??= now;
    if (cond('Ready')) m.podReady ??= now;
  }

  private noteEvent(e: CoreV1Event): void {
    if (e.involvedObject?.kind !== 'Pod' || e.source?.component !== 'kubelet') return;
    const session = this.podSession.get(e.involvedObject.name ?? '');
    if (!session) return;
    const now = Date.now();
    const m = this.mark(session);
    const container = /spec\.containers\{(.+)\}/.exec(e.involvedObject.fieldPath ?? '')?.[1];
    if (e.reason === 'Pulled') m.sandboxReady ??= now;
    if (e.reason === 'Started' && container === 'chrome') m.chromeStarted ??= now;
    if (e.reason === 'Started' && container === 'sidecar') m.sidecarStarted ??= now;
    m.recorded[`event ${e.reason} ${container ?? ''}`.trim()] ??= iso(e.firstTimestamp ?? e.eventTime);
  }

  private noteSession(s: BrowserSession): void {
    const name = s.metadata?.name ?? '';
    const now = Date.now();
    const m = this.mark(name);
    if (s.status?.chromeReachable === true && m.reportSeen === undefined) {
      m.reportSeen = now;
      this.logReads.push(this.readLogs(name, m));
    }
    if (s.status?.phase === 'Running') m.runningSeen ??= now;
  }

  private async readLogs(session: string, m: Marks): Promise<void> {
    const pod = childName(session);
    const read = (container: string) =>
      this.client.get<string>(`${paths.pod(this.namespace, pod)}/log`, { container, timestamps: 'true' });
    try {
      // Chrome has answered the sidecar, so its line is written; containerd may not have flushed it yet.
      for (let attempt = 0; attempt < 5 && m.devtools === undefined; attempt++) {
        const text = String((await read('chrome')) ?? '');
        const line = text.split('\n').find((l) => l.includes('DevTools listening on'));
        if (line) m.devtools = logTime(line);
        else await sleep(50);
      }
      const line = String((await read('sidecar')) ?? '')
        .split('\n')
        .find((l) => l.includes('sidecar listening'));
      if (line) m.sidecarListening = logTime(line);
      if (m.devtools === undefined) m.logError = 'no "DevTools listening on" line in the chrome log';
      if (m.sidecarListening === undefined) m.logError = 'no "sidecar listening" line in the sidecar log';
    } catch (err) {
      m.logError = err instanceof Error ? err.message : String(err);
    }
  }

  async start(): Promise<void> {
    await Promise.all([this.pods.start(), this.events.start(), this.sessions.start()]);
  }

  async stop(): Promise<void> {
    await Promise.all(this.logReads);
    await Promise.all([this.pods.stop(), this.events.stop(), this.sessions.stop()]);
  }

  /** Waits for the log reads started so far. */
  settled(): Promise<unknown> {
    return Promise.all(this.logReads);
  }

  get(session: string): Marks | undefined {
    return this.marks.get(session);
  }
}

/** The path, in order; each part runs from the previous milestone to its own, so the parts add up to total. */
const PATH = [
  'admission',
  'pod created',
  'scheduled',
  'sandbox ready',
  'containers started',
  'Chrome and sidecar up',
  'sidecar report seen',
  'Running',
] as const;
/** Not on the path (measured from a milestone named in EXPLAIN). */
const OFF_PATH = [
  'Chrome: started → DevTools',
  'sidecar: started → listening',
  'kubelet status: all running',
  'pod Ready',
] as const;
const PARTS = [...PATH, 'total', ...OFF_PATH] as const;
type Part = (typeof PARTS)[number];

export interface SessionStart {
  session: string;
  mode: 'sequential' | 'concurrent';
  /** Epoch ms of each milestone (NaN where it was not seen). */
  at: Record<string, number>;
  parts: Record<Part, number>;
  /** What made the session Running first: the sidecar's report or the pod's readiness probe. */
  runningOn: 'report' | 'pod Ready';
  /** Which of the two came up last, so held up the report. */
  lastUp: 'chrome' | 'sidecar';
  startupLatencyMs: number | undefined;
  recorded: Marks['recorded'];
}

export interface StartLatencyResults {
  sessions: SessionStart[];
  sequential: Record<Part, Percentiles>;
  concurrent: Record<Part, Percentiles>;
  /** Bare Chromium, spawn to "DevTools listening on" (the lifecycle baseline's launches). */
  baseline: { sequential: Percentiles; concurrent: Percentiles };
  /** The lifecycle's create and total p50, for the comparison with the stand-in. */
  lifecycle: { createP50: number; totalP50: number };
  /** Seconds from the pod's creationTimestamp to each recorded time, p50 over the sequential sessions. */
  recordedSeconds: Record<string, number>;
  /** Sessions whose steps were not all seen (left out of the figures), with what was missing. */
  incomplete: { session: string; missing: string[] }[];
}

export async function benchStartLatency(
  client: KubeClient,
  namespace: string,
  lifecycle: LifecycleResults,
  observer: StartObserver,
): Promise<StartLatencyResults> {
  await observer.settled();
  const incomplete: StartLatencyResults['incomplete'] = [];
  const sessions = await mapLimit(lifecycle.runs.platform, 8, async (run) => {
    const s = await client.get<BrowserSession>(paths.session(namespace, run.sessionId));
    const m = observer.get(run.sessionId) ?? { recorded: {} };
    const at: Record<string, number> = {
      createSent: run.createSentAt,
      admitted: Date.parse(s.status?.startedAt ?? ''),
      podSeen: m.podSeen ?? Number.NaN,
      scheduled: m.scheduled ?? Number.NaN,
      sandboxReady: m.sandboxReady ?? Number.NaN,
      chromeStarted: m.chromeStarted ?? Number.NaN,
      devtools: m.devtools ?? Number.NaN,
      reportSeen: m.reportSeen ?? Number.NaN,
      running: Date.parse(s.status?.readyAt ?? ''),
      sidecarStarted: m.sidecarStarted ?? Number.NaN,
      sidecarListening: m.sidecarListening ?? Number.NaN,
      podStatusRunning: m.podStatusRunning ?? Number.NaN,
      podReady: m.podReady ?? Number.NaN,
    };
    // Pod Ready is off the path: a session released quickly can be gone before its probe ever passes.
    const required = [
      'admitted',
      'podSeen',
      'scheduled',
      'sandboxReady',
      'chromeStarted',
      'sidecarStarted',
      'devtools',
      'sidecarListening',
      'reportSeen',
      'running',
    ];
    const missing = required.filter((k) => Number.isNaN(at[k] as number));
    if (missing.length > 0) {
      incomplete.push({ session: run.sessionId, missing: m.logError ? [...missing, m.logError] : missing });
      return undefined;
    }
    at['containersStarted'] = Math.max(at['chromeStarted'] as number, at['sidecarStarted'] as number);
    at['bothUp'] = Math.max(at['devtools'] as number, at['sidecarListening'] as number);
    const d = (a: string, b: string) => (at[b] as number) - (at[a] as number);
    const parts: Record<Part, number> = {
      admission: d('createSent', 'admitted'),
      'pod created': d('admitted', 'podSeen'),
      scheduled: d('podSeen', 'scheduled'),
      'sandbox ready': d('scheduled', 'sandboxReady'),
      'containers started': d('sandboxReady', 'containersStarted'),
      'Chrome and sidecar up': d('containersStarted', 'bothUp'),
      'sidecar report seen': d('bothUp', 'reportSeen'),
      Running: d('reportSeen', 'running'),
      total: d('createSent', 'running'),
      'Chrome: started → DevTools': d('chromeStarted', 'devtools'),
      'sidecar: started → listening': d('sidecarStarted', 'sidecarListening'),
      'kubelet status: all running': d('sandboxReady', 'podStatusRunning'),
      'pod Ready': d('sandboxReady', 'podReady'),
    };
    return {
      session: run.sessionId,
      mode: run.mode,
      at,
      parts,
      // Whichever this watch saw first; a pod never seen Ready (NaN) did not make it Running.
      runningOn: (at['podReady'] as number) < (at['reportSeen'] as number) ? 'pod Ready' : 'report',
      lastUp: (at['devtools'] as number) > (at['sidecarListening'] as number) ? 'chrome' : 'sidecar',
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
  const recordedSeconds: Record<string, number> = {};
  const sequential = complete.filter((s) => s.mode === 'sequential');
  for (const key of new Set(sequential.flatMap((s) => Object.keys(s.recorded)))) {
    if (key === 'created') continue;
    const secs = sequential.flatMap((s) => {
      const t = Date.parse(s.recorded[key] ?? '');
      const c = Date.parse(s.recorded['created'] ?? '');
      return Number.isNaN(t + c) ? [] : [(t - c) / 1000];
    });
    if (secs.length > 0) recordedSeconds[key] = percentiles(secs).p50;
  }
  return {
    sessions: complete,
    sequential: summary('sequential'),
    concurrent: summary('concurrent'),
    baseline: { sequential: bare('sequential'), concurrent: bare('concurrent') },
    lifecycle: {
      createP50: lifecycle.sequential.platform.create.p50,
      totalP50: lifecycle.sequential.platform.total.p50,
    },
    recordedSeconds,
    incomplete,
  };
}

const EXPLAIN: Record<Part, string> = {
  admission: 'create sent → status.startedAt (gateway, apiserver, operator admits)',
  'pod created': 'admitted → pod seen (operator creates the pod and Service)',
  scheduled: 'pod → bound to the node (kube-scheduler)',
  'sandbox ready':
    "bound → kubelet's first Event (kubelet sees the pod, containerd runs the pause sandbox, CNI bridge)",
  'containers started':
    'sandbox → both "Started" (containerd creates each container, runc starts it; chrome, then the sidecar)',
  'Chrome and sidecar up':
    'started → the later of "DevTools listening" (Chrome) and "sidecar listening" (Node.js loads the app)',
  'sidecar report seen':
    "up → status.chromeReachable (the sidecar's watcher connects to Chrome, reports; the operator applies)",
  Running:
    "report → status.readyAt (operator sees it, and needs the kubelet's status: containers running, then writes)",
  total: 'create sent → Running',
  'Chrome: started → DevTools': '(off the path) chrome "Started" → "DevTools listening on" in its log',
  'sidecar: started → listening': '(off the path) sidecar "Started" → "sidecar listening" in its log',
  'kubelet status: all running':
    "(off the path) sandbox → pod status shows both running (the kubelet's status update)",
  'pod Ready': '(off the path) sandbox → pod Ready: the readiness probe, 1 s period',
};

/** What the stand-in (src/localnode) gave on 2026-11-30, as README's Performance section quotes it: not this run. */
const STAND_IN = {
  date: '2026-11-30',
  lifecycleP50: 868,
  createP50: 634,
  startP50: 621,
  parts: { admission: 7, 'pod created': 12, scheduled: 7, 'process started': 74, Running: 496 },
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
    'spawn on the host → "DevTools listening on"',
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
  const seq = r.sequential;
  const sum = (...ps: Part[]) => ps.reduce((a, p) => a + seq[p].p50, 0);
  const vs = (label: string, real: number, stand: number, what: string): Cell[] => [
    label,
    Math.round(real),
    stand,
    Math.round(real - stand),
    what,
  ];
  const compare = table(
    ['sequential p50 (ms)', 'real node', `stand-in ${STAND_IN.date}`, 'difference', ''],
    [
      vs(
        'admission + pod created + scheduled',
        sum('admission', 'pod created', 'scheduled'),
        STAND_IN.parts.admission + STAND_IN.parts['pod created'] + STAND_IN.parts.scheduled,
        'the same components',
      ),
      vs(
        'to the containers running',
        sum('sandbox ready', 'containers started'),
        STAND_IN.parts['process started'],
        'stand-in: a netns and a host process; here: kubelet sync, pause sandbox, CNI, containerd + runc',
      ),
      vs(
        'containers running → Running',
        sum('Chrome and sidecar up', 'sidecar report seen', 'Running'),
        STAND_IN.parts.Running,
        'Chrome and the sidecar start in containers, the report, the operator',
      ),
      vs('create → Running (sum of p50s)', sum(...PATH), STAND_IN.startP50, 'the parts above'),
      vs('create → Running, p50 of totals', seq.total.p50, STAND_IN.startP50, ''),
      vs('lifecycle create (SDK, to RUNNING)', r.lifecycle.createP50, STAND_IN.createP50, ''),
      vs(
        'lifecycle total p50',
        r.lifecycle.totalP50,
        STAND_IN.lifecycleP50,
        'create → connect → goto → release',
      ),
    ],
  );
  const count = (mode: string, f: (s: SessionStart) => boolean) => {
    const ss = r.sessions.filter((s) => s.mode === mode);
    return `${ss.filter(f).length} of ${ss.length}`;
  };
  const on = (mode: string) => count(mode, (s) => s.runningOn === 'report');
  const sidecarLast = (mode: string) => count(mode, (s) => s.lastUp === 'sidecar');
  const recorded = Object.entries(r.recordedSeconds)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return [
    `create → Running (ms) on the real node, n=${r.sequential.total.n} sequential, n=${r.concurrent.total.n} concurrent` +
      (r.incomplete.length > 0 ? ` (${r.incomplete.length} incomplete, left out)` : ''),
    table(['part', 'seq p50', 'seq p95', 'seq p99', 'conc p50', 'conc p95', 'conc p99', ''], rows),
    `Running on the sidecar's report (not the readiness probe): ${on('sequential')} sequential, ${on('concurrent')} concurrent.`,
    `The sidecar came up after Chrome (so held up the report): ${sidecarLast('sequential')} sequential, ${sidecarLast('concurrent')} concurrent.`,
    `API timestamps (1 s resolution), seconds after the pod's creationTimestamp, p50 sequential: ${recorded || '–'}`,
    '',
    `Real node vs the stand-in (src/localnode; figures from README, ${STAND_IN.date}, not this run):`,
    compare,
    'Reference: Kubernetes pod startup SLO, p99 ≤ 5 s (stateless pods, image already present).',
    ...r.incomplete.slice(0, 5).map((i) => `incomplete ${i.session}: ${i.missing.join(', ')}`),
  ].join('\n');
}
