import type { V1Node, V1Pod, V1Service } from '@kubernetes/client-node';
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
import { createS3ArtifactStore } from '../shared/artifacts/s3-store.js';
import type { ArtifactStore } from '../shared/artifacts/store.js';
import { type Clock, systemClock } from '../shared/clock.js';
import { sessionToken } from '../shared/credentials.js';
import { classifyError, isAlreadyExists, isNotFound, type KubeClient, paths } from '../shared/kube/client.js';
import { EventRecorder } from '../shared/kube/events.js';
import { Informer } from '../shared/kube/informer.js';
import { runReconciler } from '../shared/kube/reconciler.js';
import { WorkQueue } from '../shared/kube/workqueue.js';
import type { Logger } from '../shared/log.js';
import type { AdmissionVerdict } from './admission.js';
import { AdmissionLedger } from './admission-ledger.js';
import { ArtifactCollector } from './artifact-collector.js';
import { childName, isControlledBy } from './children.js';
import type { OperatorConfig } from './config.js';
import { EndedConnectionFacts } from './connection-facts.js';
import { type ChildKind, childState, Expectations, type Pending } from './expectations.js';
import { type OperatorMetrics, observeTransition } from './metrics.js';
import { type ChildRefusal, type Observed, type Plan, planSession } from './plan.js';
import { ProjectStatusController } from './project-status.js';
import { statusPatch } from './status-patch.js';

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
  readonly nodes: Informer<V1Node>;
  readonly queue: WorkQueue;
  private readonly clock: Clock;
  private readonly recorder: EventRecorder;
  private readonly projectStatus: ProjectStatusController;
  private readonly endedFacts: EndedConnectionFacts;
  /** With artifacts kept (config.artifacts.enabled): the store and the collector that copies into it. */
  private readonly artifactStore: ArtifactStore | undefined;
  private readonly collector: ArtifactCollector | undefined;
  /** Writes not yet seen in the caches, so that a reconcile woken by one of them does not repeat another. */
  private readonly expectations = new Expectations(EXPECTATION_TTL_MS);
  private readonly ledger: AdmissionLedger;
  /** Each Node's Ready status as last seen, so that only a change wakes the sessions on it. */
  private readonly nodeStates = new Map<string, string>();
  private resyncTimer: NodeJS.Timeout | undefined;
  private workers: Promise<void> | undefined;

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
    this.nodes = new Informer(client, paths.nodes(), { onRestart: restart('nodes') });
    this.projectStatus = new ProjectStatusController(client, this.sessions, this.projects, metrics, deps.log);
    this.endedFacts = new EndedConnectionFacts(client, this.sessions, deps.log);
    if (config.artifacts.enabled) {
      this.artifactStore = createS3ArtifactStore(config.artifacts.s3);
      this.collector = new ArtifactCollector({
        client,
        sessions: this.sessions,
        pods: this.pods,
        projects: this.projects,
        store: this.artifactStore,
        sessionKey: config.sessionKey,
        flushTimeoutSeconds: config.artifactCollector.flushTimeoutSeconds,
        concurrency: config.artifactCollector.concurrency,
        retentionSweepSeconds: config.artifactCollector.retentionSweepSeconds,
        clock: this.clock,
        log: deps.log,
      });
    }
    this.ledger = new AdmissionLedger({
      session: (key) => {
        const { namespace, name } = splitKey(key);
        return this.sessions.get(name, namespace);
      },
      concurrency: (project) => this.projects.get(project)?.spec.concurrency ?? 0,
      queue: this.queue,
      workers: config.workers,
    });

    this.sessions.onChange((s) => this.onSessionChange(s));
    const toOwner = (obj: V1Pod | V1Service) => {
      const owner = obj.metadata?.ownerReferences?.find((r) => r.controller && r.kind === 'BrowserSession');
      if (owner) this.queue.add(`${obj.metadata?.namespace}/${owner.name}`, { urgent: true });
    };
    this.pods.onChange(toOwner);
    // A node that goes NotReady, Ready again or away concerns the sessions whose pods it runs; its
    // heartbeats (a status write every few seconds per node) do not, and would wake every one of them.
    this.nodes.onChange((node) => {
      const name = node.metadata?.name ?? '';
      const state = this.nodes.get(name) ? readyState(node) : undefined;
      if (state !== undefined && this.nodeStates.get(name) === state) return;
      if (state === undefined) this.nodeStates.delete(name);
      else this.nodeStates.set(name, state);
      for (const pod of this.pods.list()) if (pod.spec?.nodeName === name) toOwner(pod);
    });
    this.services.onChange(toOwner);
    this.projects.onChange((p) => {
      this.ledger.projectChanged(p.metadata.name ?? '');
      for (const s of this.sessions.list())
        if (projectOf(s) === p.metadata.name) this.queue.add(sessionKey(s));
      this.projectStatus.enqueue(p.metadata.name ?? '');
    });
  }

  get synced(): boolean {
    return (
      this.sessions.synced &&
      this.pods.synced &&
      this.services.synced &&
      this.projects.synced &&
      this.nodes.synced
    );
  }

  /** Starts the caches; resolves when all are synced. */
  async startInformers(): Promise<void> {
    await Promise.all([
      this.sessions.start(),
      this.pods.start(),
      this.services.start(),
      this.projects.start(),
      this.nodes.start(),
    ]);
  }

  /** Starts reconciling (when leading). Every session is queued once: timers are rebuilt from status. */
  startWorkers(): void {
    if (this.workers) return;
    for (const s of this.sessions.list()) this.queue.add(sessionKey(s));
    const { metrics } = this.deps;
    this.workers = runReconciler({
      name: 'browsersessions',
      queue: this.queue,
      reconcile: (key) => this.reconcile(key),
      workers: this.deps.config.workers,
      log: this.deps.log,
      instrument: () => {
        const end = metrics.reconcileDuration.startTimer();
        return (outcome) => {
          end();
          if (outcome !== 'done') metrics.reconcileErrors.inc({ class: outcome });
          metrics.queueDepth.set(this.queue.length);
        };
      },
    });
    this.projectStatus.start();
    this.endedFacts.start();
    this.collector?.start();
    const resync = () => {
      for (const s of this.sessions.list()) this.queue.add(sessionKey(s));
      this.resyncTimer = setTimeout(resync, this.deps.config.resyncSeconds * 1000);
    };
    this.resyncTimer = setTimeout(resync, this.deps.config.resyncSeconds * 1000);
  }

  async stop(): Promise<void> {
    clearTimeout(this.resyncTimer);
    this.queue.shutDown();
    await this.workers;
    await this.projectStatus.stop();
    await this.endedFacts.stop();
    await this.collector?.stop();
    this.artifactStore?.close();
    await Promise.all([
      this.sessions.stop(),
      this.pods.stop(),
      this.services.stop(),
      this.projects.stop(),
      this.nodes.stop(),
    ]);
  }

  private onSessionChange(s: BrowserSession): void {
    const key = sessionKey(s);
    const project = projectOf(s);
    const gone = this.sessions.get(s.metadata.name ?? '', s.metadata.namespace) === undefined;
    if (gone) this.expectations.forget(key);
    const { waiting } = this.ledger.observe(s, gone);
    // Live sessions first: a release or an expiry must not wait behind a backlog of new sessions.
    this.queue.add(key, { urgent: !waiting });
    this.projectStatus.enqueue(project);
    // A session that takes or frees a place can move those waiting behind it.
    if (!waiting) this.ledger.promoteWaiting(project);
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
    if (pending.staleSession) return EXPECTATION_TTL_MS;
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
      admission = this.ledger.verdictFor(project, session);
    }
    const nodeName = childConflict === 'Pod' ? undefined : pod?.spec?.nodeName;
    const observed: Observed = {
      session,
      podNode: nodeName ? { name: nodeName, node: this.nodes.get(nodeName) } : undefined,
      pod: childConflict === 'Pod' ? undefined : pod,
      service: childConflict === 'Service' ? undefined : service,
      childConflict,
      project,
      admission,
      now,
    };
    const ctx = {
      config: this.deps.config,
      token: sessionToken(this.deps.config.sessionKey, session.metadata.uid ?? ''),
    };
    const plan = planSession(observed, ctx);
    const done = await this.execute(session, withoutPending(plan, pending), now);
    if (!done.refused) return this.remaining(plan.requeueAfterMs, now);
    // The API server refused a child for good: that is observed state like any other, and the session ends
    // on it in this same pass, so that the user sees why at once. Nothing of it is kept in memory: after a
    // restart the create is tried again and refused again, since the spec it is built from is immutable.
    const ending = planSession({ ...observed, session: done.session, childRefused: done.refused }, ctx);
    await this.execute(done.session, ending, now);
    return this.remaining(ending.requeueAfterMs, now);
  }

  /**
   * A plan's wake-up counts from the `now` it was planned at; the queue counts from when the pass returns.
   * A pass that waited on the API server (a pod create while the node is busy) would otherwise push an
   * expiry back by as long as it took.
   */
  private remaining(requeueAfterMs: number | undefined, plannedAt: number): number | undefined {
    if (requeueAfterMs === undefined) return undefined;
    return Math.max(0, requeueAfterMs - (this.clock.now() - plannedAt));
  }

  /**
   * Carries out a plan: the status first (an admission is recorded before its pod exists), then its Events,
   * then the children. Returns the session as written, and the child the API server refused for good, if
   * one was: the caller ends the session on it.
   */
  private async execute(
    session: BrowserSession,
    plan: Plan,
    now: number,
  ): Promise<{ session: BrowserSession; refused?: ChildRefusal }> {
    const { client, log } = this.deps;
    const ns = session.metadata.namespace ?? '';
    const name = session.metadata.name ?? '';
    const uid = session.metadata.uid ?? '';
    const key = sessionKey(session);
    const before = session.status ?? {};
    const patch = statusPatch(before, plan.status);
    const admitting = before.startedAt === undefined && plan.status.startedAt !== undefined;
    let written = session;
    if (patch) {
      // An admission is recorded before its pod exists, and only against the state it was decided on.
      if (admitting) this.ledger.admitting(session);
      try {
        written = await client.mergePatch<BrowserSession>(
          paths.sessionStatus(ns, name),
          {
            ...(plan.guardedWrite ? { metadata: { resourceVersion: session.metadata.resourceVersion } } : {}),
            status: patch,
          },
          FIELD_MANAGER,
        );
      } catch (err) {
        this.ledger.statusWriteFailed(session, admitting);
        throw err;
      }
      this.expectations.wrote(key, { statusFrom: session.metadata.resourceVersion }, now);
      observeTransition(this.deps.metrics, session, plan.status, now);
    }
    // The Events tell of the status just written, so a child write that fails below does not lose them.
    const target = { apiVersion: API_VERSION, kind: 'BrowserSession', metadata: written.metadata };
    for (const e of plan.events) this.recorder.record(target, e.type, e.reason, e.message);
    if (plan.events.length > 0)
      log.info('session transition', {
        session: `${ns}/${name}`,
        phase: plan.status.phase,
        reasons: plan.events.map((e) => e.reason),
      });

    const create = async (kind: ChildKind, obj: V1Pod | V1Service | undefined, path: string) => {
      if (!obj) return undefined;
      try {
        await client.create(path, obj, FIELD_MANAGER);
      } catch (err) {
        const cls = classifyError(err);
        if (cls.kind === 'refused') return { kind, code: cls.code, reason: cls.reason, message: cls.message };
        if (!isAlreadyExists(err)) throw err; // ours from an earlier pass; the cache just hadn't shown it
      }
      this.expectations.wrote(key, { created: [kind] }, now);
      return undefined;
    };
    const [pod, service] = await Promise.all([
      create('Pod', plan.createPod, paths.pods(ns)),
      create('Service', plan.createService, paths.services(ns)),
    ]);
    const refused = pod ?? service;
    if (refused) {
      log.warn('the API server refused a child of the session', {
        session: key,
        kind: refused.kind,
        code: refused.code,
        message: refused.message,
      });
      return { session: written, refused };
    }

    const remove = async (kind: ChildKind, path: string, force = false) => {
      try {
        await client.delete(
          path,
          force ? { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 } : undefined,
        );
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      this.expectations.wrote(key, { deleted: [kind] }, now);
    };
    if (plan.deletePod) await remove('Pod', paths.pod(ns, childName(name)), plan.forceDeletePod);
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
    return { session: written };
  }
}

function readyState(node: V1Node): string {
  return node.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'None';
}

/** The plan without the child writes that are already done but not yet seen in the caches. */
function withoutPending(plan: Plan, pending: Pending): Plan {
  return {
    ...plan,
    createPod: pending.created.has('Pod') ? undefined : plan.createPod,
    createService: pending.created.has('Service') ? undefined : plan.createService,
    // A force delete is not held back by an earlier graceful one: that one waits on a node that is gone.
    deletePod: plan.deletePod && (plan.forceDeletePod === true || !pending.deleted.has('Pod')),
    deleteService: plan.deleteService && !pending.deleted.has('Service'),
  };
}
