import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserProject, BrowserSession } from '../api/index.js';
import { isNotFound, type KubeClient, paths } from '../shared/kube/client.js';
import { projectFixture, testClient, testKubeconfig, uniqueName } from '../testing/cluster.js';
import { markPodReady } from '../testing/pod-status.js';
import { waitFor } from '../testing/wait.js';
import { childName } from './children.js';
import { loadConfig } from './config.js';
import { type Operator, startOperator } from './operator.js';

// What happens to a session when its pod's node restarts its kubelet or goes away. Against the real control
// plane (its scheduler binds the pods, its controllers run); each test registers a Node of its own and plays
// its kubelet, as a node going NotReady or being deleted shows in the API. Not the suite's node agent: that one
// stops its pods when it stops, and kills what it finds when it starts, which a real kubelet does not.

const GRACE_SECONDS = 3;
const REGION_LABEL = 'topology.kubernetes.io/region';
/**
 * These Nodes have no kubelet: a pod the scheduler put there would never start. The taint keeps every other
 * test file's pods (and the chart's) off them; only this file's operator tolerates it.
 */
const FAKE_NODE_TAINT = {
  key: 'browserfleet.dev/test-node-without-kubelet',
  value: 'true',
  effect: 'NoSchedule',
};
let client: KubeClient;
let fixture: Awaited<ReturnType<typeof projectFixture>>;
let op: Operator;
const nodes: string[] = [];

const nodePath = (name: string) => `${paths.nodes()}/${name}`;

/** A Node as a kubelet registers it: schedulable, Ready, room for browser pods, in a region of its own. */
async function registerNode(): Promise<{ name: string; region: string }> {
  const name = uniqueName('lost-node');
  nodes.push(name);
  await client.create(paths.nodes(), {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, [REGION_LABEL]: name } },
    spec: { taints: [FAKE_NODE_TAINT] },
  });
  await setReady(name, 'True', 'KubeletReady');
  return { name, region: name };
}

async function setReady(name: string, status: 'True' | 'False' | 'Unknown', reason: string): Promise<number> {
  const at = new Date();
  await client.mergePatch(`${nodePath(name)}/status`, {
    status: {
      capacity: { cpu: '8', memory: '16Gi', pods: '20' },
      allocatable: { cpu: '8', memory: '16Gi', pods: '20' },
      conditions: [
        {
          type: 'Ready',
          status,
          reason,
          message: `test: ${reason}`,
          lastHeartbeatTime: at.toISOString(),
          lastTransitionTime: at.toISOString(),
        },
      ],
    },
  });
  // The time as the API server keeps it (metav1.Time has whole seconds): the grace counts from there.
  const node = await client.get<V1Node>(nodePath(name));
  const t = node.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime;
  return t ? new Date(t).getTime() : at.getTime();
}

const getSession = (name: string) => client.get<BrowserSession>(paths.session(fixture.namespace, name));
const getPod = (name: string) => client.get<V1Pod>(paths.pod(fixture.namespace, childName(name)));

/** A session Running on the node of `region`, its pod bound there by the scheduler. */
async function runningOn(region: string, node: string): Promise<string> {
  const name = uniqueName('s');
  await client.create(paths.sessions(fixture.namespace), {
    apiVersion: 'browserfleet.dev/v1alpha1',
    kind: 'BrowserSession',
    metadata: { name, namespace: fixture.namespace },
    spec: { project: fixture.project, timeout: 600, region },
  });
  const pod = await waitFor('pod bound', async () => {
    const p = await getPod(name).catch(() => undefined);
    return p?.spec?.nodeName ? p : undefined;
  });
  expect(pod.spec?.nodeName).toBe(node);
  await markPodReady(client, fixture.namespace, childName(name), '10.244.98.9');
  await waitFor(`session ${name} Running`, async () => (await getSession(name)).status?.phase === 'Running');
  return name;
}

const projectRunning = async () =>
  (await client.get<BrowserProject>(paths.project(fixture.project))).status?.running ?? 0;

beforeAll(async () => {
  client = await testClient();
  fixture = await projectFixture(client, { concurrency: 10, maxQueued: 0 }, 'nodes');
  const c = loadConfig({
    BF_SESSION_KEY: 'integration-test-key-0123456789',
    BF_NAMESPACE: fixture.namespace,
    BF_WATCH_NAMESPACE: fixture.namespace,
  });
  op = await startOperator(
    {
      ...c,
      metricsListen: '127.0.0.1:0',
      reportListen: '127.0.0.1:0',
      regionLabel: REGION_LABEL,
      tolerations: [{ ...FAKE_NODE_TAINT, operator: 'Equal' }],
      nodeLostGraceSeconds: GRACE_SECONDS,
      leaderElection: { ...c.leaderElection, enabled: false },
    },
    testKubeconfig(),
  );
});

afterAll(async () => {
  await op?.stop();
  // Deleting the Nodes lets the pod garbage collector take pods still bound to them.
  for (const n of nodes) await client.delete(nodePath(n)).catch(() => undefined);
  await fixture.cleanup();
  client.close();
});

describe('sessions on a node that restarts or is lost', () => {
  it('survive a kubelet restart: NotReady for less than the grace, containers running', async () => {
    const node = await registerNode();
    const name = await runningOn(node.region, node.name);
    const notReadyAt = await setReady(node.name, 'False', 'KubeletNotReady');
    await new Promise((r) => setTimeout(r, 1000));
    await setReady(node.name, 'True', 'KubeletReady');
    // Past the grace as counted from the NotReady, with a margin: still Running, same pod.
    await new Promise((r) =>
      setTimeout(r, Math.max(0, notReadyAt + GRACE_SECONDS * 1000 + 1500 - Date.now())),
    );
    expect((await getSession(name)).status?.phase).toBe('Running');
    expect((await getPod(name)).metadata?.deletionTimestamp).toBeUndefined();
    await client.mergePatch(paths.session(fixture.namespace, name), { spec: { release: true } });
  });

  it('end Failed/NodeLost when the node is unreachable past the grace, with a Warning', async () => {
    const node = await registerNode();
    const name = await runningOn(node.region, node.name);
    const lostAt = await setReady(node.name, 'Unknown', 'NodeStatusUnknown');
    const ended = await waitFor(`session ${name} Failed`, async () => {
      const s = await getSession(name);
      return s.status?.phase === 'Failed' ? s : undefined;
    });
    expect(ended.status?.endReason).toBe('NodeLost');
    const after = Date.parse(ended.status?.endedAt ?? '') - lostAt;
    console.log(`NodeLost ${after} ms after the node became unreachable (grace ${GRACE_SECONDS} s)`);
    expect(after).toBeGreaterThanOrEqual(GRACE_SECONDS * 1000);
    expect(after).toBeLessThan(GRACE_SECONDS * 1000 + 2000);
    // The node may come back, so the pod is deleted the ordinary way, waiting for its kubelet.
    expect((await getPod(name)).metadata?.deletionTimestamp).toBeDefined();
    await waitFor('Warning event', async () => {
      const events = await client.get<{ items: { reason: string; type: string }[] }>(
        paths.events(fixture.namespace),
        { fieldSelector: `involvedObject.name=${name}` },
      );
      return events.items.some((e) => e.reason === 'NodeLost' && e.type === 'Warning');
    });
  });

  it('end Failed/NodeLost at once when the Node is deleted: pod force-deleted, the project has its place back', async () => {
    const node = await registerNode();
    const name = await runningOn(node.region, node.name);
    await waitFor('counted running', async () => (await projectRunning()) >= 1);
    const before = await projectRunning();
    const deletedAt = Date.now();
    await client.delete(nodePath(node.name));
    const ended = await waitFor(`session ${name} Failed`, async () => {
      const s = await getSession(name);
      return s.status?.phase === 'Failed' ? s : undefined;
    });
    expect(ended.status?.endReason).toBe('NodeLost');
    expect(ended.status?.conditions?.find((c) => c.type === 'Ended')?.message).toBe(
      `node ${node.name} of the browser pod is gone`,
    );
    const after = Date.parse(ended.status?.endedAt ?? '') - deletedAt;
    console.log(`NodeLost ${after} ms after the Node was deleted`);
    expect(after).toBeLessThan(2000);
    // No kubelet will confirm its deletion: the pod is removed without one.
    await waitFor('pod removed', () =>
      getPod(name).then(
        () => false,
        (e: unknown) => isNotFound(e),
      ),
    );
    await waitFor('project running count dropped', async () => (await projectRunning()) === before - 1);
  });
});
