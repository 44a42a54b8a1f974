import type { V1Pod } from '@kubernetes/client-node';

/**
 * Pod status as the kubelet reports it, computed purely from the pod spec and what the node observed. The
 * result is a plain JSON object (times as RFC 3339 strings at second precision, as the API server stores them),
 * ready to be sent as a strategic merge patch of pods/status.
 */

export type TerminatedState = {
  kind: 'terminated';
  exitCode: number;
  signal?: number;
  reason: string;
  message?: string;
  startedAt?: Date;
  finishedAt: Date;
};

export type ContainerState =
  | { kind: 'waiting'; reason: string; message?: string }
  | { kind: 'running'; startedAt: Date }
  | TerminatedState;

export interface ContainerSnapshot {
  name: string;
  image: string;
  imageID: string;
  containerID?: string;
  state: ContainerState;
  lastState?: TerminatedState;
  restartCount: number;
  ready: boolean;
  started: boolean;
}

export interface PodSnapshot {
  podIP?: string;
  hostIP: string;
  startTime: Date;
  sandboxReady: boolean;
  /** A failure of the whole pod that no container state expresses: deadline, unpullable image, node shutdown. */
  failure?: { reason: string; message: string };
  initContainers: ContainerSnapshot[];
  containers: ContainerSnapshot[];
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

export function kubeTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function isRestartableInit(pod: V1Pod, name: string): boolean {
  return pod.spec?.initContainers?.find((c) => c.name === name)?.restartPolicy === 'Always';
}

function byName(list: ContainerSnapshot[], name: string): ContainerSnapshot | undefined {
  return list.find((c) => c.name === name);
}

/** The kubelet's getPhase, with localnode's pod-level failures (deadline, image, shutdown) taking precedence. */
function everRan(s: ContainerSnapshot | undefined): boolean {
  return s !== undefined && (s.state.kind !== 'waiting' || s.lastState !== undefined);
}

function anyAppStarted(pod: V1Pod, snap: PodSnapshot): boolean {
  return (pod.spec?.containers ?? []).some((c) => everRan(byName(snap.containers, c.name)));
}

/** Init containers still holding the pod back. Once any app container has run, initialization is over for good. */
function incompleteInit(pod: V1Pod, snap: PodSnapshot): string[] {
  if (anyAppStarted(pod, snap)) return [];
  return (pod.spec?.initContainers ?? [])
    .filter((spec) => {
      const s = byName(snap.initContainers, spec.name);
      if (spec.restartPolicy === 'Always') return !s?.started;
      return !(s?.state.kind === 'terminated' && s.state.exitCode === 0);
    })
    .map((c) => c.name);
}

/** The kubelet's getPhase, with localnode's pod-level failures (deadline, image, shutdown) taking precedence. */
export function podPhase(pod: V1Pod, snap: PodSnapshot): PodPhase {
  if (snap.failure) return 'Failed';
  const restartPolicy = pod.spec?.restartPolicy ?? 'Always';
  const pendingInit = incompleteInit(pod, snap);
  if (pendingInit.length > 0) {
    const failedInit = pendingInit.some((name) => {
      const s = byName(snap.initContainers, name);
      return !isRestartableInit(pod, name) && s?.state.kind === 'terminated' && s.state.exitCode !== 0;
    });
    return failedInit && restartPolicy === 'Never' ? 'Failed' : 'Pending';
  }
  let waiting = 0;
  let running = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const spec of pod.spec?.containers ?? []) {
    const s = byName(snap.containers, spec.name);
    const last =
      s?.state.kind === 'terminated' ? s.state : s?.state.kind === 'waiting' ? s.lastState : undefined;
    if (!s || (s.state.kind === 'waiting' && !last)) waiting++;
    else if (s.state.kind === 'running') running++;
    else if (last) {
      stopped++;
      if (last.exitCode === 0) succeeded++;
    }
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped === 0 || restartPolicy === 'Always') return 'Running';
  if (stopped === succeeded) return 'Succeeded';
  return restartPolicy === 'Never' ? 'Failed' : 'Running';
}

export function isTerminalPhase(phase: string | undefined): boolean {
  return phase === 'Succeeded' || phase === 'Failed';
}

interface Condition {
  type: string;
  status: 'True' | 'False';
  reason?: string | null;
  message?: string | null;
  lastProbeTime: null;
  lastTransitionTime: string;
}

function unreadyMessage(kind: string, names: string[]): string {
  return `containers with ${kind} status: [${names.join(' ')}]`;
}

function conditions(pod: V1Pod, snap: PodSnapshot, phase: PodPhase, now: Date): Condition[] {
  const terminal = isTerminalPhase(phase);
  const initSpecs = pod.spec?.initContainers ?? [];
  const notInitialized = incompleteInit(pod, snap);
  const readinessScope = [
    ...initSpecs.filter((c) => c.restartPolicy === 'Always').map((c) => byName(snap.initContainers, c.name)),
    ...(pod.spec?.containers ?? []).map((c) => byName(snap.containers, c.name)),
  ];
  const allNames = [
    ...initSpecs.filter((c) => c.restartPolicy === 'Always').map((c) => c.name),
    ...(pod.spec?.containers ?? []).map((c) => c.name),
  ];
  const unready = allNames.filter((_, i) => !readinessScope[i]?.ready);
  const gates = (pod.spec?.readinessGates ?? []).map((g) => g.conditionType);
  const failedGates = gates.filter(
    (g) => pod.status?.conditions?.find((c) => c.type === g)?.status !== 'True',
  );

  const make = (type: string, ok: boolean, reason?: string, message?: string): Condition => {
    const status = ok ? 'True' : 'False';
    const previous = pod.status?.conditions?.find((c) => c.type === type);
    const since =
      previous && previous.status === status && previous.lastTransitionTime
        ? kubeTime(new Date(previous.lastTransitionTime))
        : kubeTime(now);
    return {
      type,
      status,
      reason: reason ?? null,
      message: message ?? null,
      lastProbeTime: null,
      lastTransitionTime: since,
    };
  };

  const initialized =
    notInitialized.length === 0
      ? make('Initialized', true, terminal && initSpecs.length > 0 ? 'PodCompleted' : undefined)
      : make('Initialized', false, 'ContainersNotInitialized', unreadyMessage('incomplete', notInitialized));
  const containersReady = terminal
    ? make('ContainersReady', false, 'PodCompleted')
    : unready.length === 0
      ? make('ContainersReady', true)
      : make('ContainersReady', false, 'ContainersNotReady', unreadyMessage('unready', unready));
  const ready = terminal
    ? make('Ready', false, 'PodCompleted')
    : unready.length > 0
      ? make('Ready', false, 'ContainersNotReady', unreadyMessage('unready', unready))
      : failedGates.length > 0
        ? make(
            'Ready',
            false,
            'ReadinessGatesNotReady',
            `corresponding condition of pod readiness gate "${failedGates[0]}" does not exist or is not True`,
          )
        : make('Ready', true);
  return [
    make('PodReadyToStartContainers', snap.sandboxReady && !terminal),
    initialized,
    containersReady,
    ready,
  ];
}

function stateJson(s: ContainerState | undefined): Record<string, unknown> {
  if (!s) return { waiting: null, running: null, terminated: null };
  switch (s.kind) {
    case 'waiting':
      return { waiting: { reason: s.reason, message: s.message ?? null }, running: null, terminated: null };
    case 'running':
      return { waiting: null, running: { startedAt: kubeTime(s.startedAt) }, terminated: null };
    case 'terminated':
      return { waiting: null, running: null, terminated: terminatedJson(s) };
  }
}

function terminatedJson(s: TerminatedState): Record<string, unknown> {
  return {
    exitCode: s.exitCode,
    signal: s.signal ?? null,
    reason: s.reason,
    message: s.message ? s.message : null,
    startedAt: s.startedAt ? kubeTime(s.startedAt) : null,
    finishedAt: kubeTime(s.finishedAt),
    containerID: null,
  };
}

function containerStatusJson(c: ContainerSnapshot): Record<string, unknown> {
  return {
    name: c.name,
    image: c.image,
    imageID: c.imageID,
    containerID: c.containerID ?? null,
    ready: c.ready,
    started: c.started,
    restartCount: c.restartCount,
    state: stateJson(c.state),
    lastState: c.lastState ? { terminated: terminatedJson(c.lastState) } : {},
  };
}

export function computePodStatus(pod: V1Pod, snap: PodSnapshot, now: Date): Record<string, unknown> {
  const phase = podPhase(pod, snap);
  const inOrder = (names: string[], list: ContainerSnapshot[]) =>
    names.map((n) => byName(list, n)).filter((c): c is ContainerSnapshot => c !== undefined);
  const init = inOrder(
    (pod.spec?.initContainers ?? []).map((c) => c.name),
    snap.initContainers,
  );
  const app = inOrder(
    (pod.spec?.containers ?? []).map((c) => c.name),
    snap.containers,
  );
  return {
    phase,
    reason: snap.failure?.reason ?? null,
    message: snap.failure?.message ?? null,
    conditions: conditions(pod, snap, phase, now),
    hostIP: snap.hostIP,
    hostIPs: [{ ip: snap.hostIP }],
    podIP: snap.podIP ?? null,
    podIPs: snap.podIP ? [{ ip: snap.podIP }] : null,
    startTime: kubeTime(snap.startTime),
    ...(init.length > 0 ? { initContainerStatuses: init.map(containerStatusJson) } : {}),
    containerStatuses: app.map(containerStatusJson),
  };
}

/**
 * True when `current` already says everything `desired` says, so no patch is needed. `null` in desired means
 * "absent"; conditions are compared by type, since the API server keeps its own order.
 */
export function statusCovers(current: unknown, desired: unknown): boolean {
  if (desired === null || desired === undefined) return current === null || current === undefined;
  if (Array.isArray(desired)) {
    if (!Array.isArray(current)) return false;
    if (desired.length > 0 && desired.every((d) => isCondition(d))) {
      return desired.every((d) =>
        statusCovers(
          current.find((c) => isCondition(c) && c.type === d.type),
          d,
        ),
      );
    }
    if (current.length !== desired.length) return false;
    return desired.every((d, i) => statusCovers(current[i], d));
  }
  if (typeof desired === 'object') {
    if (typeof current !== 'object' || current === null) {
      return Object.values(desired).every((v) => v === null || v === undefined);
    }
    return Object.entries(desired).every(([k, v]) =>
      statusCovers((current as Record<string, unknown>)[k], v),
    );
  }
  if (current instanceof Date && typeof desired === 'string') return kubeTime(current) === desired;
  return current === desired;
}

function isCondition(x: unknown): x is { type: string } {
  return (
    typeof x === 'object' && x !== null && typeof (x as { type?: unknown }).type === 'string' && 'status' in x
  );
}
