import type { V1ContainerState, V1ContainerStatus } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { BrowserSession } from '../api/index.js';
import { iso, pod, project, running, session, T0, testConfig } from '../testing/fixtures.js';
import { type Observed, planSession } from './plan.js';
import { statusPatch } from './status-patch.js';

const ctx = { config: testConfig, token: 'tok' };
const plan = (o: Partial<Observed> & { session: BrowserSession }) =>
  planSession({ project: project(), now: T0, ...o }, ctx);

describe('planSession: admission', () => {
  it('admits a new session when its project has room: Starting, timer from now, children created', () => {
    const p = plan({ session: session({}, { timeout: 60 }), admission: { kind: 'admit' } });
    expect(p.status.phase).toBe('Starting');
    expect(p.status.startedAt).toBe(iso(T0));
    expect(p.status.expiresAt).toBe(iso(T0 + 60_000));
    expect(p.createPod?.metadata?.name).toMatch(/^browser-s\d+$/);
    expect(p.createService?.spec?.ports?.[0]?.port).toBe(9223);
    expect(p.guardedWrite).toBe(true);
    expect(p.requeueAfterMs).toBe(60_000);
    expect(p.events.map((e) => e.reason)).toEqual(['Admitted']);
  });

  it('takes the timeout from the project when the session sets none', () => {
    const p = plan({
      session: session(),
      project: project({ defaultTimeout: 42 }),
      admission: { kind: 'admit' },
    });
    expect(p.status.timeoutSeconds).toBe(42);
    expect(p.status.expiresAt).toBe(iso(T0 + 42_000));
  });

  it('queues with a position when the project is full, and creates nothing', () => {
    const p = plan({ session: session(), admission: { kind: 'queue', position: 3 } });
    expect(p.status.phase).toBe('Queued');
    expect(p.status.queuePosition).toBe(3);
    expect(p.status.startedAt).toBeUndefined();
    expect(p.createPod).toBeUndefined();
    expect(p.status.creationRevision).toBeDefined();
  });

  it.each([
    ['project missing', { project: undefined }, 'ProjectNotFound'],
    [
      'metadata over 512 characters',
      { session: session({}, { userMetadata: { k: 'x'.repeat(600) } }) },
      'InvalidSpec',
    ],
    ['timeout over the project maximum', { session: session({}, { timeout: 7200 }) }, 'InvalidSpec'],
    ['namespace not the project one', { session: session({}, {}, { namespace: 'other' }) }, 'InvalidSpec'],
    ['quota and queue full', { admission: { kind: 'reject' as const, message: 'full' } }, 'QuotaExceeded'],
  ])('fails without creating anything when %s', (_name, over, reason) => {
    const p = planSession(
      { session: session(), project: project(), now: T0, admission: { kind: 'admit' }, ...over },
      ctx,
    );
    expect(p.status.phase).toBe('Failed');
    expect(p.status.endReason).toBe(reason);
    expect(p.createPod).toBeUndefined();
    expect(p.events[0]?.type).toBe('Warning');
  });

  it('names the field in the message of an invalid spec', () => {
    const p = plan({ session: session({}, { userMetadata: { k: 'x'.repeat(600) } }) });
    expect(p.status.conditions?.find((c) => c.type === 'Ended')?.message).toMatch(/^spec\.userMetadata: /);
  });

  it('ends a queued session that is released, freeing its place', () => {
    const p = plan({ session: session({ phase: 'Queued', queuePosition: 2 }, { release: true }) });
    expect(p.status.phase).toBe('Completed');
    expect(p.status.endReason).toBe('Released');
    expect(p.status.queuePosition).toBeUndefined();
  });
});

describe('planSession: running lifecycle', () => {
  const starting = {
    phase: 'Starting' as const,
    startedAt: iso(T0),
    expiresAt: iso(T0 + 300_000),
    timeoutSeconds: 300,
  };

  it('recreates a missing pod while starting (already-exists is handled by the executor)', () => {
    const p = plan({ session: session(starting), now: T0 + 10 });
    expect(p.createPod).toBeDefined();
    expect(p.status.phase).toBe('Starting');
  });

  it('goes Running when the pod is ready, with readyAt, latency and the connect URL', () => {
    const p = plan({
      session: session(starting),
      pod: pod({ ready: true, ip: '10.244.0.7' }),
      now: T0 + 1500,
    });
    expect(p.status.phase).toBe('Running');
    expect(p.status.readyAt).toBe(iso(T0 + 1500));
    expect(p.status.startupLatencyMs).toBe(1500);
    expect(p.status.connectUrl).toBe('ws://10.244.0.7:9223/devtools/browser?token=tok');
    expect(p.requeueAfterMs).toBe(300_000 - 1500);
  });

  it('stays Starting while the pod is not ready', () => {
    const p = plan({
      session: session(starting),
      pod: pod({ ready: false, ip: '10.244.0.7' }),
      now: T0 + 500,
    });
    expect(p.status.phase).toBe('Starting');
    expect(p.status.readyAt).toBeUndefined();
  });

  // The pod as the node shows it before its readiness probe has passed: both containers of the spec, in `state`.
  const unready = (sidecar: 'running' | 'waiting') => {
    const p = pod({ ready: false, ip: '10.244.0.7' });
    p.spec = { containers: [{ name: 'chrome' }, { name: 'sidecar' }] };
    p.status?.containerStatuses?.push({
      name: 'sidecar',
      image: 'browserfleet/browserfleet:dev',
      imageID: '',
      ready: false,
      restartCount: 0,
      state: sidecar === 'running' ? { running: { startedAt: new Date(T0) } } : { waiting: {} },
    });
    return p;
  };

  it('goes Running when the sidecar reports that Chrome answers, before the readiness probe passes', () => {
    const p = plan({
      session: session({ ...starting, chromeReachable: true }),
      pod: unready('running'),
      now: T0 + 400,
    });
    expect(p.status.phase).toBe('Running');
    expect(p.status.readyAt).toBe(iso(T0 + 400));
    expect(p.status.connectUrl).toBe('ws://10.244.0.7:9223/devtools/browser?token=tok');
  });

  /** The webdriver container's status in a given state (ADR 0014). */
  const chromedriverStatus = (state: V1ContainerState): V1ContainerStatus => ({
    name: 'webdriver',
    image: 'browserfleet/chrome:dev',
    imageID: '',
    ready: false,
    restartCount: 0,
    state,
  });

  it('does not wait for chromedriver: Running with the webdriver container still starting (ADR 0014)', () => {
    const p = unready('running');
    p.spec?.containers.push({ name: 'webdriver' });
    p.status?.containerStatuses?.push(chromedriverStatus({ waiting: { reason: 'ContainerCreating' } }));
    const planned = plan({ session: session({ ...starting, chromeReachable: true }), pod: p, now: T0 + 400 });
    expect(planned.status.phase).toBe('Running');
  });

  it('keeps the session when only chromedriver exited: CDP clients keep their browser', () => {
    const p = pod({ ready: true, ip: '10.244.0.2' });
    p.status?.containerStatuses?.push(
      chromedriverStatus({ terminated: { exitCode: 137, reason: 'OOMKilled' } }),
    );
    const planned = plan({ session: session(running()), pod: p, now: T0 + 5000 });
    expect(planned.status.phase).toBe('Running');
    expect(planned.deletePod).toBeFalsy();
  });

  it('does not take that report while a container of the pod is not running (it may be an earlier pod’s)', () => {
    const p = plan({
      session: session({ ...starting, chromeReachable: true }),
      pod: unready('waiting'),
      now: T0 + 400,
    });
    expect(p.status.phase).toBe('Starting');
  });

  it.each([
    ['nobody ever connected', {}, 'NeverConnected'],
    ['a client had connected', { lastConnectedAt: iso(T0 + 2000), connections: 1 }, 'Expired'],
    // The count alone is enough: a client is connected, whatever else the report said.
    ['a client is connected', { connections: 1 }, 'Expired'],
  ])(
    'times out at expiresAt when %s, endedAt = the pass that ended it, children deleted',
    (_n, extra, reason) => {
      const p = plan({
        session: session(running(300, extra)),
        pod: pod({ ready: true, ip: '10.244.0.2' }),
        service: {},
        now: T0 + 300_050,
      });
      expect(p.status.phase).toBe('TimedOut');
      expect(p.status.endReason).toBe(reason);
      // Not expiresAt (T0 + 300 s): the 50 ms between are how late the expiry was, and the status shows it.
      expect(p.status.endedAt).toBe(iso(T0 + 300_050));
      expect(p.guardedWrite).toBe(true);
      expect(p.deletePod).toBe(true);
      expect(p.deleteService).toBe(true);
    },
  );

  it('ends on release as Completed/Released', () => {
    const p = plan({
      session: session(running(), { release: true }),
      pod: pod({ ready: true, ip: '10.244.0.2' }),
      now: T0 + 5000,
    });
    expect(p.status).toMatchObject({ phase: 'Completed', endReason: 'Released', endedAt: iso(T0 + 5000) });
    expect(p.deletePod).toBe(true);
  });

  it('fails when Chrome exits, saying so', () => {
    const p = plan({
      session: session(running()),
      pod: pod({ ready: false, chromeExit: 139 }),
      now: T0 + 5000,
    });
    expect(p.status).toMatchObject({ phase: 'Failed', endReason: 'PodFailed' });
    expect(p.events[0]?.message).toContain('Chrome exited with code 139');
  });

  it.each([
    ['disappears', undefined],
    ['is being deleted by someone else', pod({ ready: true, deleting: true })],
  ])('fails as PodLost when a running pod %s', (_n, observedPod) => {
    const p = plan({ session: session(running()), pod: observedPod, now: T0 + 5000 });
    expect(p.status).toMatchObject({ phase: 'Failed', endReason: 'PodLost' });
  });
});

describe('planSession: a child the API server refused', () => {
  const quota =
    'pods "browser-s1" is forbidden: exceeded quota: no-pods, requested: pods=1, used: pods=0, limited: pods=0';
  const starting = {
    phase: 'Starting' as const,
    startedAt: iso(T0),
    expiresAt: iso(T0 + 300_000),
    timeoutSeconds: 300,
    podName: 'browser-s1',
  };
  const service = { metadata: { name: 'browser-s1' } };

  it.each([
    [
      'a Pod refused by a ResourceQuota (403)',
      'Pod',
      403,
      'Forbidden',
      quota,
      'PodRejected',
      '(403 Forbidden)',
    ],
    [
      'a Pod refused as invalid (422)',
      'Pod',
      422,
      'Invalid',
      'Pod "browser-s1" is invalid: spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit',
      'PodRejected',
      '(422 Invalid)',
    ],
    [
      'a Service refused by a ResourceQuota (403)',
      'Service',
      403,
      'Forbidden',
      'services "browser-s1" is forbidden: exceeded quota',
      'ServiceRejected',
      '(403 Forbidden)',
    ],
  ] as const)(
    "ends the session Failed when %s, with the API server's message, at once",
    (_name, kind, code, reason, message, endReason, status) => {
      const p = plan({
        session: session(starting),
        service: service as never,
        childRefused: { kind, code, reason, message },
        now: T0 + 40,
      });
      expect(p.status.phase).toBe('Failed');
      expect(p.status.endReason).toBe(endReason);
      expect(p.status.endedAt).toBe(iso(T0 + 40));
      const ended = p.status.conditions?.find((c) => c.type === 'Ended');
      expect(ended?.reason).toBe(endReason);
      expect(ended?.message).toBe(
        `the API server refused the browser ${kind.toLowerCase()} ${status}: ${message}`,
      );
      expect(p.events[0]).toEqual({
        type: 'Warning',
        reason: endReason,
        message: `session ended: ${ended?.message}`,
      });
      // Nothing is created again, and what was created is removed; the session is kept for its TTL.
      expect(p.createPod).toBeUndefined();
      expect(p.createService).toBeUndefined();
      expect(p.deleteService).toBe(true);
      expect(p.requeueAfterMs).toBe(3600_000);
    },
  );

  it('ends a session whose pod was refused in the pass that admitted it', () => {
    const admitting = plan({ session: session({}, { timeout: 60 }), admission: { kind: 'admit' } });
    const written = session(admitting.status, { timeout: 60 });
    const p = plan({
      session: written,
      childRefused: { kind: 'Pod', code: 403, reason: 'Forbidden', message: quota },
    });
    expect(p.status.phase).toBe('Failed');
    expect(p.status.endReason).toBe('PodRejected');
    expect(p.status.startedAt).toBe(iso(T0));
  });

  it('leaves a session that already ended as it is', () => {
    const ended = session({ ...starting, phase: 'Completed', endReason: 'Released', endedAt: iso(T0) });
    const p = plan({
      session: ended,
      childRefused: { kind: 'Pod', code: 403, reason: 'Forbidden', message: quota },
      now: T0 + 5,
    });
    expect(p.status.endReason).toBe('Released');
    expect(p.events).toEqual([]);
  });
});

describe('planSession: disconnect rules', () => {
  const connectedThenLeft = {
    lastConnectedAt: iso(T0 + 2000),
    lastDisconnectedAt: iso(T0 + 4000),
    connections: 0,
    pages: 1,
  };
  const live = pod({ ready: true, ip: '10.244.0.2' });

  it('waits out the grace after the last disconnect, then ends as Disconnected at disconnect + grace', () => {
    const within = plan({
      session: session(running(300, connectedThenLeft)),
      pod: live,
      service: {},
      now: T0 + 4500,
    });
    expect(within.status.phase).toBe('Running');
    expect(within.requeueAfterMs).toBe(500);
    const after = plan({
      session: session(running(300, connectedThenLeft)),
      pod: live,
      service: {},
      now: T0 + 5000,
    });
    expect(after.status).toMatchObject({
      phase: 'Completed',
      endReason: 'Disconnected',
      endedAt: iso(T0 + 5000),
    });
  });

  it('ends with the right endedAt when the operator only looks long after the disconnect', () => {
    const p = plan({ session: session(running(300, connectedThenLeft)), pod: live, now: T0 + 60_000 });
    expect(p.status).toMatchObject({ endReason: 'Disconnected', endedAt: iso(T0 + 5000) });
  });

  it('does not end while a client is connected', () => {
    const p = plan({
      session: session(running(300, { ...connectedThenLeft, connections: 1 })),
      pod: live,
      now: T0 + 60_000,
    });
    expect(p.status.phase).toBe('Running');
  });

  it.each([
    ['spec.keepAlive', { keepAlive: true }, {}],
    ['a keep-alive connection', {}, { keepAliveRequested: true }],
  ])('keeps a session alive across disconnects with %s', (_n, spec, status) => {
    const p = plan({
      session: session(running(300, { ...connectedThenLeft, ...status }), spec),
      pod: live,
      now: T0 + 60_000,
    });
    expect(p.status.phase).toBe('Running');
    expect(p.requeueAfterMs).toBe(240_000);
  });

  it('ends a kept-alive session when all its pages are closed and nobody is connected', () => {
    const p = plan({
      session: session(running(300, { ...connectedThenLeft, pages: 0 }), { keepAlive: true }),
      pod: live,
      now: T0 + 60_000,
    });
    expect(p.status).toMatchObject({ phase: 'Completed', endReason: 'Disconnected' });
  });
});

describe('planSession: finished sessions', () => {
  const ended = {
    ...running(),
    phase: 'Completed' as const,
    endReason: 'Released' as const,
    endedAt: iso(T0 + 10_000),
  };

  it('keeps deleting leftover children and the final status', () => {
    const p = plan({ session: session(ended), pod: pod({ ready: true }), service: {}, now: T0 + 20_000 });
    expect(p.deletePod).toBe(true);
    expect(p.deleteService).toBe(true);
    expect(p.status.phase).toBe('Completed');
    expect(p.events).toEqual([]);
  });

  it('deletes the session when its TTL after finishing runs out, and waits until then', () => {
    const s = session(ended, { ttlSecondsAfterFinished: 60 });
    expect(plan({ session: s, now: T0 + 30_000 }).requeueAfterMs).toBe(40_000);
    expect(plan({ session: s, now: T0 + 70_000 }).deleteSession).toBe(true);
  });
});

describe('planSession is idempotent', () => {
  it.each([
    ['admission', { admission: { kind: 'admit' as const } }, T0],
    ['ready', { pod: pod({ ready: true, ip: '10.244.0.9' }) }, T0 + 2000],
  ])('a second pass over its own result (%s) changes no status', (_n, over, now) => {
    const s = session({
      phase: 'Starting',
      startedAt: iso(T0),
      expiresAt: iso(T0 + 300_000),
      timeoutSeconds: 300,
      creationRevision: '1',
    });
    const first = plan({ session: s, service: {}, ...over, now });
    const again = plan({
      session: { ...s, status: { ...s.status, ...first.status } },
      service: {},
      ...over,
      now: now + 10,
    });
    expect(statusPatch(first.status, again.status)).toBeUndefined();
  });
});

describe('statusPatch', () => {
  const condition = {
    type: 'Ready',
    status: 'True' as const,
    reason: 'BrowserReady',
    message: 'browser ready',
    lastTransitionTime: '2026-01-01T00:00:00.000Z',
  };
  // As the API server returns it: the same condition with its keys sorted.
  const fromServer = Object.fromEntries(Object.entries(condition).sort(([a], [b]) => (a < b ? -1 : 1)));

  it('sees no change in key order (a patch of it would write nothing)', () => {
    expect(
      statusPatch({ conditions: [fromServer as typeof condition] }, { conditions: [condition] }),
    ).toBeUndefined();
  });

  it('patches what differs, and nulls what is gone', () => {
    expect(
      statusPatch(
        { phase: 'Starting', podIP: '10.0.0.1', conditions: [condition] },
        { phase: 'Running', conditions: [{ ...condition, status: 'False' }] },
      ),
    ).toEqual({ phase: 'Running', podIP: null, conditions: [{ ...condition, status: 'False' }] });
  });
});

describe('planSession: the node of the pod', () => {
  const GRACE_S = 40;
  const config = { ...testConfig, nodeLostGraceSeconds: GRACE_S };
  const node = (ready: 'True' | 'False' | 'Unknown', sinceMs: number, reason = 'NodeStatusUnknown') => ({
    metadata: { name: 'node-a' },
    status: {
      conditions: [{ type: 'Ready', status: ready, reason, lastTransitionTime: new Date(T0 + sinceMs) }],
    },
  });
  const onNode = (n: ReturnType<typeof node> | undefined, now: number, status = running(300)) =>
    planSession(
      {
        project: project(),
        session: session(status),
        pod: pod({ ready: true, ip: '10.244.0.2' }),
        service: {},
        podNode: { name: 'node-a', node: n },
        now,
      },
      { config, token: 'tok' },
    );

  it.each([
    ['Ready', node('True', 0), 10_000, undefined],
    // A kubelet restart: NotReady for a few seconds, its containers still running.
    ['NotReady for less than the grace', node('False', 5000, 'KubeletNotReady'), 5000 + 39_999, undefined],
    ['unreachable for less than the grace', node('Unknown', 5000), 5000 + 20_000, undefined],
    [
      'NotReady for the grace',
      node('False', 5000, 'KubeletNotReady'),
      5000 + 40_000,
      'node node-a of the browser pod has been NotReady for more than 40s (KubeletNotReady)',
    ],
    [
      'unreachable past the grace',
      node('Unknown', 5000),
      5000 + 90_000,
      'node node-a of the browser pod has been unreachable for more than 40s (NodeStatusUnknown)',
    ],
    ['gone', undefined, 10_000, 'node node-a of the browser pod is gone'],
  ])('with the node %s: ends NodeLost = %s', (_n, n, now, message) => {
    const p = onNode(n, T0 + now);
    if (message === undefined) {
      expect(p.status.phase).toBe('Running');
      expect(p.deletePod).toBeUndefined();
      return;
    }
    expect(p.status).toMatchObject({ phase: 'Failed', endReason: 'NodeLost', endedAt: iso(T0 + now) });
    expect(p.status.conditions?.find((c) => c.type === 'Ended')?.message).toBe(message);
    expect(p.events[0]).toMatchObject({ type: 'Warning', reason: 'NodeLost' });
    expect(p.deletePod).toBe(true);
    // Only a pod whose node is gone is deleted without its kubelet; one NotReady may still come back.
    expect(p.forceDeletePod === true).toBe(n === undefined);
  });

  it('wakes at the end of the grace of a NotReady node, before the expiry', () => {
    const p = onNode(node('False', 5000), T0 + 6000);
    expect(p.requeueAfterMs).toBe(5000 + 40_000 - 6000);
  });

  it('lets the expiry win over a lost node: the session had its time', () => {
    const p = onNode(undefined, T0 + 300_000);
    expect(p.status).toMatchObject({ phase: 'TimedOut', endReason: 'NeverConnected' });
    expect(p.forceDeletePod).toBe(true);
  });

  it('force-deletes the pod of an ended session whose node is gone, even while it is being deleted', () => {
    const ended = {
      ...running(300),
      phase: 'Failed' as const,
      endReason: 'NodeLost' as const,
      endedAt: iso(T0),
    };
    const terminating = pod({ ready: true, deleting: true });
    const p = planSession(
      {
        project: project(),
        session: session(ended),
        pod: terminating,
        podNode: { name: 'node-a', node: undefined },
        now: T0 + 1000,
      },
      { config, token: 'tok' },
    );
    expect(p).toMatchObject({ deletePod: true, forceDeletePod: true });
  });
});
