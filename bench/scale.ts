/**
 * Scale: the operator with thousands of sessions whose pods run on KWOK's fake nodes (bench/kwok.ts): bound by
 * the real scheduler, then Running and Ready at once by KWOK's pod-ready stage, with no container behind them.
 * The operator's nodeSelector and tolerations (its ordinary settings) place them there. There is no sidecar,
 * so no connection report: a session becomes Running on its pod's Ready condition, the path the operator takes
 * when the readiness probe passes before a report arrives (plan.ts: podReady || browserAnswers). That is what
 * the retired stand-in's simulated pods did too (Running and Ready, no processes, no report).
 *
 * The sessions are created first, as a backlog, and then a fresh operator process is started for their
 * namespace, so that admission throughput is the operator's (not the client's create rate) and its memory and
 * CPU are its own, read from /proc. Nobody connects, so sessions end by expiry: `expiring` of them (spread
 * evenly over the backlog) have a short timeout, the rest one longer than the run. Expiry precision is when
 * the operator actually ended a session (status.endedAt, the time of the pass that ended it) minus when it was
 * due (status.expiresAt); with a short timeout that happens while the backlog is still being
 * admitted, which is the point: it shows whether timers keep time under load.
 *
 * Baseline (first size only): the same pods created directly through the API, 32 at a time, on the same
 * fake nodes: what Kubernetes itself takes to get that many pods Running here.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { BrowserSession } from '../src/api/index.js';
import { childName, desiredPod } from '../src/operator/children.js';
import { loadConfig as loadOperatorConfig } from '../src/operator/config.js';
import { type KubeClient, paths } from '../src/shared/kube/client.js';
import { Informer } from '../src/shared/kube/informer.js';
import type { ChildHandle } from './child-protocol.js';
import { type Kwok, placement } from './kwok.js';
import { ProcMonitor, type ProcUsage } from './proc.js';
import { type Cell, mapLimit, type Percentiles, percentiles, ratio, sleep, table } from './report.js';
import { type BenchStack, countObjects, waitForNoPods } from './stack.js';

export interface ScaleOptions {
  sessions: number;
  /**
   * Projects the sessions are spread over, round robin, each with room for its share. Many tenants is the
   * common case; one project of 10,000 is its own measurement (BF_BENCH_SCALE=10000:1000:60:1).
   */
  projects: number;
  /** How many of them get the short timeout (the rest outlive the run). */
  expiring: number;
  timeoutSeconds: number;
  /** Creates in flight while the backlog (and the baseline's pods) are created. */
  createConcurrency: number;
  /** Epoch ms after which the run stops waiting and reports what it has (marked incomplete). */
  deadline: number;
  /** Also measure the direct-pods baseline. */
  baseline: boolean;
}

export interface ClusterRequests {
  /** Every client's requests to the apiserver meanwhile (operator, scheduler, KWOK, controller-manager). */
  total: number;
  perSession: number;
  byVerb: Record<string, number>;
  /** The resources with the most requests, "verb resource[/subresource]" → count. */
  top: Record<string, number>;
}

export interface PodBaseline {
  pods: number;
  /** Creates sent → all pods Running and Ready, seconds. */
  allRunningSeconds: number;
  runningPerSecond: number;
  /** Requests of the pods' whole life: create, bind, status, delete, gone. */
  cluster: ClusterRequests;
}

export interface ScaleRun {
  options: Omit<ScaleOptions, 'deadline'>;
  namespace: string;
  operatorWorkers: number;
  /** Seconds: building the backlog, operator start to caches synced, and from synced to each milestone. */
  seconds: {
    createBacklog: number;
    operatorStart: number;
    allAdmitted?: number;
    /** Every session Running or already ended. */
    allSettled?: number;
    expiringEnded?: number;
    podsGone?: number;
  };
  admitted: number;
  reachedRunning: number;
  /** Ended by their timeout while still Starting although their pods were Ready. */
  expiredStarting: number;
  /** Sessions past their expiresAt and still not ended when the run stopped, and the most overdue, seconds. */
  overdue: { count: number; maxSeconds: number };
  /** Sessions per second from caches synced to the last admission / the last Running. */
  admittedPerSecond?: number;
  runningPerSecond?: number;
  /** status.startupLatencyMs (admitted → Running) under this load, ms. */
  startupLatencyMs: Percentiles;
  /** Timed-out sessions: endedAt (when the operator ended it) − expiresAt (when it was due), ms. */
  expiryLagMs: Percentiles;
  endReasons: Record<string, number>;
  operator: {
    rssAfterSyncMiB: number;
    usage: ProcUsage;
    heapUsedMiB: number;
    /** The operator client's own requests (lists, writes, events; its 4 watches not counted). */
    requests: { total: number; perSession: number; byVerb: Record<string, number> };
  };
  cluster: ClusterRequests;
  /** The rest of the system meanwhile: apiserver, etcd, scheduler, controller-manager, KWOK. */
  others: Record<string, ProcUsage>;
  baseline?: PodBaseline;
  incomplete?: string;
}

const MiB = 1024 * 1024;
const LONG_TIMEOUT = 21_600;

function overdue(sessions: readonly BrowserSession[], now: number): ScaleRun['overdue'] {
  const late = sessions
    .filter((s) => s.status?.expiresAt && !s.status.endedAt)
    .map((s) => now - Date.parse(s.status?.expiresAt ?? ''))
    .filter((ms) => ms > 0);
  return { count: late.length, maxSeconds: Math.round(Math.max(0, ...late) / 100) / 10 };
}

/** Phase counts from the operator's own gauge (browserfleet_sessions{phase}), cheap to poll. */
async function phaseCounts(metricsPort: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^browserfleet_sessions\{phase="(\w+)"\} (\d+)/gm)) {
    out[m[1] as string] = Number(m[2]);
  }
  return out;
}

/** apiserver_request_total summed by verb and resource, from the apiserver's own /metrics. */
async function apiserverRequests(client: KubeClient): Promise<Map<string, number>> {
  const text = await client.get<string>('/metrics');
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^apiserver_request_total\{([^}]*)\} (\d+)/gm)) {
    const labels = Object.fromEntries(
      [...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1] as string, l[2] as string]),
    );
    const what = `${labels['verb']} ${labels['resource'] || '(other)'}${labels['subresource'] ? `/${labels['subresource']}` : ''}`;
    out.set(what, (out.get(what) ?? 0) + Number(m[2]));
  }
  return out;
}

function requestsBetween(
  before: Map<string, number>,
  after: Map<string, number>,
  n: number,
): ClusterRequests {
  const diff = [...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const).filter(([, v]) => v > 0);
  const total = diff.reduce((s, [, v]) => s + v, 0);
  const byVerb: Record<string, number> = {};
  for (const [k, v] of diff) {
    const verb = k.split(' ')[0] as string;
    byVerb[verb] = (byVerb[verb] ?? 0) + v;
  }
  const top = Object.fromEntries(diff.sort((a, b) => b[1] - a[1]).slice(0, 12));
  return { total, perSession: Math.round((total / n) * 100) / 100, byVerb, top };
}

function controlPlanePid(stack: BenchStack, name: string): number | undefined {
  try {
    return Number(readFileSync(path.join(stack.plane.dir, `${name}.pid`), 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

async function listAll(client: KubeClient, ns: string): Promise<BrowserSession[]> {
  const out: BrowserSession[] = [];
  let token: string | undefined;
  do {
    const page = await client.get<{ items: BrowserSession[]; metadata: { continue?: string } }>(
      paths.sessions(ns),
      { limit: 500, continue: token },
    );
    out.push(...page.items);
    token = page.metadata.continue || undefined;
  } while (token);
  return out;
}

/**
 * The operator's own browser pods, created directly (no owner, so nothing collects them), to Running, then
 * deleted: Kubernetes' share of the work, without browserfleet. Undefined (with the reason logged) if it could
 * not finish within the deadline.
 */
async function podBaseline(
  stack: BenchStack,
  n: number,
  concurrency: number,
  deadline: number,
  progress: (msg: string) => void,
): Promise<PodBaseline | undefined> {
  const { client } = stack;
  const namespace = `bf-pods-${n}`;
  await client.create(paths.namespaces(), {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: namespace },
  });
  const config = { ...loadOperatorConfig({ BF_SESSION_KEY: stack.sessionKey }), ...placement };
  const names = Array.from({ length: n }, (_, i) => `p-${String(i).padStart(5, '0')}`);
  const pods = new Informer<V1Pod>(client, paths.pods(namespace));
  await pods.start();
  try {
    const before = await apiserverRequests(client);
    const t0 = Date.now();
    await mapLimit(names, concurrency, (name) => {
      const pod = desiredPod({
        session: {
          apiVersion: 'browserfleet.dev/v1alpha1',
          kind: 'BrowserSession',
          metadata: { name, namespace, uid: `baseline-${name}` },
          spec: { project: 'baseline' },
        } as BrowserSession,
        config,
        token: 'baseline',
        timeoutSeconds: LONG_TIMEOUT,
        downloadCapBytes: 0,
      });
      delete pod.metadata?.ownerReferences;
      return client.create(paths.pods(namespace), pod);
    });
    const ready = (p: V1Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    while (pods.list().filter(ready).length < n) {
      if (Date.now() > deadline) throw new Error(`not all ${n} pods Running within the time budget`);
      await sleep(100);
    }
    const seconds = (Date.now() - t0) / 1000;
    // One by one, as the operator deletes them (a collection delete of thousands outlasts a request timeout).
    await mapLimit(names, concurrency, (name) => client.delete(paths.pod(namespace, childName(name))));
    if (!(await waitForNoPods(client, namespace, Math.max(0, deadline - Date.now())))) {
      throw new Error('pods not gone within the time budget');
    }
    const after = await apiserverRequests(client);
    return {
      pods: n,
      allRunningSeconds: Math.round(seconds * 10) / 10,
      runningPerSecond: Math.round(n / seconds),
      cluster: requestsBetween(before, after, n),
    };
  } catch (err) {
    progress(`scale ${n}: no baseline: ${err instanceof Error ? err.message : err}`);
    return undefined;
  } finally {
    await pods.stop();
    await client.delete(`${paths.namespaces()}/${namespace}`).catch(() => undefined);
  }
}

export async function benchScale(
  stack: BenchStack,
  kwok: Kwok,
  options: ScaleOptions,
  progress: (msg: string) => void,
): Promise<ScaleRun> {
  const { client } = stack;
  const n = options.sessions;
  const namespace = `bf-scale-${n}`;
  const projects = Array.from({ length: options.projects }, (_, p) => `scale-${n}-${p}`);
  const perProject = Math.ceil(n / options.projects);
  const { deadline, ...reported } = options;

  const baseline = options.baseline
    ? await podBaseline(stack, n, options.createConcurrency, deadline, progress)
    : undefined;
  if (baseline)
    progress(`scale ${n}: baseline, ${n} pods created directly → Running in ${baseline.allRunningSeconds} s`);

  await client.create(paths.namespaces(), {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: namespace },
  });
  for (const project of projects) {
    await client.create(paths.projects(), {
      apiVersion: 'browserfleet.dev/v1alpha1',
      kind: 'BrowserProject',
      metadata: { name: project },
      spec: { namespace, concurrency: perProject, maxQueued: 0, defaultTimeout: LONG_TIMEOUT },
    });
  }

  let operator: ChildHandle | undefined;
  try {
    const t0 = Date.now();
    const every = n / Math.max(1, options.expiring);
    await mapLimit(
      Array.from({ length: n }, (_, i) => i),
      options.createConcurrency,
      (i) =>
        client.create(paths.sessions(namespace), {
          apiVersion: 'browserfleet.dev/v1alpha1',
          kind: 'BrowserSession',
          metadata: { name: `s-${String(i).padStart(5, '0')}`, namespace },
          spec: {
            project: projects[i % projects.length],
            timeout: Math.floor(i % every) === 0 ? options.timeoutSeconds : LONG_TIMEOUT,
          },
        }),
    );
    const createBacklog = (Date.now() - t0) / 1000;
    progress(
      `scale ${n}: backlog of ${n} sessions created in ${createBacklog.toFixed(1)} s; starting the operator`,
    );

    const others = new ProcMonitor(
      Object.fromEntries(
        [
          ['kube-apiserver', controlPlanePid(stack, 'kube-apiserver')],
          ['etcd', controlPlanePid(stack, 'etcd')],
          ['kube-scheduler', controlPlanePid(stack, 'kube-scheduler')],
          ['kube-controller-manager', controlPlanePid(stack, 'kube-controller-manager')],
          ['kwok', kwok.pid],
        ].filter((e): e is [string, number] => e[1] !== undefined),
      ),
    ).start();
    const requestsBefore = await apiserverRequests(client);
    const t1 = Date.now();
    operator = await stack.startOperator(`operator-scale-${n}`, {
      watchNamespace: namespace,
      ...placement,
      reportUrl: '',
      reportListen: '127.0.0.1:0',
    });
    const synced = Date.now();
    const monitor = new ProcMonitor({ operator: operator.pid }).start();
    const rssAfterSyncMiB = Math.round((await operator.stats()).memory.rss / MiB);
    const metricsPort = operator.ports['metrics'] ?? 0;

    const seconds: ScaleRun['seconds'] = { createBacklog, operatorStart: (synced - t1) / 1000 };
    let incomplete: string | undefined;
    const waitPhase = async (
      what: keyof ScaleRun['seconds'],
      done: (c: Record<string, number>) => boolean,
    ) => {
      if (incomplete) return;
      let last: Record<string, number> = {};
      while (Date.now() < deadline) {
        last = await phaseCounts(metricsPort).catch(() => last);
        if (done(last)) {
          seconds[what] = (Date.now() - synced) / 1000;
          progress(`scale ${n}: ${what} ${seconds[what]?.toFixed(1)} s after the operator synced`);
          return;
        }
        await sleep(200);
      }
      incomplete = `${what} not reached within the time budget (phases ${JSON.stringify(last)})`;
      progress(`scale ${n}: ${incomplete}`);
    };
    const c = (counts: Record<string, number>, ...phases: string[]) =>
      phases.reduce((sum, p) => sum + (counts[p] ?? 0), 0);
    const total = (counts: Record<string, number>) => c(counts, ...Object.keys(counts));
    const ended = (k: Record<string, number>) => c(k, 'TimedOut', 'Completed', 'Failed');
    await waitPhase('allAdmitted', (k) => total(k) >= n && c(k, 'Pending', 'Queued') === 0);
    await waitPhase('allSettled', (k) => total(k) >= n && c(k, 'Pending', 'Queued', 'Starting') === 0);
    await waitPhase('expiringEnded', (k) => ended(k) >= options.expiring);
    const operatorStats = await operator.stats();
    const requestsAfter = await apiserverRequests(client);
    if (!incomplete && options.expiring === n) {
      if (await waitForNoPods(client, namespace, Math.max(0, deadline - Date.now()))) {
        seconds.podsGone = (Date.now() - synced) / 1000;
      } else incomplete = `${await countObjects(client, paths.pods(namespace))} pods still there`;
    }
    const usage = monitor.stop();
    const otherUsage = others.stop();

    const sessions = await listAll(client, namespace);
    const listedAt = Date.now();
    const admittedAt = sessions
      .map((s) => Date.parse(s.status?.startedAt ?? ''))
      .filter((t) => !Number.isNaN(t));
    const readyAt = sessions.map((s) => Date.parse(s.status?.readyAt ?? '')).filter((t) => !Number.isNaN(t));
    // Over what happened: a run cut short by the time budget still has a rate, marked partial in the table.
    const perSecond = (times: number[]) =>
      times.length > 0 ? Math.round((times.length / (Math.max(...times) - synced)) * 10_000) / 10 : undefined;
    // endedAt is when the operator's pass ended the session (plan.ts), expiresAt when it was due.
    const lag = sessions.flatMap((s) => {
      const { endedAt, expiresAt, phase } = s.status ?? {};
      return endedAt && expiresAt && phase === 'TimedOut'
        ? [Date.parse(endedAt) - Date.parse(expiresAt)]
        : [];
    });
    const endReasons: Record<string, number> = {};
    for (const s of sessions) {
      const r = s.status?.endReason ?? '(not ended)';
      endReasons[r] = (endReasons[r] ?? 0) + 1;
    }
    const ownTotal = operatorStats.totalRequests ?? 0;
    return {
      options: reported,
      namespace,
      operatorWorkers: loadOperatorConfig({ BF_SESSION_KEY: stack.sessionKey }).workers,
      seconds,
      admitted: admittedAt.length,
      reachedRunning: readyAt.length,
      expiredStarting: sessions.filter((x) => x.status?.endedAt && !x.status.readyAt).length,
      overdue: overdue(sessions, listedAt),
      admittedPerSecond: perSecond(admittedAt),
      runningPerSecond: perSecond(readyAt),
      startupLatencyMs: percentiles(
        sessions.map((s) => s.status?.startupLatencyMs ?? Number.NaN).filter(Number.isFinite),
      ),
      expiryLagMs: percentiles(lag),
      endReasons,
      operator: {
        rssAfterSyncMiB,
        usage: usage['operator'] as ProcUsage,
        heapUsedMiB: Math.round(operatorStats.memory.heapUsed / MiB),
        requests: {
          total: ownTotal,
          perSession: Math.round((ownTotal / Math.max(1, admittedAt.length)) * 100) / 100,
          byVerb: operatorStats.requestsByVerb ?? {},
        },
      },
      cluster: requestsBetween(requestsBefore, requestsAfter, Math.max(1, admittedAt.length)),
      others: otherUsage,
      ...(baseline ? { baseline } : {}),
      ...(incomplete ? { incomplete } : {}),
    };
  } finally {
    // Not gracefully: a stopping operator works off its whole queue first, thousands of reconciles here.
    await operator?.stop(5000);
    // Ended sessions have no children left; what remains (the long-timeout ones) goes with the control plane.
    if (options.expiring === n) {
      await client.request('DELETE', paths.sessions(namespace)).catch(() => undefined);
      await client.request('DELETE', paths.events(namespace)).catch(() => undefined);
      for (const project of projects) await client.delete(paths.project(project)).catch(() => undefined);
      await client.delete(`${paths.namespaces()}/${namespace}`).catch(() => undefined);
    }
  }
}

export function formatScale(runs: ScaleRun[]): string {
  const col = (f: (r: ScaleRun) => Cell): Cell[] => runs.map(f);
  const pct = (p: Percentiles) => (p.n > 0 ? `${p.p50} / ${p.p99} / ${p.max}` : undefined);
  const partial = (rate: number | undefined, count: number, r: ScaleRun) =>
    rate === undefined ? undefined : count < r.options.sessions ? `${rate} (partial)` : rate;
  const rows: Cell[][] = [
    [
      'sessions, of which expiring (timeout s)',
      ...col((r) => `${r.options.sessions}, ${r.options.expiring} (${r.options.timeoutSeconds})`),
    ],
    ['backlog created in (s)', ...col((r) => r.seconds.createBacklog)],
    ['operator start → caches synced (s)', ...col((r) => r.seconds.operatorStart)],
    ['synced → all admitted (s)', ...col((r) => r.seconds.allAdmitted)],
    ['synced → all Running or ended (s)', ...col((r) => r.seconds.allSettled)],
    ['synced → expiring ones ended (s)', ...col((r) => r.seconds.expiringEnded)],
    ['synced → all pods gone (s)', ...col((r) => r.seconds.podsGone)],
    ['admitted (of all)', ...col((r) => `${r.admitted} / ${r.options.sessions}`)],
    ['admitted / s (reconcile throughput)', ...col((r) => partial(r.admittedPerSecond, r.admitted, r))],
    ['reached Running (of all)', ...col((r) => `${r.reachedRunning} / ${r.options.sessions}`)],
    ['Running / s', ...col((r) => partial(r.runningPerSecond, r.reachedRunning, r))],
    ['admitted → Running p50/p99/max (ms)', ...col((r) => pct(r.startupLatencyMs))],
    ['expiry lag, endedAt − expiresAt p50/p99/max (ms)', ...col((r) => pct(r.expiryLagMs))],
    [
      'past expiresAt, not ended at the end (max s)',
      ...col((r) => `${r.overdue.count} (${r.overdue.maxSeconds})`),
    ],
    [
      'operator RSS after sync / peak (MiB)',
      ...col((r) => `${r.operator.rssAfterSyncMiB} / ${r.operator.usage.peakRssMiB}`),
    ],
    ['operator heap at end (MiB)', ...col((r) => r.operator.heapUsedMiB)],
    [
      'operator CPU (s) / avg cores',
      ...col((r) => `${r.operator.usage.cpuSeconds} / ${r.operator.usage.avgCores}`),
    ],
    ['operator requests / admitted session (own)', ...col((r) => r.operator.requests.perSession)],
    ['apiserver requests / admitted session (all)', ...col((r) => r.cluster.perSession)],
  ];
  for (const name of ['kube-apiserver', 'etcd', 'kube-scheduler', 'kube-controller-manager', 'kwok']) {
    rows.push([
      `${name} CPU (s) / peak RSS (MiB)`,
      ...col((r) =>
        r.others[name] ? `${r.others[name].cpuSeconds} / ${r.others[name].peakRssMiB}` : undefined,
      ),
    ]);
  }
  const out = [
    `KWOK fake nodes and pods (Running/Ready from KWOK's pod-ready stage, no containers, no sidecar: sessions go Running on pod Ready, no report); backlog first, then a fresh operator process (${runs[0]?.operatorWorkers ?? 4} workers)`,
    table(['', ...runs.map((r) => `${r.options.sessions} sessions`)], rows),
  ];
  const b = runs.find((r) => r.baseline);
  if (b?.baseline) {
    const base = b.baseline;
    const full = b.options.expiring === b.options.sessions;
    out.push(
      `baseline: ${base.pods} of the same pods created directly (${b.options.createConcurrency} in flight) → all Running in ${base.allRunningSeconds} s, then deleted`,
      table(
        ['', 'browserfleet', 'pods directly', 'ratio'],
        [
          [
            'Running / s',
            b.runningPerSecond,
            base.runningPerSecond,
            ratio(b.runningPerSecond ?? Number.NaN, base.runningPerSecond),
          ],
          [
            `apiserver requests / session vs / pod, whole life${full ? '' : ' (sessions: not all ended)'}`,
            b.cluster.perSession,
            base.cluster.perSession,
            ratio(b.cluster.perSession, base.cluster.perSession),
          ],
        ],
      ),
    );
  }
  out.push(
    'The operator\'s own count excludes its 4 long-lived watches; "all clients" is apiserver_request_total over the run.',
    ...runs
      .filter((r) => r.expiredStarting > 0)
      .map(
        (r) =>
          `${r.options.sessions}: ${r.expiredStarting} sessions were still Starting when their timeout came, their pods ` +
          "Ready: the operator's queue served the admission backlog first.",
      ),
    ...runs.filter((r) => r.incomplete).map((r) => `INCOMPLETE (${r.options.sessions}): ${r.incomplete}`),
  );
  return out.join('\n');
}
