import type { V1Node, V1Pod, V1Service } from '@kubernetes/client-node';
import {
  type BrowserProject,
  type BrowserSession,
  type BrowserSessionStatus,
  type Condition,
  DEFAULTS,
  type EndReason,
  isTerminal,
  projectOf,
  projectSpec,
  type SessionPhase,
  userMetadataSizeProblem,
} from '../api/index.js';
import type { AdmissionVerdict } from './admission.js';
import { podWaitsForFlush } from './artifact-plan.js';
import { childName, connectUrl, desiredPod, desiredService, WEBDRIVER_CONTAINER } from './children.js';
import type { OperatorConfig } from './config.js';

/** Everything reconcile observed about one session, read from the caches; `now` is an input, not a call. */
export interface Observed {
  session: BrowserSession;
  pod?: V1Pod | undefined;
  service?: V1Service | undefined;
  /** A Pod or Service of the child's name exists but is not controlled by this session. */
  childConflict?: 'Pod' | 'Service' | undefined;
  project?: BrowserProject | undefined;
  /** The quota's verdict, for a session that is not yet admitted. */
  admission?: AdmissionVerdict | undefined;
  /**
   * The API server refused to create a child for good (a ResourceQuota, Pod Security admission, an invalid
   * pod): it would refuse it again, since the spec it is built from does not change.
   */
  childRefused?: ChildRefusal | undefined;
  /** The node the pod is bound to, as the Node cache shows it: `node` undefined when no such Node exists. */
  podNode?: { name: string; node: V1Node | undefined } | undefined;
  now: number;
}

export interface ChildRefusal {
  kind: 'Pod' | 'Service';
  /** The HTTP status and reason of the refusal, e.g. 403 Forbidden. */
  code: number;
  reason: string;
  /** The API server's message, which names the quota or the policy. */
  message: string;
}

export interface PlanContext {
  config: OperatorConfig;
  token: string;
}

export interface SessionEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** The operator-owned part of the status; the connection facts belong to the report writer. */
export type LifecycleStatus = Pick<
  BrowserSessionStatus,
  | 'phase'
  | 'observedGeneration'
  | 'conditions'
  | 'podName'
  | 'serviceName'
  | 'podIP'
  | 'connectUrl'
  | 'timeoutSeconds'
  | 'queuePosition'
  | 'startedAt'
  | 'readyAt'
  | 'expiresAt'
  | 'endedAt'
  | 'endReason'
  | 'startupLatencyMs'
  | 'creationRevision'
>;

export const LIFECYCLE_FIELDS: readonly (keyof LifecycleStatus)[] = [
  'phase',
  'observedGeneration',
  'conditions',
  'podName',
  'serviceName',
  'podIP',
  'connectUrl',
  'timeoutSeconds',
  'queuePosition',
  'startedAt',
  'readyAt',
  'expiresAt',
  'endedAt',
  'endReason',
  'startupLatencyMs',
  'creationRevision',
];

export interface Plan {
  status: LifecycleStatus;
  createPod?: V1Pod;
  createService?: V1Service;
  deletePod?: boolean;
  /**
   * Delete the pod without waiting for its kubelet (grace period 0): its node is gone, so nothing will
   * ever confirm a graceful deletion.
   */
  forceDeletePod?: boolean;
  deleteService?: boolean;
  deleteSession?: boolean;
  /** The status write must not race another admission: send it with the observed resourceVersion. */
  guardedWrite?: boolean;
  events: SessionEvent[];
  requeueAfterMs?: number;
}

const STARTING_MESSAGE = 'waiting for the browser pod to become ready';

/**
 * The whole lifecycle as one pure function: from what is observed now to the status the session should have
 * and the actions that make the world match it. Called on every wake-up; repeating it changes nothing.
 */
export function planSession(o: Observed, ctx: PlanContext): Plan {
  const s = o.session;
  const st = s.status ?? {};
  const base: LifecycleStatus = pickLifecycle(st);
  base.observedGeneration = s.metadata.generation ?? 0;

  if (isTerminal(s)) return planFinished(o, base, ctx);

  if (o.childConflict) {
    return end(
      o,
      ctx,
      base,
      'Failed',
      'InvalidSpec',
      o.now,
      `a ${o.childConflict} named ${childName(s.metadata.name ?? '')} exists and is not owned by this session`,
    );
  }

  if (o.childRefused) {
    const { kind, code, reason, message } = o.childRefused;
    return end(
      o,
      ctx,
      base,
      'Failed',
      kind === 'Pod' ? 'PodRejected' : 'ServiceRejected',
      o.now,
      `the API server refused the browser ${kind.toLowerCase()} (${code}${reason ? ` ${reason}` : ''}): ${message}`,
    );
  }

  const invalid = validate(o);
  if (invalid) return end(o, ctx, base, 'Failed', invalid.reason, o.now, invalid.message);

  const timeoutSeconds =
    s.spec.timeout ?? o.project?.spec.defaultTimeout ?? DEFAULTS.BrowserProject.spec.defaultTimeout;
  const admitted = st.startedAt !== undefined;

  if (!admitted) {
    // Recorded once, so first-in first-out survives later writes that change the resourceVersion.
    base.creationRevision ??= s.metadata.resourceVersion;
    if (s.spec.release)
      return end(o, ctx, base, 'Completed', 'Released', o.now, 'released before it was admitted');
    const verdict = o.admission ?? { kind: 'queue', position: 0 };
    if (verdict.kind === 'reject')
      return end(o, ctx, base, 'Failed', 'QuotaExceeded', o.now, verdict.message);
    if (verdict.kind === 'queue') {
      const status: LifecycleStatus = {
        ...base,
        phase: 'Queued',
        timeoutSeconds,
        queuePosition: verdict.position,
        conditions: setCondition(
          base.conditions,
          s,
          o.now,
          'Admitted',
          'False',
          'Queued',
          verdict.message ?? `waiting for room in project ${projectOf(s)}`,
        ),
      };
      const events: SessionEvent[] =
        st.phase !== 'Queued'
          ? [
              {
                type: 'Normal',
                reason: 'Queued',
                message: `project ${projectOf(s)} is at its concurrency limit; queue position ${verdict.position}`,
              },
            ]
          : [];
      return { status, events, guardedWrite: true };
    }
    // Admitted now: the timeout counts from here, and the children come in the same pass.
    const startedAt = iso(o.now);
    const status: LifecycleStatus = {
      ...base,
      phase: 'Starting',
      timeoutSeconds,
      startedAt,
      expiresAt: iso(o.now + timeoutSeconds * 1000),
      podName: childName(s.metadata.name ?? ''),
      serviceName: childName(s.metadata.name ?? ''),
      queuePosition: undefined,
      // Ready=False is set in the same write as Admitted: a write of its own would be one more per session.
      conditions: setCondition(
        setCondition(base.conditions, s, o.now, 'Admitted', 'True', 'Admitted', 'the project had room'),
        s,
        o.now,
        'Ready',
        'False',
        'BrowserStarting',
        STARTING_MESSAGE,
      ),
    };
    return {
      status,
      guardedWrite: true,
      createPod: desiredPod({
        session: s,
        config: ctx.config,
        token: ctx.token,
        timeoutSeconds,
        downloadCapBytes: downloadCap(o),
      }),
      createService: desiredService(s),
      events: [{ type: 'Normal', reason: 'Admitted', message: `admitted; creating pod ${status.podName}` }],
      requeueAfterMs: timeoutSeconds * 1000,
    };
  }

  // Admitted and not ended: release, expiry, pod health, then the disconnect rules.
  const expiresAt = Date.parse(st.expiresAt ?? st.startedAt ?? iso(o.now));
  const everConnected = st.lastConnectedAt !== undefined;
  if (s.spec.release) return end(o, ctx, base, 'Completed', 'Released', o.now, 'released by request');
  if (o.now >= expiresAt) {
    // endedAt is when this pass ended it, not expiresAt: the difference is how late the expiry really was.
    // A client that connected counts even if its report came just before this pass: connections > 0 says
    // so as well as lastConnectedAt does.
    const connected = everConnected || (st.connections ?? 0) > 0;
    const timeout = st.timeoutSeconds ?? timeoutSeconds;
    return connected
      ? end(o, ctx, base, 'TimedOut', 'Expired', o.now, `timeout of ${timeout}s reached`)
      : end(
          o,
          ctx,
          base,
          'TimedOut',
          'NeverConnected',
          o.now,
          `no client connected within the timeout of ${timeout}s`,
        );
  }

  const pod = o.pod;
  const failure = pod ? podFailure(pod) : undefined;
  if (failure) return end(o, ctx, base, 'Failed', 'PodFailed', o.now, failure);
  const nodeLost = nodeLoss(o, ctx.config);
  if (nodeLost && o.now >= nodeLost.at)
    return end(o, ctx, base, 'Failed', 'NodeLost', o.now, nodeLost.message);
  if (pod?.metadata?.deletionTimestamp)
    return end(o, ctx, base, 'Failed', 'PodLost', o.now, 'the browser pod was deleted');
  if (!pod && st.readyAt !== undefined)
    return end(o, ctx, base, 'Failed', 'PodLost', o.now, 'the browser pod disappeared');

  const status: LifecycleStatus = { ...base };
  const events: SessionEvent[] = [];
  const plan: Plan = { status, events };
  if (!pod)
    plan.createPod = desiredPod({
      session: s,
      config: ctx.config,
      token: ctx.token,
      timeoutSeconds: st.timeoutSeconds ?? timeoutSeconds,
      downloadCapBytes: downloadCap(o),
    });
  if (!o.service) plan.createService = desiredService(s);

  const podIP = pod?.status?.podIP;
  if (podIP && status.podIP !== podIP) {
    status.podIP = podIP;
    status.connectUrl = connectUrl(s, ctx.config, podIP, ctx.token);
  }
  if (pod && (podReady(pod) || browserAnswers(pod, st)) && status.readyAt === undefined && podIP) {
    status.readyAt = iso(o.now);
    status.startupLatencyMs = Math.max(0, o.now - Date.parse(st.startedAt ?? iso(o.now)));
    status.phase = 'Running';
    status.conditions = setCondition(
      status.conditions,
      s,
      o.now,
      'Ready',
      'True',
      'BrowserReady',
      `browser ready at ${podIP}`,
    );
    events.push({
      type: 'Normal',
      reason: 'Running',
      message: `browser ready in ${status.startupLatencyMs} ms`,
    });
  } else if (status.readyAt === undefined) {
    status.phase = 'Starting';
    status.conditions = setCondition(
      status.conditions,
      s,
      o.now,
      'Ready',
      'False',
      'BrowserStarting',
      STARTING_MESSAGE,
    );
  }

  let wakeAt = expiresAt;
  if (nodeLost) wakeAt = Math.min(wakeAt, nodeLost.at);
  const idle = idleEnd(o, ctx.config);
  if (idle) {
    if (o.now >= idle.at) return end(o, ctx, base, 'Completed', 'Disconnected', idle.at, idle.message);
    wakeAt = Math.min(wakeAt, idle.at);
  }
  plan.requeueAfterMs = Math.max(1, wakeAt - o.now);
  return plan;
}

/**
 * When the session is lost with its pod's node, if it is: at once when the Node object is gone (the pod goes
 * with it), or once the node has not been Ready for the grace. A kubelet restart is shorter than the grace,
 * and its containers keep running, so the session survives it.
 */
export function nodeLoss(o: Observed, c: OperatorConfig): { at: number; message: string } | undefined {
  const bound = o.podNode;
  if (!bound || !o.pod) return undefined;
  if (!bound.node) return { at: o.now, message: `node ${bound.name} of the browser pod is gone` };
  const ready = (bound.node.status?.conditions ?? []).find((c) => c.type === 'Ready');
  if (ready?.status === 'True') return undefined;
  // Counted from the Ready condition's change; a node that has not posted one yet is not judged.
  const since = ready?.lastTransitionTime ? new Date(ready.lastTransitionTime).getTime() : Number.NaN;
  if (Number.isNaN(since)) return undefined;
  const grace = c.nodeLostGraceSeconds * 1000;
  const state = ready?.status === 'False' ? 'NotReady' : 'unreachable';
  return {
    at: since + grace,
    message: `node ${bound.name} of the browser pod has been ${state} for more than ${c.nodeLostGraceSeconds}s${ready?.reason ? ` (${ready.reason})` : ''}`,
  };
}

/** When an idle session ends under the disconnect rules, if it does. */
/**
 * The project's cap on a session's downloads, taken when its pod is made. Without the project in the cache
 * (deleted meanwhile), the default: a session never gets more room than it would have had.
 */
function downloadCap(o: Observed): number {
  return o.project?.spec.maxDownloadBytes ?? DEFAULTS.BrowserProject.spec.maxDownloadBytes;
}

function idleEnd(o: Observed, c: OperatorConfig): { at: number; message: string } | undefined {
  const st = o.session.status ?? {};
  if (st.lastConnectedAt === undefined || (st.connections ?? 0) > 0) return undefined;
  const lastActivity = Math.max(
    Date.parse(st.lastConnectedAt),
    Date.parse(st.lastDisconnectedAt ?? st.lastConnectedAt),
  );
  const keepAlive = o.session.spec.keepAlive === true || st.keepAliveRequested === true;
  if (!keepAlive) {
    return { at: lastActivity + c.disconnectGraceMs, message: 'the last CDP client disconnected' };
  }
  if (st.pages === 0) {
    // Hyperbrowser's documented rule: a kept-alive browser with no pages and no client has nothing to keep.
    return { at: lastActivity + c.disconnectGraceMs, message: 'all pages closed and no client connected' };
  }
  return undefined;
}

function validate(o: Observed): { reason: EndReason; message: string } | undefined {
  const s = o.session;
  const project = projectOf(s);
  if (!o.project) return { reason: 'ProjectNotFound', message: `BrowserProject ${project} does not exist` };
  if (o.project.spec.namespace !== s.metadata.namespace) {
    return {
      reason: 'InvalidSpec',
      message: `spec.project: project ${project} runs its sessions in namespace ${o.project.spec.namespace}, not ${s.metadata.namespace}`,
    };
  }
  const metadataProblem = userMetadataSizeProblem(s.spec.userMetadata);
  if (metadataProblem) return { reason: 'InvalidSpec', message: `spec.userMetadata: ${metadataProblem}` };
  const max = projectSpec(o.project).maxTimeout;
  if (s.spec.timeout !== undefined && s.spec.timeout > max) {
    return {
      reason: 'InvalidSpec',
      message: `spec.timeout: ${s.spec.timeout}s exceeds project ${project}'s maxTimeout of ${max}s`,
    };
  }
  return undefined;
}

function end(
  o: Observed,
  ctx: PlanContext,
  base: LifecycleStatus,
  phase: SessionPhase,
  reason: EndReason,
  endedAt: number,
  message: string,
): Plan {
  const s = o.session;
  let conditions = setCondition(base.conditions, s, o.now, 'Ended', 'True', reason, message);
  if (base.readyAt !== undefined)
    conditions = setCondition(conditions, s, o.now, 'Ready', 'False', 'Ended', message);
  const status: LifecycleStatus = {
    ...base,
    phase,
    endReason: reason,
    endedAt: iso(endedAt),
    queuePosition: undefined,
    conditions,
  };
  const plan = planFinished({ ...o, session: { ...s, status: { ...s.status, ...status } } }, status, ctx);
  // The end is decided on the observed status, so it is written only against that status: a connection
  // report that reached the API server after the cache was read (a client that connected just before the
  // expiry) makes the write conflict, and the next pass decides again with it.
  plan.guardedWrite = true;
  plan.events.unshift({
    type: phase === 'Failed' ? 'Warning' : 'Normal',
    reason,
    message: `session ended: ${message}`,
  });
  return plan;
}

/**
 * A finished session keeps its status but no children, and is deleted when its TTL runs out. With artifacts
 * kept, its pod first waits for the end's flush (ADR 0012), at most the flush timeout.
 */
function planFinished(o: Observed, status: LifecycleStatus, ctx: PlanContext): Plan {
  const plan: Plan = { status, events: [] };
  const ended = { ...o.session, status: { ...o.session.status, ...status } };
  const flushUntil = ctx.config.artifacts.enabled
    ? podWaitsForFlush(ended, o.pod, o.now, ctx.config.artifactCollector.flushTimeoutSeconds)
    : undefined;
  if (o.pod && !o.pod.metadata?.deletionTimestamp && flushUntil === undefined) plan.deletePod = true;
  // A pod on a node that is gone is never confirmed deleted by its kubelet: it would stay Terminating.
  if (o.pod && o.podNode && !o.podNode.node && o.pod.metadata?.deletionGracePeriodSeconds !== 0) {
    plan.deletePod = true;
    plan.forceDeletePod = true;
  }
  if (o.service && !o.service.metadata?.deletionTimestamp) plan.deleteService = true;
  const ttl =
    o.session.spec.ttlSecondsAfterFinished ??
    o.project?.spec.ttlSecondsAfterFinished ??
    DEFAULTS.BrowserProject.spec.ttlSecondsAfterFinished;
  const endedAt = Date.parse(status.endedAt ?? iso(o.now));
  // Counted from when the operator actually ended it: a late end (operator down) still gets its full TTL.
  const endedCondition = conditionTime(status.conditions, 'Ended');
  const deleteAt = Math.max(endedAt, endedCondition ? Date.parse(endedCondition) : endedAt) + ttl * 1000;
  if (o.now >= deleteAt) plan.deleteSession = true;
  else plan.requeueAfterMs = deleteAt - o.now;
  if (flushUntil !== undefined)
    plan.requeueAfterMs = Math.min(plan.requeueAfterMs ?? Number.POSITIVE_INFINITY, flushUntil - o.now);
  return plan;
}

export function podReady(pod: V1Pod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/**
 * The sidecar has reported that Chrome answers it, and the pod's containers all run (chromedriver aside: the
 * kubelet starts it last, while Chrome boots, and the sidecar waits for it on a new WebDriver session, so the
 * session's start does not wait on it; ADR 0014). That is what the pod's
 * readiness probe checks too, but the kubelet probes at most once a second, and the report arrives as soon as
 * Chrome listens: waiting for the probe was most of a session's start (bench/start-latency.ts). Requiring
 * running containers keeps a report from an earlier pod of the session from counting for a new one.
 */
export function browserAnswers(pod: V1Pod, st: { chromeReachable?: boolean }): boolean {
  if (st.chromeReachable !== true || pod.status?.phase !== 'Running') return false;
  const statuses = (pod.status.containerStatuses ?? []).filter((c) => c.name !== WEBDRIVER_CONTAINER);
  const wanted = (pod.spec?.containers ?? []).filter((c) => c.name !== WEBDRIVER_CONTAINER);
  return statuses.length === wanted.length && statuses.every((c) => c.state?.running !== undefined);
}

/** Why the pod can no longer serve the session, if it can't. */
export function podFailure(pod: V1Pod): string | undefined {
  const phase = pod.status?.phase;
  for (const cs of pod.status?.containerStatuses ?? []) {
    // chromedriver serves Selenium only: without it (a custom browser image lacking it, a crash) the sidecar
    // answers WebDriver commands with an error that says so, and CDP clients keep their browser (ADR 0014).
    if (cs.name === WEBDRIVER_CONTAINER) continue;
    const t = cs.state?.terminated;
    if (t) {
      const what = cs.name === 'chrome' ? 'Chrome exited' : `container ${cs.name} exited`;
      return `${what} with code ${t.exitCode}${t.reason ? ` (${t.reason})` : ''}${t.message ? `: ${t.message.trim()}` : ''}`;
    }
    const w = cs.state?.waiting;
    if (
      w &&
      [
        'ErrImagePull',
        'ImagePullBackOff',
        'InvalidImageName',
        'CreateContainerConfigError',
        'CreateContainerError',
      ].includes(w.reason ?? '')
    ) {
      return `container ${cs.name} cannot start: ${w.reason}${w.message ? `: ${w.message}` : ''}`;
    }
  }
  if (phase === 'Failed' || phase === 'Succeeded') {
    return `pod ${phase.toLowerCase()}${pod.status?.reason ? ` (${pod.status.reason})` : ''}${pod.status?.message ? `: ${pod.status.message}` : ''}`;
  }
  return undefined;
}

function pickLifecycle(st: BrowserSessionStatus): LifecycleStatus {
  const out: LifecycleStatus = {};
  for (const f of LIFECYCLE_FIELDS) if (st[f] !== undefined) (out as Record<string, unknown>)[f] = st[f];
  return out;
}

export function setCondition(
  conditions: Condition[] | undefined,
  s: BrowserSession,
  now: number,
  type: string,
  status: Condition['status'],
  reason: string,
  message: string,
): Condition[] {
  const list = (conditions ?? []).filter((c) => c.type !== type);
  const prev = (conditions ?? []).find((c) => c.type === type);
  const lastTransitionTime = prev && prev.status === status ? prev.lastTransitionTime : iso(now);
  list.push({
    type,
    status,
    reason,
    message,
    observedGeneration: s.metadata.generation ?? 0,
    lastTransitionTime,
  });
  return list.sort((a, b) => a.type.localeCompare(b.type));
}

function conditionTime(conditions: Condition[] | undefined, type: string): string | undefined {
  return conditions?.find((c) => c.type === type)?.lastTransitionTime;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
