import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  type ContainerSnapshot,
  type ContainerState,
  computePodStatus,
  kubeTime,
  type PodSnapshot,
  podPhase,
  statusCovers,
} from './pod-status.js';

const t0 = new Date('2026-01-01T00:00:00.000Z');
const t1 = new Date('2026-01-01T00:00:05.250Z');
const now = new Date('2026-01-01T00:01:00.900Z');

const running: ContainerState = { kind: 'running', startedAt: t0 };
const exited = (exitCode: number): ContainerState => ({
  kind: 'terminated',
  exitCode,
  reason: exitCode === 0 ? 'Completed' : 'Error',
  startedAt: t0,
  finishedAt: t1,
});
const waiting: ContainerState = { kind: 'waiting', reason: 'ContainerCreating' };

function c(name: string, state: ContainerState, extra: Partial<ContainerSnapshot> = {}): ContainerSnapshot {
  return {
    name,
    image: 'localnode/shell',
    imageID: 'localnode:///bin/sh',
    state,
    restartCount: 0,
    ready: state.kind === 'running',
    started: state.kind === 'running',
    ...extra,
  };
}

function pod(
  restartPolicy: string,
  names: string[],
  init: { name: string; restartPolicy?: string }[] = [],
): V1Pod {
  return {
    metadata: { name: 'p', namespace: 'ns', uid: 'u' },
    spec: {
      restartPolicy,
      containers: names.map((name) => ({ name, image: 'localnode/shell' })),
      initContainers: init.map((i) => ({ ...i, image: 'localnode/shell' })),
    },
  };
}

function snap(containers: ContainerSnapshot[], initContainers: ContainerSnapshot[] = []): PodSnapshot {
  return {
    podIP: '10.244.0.9',
    hostIP: '10.244.0.1',
    startTime: t0,
    sandboxReady: true,
    containers,
    initContainers,
  };
}

describe('podPhase', () => {
  it.each([
    ['Never', [waiting, running], 'Pending'],
    ['Never', [running, running], 'Running'],
    ['Never', [running, exited(1)], 'Running'],
    ['Never', [exited(0), exited(0)], 'Succeeded'],
    ['Never', [exited(0), exited(2)], 'Failed'],
    ['OnFailure', [exited(0), exited(2)], 'Running'],
    ['OnFailure', [exited(0), exited(0)], 'Succeeded'],
    ['Always', [exited(0), exited(0)], 'Running'],
    ['Always', [exited(1)], 'Running'],
  ] as const)('restartPolicy %s, containers %j → %s', (policy, states, phase) => {
    const names = states.map((_, i) => `c${i}`);
    expect(podPhase(pod(policy, names), snap(states.map((s, i) => c(names[i] as string, s))))).toBe(phase);
  });

  it('counts a container in back-off by its last exit, not as pending', () => {
    const backoff = c(
      'a',
      { kind: 'waiting', reason: 'CrashLoopBackOff' },
      { lastState: exited(1) as never },
    );
    expect(podPhase(pod('Always', ['a']), snap([backoff]))).toBe('Running');
  });

  it('is Pending while init containers run, Failed when one fails under Never', () => {
    const p = pod('Never', ['app'], [{ name: 'init' }]);
    expect(podPhase(p, snap([c('app', waiting)], [c('init', running)]))).toBe('Pending');
    expect(podPhase(p, snap([c('app', waiting)], [c('init', exited(1))]))).toBe('Failed');
    expect(
      podPhase(
        pod('OnFailure', ['app'], [{ name: 'init' }]),
        snap([c('app', waiting)], [c('init', exited(1))]),
      ),
    ).toBe('Pending');
    expect(podPhase(p, snap([c('app', running)], [c('init', exited(0))]))).toBe('Running');
  });

  it('waits for a sidecar to start, and ignores it once the app containers ran', () => {
    const p = pod('Never', ['app'], [{ name: 'side', restartPolicy: 'Always' }]);
    expect(podPhase(p, snap([c('app', waiting)], [c('side', running, { started: false })]))).toBe('Pending');
    expect(podPhase(p, snap([c('app', running)], [c('side', running)]))).toBe('Running');
    expect(podPhase(p, snap([c('app', exited(0))], [c('side', exited(143))]))).toBe('Succeeded');
  });

  it('lets a pod-level failure win', () => {
    const s = { ...snap([c('a', running)]), failure: { reason: 'DeadlineExceeded', message: 'too long' } };
    expect(podPhase(pod('Always', ['a']), s)).toBe('Failed');
  });
});

describe('computePodStatus', () => {
  it('reports a running, ready pod as the kubelet does', () => {
    const p = pod('Never', ['a']);
    const status = computePodStatus(p, snap([c('a', running)]), now);
    expect(status).toMatchObject({
      phase: 'Running',
      podIP: '10.244.0.9',
      podIPs: [{ ip: '10.244.0.9' }],
      hostIP: '10.244.0.1',
      startTime: '2026-01-01T00:00:00Z',
      containerStatuses: [
        {
          name: 'a',
          ready: true,
          started: true,
          restartCount: 0,
          state: { running: { startedAt: '2026-01-01T00:00:00Z' }, waiting: null, terminated: null },
        },
      ],
    });
    const cond = Object.fromEntries(
      (status['conditions'] as { type: string; status: string }[]).map((x) => [x.type, x.status]),
    );
    expect(cond).toEqual({
      PodReadyToStartContainers: 'True',
      Initialized: 'True',
      ContainersReady: 'True',
      Ready: 'True',
    });
  });

  it('names unready containers and keeps the transition time of unchanged conditions', () => {
    const p = pod('Never', ['a', 'b']);
    p.status = {
      conditions: [
        { type: 'Ready', status: 'False', lastTransitionTime: new Date('2025-12-31T23:59:00Z') },
        { type: 'Initialized', status: 'True', lastTransitionTime: '2025-12-31T23:58:00Z' as never },
      ],
    };
    const status = computePodStatus(p, snap([c('a', running), c('b', running, { ready: false })]), now);
    const ready = (status['conditions'] as Record<string, unknown>[]).find((x) => x['type'] === 'Ready');
    expect(ready).toMatchObject({
      status: 'False',
      reason: 'ContainersNotReady',
      message: 'containers with unready status: [b]',
      lastTransitionTime: '2025-12-31T23:59:00Z',
    });
    const init = (status['conditions'] as Record<string, unknown>[]).find((x) => x['type'] === 'Initialized');
    expect(init?.['lastTransitionTime']).toBe('2025-12-31T23:58:00Z');
  });

  it('reports exit codes and termination messages, and a finished pod as not ready with PodCompleted', () => {
    const p = pod('Never', ['a']);
    const done = c('a', { ...exited(3), message: 'bye' } as ContainerState);
    const status = computePodStatus(p, snap([done]), now);
    expect(status['phase']).toBe('Failed');
    expect(status['containerStatuses']).toMatchObject([
      {
        ready: false,
        state: {
          terminated: {
            exitCode: 3,
            reason: 'Error',
            message: 'bye',
            startedAt: '2026-01-01T00:00:00Z',
            finishedAt: '2026-01-01T00:00:05Z',
          },
          running: null,
        },
      },
    ]);
    const ready = (status['conditions'] as Record<string, unknown>[]).find((x) => x['type'] === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'PodCompleted' });
  });

  it('reports a pod-level failure with its reason', () => {
    const s = { ...snap([c('a', { kind: 'waiting', reason: 'ErrImagePull', message: 'no such image' })]) };
    s.failure = { reason: 'ErrImagePull', message: 'image "x" is not available' };
    const status = computePodStatus(pod('Always', ['a']), s, now);
    expect(status).toMatchObject({
      phase: 'Failed',
      reason: 'ErrImagePull',
      message: 'image "x" is not available',
      containerStatuses: [{ state: { waiting: { reason: 'ErrImagePull', message: 'no such image' } } }],
    });
  });

  it('honours readiness gates', () => {
    const p = pod('Always', ['a']);
    p.spec = {
      ...p.spec,
      containers: p.spec?.containers ?? [],
      readinessGates: [{ conditionType: 'example.com/ok' }],
    };
    const notYet = computePodStatus(p, snap([c('a', running)]), now);
    expect(
      (notYet['conditions'] as Record<string, unknown>[]).find((x) => x['type'] === 'Ready'),
    ).toMatchObject({
      status: 'False',
      reason: 'ReadinessGatesNotReady',
    });
    p.status = { conditions: [{ type: 'example.com/ok', status: 'True' }] };
    const ok = computePodStatus(p, snap([c('a', running)]), now);
    expect((ok['conditions'] as Record<string, unknown>[]).find((x) => x['type'] === 'Ready')).toMatchObject({
      status: 'True',
    });
  });
});

describe('statusCovers', () => {
  it('treats null as absent, compares conditions by type and dates at second precision', () => {
    const desired = {
      phase: 'Running',
      reason: null,
      conditions: [{ type: 'Ready', status: 'True' }],
      startTime: kubeTime(t0),
      containerStatuses: [{ name: 'a', state: { running: { startedAt: kubeTime(t0) }, terminated: null } }],
    };
    const current = {
      phase: 'Running',
      startTime: new Date('2026-01-01T00:00:00Z'),
      conditions: [
        { type: 'PodScheduled', status: 'True' },
        { type: 'Ready', status: 'True' },
      ],
      containerStatuses: [{ name: 'a', state: { running: { startedAt: '2026-01-01T00:00:00Z' } } }],
    };
    expect(statusCovers(current, desired)).toBe(true);
    expect(statusCovers({ ...current, phase: 'Pending' }, desired)).toBe(false);
    expect(statusCovers({ ...current, reason: 'X' }, desired)).toBe(false);
    expect(statusCovers({ ...current, conditions: [{ type: 'Ready', status: 'False' }] }, desired)).toBe(
      false,
    );
    expect(statusCovers({ ...current, containerStatuses: [] }, desired)).toBe(false);
    expect(statusCovers(undefined, desired)).toBe(false);
  });
});
