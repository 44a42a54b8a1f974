import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserSession } from '../api/index.js';
import { systemClock } from '../shared/clock.js';
import { sessionToken } from '../shared/credentials.js';
import { isConflict, type KubeClient, paths } from '../shared/kube/client.js';
import { createLogger } from '../shared/log.js';
import { projectFixture, testClient, testKubeconfig, uniqueName } from '../testing/cluster.js';
import { markPodReady } from '../testing/pod-status.js';
import { waitFor } from '../testing/wait.js';
import { childName } from './children.js';
import { loadConfig, type OperatorConfig } from './config.js';
import { connectionFactsApply, REPORT_FIELD_MANAGER } from './connection-facts.js';
import { SessionController } from './controller.js';
import { createOperatorMetrics } from './metrics.js';
import { type Operator, startOperator } from './operator.js';

// How a session's end meets its connection facts: the facts of an ended session, and a connection reported
// just before the expiry. Against the real control plane; the test plays the kubelet and the sidecar.

const KEY = 'integration-test-key-0123456789';
let client: KubeClient;
let fixture: Awaited<ReturnType<typeof projectFixture>>;
const stops: (() => Promise<void>)[] = [];

function operatorConfig(): OperatorConfig {
  const c = loadConfig({
    BF_SESSION_KEY: KEY,
    BF_NAMESPACE: fixture.namespace,
    BF_WATCH_NAMESPACE: fixture.namespace,
  });
  return {
    ...c,
    metricsListen: '127.0.0.1:0',
    reportListen: '127.0.0.1:0',
    nodeSelector: { 'browserfleet.dev/test': 'no-such-node' },
    leaderElection: { ...c.leaderElection, enabled: false },
  };
}

async function operator(): Promise<Operator> {
  const op = await startOperator(operatorConfig(), testKubeconfig());
  stops.push(() => op.stop());
  return op;
}

async function createSession(spec: Record<string, unknown>): Promise<BrowserSession> {
  return client.create<BrowserSession>(paths.sessions(fixture.namespace), {
    apiVersion: 'browserfleet.dev/v1alpha1',
    kind: 'BrowserSession',
    metadata: { name: uniqueName('s'), namespace: fixture.namespace },
    spec: { project: fixture.project, ...spec },
  });
}

const getSession = (name: string) => client.get<BrowserSession>(paths.session(fixture.namespace, name));

async function waitStatus(name: string, what: string, ok: (s: BrowserSession) => boolean) {
  return waitFor(`session ${name} ${what}`, async () => {
    const s = await getSession(name);
    return ok(s) ? s : undefined;
  });
}

/** What the sidecar sends when a client has connected (docs/adr/0001-connection-reports.md). */
async function reportConnected(op: Operator, s: BrowserSession, at: Date): Promise<number> {
  const uid = s.metadata.uid ?? '';
  const res = await fetch(`http://127.0.0.1:${op.reportPort}/v1/report`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${sessionToken(KEY, uid)}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({
      namespace: fixture.namespace,
      name: s.metadata.name,
      uid,
      bootId: 'boot-1',
      seq: 1,
      connections: 1,
      pages: 1,
      keepAliveRequested: false,
      chromeReachable: true,
      lastConnectedAt: at.toISOString(),
    }),
  });
  return res.status;
}

beforeAll(async () => {
  client = await testClient();
  fixture = await projectFixture(client, { concurrency: 20, maxQueued: 0 }, 'end');
});

afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

afterAll(async () => {
  await fixture.cleanup();
  client.close();
});

describe('the connection facts of an ended session', () => {
  it('show no connection once it ends with a client connected, disconnected at the end time', async () => {
    const op = await operator();
    const created = await createSession({ timeout: 600 });
    const name = created.metadata.name ?? '';
    await waitFor('pod', () => client.get(paths.pod(fixture.namespace, childName(name))));
    await markPodReady(client, fixture.namespace, childName(name), '10.244.99.8');
    const live = await waitStatus(name, 'Running', (s) => s.status?.phase === 'Running');
    const connectedAt = new Date();
    expect(await reportConnected(op, live, connectedAt)).toBe(204);
    await waitStatus(name, 'connected', (s) => s.status?.connections === 1);

    await client.mergePatch(paths.session(fixture.namespace, name), { spec: { release: true } });
    const ended = await waitStatus(name, 'Completed with its connection closed', (s) => {
      return s.status?.phase === 'Completed' && s.status.connections === 0;
    });
    expect(ended.status).toMatchObject({
      endReason: 'Released',
      connections: 0,
      pages: 0,
      lastConnectedAt: connectedAt.toISOString(),
      lastDisconnectedAt: ended.status?.endedAt,
    });
    // One writer per field: the final facts are the report writer's, not the lifecycle writer's.
    const managers = (ended.metadata.managedFields ?? [])
      .filter((f) => JSON.stringify(f.fieldsV1 ?? {}).includes('f:lastDisconnectedAt'))
      .map((f) => f.manager);
    expect(managers).toEqual([REPORT_FIELD_MANAGER]);
  });

  it('are closed by an operator that starts after the session ended', async () => {
    // An end written while no operator wrote the final facts (an older operator, or one that stopped right
    // after the end): the next one to start catches up from its caches.
    const created = await createSession({ timeout: 600 });
    const name = created.metadata.name ?? '';
    const connectedAt = new Date(Date.now() - 5000).toISOString();
    const endedAt = new Date(Date.now() - 1000).toISOString();
    await client.apply(
      paths.sessionStatus(fixture.namespace, name),
      connectionFactsApply(
        { name, namespace: fixture.namespace },
        { connections: 2, pages: 1, lastConnectedAt: connectedAt, reportBootId: 'b', reportSeq: 3 },
      ),
      REPORT_FIELD_MANAGER,
    );
    await client.mergePatch(paths.sessionStatus(fixture.namespace, name), {
      status: { phase: 'Completed', endReason: 'Released', startedAt: connectedAt, endedAt },
    });
    await operator();
    const closed = await waitStatus(name, 'connection closed', (s) => s.status?.connections === 0);
    expect(closed.status).toMatchObject({
      pages: 0,
      lastConnectedAt: connectedAt,
      lastDisconnectedAt: endedAt,
    });
  });
});

describe('the wake-up at expiresAt', () => {
  it('counts from the time the pass planned at, not from when its writes returned', async () => {
    // Every reading of this clock is a second later than the one before: the admission pass reads it as it
    // plans (the timeout counts from there) and again when its writes are done.
    let readings = 0;
    const clock = { ...systemClock, now: () => Date.now() + 1000 * readings++ };
    const controller = new SessionController({
      client,
      config: operatorConfig(),
      metrics: createOperatorMetrics(),
      log: createLogger({ component: 'operator' }),
      clock,
    });
    stops.push(() => controller.stop());
    await controller.startInformers();
    const created = await createSession({ timeout: 30 });
    const name = created.metadata.name ?? '';
    await waitFor('session cached', async () => controller.sessions.get(name, fixture.namespace));
    readings = 0;
    const wakeInMs = await controller.reconcile(`${fixture.namespace}/${name}`);
    expect((await getSession(name)).status?.phase).toBe('Starting');
    expect(wakeInMs).toBeLessThanOrEqual(30_000 - 1000);
  });
});

describe('a connection reported just before the expiry', () => {
  it('ends the session Expired, not NeverConnected, when the report lands after the cache was read', async () => {
    // The race made exact: the controller's session cache stops just before the report, as a watch that
    // lags behind the report does; the expiry pass then decides on a status without the connection.
    const log = createLogger({ component: 'operator' });
    const controller = new SessionController({
      client,
      config: operatorConfig(),
      metrics: createOperatorMetrics(),
      log,
    });
    stops.push(() => controller.stop());
    await controller.startInformers();
    const created = await createSession({ timeout: 2 });
    const name = created.metadata.name ?? '';
    const key = `${fixture.namespace}/${name}`;
    const cached = () => controller.sessions.get(name, fixture.namespace);
    await waitFor('session cached', async () => cached());
    await controller.reconcile(key); // admits it
    await waitFor('admission cached', async () => cached()?.status?.startedAt !== undefined);
    await waitFor('pod cached', async () => controller.pods.get(childName(name), fixture.namespace));
    await controller.sessions.stop();

    const admitted = await getSession(name);
    const expiresAt = Date.parse(admitted.status?.expiresAt ?? '');
    await client.apply(
      paths.sessionStatus(fixture.namespace, name),
      connectionFactsApply(
        { name, namespace: fixture.namespace },
        { connections: 1, pages: 1, lastConnectedAt: new Date(expiresAt - 300).toISOString(), reportSeq: 1 },
      ),
      REPORT_FIELD_MANAGER,
    );
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now() + 20)));
    const stalePass = await controller.reconcile(key).then(
      () => 'wrote',
      (err: unknown) => (isConflict(err) ? 'conflict' : String(err)),
    );
    await controller.stop();

    // A fresh controller, whose cache has the report, decides again.
    const next = new SessionController({
      client,
      config: operatorConfig(),
      metrics: createOperatorMetrics(),
      log,
    });
    stops.push(() => next.stop());
    await next.startInformers();
    await next.reconcile(key);
    const ended = await waitStatus(name, 'TimedOut', (s) => s.status?.phase === 'TimedOut');
    expect({ stalePass, endReason: ended.status?.endReason }).toEqual({
      stalePass: 'conflict',
      endReason: 'Expired',
    });
  });
});
