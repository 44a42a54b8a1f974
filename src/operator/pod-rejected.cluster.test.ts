import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserSession } from '../api/index.js';
import { type KubeClient, paths } from '../shared/kube/client.js';
import { projectFixture, testClient, testKubeconfig, uniqueName } from '../testing/cluster.js';
import { waitFor } from '../testing/wait.js';
import { loadConfig, type OperatorConfig } from './config.js';
import { type Operator, startOperator } from './operator.js';

// A pod the API server refuses for good (a ResourceQuota that allows no pods, an invalid resource value) ends
// its session Failed with reason PodRejected and the API server's message, at once instead of at its timeout
// as NeverConnected.

const QUOTA = 'no-pods';
/** Long enough that a session ending by its timeout could never pass for one ended by the refusal. */
const SESSION_TIMEOUT = 600;

let client: KubeClient;
type Fixture = Awaited<ReturnType<typeof projectFixture>>;
/** A project whose namespace has a ResourceQuota that allows no pods. */
let fixture: Fixture;
const cleanups: (() => Promise<void>)[] = [];
const operators: Operator[] = [];

async function operator(f: Fixture = fixture, overrides: Partial<OperatorConfig> = {}): Promise<Operator> {
  const c = loadConfig({
    BF_SESSION_KEY: 'rejected-test-key-0123456789abcdef',
    BF_NAMESPACE: f.namespace,
    BF_WATCH_NAMESPACE: f.namespace,
  });
  const op = await startOperator(
    {
      ...c,
      metricsListen: '127.0.0.1:0',
      reportListen: '127.0.0.1:0',
      nodeSelector: { 'browserfleet.dev/test': 'no-such-node' },
      leaderElection: { ...c.leaderElection, enabled: false },
      ...overrides,
    },
    testKubeconfig(),
  );
  operators.push(op);
  return op;
}

async function createSession(f: Fixture = fixture): Promise<string> {
  const name = uniqueName('r');
  await client.create(paths.sessions(f.namespace), {
    apiVersion: 'browserfleet.dev/v1alpha1',
    kind: 'BrowserSession',
    metadata: { name, namespace: f.namespace },
    spec: { project: f.project, timeout: SESSION_TIMEOUT },
  });
  return name;
}

async function waitEnded(name: string, f: Fixture = fixture): Promise<BrowserSession> {
  return waitFor(
    `session ${name} ended`,
    async () => {
      const s = await client.get<BrowserSession>(paths.session(f.namespace, name));
      return s.status?.endReason ? s : undefined;
    },
    30_000,
  );
}

interface CoreEvent {
  type: string;
  reason: string;
  message: string;
}

async function eventsOf(name: string): Promise<CoreEvent[]> {
  const list = await client.get<{ items: CoreEvent[] }>(paths.events(fixture.namespace), {
    fieldSelector: `involvedObject.kind=BrowserSession,involvedObject.name=${name}`,
  });
  return list.items;
}

async function metric(op: Operator, line: string): Promise<string | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${op.metricsPort}/metrics`)).text();
  return text.split('\n').find((l) => l.startsWith(line));
}

beforeAll(async () => {
  client = await testClient();
  // One place: a refused session that kept it would leave the next one queued.
  fixture = await projectFixture(client, { concurrency: 1, maxQueued: 5 }, 'rej');
  cleanups.push(fixture.cleanup);
  await client.create(`/api/v1/namespaces/${fixture.namespace}/resourcequotas`, {
    apiVersion: 'v1',
    kind: 'ResourceQuota',
    metadata: { name: QUOTA, namespace: fixture.namespace },
    spec: { hard: { pods: '0' } },
  });
  // The quota admits nothing either way; once the quota controller has counted, its message says why.
  await waitFor('quota counted', async () => {
    const q = await client.get<{ status?: { hard?: Record<string, string> } }>(
      `/api/v1/namespaces/${fixture.namespace}/resourcequotas/${QUOTA}`,
    );
    return q.status?.hard?.['pods'] === '0';
  });
});

afterEach(async () => {
  for (const op of operators.splice(0)) await op.stop();
});

afterAll(async () => {
  for (const c of cleanups) await c();
  client.close();
});

describe('a pod the API server refuses', () => {
  it('ends its session Failed/PodRejected at once, with the quota message in status and in a Warning Event, and frees its place', async () => {
    const op = await operator();
    const t = Date.now();
    const first = await createSession();
    const ended = await waitEnded(first);
    console.log(`session ended ${Date.now() - t} ms after its create (timeout ${SESSION_TIMEOUT}s)`);

    expect(ended.status?.phase).toBe('Failed');
    expect(ended.status?.endReason).toBe('PodRejected');
    const condition = ended.status?.conditions?.find((c) => c.type === 'Ended');
    expect(condition?.reason).toBe('PodRejected');
    expect(condition?.message).toMatch(/^the API server refused the browser pod \(403 Forbidden\): /);
    expect(condition?.message).toContain(`exceeded quota: ${QUOTA}`);

    const warning = await waitFor('a PodRejected Warning Event', async () =>
      (await eventsOf(first)).find((e) => e.type === 'Warning' && e.reason === 'PodRejected'),
    );
    expect(warning.message).toContain(`exceeded quota: ${QUOTA}`);
    // The admission that came before the refusal is told too.
    await waitFor('an Admitted Event', async () =>
      (await eventsOf(first)).some((e) => e.reason === 'Admitted'),
    );

    // The failed session holds no place: the next one is admitted (and refused in turn), not queued.
    const second = await createSession();
    expect((await waitEnded(second)).status?.endReason).toBe('PodRejected');
    await waitFor(
      'the ends counted',
      async () =>
        (await metric(op, 'browserfleet_sessions_ended_total{reason="PodRejected"} 2')) !== undefined,
    );
  });

  it('ends a session admitted before an operator restart once the new operator finds its pod refused', async () => {
    // As an operator that crashed right after admitting it would have left it: Starting, and no pod.
    const name = await createSession();
    const now = new Date();
    await client.mergePatch(`${paths.session(fixture.namespace, name)}/status`, {
      status: {
        phase: 'Starting',
        startedAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + SESSION_TIMEOUT * 1000).toISOString(),
        timeoutSeconds: SESSION_TIMEOUT,
        conditions: [
          {
            type: 'Admitted',
            status: 'True',
            reason: 'Admitted',
            message: 'the project had room',
            lastTransitionTime: now.toISOString(),
          },
        ],
      },
    });
    await operator();
    const ended = await waitEnded(name);
    expect(ended.status?.endReason).toBe('PodRejected');
    // Ended as the admitted session it was, not admitted a second time.
    expect(Date.parse(ended.status?.startedAt ?? '')).toBe(now.getTime());
  });

  it('ends a session Failed/PodRejected when the pod is invalid (422), naming the field', async () => {
    const f = await projectFixture(client, { concurrency: 1, maxQueued: 5 }, 'rej');
    cleanups.push(f.cleanup);
    const base = loadConfig({ BF_SESSION_KEY: 'rejected-test-key-0123456789abcdef' });
    // Requests above limits: the config takes it, the API server's pod validation does not.
    await operator(f, {
      chrome: { ...base.chrome, resources: { requests: { cpu: '2' }, limits: { cpu: '1' } } },
    });
    const name = await createSession(f);
    const ended = await waitEnded(name, f);
    expect(ended.status?.endReason).toBe('PodRejected');
    const message = ended.status?.conditions?.find((c) => c.type === 'Ended')?.message ?? '';
    expect(message).toMatch(/^the API server refused the browser pod \(422 Invalid\): /);
    expect(message).toContain('spec.containers[0].resources.requests');
  });
});
