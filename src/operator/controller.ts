import type { V1Pod, V1Service } from '@kubernetes/client-node';
import {
  API_VERSION,
  type BrowserProject,
  type BrowserSession,
  isAdmitted,
  isTerminal,
  LABEL_MANAGED_BY,
  MANAGED_BY,
  projectOf,
  sessionKey,
  splitKey,
} from '../api/index.js';
import { type Clock, systemClock } from '../shared/clock.js';
import { sessionToken } from '../shared/credentials.js';
import { isAlreadyExists, isNotFound, type KubeClient, paths } from '../shared/kube/client.js';
import { EventRecorder } from '../shared/kube/events.js';
import { Informer } from '../shared/kube/informer.js';
import { WorkQueue } from '../shared/kube/workqueue.js';
import type { Logger } from '../shared/log.js';
import { type AdmissionVerdict, compareArrival, decideAdmissions } from './admission.js';
import { childName, isControlledBy } from './children.js';
import type { OperatorConfig } from './config.js';
import { type ChildKind, childState, Expectations, type Pending } from './expectations.js';
import type { OperatorMetrics } from './metrics.js';
import { LIFECYCLE_FIELDS, type LifecycleStatus, type Plan, planSession } from './plan.js';
import { ProjectStatusController } from './project-status.js';

export const FIELD_MANAGER = 'browserfleet-operator';
/** How long a write may go unseen in the caches before the operator stops holding back for it. */
const EXPECTATION_TTL_MS = 10_000;

export interface ControllerDeps {
  client: KubeClient;
  config: OperatorConfig;
  metrics: OperatorMetrics;
  log: Logger;
  clock?: Clock;
}

/**
 * The BrowserSession controller: informers feed keys into a work queue; workers reconcile one key at a time
 * from the caches. Informers run on every replica (a warm standby takes over in moments); workers only
 * while this replica leads.
 */
export class SessionController {
  readonly sessions: Informer<BrowserSession>;
  readonly pods: Informer<V1Pod>;
  readonly services: Informer<V1Service>;
  readonly projects: Informer<BrowserProject>;
  readonly queue: WorkQueue;
  private readonly clock: Clock;
  private readonly recorder: EventRecorder;
  private readonly projectStatus: ProjectStatusController;
  /** Admissions written but not yet seen in the cache: uid -> project. Closes the double-admission window. */
  private readonly inflight = new Map<string, string>();
  /** Writes not yet seen in the caches, so that a reconcile woken by one of them does not repeat another. */
  private readonly expectations = new Expectations(EXPECTATION_TTL_MS);
  /** Session keys per project, so that admission looks at one project's sessions, not all of them. */
  private readonly byProject = new Map<string, Set<string>>();
  /** Per project, the verdicts of the last admission pass; dropped whenever one of its sessions changes. */
  private readonly verdicts = new Map<string, Map<string, AdmissionVerdict>>();
  private workersRunning = false;
  private resyncTimer: NodeJS.Timeout | undefined;
  private workerLoops: Promise<void>[] = [];

  constructor(private readonly deps: ControllerDeps) {
    const { client, config, metrics } = deps;
    this.clock = deps.clock ?? systemClock;
    this.queue = new WorkQueue({ clock: this.clock, baseDelayMs: 50, maxDelayMs: 60_000 });
    this.recorder = new EventRecorder(client, 'browserfleet-operator', config.identity, deps.log);
    const ns = config.watchNamespace || undefined;
    const restart = (resource: string) => (err: unknown, delayMs: number) => {
      metrics.informerRestarts.inc({ resource });
      deps.log.warn('watch restarting', { resource, delayMs, err });
    };
    const managed = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;
    this.sessions = new Informer(client, paths.sessions(ns), { onRestart: restart('browsersessions') });
    this.pods = new Informer(client, paths.pods(ns), { labelSelector: managed, onRestart: restart('pods') });
    this.services = new Informer(client, paths.services(ns), {
      labelSelector: managed,
      onRestart: restart('services'),
    });
    this.projects = new Informer(client, paths.projects(), { onRestart: restart('browserprojects') });
    this.projectStatus = new ProjectStatusController(client, this.sessions, this.projects, metrics, deps.log);

    this.sessions.onChange((s) => this.onSessionChange(s));
    const toOwner = (obj: V1Pod | V1Service) => {
      const owner = obj.metadata?.ownerReferences?.find((r) => r.controller && r.kind === 'BrowserSession');
      if (owner) this.queue.add(`${obj.metadata?.namespace}/${owner.name}`, { urgent: true });
    };
    this.pods.onChange(toOwner);
    this.services.onChange(toOwner);
    this.projects.onChange((p) => {
      this.verdicts.delete(p.metadata.name ?? '');
      for (const s of this.sessions.list())
        if (projectOf(s) === p.metadata.name) this.queue.add(sessionKey(s));
      this.projectStatus.enqueue(p.metadata.name ?? '');
    });
  }

  get synced(): boolean {
    return this.sessions.synced && this.pods.synced && this.services.synced && this.projects.synced;
  }

  /** Starts the caches; resolves when all are synced. */
  async startInformers(): Promise<void> {
    await Promise.all([
      this.sessions.start(),
      this.pods.start(),
      this.services.start(),
      this.projects.start(),
    ]);
  }

  /** Starts reconciling (when leading). Every session is queued once: timers are rebuilt from status. */
  startWorkers(): void {
    if (this.workersRunning) return;
    this.workersRunning = true;
    for (const s of this.sessions.list()) this.queue.add(sessionKey(s));
    for (let i = 0; i < this.deps.config.workers; i++) this.workerLoops.push(this.worker());
    this.projectStatus.start();
    const resync = () => {
      for (const s of this.sessions.list()) this.queue.add(sessionKey(s));
      this.resyncTimer = setTimeout(resync, this.deps.config.resyncSeconds * 1000);
    };
    this.resyncTimer = setTimeout(resync, this.deps.config.resyncSeconds * 1000);
  }

  async stop(): Promise<void> {
    clearTimeout(this.resyncTimer);
    this.queue.shutDown();
    await Promise.all(this.workerLoops);
    await this.projectStatus.stop();
    await Promise.all([this.sessions.stop(), this.pods.stop(), this.services.stop(), this.projects.stop()]);
  }

  private onSessionChange(s: BrowserSession): void {
    const key = sessionKey(s);
    const project = projectOf(s);
    const uid = s.metadata.uid ?? '';
    const gone = this.sessions.get(s.metadata.name ?? '', s.metadata.namespace) === undefined;
    let members = this.byProject.get(project);
    if (!members) {
      members = new Set();
      this.byProject.set(project, members);
    }
    if (gone) {
      members.delete(key);
      this.expectations.forget(key);
    } else members.add(key);
    if (this.inflight.has(uid) && (gone || isAdmitted(s) || isTerminal(s))) this.inflight.delete(uid);
    const waiting = !gone && !isAdmitted(s) && !isTerminal(s);
    // Live sessions first: a release or an expiry must not wait behind a backlog of new sessions.
    this.queue.add(key, { urgent: !waiting });
    this.projectStatus.enqueue(project);
    this.verdicts.delete(project);
    // A session that takes or frees a place can move those waiting behind it.
    if (!waiting) this.promoteWaiting(project);
  }

  /**
   * Order only matters when places are scarce: then the first waiting sessions (at most as many as there are
   * free places and workers) go to the urgent lane, the rest that may take a place are queued, and the queued
   * ones behind them get their new positions a moment later (coalesced). With room for everyone waiting,
   * nobody needs to move: each is queued once, in the normal lane.
   */
  private promoteWaiting(project: string): void {
    const members = this.membersOf(project);
    // Admissions written but not yet seen are taken places, not waiting sessions.
    const behind = members.filter(
      (o) => !isAdmitted(o) && !isTerminal(o) && !this.inflight.has(o.metadata.uid ?? ''),
    );
    let taken = 0;
    for (const o of members) if (isAdmitted(o) && !isTerminal(o)) taken++;
    for (const p of this.inflight.values()) if (p === project) taken++;
    const concurrency = this.projects.get(project)?.spec.concurrency ?? 0;
    const free = Math.max(0, concurrency - taken);
    if (free >= behind.length) {
      // A queued session may be idle in no queue at all; add() of one already queued is a set lookup.
      for (const other of behind) this.queue.add(sessionKey(other));
      return;
    }
    behind.sort(compareArrival);
    // Jumping the queue only makes admission prompt (verdicts come from the whole project, in arrival order),
    // so no more jump than the workers can take at once: the urgent lane is for live sessions' work.
    const jump = Math.min(free, this.deps.config.workers);
    for (const other of behind.slice(0, jump)) this.queue.add(sessionKey(other), { urgent: true });
    for (const other of behind.slice(jump, free)) this.queue.add(sessionKey(other));
    for (const other of behind.slice(free))
      if (other.status?.phase === 'Queued') this.queue.addAfter(sessionKey(other), 250);
  }

  private membersOf(project: string): BrowserSession[] {
    const out: BrowserSession[] = [];
    for (const key of this.byProject.get(project) ?? []) {
      const { namespace, name } = splitKey(key);
      const s = this.sessions.get(name, namespace);
      if (s) out.push(s);
    }
    return out;
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const end = this.deps.metrics.reconcileDuration.startTimer();
      try {
        const requeueAfterMs = await this.reconcile(key);
        this.queue.forget(key);
        // A session's own deadlines (expiry, the disconnect grace) are kept on time, whatever the backlog.
        if (requeueAfterMs !== undefined) this.queue.addAfter(key, requeueAfterMs, { urgent: true });
      } catch (err) {
        this.deps.metrics.reconcileErrors.inc();
        this.deps.log.warn('reconcile failed; retrying with backoff', {
          key,
          err,
          retries: this.queue.numRequeues(key),
        });
        this.queue.addRateLimited(key);
      } finally {
        end();
        this.queue.done(key);
        this.deps.metrics.queueDepth.set(this.queue.length);
      }
    }
  }

  /** One level-triggered pass for one session: observe from the caches, plan, execute. */
  async reconcile(key: string): Promise<number | undefined> {
    const { namespace, name } = splitKey(key);
    const session = this.sessions.get(name, namespace);
    if (!session) return undefined; // deleted: owner references let the garbage collector take the children
    const child = childName(name);
    const pod = this.pods.get(child, namespace);
    const service = this.services.get(child, namespace);
    const now = this.clock.now();
    const pending = this.expectations.pending(
      key,
      {
        sessionVersion: session.metadata.resourceVersion,
        pod: childState(pod),
        service: childState(service),
      },
      now,
    );
    // The cache has not caught up with this operator's own status write: its watch event will queue the key
    // again (the timer is only for a lost event).
    if (pending.staleSession) {
      this.queue.addAfter(key, EXPECTATION_TTL_MS, { urgent: true });
      return undefined;
    }
    const projectName = projectOf(session);
    const project = this.projects.get(projectName);
    const childConflict =
      pod && !isControlledBy(pod, session)
        ? 'Pod'
        : service && !isControlledBy(service, session)
          ? 'Service'
          : undefined;

    let admission: AdmissionVerdict | undefined;
    if (project && !isAdmitted(session) && !isTerminal(session)) {
      admission = this.admissionFor(project, session);
    }
    const plan = planSession(
      {
        session,
        pod: childConflict === 'Pod' ? undefined : pod,
        service: childConflict === 'Service' ? undefined : service,
        childConflict,
        project,
        admission,
        now,
      },
      {
        config: this.deps.config,
        token: sessionToken(this.deps.config.sessionKey, session.metadata.uid ?? ''),
      },
    );
    await this.execute(session, withoutPending(plan, pending), now);
    return plan.requeueAfterMs;
  }

  private admissionFor(project: BrowserProject, session: BrowserSession): AdmissionVerdict | undefined {
    const name = project.metadata.name ?? '';
    let verdicts = this.verdicts.get(name);
    if (!verdicts) {
      const members = this.membersOf(name);
      const inflight = new Set([...this.inflight].filter(([, p]) => p === name).map(([uid]) => uid));
      verdicts = decideAdmissions(project, members, inflight);
      this.verdicts.set(name, verdicts);
    }
    return verdicts.get(session.metadata.uid ?? '');
  }

  private async execute(session: BrowserSession, plan: Plan, now: number): Promise<void> {
    const { client, log } = this.deps;
    const ns = session.metadata.namespace ?? '';
    const name = session.metadata.name ?? '';
    const uid = session.metadata.uid ?? '';
    const before = session.status ?? {};
    const patch = statusPatch(before, plan.status);
    const admitting = before.startedAt === undefined && plan.status.startedAt !== undefined;
    if (patch) {
      // An admission is recorded before its pod exists, and only against the state it was decided on.
      if (admitting) this.inflight.set(uid, projectOf(session));
      try {
        await client.mergePatch(
          paths.sessionStatus(ns, name),
          {
            ...(plan.guardedWrite ? { metadata: { resourceVersion: session.metadata.resourceVersion } } : {}),
            status: patch,
          },
          FIELD_MANAGER,
        );
      } catch (err) {
        if (admitting) this.inflight.delete(uid);
        this.verdicts.delete(projectOf(session));
        throw err;
      }
    }
    const key = sessionKey(session);
    if (patch) this.expectations.wrote(key, { statusFrom: session.metadata.resourceVersion }, now);
    const create = async (kind: ChildKind, obj: V1Pod | V1Service | undefined, path: string) => {
      if (!obj) return;
      try {
        await client.create(path, obj, FIELD_MANAGER);
      } catch (err) {
        if (!isAlreadyExists(err)) throw err; // ours from an earlier pass; the cache just hadn't shown it
      }
      this.expectations.wrote(key, { created: [kind] }, now);
    };
    await Promise.all([
      create('Pod', plan.createPod, paths.pods(ns)),
      create('Service', plan.createService, paths.services(ns)),
    ]);
    const remove = async (kind: ChildKind, path: string) => {
      try {
        await client.delete(path);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      this.expectations.wrote(key, { deleted: [kind] }, now);
    };
    if (plan.deletePod) await remove('Pod', paths.pod(ns, childName(name)));
    if (plan.deleteService) await remove('Service', paths.service(ns, childName(name)));
    if (plan.deleteSession) {
      try {
        await client.delete(paths.session(ns, name), {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          preconditions: { uid },
        });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }

    const target = { apiVersion: API_VERSION, kind: 'BrowserSession', metadata: session.metadata };
    for (const e of plan.events) this.recorder.record(target, e.type, e.reason, e.message);
    if (patch) this.observeTransition(session, plan.status, now);
    if (plan.events.length > 0)
      log.info('session transition', {
        session: `${ns}/${name}`,
        phase: plan.status.phase,
        reasons: plan.events.map((e) => e.reason),
      });
  }

  private observeTransition(session: BrowserSession, after: LifecycleStatus, now: number): void {
    const { metrics } = this.deps;
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
}

/** The plan without the child writes that are already done but not yet seen in the caches. */
function withoutPending(plan: Plan, pending: Pending): Plan {
  return {
    ...plan,
    createPod: pending.created.has('Pod') ? undefined : plan.createPod,
    createService: pending.created.has('Service') ? undefined : plan.createService,
    deletePod: plan.deletePod && !pending.deleted.has('Pod'),
    deleteService: plan.deleteService && !pending.deleted.has('Service'),
  };
}

/** JSON with object keys sorted (and, as JSON has it, undefined members left out). */
function canonicalJson(value: unknown): string | undefined {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

/** A JSON merge patch of the lifecycle fields that differ; null removes a field. Undefined when equal. */
export function statusPatch(
  before: LifecycleStatus,
  after: LifecycleStatus,
): Record<string, unknown> | undefined {
  const patch: Record<string, unknown> = {};
  for (const f of LIFECYCLE_FIELDS) {
    const a = before[f];
    const b = after[f];
    // Key order is not a difference: the API server returns conditions with their keys sorted, and a patch
    // that changes nothing but order is a write that changes nothing (not even the resourceVersion).
    if (canonicalJson(a) === canonicalJson(b)) continue;
    patch[f] = b === undefined ? null : b;
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}
