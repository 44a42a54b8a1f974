import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { V1Container, V1Lease, V1Node, V1Pod, V1PodSpec } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANNOTATION_LOCALNODE_SIMULATE } from '../api/labels.js';
import { HEADLESS_CHROME_FLAGS } from '../shared/chrome-flags.js';
import { cidrContains, parseCidr } from '../shared/cidr.js';
import { isNotFound, type KubeClient, paths } from '../shared/kube/client.js';
import type { Logger } from '../shared/log.js';
import { testClient, testKubeconfig } from '../testing/cluster.js';
import { waitFor } from '../testing/wait.js';
import { createLocalnode, type Localnode } from './agent.js';
import { defaultConfig, type LocalnodeConfig } from './config.js';
import { netnsPids, nodeTag, PodNetwork } from './network.js';
import { nodePaths } from './node-registration.js';
import { isRunning } from './process-runner.js';

/*
 * The agent against a real kube-apiserver, kube-scheduler and kube-controller-manager (the suite's control
 * plane). This file's node has its own name, bridge and CIDR, and a taint that only this file's pods
 * tolerate, so the scheduler keeps other tests' pods off it and these pods on it.
 */

const run = promisify(execFile);
const suffix = randomBytes(3).toString('hex');
const nodeName = `ln-test-${suffix}`;
const namespace = `ln-test-${suffix}`;
const cidrText = `10.252.${Number.parseInt(suffix.slice(0, 2), 16)}.0/24`;
const cidr = parseCidr(cidrText);
const bridge = `bfl${suffix}`.slice(0, 15);
const taint = { key: 'browserfleet.dev/localnode-test', value: suffix, effect: 'NoSchedule' as const };
const silent: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silent,
};

let client: KubeClient;
let stateDir: string;
let config: LocalnodeConfig;
let agent: Localnode | undefined;

function startAgent(): Promise<Localnode> {
  const a = createLocalnode(config, { log: silent });
  agent = a;
  return a.start().then(() => a);
}

function podSpec(containers: V1Container[], extra: Partial<V1PodSpec> = {}): V1PodSpec {
  return {
    nodeSelector: { 'kubernetes.io/hostname': nodeName },
    tolerations: [{ key: taint.key, operator: 'Equal', value: taint.value, effect: taint.effect }],
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    restartPolicy: 'Never',
    terminationGracePeriodSeconds: 5,
    ...extra,
    containers,
  };
}

async function createPod(
  name: string,
  spec: V1PodSpec,
  annotations?: Record<string, string>,
): Promise<V1Pod> {
  return client.create<V1Pod>(paths.pods(namespace), {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, ...(annotations ? { annotations } : {}) },
    spec,
  });
}

const getPod = (name: string) => client.get<V1Pod>(paths.pod(namespace, name));

async function podGone(name: string): Promise<boolean> {
  try {
    await getPod(name);
    return false;
  } catch (e) {
    if (isNotFound(e)) return true;
    throw e;
  }
}

function waitForPod(name: string, what: string, check: (pod: V1Pod) => boolean): Promise<V1Pod> {
  return waitFor(`${name}: ${what}`, async () => {
    const pod = await getPod(name);
    return check(pod) ? pod : undefined;
  });
}

const isReady = (pod: V1Pod) =>
  pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 2000 });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

/**
 * The processes inside a pod's namespace. A container is reported running once spawned, a moment before
 * `ip netns exec` has moved it into the namespace, hence the wait.
 */
function podPids(netns: string): Promise<number[]> {
  return waitFor(`processes in ${netns}`, async () => {
    const pids = await netnsPids(statSync(`/run/netns/${netns}`).ino);
    return pids.length > 0 ? pids : undefined;
  });
}

const ourNetwork = () => new PodNetwork({ ipPath: config.ipPath, bridge, cidr, nodeName });

describe('localnode agent', () => {
  beforeAll(async () => {
    client = await testClient();
    stateDir = await mkdtemp(join(tmpdir(), 'localnode-it-'));
    // Containers that run as another user must reach their directories, as under /run.
    await chmod(stateDir, 0o755);
    config = {
      ...defaultConfig(),
      nodeName,
      podCIDR: cidrText,
      bridge,
      stateDir,
      kubeconfig: testKubeconfig(),
      allocatable: { cpu: '4', memory: '8Gi', pods: 50 },
      taints: [taint],
      restartBackoff: { initialSeconds: 1, maxSeconds: 2 },
      leaseDurationSeconds: 8,
    };
    await client.create(paths.namespaces(), {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: namespace },
    });
    await startAgent();
    // The ServiceAccount admission plugin refuses pods until the controller created the default account.
    await waitFor('default service account', () =>
      client.get(`/api/v1/namespaces/${namespace}/serviceaccounts/default`).then(
        () => true,
        () => false,
      ),
    );
  });

  afterAll(async () => {
    await agent?.stop();
    // If a test failed half-way, leave nothing behind anyway.
    const net = ourNetwork();
    await net.removeStale().catch(() => undefined);
    await net.removeBridge().catch(() => undefined);
    await client.delete(`${paths.namespaces()}/${namespace}`).catch(() => undefined);
    await client.delete(nodePaths.node(nodeName)).catch(() => undefined);
    await rm(stateDir, { recursive: true, force: true });
    client.close();
  });

  it('registers a Ready node with the configured allocatable and keeps its lease fresh', async () => {
    const node = await waitFor('node schedulable', async () => {
      const n = await client.get<V1Node>(nodePaths.node(nodeName));
      // The node lifecycle controller lifts the not-ready taint once it sees Ready.
      const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      const onlyOurTaint = (n.spec?.taints ?? []).every((t) => t.key === taint.key);
      return ready && onlyOurTaint ? n : undefined;
    });
    expect(node.status?.allocatable).toMatchObject({ cpu: '4', memory: '8Gi', pods: '50' });
    expect(node.status?.addresses).toContainEqual({
      type: 'InternalIP',
      address: ourNetwork().gateway,
    });
    const lease1 = await client.get<V1Lease>(paths.lease('kube-node-lease', nodeName));
    expect(lease1.spec?.holderIdentity).toBe(nodeName);
    const lease2 = await waitFor('lease renewed', async () => {
      const l = await client.get<V1Lease>(paths.lease('kube-node-lease', nodeName));
      return String(l.spec?.renewTime) !== String(lease1.spec?.renewTime) ? l : undefined;
    });
    expect(lease2.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Node', name: nodeName });
  });

  it('runs a scheduled shell pod in its own namespace, Ready by its probe, reporting its exit code', async () => {
    await createPod(
      'web',
      podSpec([
        {
          name: 'web',
          image: 'localnode/shell',
          args: [
            'echo "I am $(POD_NAME) at $POD_IP on $NODE"; python3 -m http.server 8080 --bind "$POD_IP" >/dev/null 2>&1 & ' +
              'while [ ! -f /tmp/stop ]; do sleep 0.05; done; echo "stopped on request" > /dev/termination-log; exit 3',
          ],
          env: [
            { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
          ],
          readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
        },
      ]),
    );
    const ready = await waitForPod('web', 'Ready', isReady);
    expect(ready.spec?.nodeName).toBe(nodeName); // bound by kube-scheduler, not by this test
    expect(ready.status?.phase).toBe('Running');
    const ip = ready.status?.podIP ?? '';
    expect(cidrContains(cidr, ip)).toBe(true);
    expect(ready.status?.hostIP).toBe(ourNetwork().gateway);

    const info = agent?.podInfo(namespace, 'web');
    expect(info?.ip).toBe(ip);
    const netns = info?.netns as string;
    expect(existsSync(`/run/netns/${netns}`)).toBe(true);
    // The server listens on the pod's own address, inside the pod's namespace.
    const { stdout } = await run(config.ipPath, ['netns', 'exec', netns, 'ss', '-ltnH']);
    expect(stdout).toContain(`${ip}:8080`);
    expect(await readFile(join(info?.dir as string, 'web.log'), 'utf8')).toContain(
      `I am web at ${ip} on ${nodeName}`,
    );

    // The container's /tmp is its own directory under the pod's.
    await writeFile(join(info?.dir as string, 'containers/web/tmp/stop'), '');
    const done = await waitForPod('web', 'Failed', (p) => p.status?.phase === 'Failed');
    expect(done.status?.containerStatuses?.[0]).toMatchObject({
      name: 'web',
      ready: false,
      restartCount: 0,
      state: { terminated: { exitCode: 3, reason: 'Error', message: 'stopped on request\n' } },
    });
    // A finished pod keeps no namespace.
    await waitFor('namespace removed', () => !existsSync(`/run/netns/${netns}`));
  });

  it('fails a pod whose image has no local program, with a clear reason', async () => {
    await createPod('nginx', podSpec([{ name: 'nginx', image: 'docker.io/library/nginx:1.27' }]));
    const failed = await waitForPod('nginx', 'Failed', (p) => p.status?.phase === 'Failed');
    expect(failed.status?.reason).toBe('ErrImagePull');
    expect(failed.status?.message).toContain('docker.io/library/nginx');
    expect(failed.status?.containerStatuses?.[0]?.state?.waiting).toMatchObject({ reason: 'ErrImagePull' });
  });

  it('deletes a pod within its grace period: SIGTERM, then SIGKILL, then the object is gone', async () => {
    await createPod(
      'stubborn',
      podSpec(
        [
          {
            name: 'main',
            image: 'localnode/shell',
            args: ['trap "echo got TERM" TERM; echo up; while true; do sleep 0.1; done'],
          },
        ],
        {
          terminationGracePeriodSeconds: 2,
        },
      ),
    );
    await waitForPod('stubborn', 'Running', (p) => p.status?.phase === 'Running');
    const info = agent?.podInfo(namespace, 'stubborn');
    const netns = info?.netns as string;
    const pids = await podPids(netns);
    const logFile = join(info?.dir as string, 'main.log');
    await waitFor('trap installed', async () => (await readFile(logFile, 'utf8')).includes('up'));

    await client.delete(paths.pod(namespace, 'stubborn'));
    await waitFor('pod object removed', () => podGone('stubborn'));
    for (const pid of pids) expect(await isRunning(pid)).toBe(false);
    expect(existsSync(`/run/netns/${netns}`)).toBe(false);
    expect(existsSync(info?.dir as string)).toBe(false);
  });

  it('ends a pod at its activeDeadlineSeconds', async () => {
    await createPod(
      'deadline',
      podSpec([{ name: 'main', image: 'localnode/shell', args: ['sleep 600'] }], {
        activeDeadlineSeconds: 2,
      }),
    );
    const failed = await waitForPod('deadline', 'Failed', (p) => p.status?.phase === 'Failed');
    expect(failed.status?.reason).toBe('DeadlineExceeded');
    const stopped = await waitForPod(
      'deadline',
      'container stopped',
      (p) => !!p.status?.containerStatuses?.[0]?.state?.terminated,
    );
    expect(stopped.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(143);
  });

  it('reports a simulated pod Running and Ready with an address and runs nothing', async () => {
    await createPod('sim', podSpec([{ name: 'chrome', image: 'browserfleet/chrome:dev' }]), {
      [ANNOTATION_LOCALNODE_SIMULATE]: 'true',
    });
    const pod = await waitForPod('sim', 'Ready', isReady);
    expect(cidrContains(cidr, pod.status?.podIP ?? '')).toBe(true);
    expect(pod.status?.containerStatuses?.[0]?.state?.running).toBeDefined();
    expect(agent?.podInfo(namespace, 'sim')).toMatchObject({ simulated: true, netns: undefined });
    await client.delete(paths.pod(namespace, 'sim'));
    await waitFor('simulated pod removed', () => podGone('sim'));
  });

  it('after a crash, a new agent kills what the old one left and fails or restarts its pods', async () => {
    await createPod('once', podSpec([{ name: 'main', image: 'localnode/shell', args: ['sleep 600'] }]));
    await createPod(
      'always',
      podSpec([{ name: 'main', image: 'localnode/shell', args: ['sleep 600'] }], { restartPolicy: 'Always' }),
    );
    await waitForPod('once', 'Running', (p) => p.status?.phase === 'Running');
    await waitForPod('always', 'Running', (p) => p.status?.phase === 'Running');
    const before = ['once', 'always'].map((n) => agent?.podInfo(namespace, n));
    const oldPids = (await Promise.all(before.map((i) => podPids(i?.netns as string)))).flat();

    await agent?.stop({ cleanup: false }); // the crash: nothing is stopped or removed
    for (const pid of oldPids) expect(await isRunning(pid)).toBe(true);

    await startAgent();
    for (const pid of oldPids) expect(await isRunning(pid)).toBe(false);

    const once = await waitForPod('once', 'Failed', (p) => p.status?.phase === 'Failed');
    expect(once.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 137 });
    const always = await waitForPod(
      'always',
      'restarted',
      (p) =>
        p.status?.phase === 'Running' &&
        p.status?.containerStatuses?.[0]?.restartCount === 1 &&
        !!p.status.containerStatuses[0].state?.running,
    );
    // The restarted pod keeps its address; the failed one's namespace is gone.
    expect(always.status?.podIP).toBe(before[1]?.ip);
    await waitFor('only the restarted pod has a namespace', async () => {
      const names = await ourNetwork().listNetns();
      return names.length === 1 && names[0] === agent?.podInfo(namespace, 'always')?.netns;
    });
    for (const n of ['once', 'always']) await client.delete(paths.pod(namespace, n));
    await waitFor('pods removed', async () => (await podGone('once')) && (await podGone('always')));
  });

  it('reaps what a dead agent of another node left on the machine', async () => {
    // What an agent killed with SIGKILL leaves: its registry entry, bridge, a pod namespace with a process
    // in it, and its state directory.
    const deadNode = `ln-dead-${suffix}`;
    const deadCidr = `10.253.${Number.parseInt(suffix.slice(0, 2), 16)}.0/24`;
    const deadBridge = `bfd${suffix}`.slice(0, 15);
    const deadNet = new PodNetwork({
      ipPath: config.ipPath,
      bridge: deadBridge,
      cidr: parseCidr(deadCidr),
      nodeName: deadNode,
    });
    await deadNet.ensureBridge();
    const sandbox = await deadNet.createSandbox('orphan-pod', deadCidr.replace(/0\/24$/, '9'));
    const orphan = spawn(config.ipPath, ['netns', 'exec', sandbox.netns, 'sleep', '600'], {
      detached: true,
      stdio: 'ignore',
    });
    orphan.unref();
    const deadDir = join(stateDir, deadNode);
    await mkdir(deadDir, { recursive: true });
    await writeFile(
      join(config.runDir, `${nodeTag(deadNode)}.json`),
      JSON.stringify({
        pid: 999_999,
        startTime: 'gone',
        nodeName: deadNode,
        nodeDir: deadDir,
        bridge: deadBridge,
        podCIDR: deadCidr,
      }),
    );
    try {
      await podPids(sandbox.netns);
      await agent?.stop({ cleanup: false });
      await startAgent();
      expect(await isRunning(orphan.pid as number)).toBe(false);
      expect(await deadNet.listNetns()).toEqual([]);
      expect(await deadNet.listVeths()).toEqual([]);
      const links = JSON.parse((await run(config.ipPath, ['-j', 'link', 'show'])).stdout) as {
        ifname: string;
      }[];
      expect(links.map((l) => l.ifname)).not.toContain(deadBridge);
      expect(existsSync(deadDir)).toBe(false);
      expect(existsSync(join(config.runDir, `${nodeTag(deadNode)}.json`))).toBe(false);
    } finally {
      await deadNet.removeStale().catch(() => undefined);
      await deadNet.removeBridge().catch(() => undefined);
    }
  });

  it('runs Chromium in its own namespace, with DevTools reachable only on the pod localhost', async () => {
    await createPod(
      'chrome',
      podSpec(
        [
          {
            name: 'chrome',
            image: 'browserfleet/chrome:dev',
            args: [
              ...HEADLESS_CHROME_FLAGS,
              '--remote-debugging-address=127.0.0.1',
              '--remote-debugging-port=9222',
              '--user-data-dir=/tmp/chrome-profile',
              'about:blank',
            ],
            env: [{ name: 'HOME', value: '/tmp' }],
            volumeMounts: [
              { name: 'dshm', mountPath: '/dev/shm' },
              { name: 'tmp', mountPath: '/tmp' },
            ],
            // Inside the namespace, as the kubelet runs exec probes in the container.
            readinessProbe: {
              exec: { command: ['curl', '-sf', 'http://127.0.0.1:9222/json/version'] },
              periodSeconds: 1,
            },
          },
        ],
        {
          securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 },
          volumes: [
            { name: 'dshm', emptyDir: { medium: 'Memory' } },
            { name: 'tmp', emptyDir: {} },
          ],
        },
      ),
    );
    const pod = await waitForPod('chrome', 'Ready', isReady).catch(async (e: Error) => {
      const dir = agent?.podInfo(namespace, 'chrome')?.dir ?? '/nonexistent';
      const log = await readFile(join(dir, 'chrome.log'), 'utf8').catch(() => '(no log)');
      throw new Error(
        `${e.message}\nstatus: ${JSON.stringify((await getPod('chrome')).status)}\nlog:\n${log}`,
      );
    });
    const ip = pod.status?.podIP as string;
    const info = agent?.podInfo(namespace, 'chrome');
    const netns = info?.netns as string;

    const inside = await run(config.ipPath, [
      'netns',
      'exec',
      netns,
      'curl',
      '-sf',
      'http://127.0.0.1:9222/json/version',
    ]);
    expect(JSON.parse(inside.stdout)).toHaveProperty('Browser');
    expect(await tcpOpen(ip, 9222)).toBe(false);
    expect(await tcpOpen('127.0.0.1', 9222)).toBe(false);
    // The profile went to the pod's tmp volume, not the host's /tmp.
    expect(existsSync(join(info?.dir as string, 'volumes/tmp/chrome-profile'))).toBe(true);

    const chromePids = await podPids(netns);
    expect(chromePids.length).toBeGreaterThan(1);
    await client.delete(paths.pod(namespace, 'chrome'));
    await waitFor('chrome pod removed', () => podGone('chrome'));
    for (const pid of chromePids) expect(await isRunning(pid)).toBe(false);
  });

  it('stops cleanly: pods reported Failed, node NotReady, nothing left on the machine', async () => {
    await createPod('last', podSpec([{ name: 'main', image: 'localnode/shell', args: ['sleep 600'] }]));
    await waitForPod('last', 'Running', (p) => p.status?.phase === 'Running');
    const pids = await podPids(agent?.podInfo(namespace, 'last')?.netns as string);

    await agent?.stop();
    const pod = await getPod('last');
    expect(pod.status).toMatchObject({ phase: 'Failed', reason: 'Terminated' });
    for (const pid of pids) expect(await isRunning(pid)).toBe(false);
    const net = ourNetwork();
    expect(await net.listNetns()).toEqual([]);
    expect(await net.listVeths()).toEqual([]);
    const links = JSON.parse((await run(config.ipPath, ['-j', 'link', 'show'])).stdout) as {
      ifname: string;
    }[];
    expect(links.map((l) => l.ifname)).not.toContain(bridge);
    expect(existsSync(join(stateDir, nodeName))).toBe(false);
    expect(existsSync(join(config.runDir, nodeTag(nodeName)))).toBe(false);
    expect(existsSync(join(config.runDir, `${nodeTag(nodeName)}.json`))).toBe(false);
    const node = await client.get<V1Node>(nodePaths.node(nodeName));
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('False');
  });
});
