import type { V1Pod, V1Service } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserSession } from '../api/index.js';
import { isNotFound, type KubeClient, paths } from '../shared/kube/client.js';
import { kubectl, projectFixture, testClient, testKubeconfig, uniqueName } from '../testing/cluster.js';
import { markPodReady as markReady } from '../testing/pod-status.js';
import { waitFor } from '../testing/wait.js';
import { childName } from './children.js';
import { loadConfig, type OperatorConfig } from './config.js';
import { type Operator, startOperator } from './operator.js';

// Integration tests against the real control plane. No node runs these pods (a node selector no node has keeps
// the scheduler from binding them); the test plays the kubelet by patching pod status, as the issue asks.

let client: KubeClient;
let fixture: Awaited<ReturnType<typeof projectFixture>>;
const operators: Operator[] = [];

function operatorConfig(overrides: Partial<OperatorConfig> = {}): OperatorConfig {
  const c = loadConfig({
    BF_SESSION_KEY: 'integration-test-key-0123456789',
    BF_NAMESPACE: fixture.namespace,
    BF_WATCH_NAMESPACE: fixture.namespace,
  });
  return {
    ...c,
    metricsListen: '127.0.0.1:0',
    reportListen: '127.0.0.1:0',
    nodeSelector: { 'browserfleet.dev/test': 'no-such-node' },
    leaderElection: { ...c.leaderElection, enabled: false },
    ...overrides,
  };
}

async function operator(overrides: Partial<OperatorConfig> = {}): Promise<Operator> {
  const op = await startOperator(operatorConfig(overrides), testKubeconfig());
  operators.push(op);
  return op;
}

async function createSession(spec: Record<string, unknown> = {}): Promise<string> {
  const name = uniqueName('s');
  await client.create(paths.sessions(fixture.namespace), {
    apiVersion: 'browserfleet.dev/v1alpha1',
    kind: 'BrowserSession',
    metadata: { name, namespace: fixture.namespace },
    spec: { project: fixture.project, ...spec },
  });
  return name;
}

const getSession = (name: string) => client.get<BrowserSession>(paths.session(fixture.namespace, name));
const getPod = (name: string) => client.get<V1Pod>(paths.pod(fixture.namespace, childName(name)));
const getService = (name: string) => client.get<V1Service>(paths.service(fixture.namespace, childName(name)));
const gone = async (fn: () => Promise<unknown>) =>
  fn().then(
    () => false,
    (e: unknown) => isNotFound(e),
  );

async function waitPhase(name: string, phase: string): Promise<BrowserSession> {
  return waitFor(`session ${name} ${phase}`, async () => {
    const s = await getSession(name);
    return s.status?.phase === phase ? s : undefined;
  });
}

/** What a kubelet would write when the session's pod is up and its probe passes. */
const markPodReady = (name: string, ip = '10.244.99.7') =>
  markReady(client, fixture.namespace, childName(name), ip);

beforeAll(async () => {
  client = await testClient();
  fixture = await projectFixture(client, { concurrency: 20, maxQueued: 0 }, 'op');
});

afterEach(async () => {
  for (const op of operators.splice(0)) await op.stop();
});

afterAll(async () => {
  await fixture.cleanup();
  client.close();
});

describe('operator against a real API server', () => {
  it('turns a BrowserSession into a pod and a service it owns, then Running when the pod is ready', async () => {
    await operator();
    const name = await createSession({ timeout: 120, browser: { width: 1280, height: 720 } });
    const starting = await waitPhase(name, 'Starting');
    expect(starting.status?.startedAt).toBeDefined();

    const pod = await waitFor('pod', () => getPod(name));
    const svc = await waitFor('service', () => getService(name));
    for (const obj of [pod, svc]) {
      expect(obj.metadata?.ownerReferences).toEqual([
        expect.objectContaining({
          kind: 'BrowserSession',
          name,
          uid: starting.metadata.uid,
          controller: true,
        }),
      ]);
      expect(obj.metadata?.labels).toMatchObject({
        'app.kubernetes.io/managed-by': 'browserfleet',
        'browserfleet.dev/session': name,
      });
    }
    expect(pod.spec?.automountServiceAccountToken).toBe(false);
    expect(pod.spec?.restartPolicy).toBe('Never');
    expect(pod.spec?.activeDeadlineSeconds).toBe(150);
    expect(pod.spec?.containers.map((c) => c.name)).toEqual(['chrome', 'sidecar', 'webdriver']);
    expect(pod.spec?.containers[0]?.args).toContain('--remote-debugging-address=127.0.0.1');
    expect(pod.spec?.containers[0]?.args).toContain('--window-size=1280,720');
    expect(pod.spec?.volumes?.find((v) => v.name === 'dshm')?.emptyDir?.medium).toBe('Memory');
    // One download folder, written by Chrome and read by the sidecar (ADR 0012).
    expect(
      pod.spec?.containers.map((c) => c.volumeMounts?.find((m) => m.name === 'downloads')?.mountPath),
    ).toEqual(['/var/run/browserfleet/downloads', '/var/run/browserfleet/downloads', undefined]);
    expect(svc.spec?.ports?.map((p) => p.port)).toEqual([9223]);

    await markPodReady(name);
    const runningSession = await waitPhase(name, 'Running');
    expect(runningSession.status?.readyAt).toBeDefined();
    expect(runningSession.status?.expiresAt).toBe(
      new Date(Date.parse(starting.status?.startedAt ?? '') + 120_000).toISOString(),
    );
    expect(runningSession.status?.connectUrl).toMatch(
      /^ws:\/\/10\.244\.99\.7:9223\/devtools\/browser\?token=/,
    );
    // From admission to ready: both times are on the status, so the figure must be exactly their difference.
    expect(runningSession.status?.startupLatencyMs).toBe(
      Date.parse(runningSession.status?.readyAt ?? '') - Date.parse(starting.status?.startedAt ?? ''),
    );

    const { stdout } = await kubectl(['get', 'browsersessions', '-n', fixture.namespace, name]);
    expect(stdout).toMatch(/PHASE\s+PROJECT\s+KEEPALIVE\s+CONNECTIONS\s+EXPIRES\s+AGE/);
    expect(stdout).toContain('Running');
  });

  it('expires on time: pod and service gone, TimedOut/NeverConnected, endedAt = when it ended', async () => {
    await operator();
    const name = await createSession({ timeout: 3 });
    await waitFor('pod', () => getPod(name));
    await markPodReady(name);
    const ended = await waitPhase(name, 'TimedOut');
    expect(ended.status?.endReason).toBe('NeverConnected');
    // endedAt is the time of the pass that ended it (the Ended condition's), never before expiresAt.
    const endedAt = Date.parse(ended.status?.endedAt ?? '');
    expect(endedAt).toBeGreaterThanOrEqual(Date.parse(ended.status?.expiresAt ?? ''));
    expect(ended.status?.endedAt).toBe(
      ended.status?.conditions?.find((c) => c.type === 'Ended')?.lastTransitionTime,
    );
    console.log(`expiry acted ${endedAt - Date.parse(ended.status?.expiresAt ?? '')} ms after expiresAt`);
    await waitFor(
      'children deleted',
      async () => (await gone(() => getPod(name))) && (await gone(() => getService(name))),
    );
    // Events are recorded best-effort and asynchronously, after the status write.
    await waitFor('events for every transition', async () => {
      const events = await client.get<{ items: { reason: string }[] }>(paths.events(fixture.namespace), {
        fieldSelector: `involvedObject.name=${name}`,
      });
      const reasons = events.items.map((e) => e.reason);
      return ['Admitted', 'Running', 'NeverConnected'].every((r) => reasons.includes(r));
    });
  });

  it('ends on release as Completed/Released and deletes its children', async () => {
    await operator();
    const name = await createSession({ timeout: 600 });
    await waitFor('pod', () => getPod(name));
    await client.mergePatch(paths.session(fixture.namespace, name), { spec: { release: true } });
    const ended = await waitPhase(name, 'Completed');
    expect(ended.status?.endReason).toBe('Released');
    await waitFor('pod deleted', () => gone(() => getPod(name)));
  });

  it('fails as PodFailed when Chrome exits', async () => {
    await operator();
    const name = await createSession({ timeout: 600 });
    await waitFor('pod', () => getPod(name));
    await markPodReady(name);
    await waitPhase(name, 'Running');
    await client.mergePatch(`${paths.pod(fixture.namespace, childName(name))}/status`, {
      status: {
        phase: 'Failed',
        conditions: [{ type: 'Ready', status: 'False' }],
        containerStatuses: [
          {
            name: 'chrome',
            image: 'browserfleet/chrome:dev',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: { terminated: { exitCode: 133, reason: 'Error' } },
          },
        ],
      },
    });
    const ended = await waitPhase(name, 'Failed');
    expect(ended.status?.endReason).toBe('PodFailed');
    expect(ended.status?.conditions?.find((c) => c.type === 'Ended')?.message).toContain(
      'Chrome exited with code 133',
    );
  });

  it('survives an operator restart mid-session: no duplicate pod, expiry still on time', async () => {
    const first = await operator();
    const name = await createSession({ timeout: 6 });
    const pod = await waitFor('pod', () => getPod(name));
    await markPodReady(name);
    await waitPhase(name, 'Running');
    await first.stop();
    await operator();
    // While the session runs under the new operator, its pod stays the one the first operator made: a pod
    // deleted and created again would show a second uid. Sampled until the new operator ends the session.
    // (A pod missing for a moment is the expiry's deletion racing the sample, not a second pod.)
    const uidsWhileRunning = new Set<string>();
    const ended = await waitFor(`session ${name} TimedOut`, async () => {
      const session = await getSession(name);
      const uid =
        session.status?.phase === 'Running' && (await getPod(name).catch(() => undefined))?.metadata?.uid;
      if (uid) uidsWhileRunning.add(uid);
      return session.status?.phase === 'TimedOut' ? session : undefined;
    });
    expect([...uidsWhileRunning]).toEqual([pod.metadata?.uid]);
    expect(Date.parse(ended.status?.endedAt ?? '')).toBeGreaterThanOrEqual(
      Date.parse(ended.status?.expiresAt ?? ''),
    );
  });

  it('refuses bad manifests with a message naming the field', async () => {
    const manifest = (spec: string) =>
      `apiVersion: browserfleet.dev/v1alpha1\nkind: BrowserSession\nmetadata:\n  name: bad\n  namespace: ${fixture.namespace}\nspec:\n${spec}\n`;
    const refused = async (spec: string) => {
      const err = await kubectl(['apply', '-f', '-'], manifest(spec)).then(
        () => undefined,
        (e: { stderr?: string }) => e.stderr ?? String(e),
      );
      expect(err, `accepted: ${spec}`).toBeDefined();
      return err ?? '';
    };
    expect(await refused('  timeout: 0')).toContain('spec.timeout');
    expect(await refused('  timeout: 99999')).toContain('spec.timeout');
    expect(await refused('  project: Not_A_Name')).toContain('spec.project');
    expect(await refused('  browser:\n    width: 10')).toContain('spec.browser.width');
    expect(await refused('  keepAlive: "yes"')).toContain('spec.keepAlive');

    const name = await createSession({ timeout: 600, keepAlive: false });
    const patchErr = async (spec: Record<string, unknown>) =>
      client.mergePatch(paths.session(fixture.namespace, name), { spec }).then(
        () => '',
        (e: Error) => e.message,
      );
    expect(await patchErr({ timeout: 601 })).toContain('timeout is immutable');
    expect(await patchErr({ keepAlive: true })).toContain('keepAlive is immutable');
    await client.mergePatch(paths.session(fixture.namespace, name), { spec: { release: true } });
    expect(await patchErr({ release: false })).toContain('release can only change from false to true');
  });
});

describe('leader election', () => {
  it('lets one of two replicas act, and the other take over within the lease duration', async () => {
    const le = {
      enabled: true,
      leaseName: uniqueName('lease'),
      leaseDurationSeconds: 4,
      renewDeadlineSeconds: 3,
      retryPeriodSeconds: 1,
    };
    const a = await operator({ identity: 'replica-a', leaderElection: le });
    const b = await operator({ identity: 'replica-b', leaderElection: le });
    const leader = await waitFor('a leader', () =>
      a.elector.isLeader ? a : b.elector.isLeader ? b : undefined,
    );
    const follower = leader === a ? b : a;
    // Both stay settled: exactly one leads.
    await new Promise((r) => setTimeout(r, 2500));
    expect([a.elector.isLeader, b.elector.isLeader].filter(Boolean)).toHaveLength(1);

    // Kill the leader without releasing the lease (a crash): the follower must wait out the lease, then lead.
    const crashedAt = Date.now();
    (leader.elector as unknown as { stopped: boolean }).stopped = true;
    await leader.controller.stop();
    await waitFor('follower leads', () => follower.elector.isLeader, 30_000);
    console.log(
      `failover after a crash took ${Date.now() - crashedAt} ms (lease duration ${le.leaseDurationSeconds}s)`,
    );

    const name = await createSession({ timeout: 600 });
    await waitPhase(name, 'Starting');
  });
});
