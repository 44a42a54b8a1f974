import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AddressPool, cidrContains, parseCidr } from '../shared/cidr.js';
import type { Logger } from '../shared/log.js';
import { DEFAULT_IMAGE_RULES } from './images.js';
import { netnsPids, PodNetwork } from './network.js';
import { shortPodId } from './pod-layout.js';
import { PodRuntime, type RuntimeDeps } from './pod-runtime.js';
import { computePodStatus, podPhase } from './pod-status.js';

// Component test: real namespaces, processes and probes, driven the way the agent drives a runtime, without
// an API server (the agent's own tests cover that part).
const suffix = randomBytes(2).toString('hex');
const cidr = parseCidr('10.251.27.0/24');
const network = new PodNetwork({
  ipPath: '/usr/sbin/ip',
  bridge: `bfp${suffix}`,
  cidr,
  nodeName: `rttest-${suffix}`,
});
const pool = new AddressPool(cidr);
const silent: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silent,
};
const events: { reason: string; message: string }[] = [];
let base: string;
const linksDir = `/run/bfl/rt-${suffix}`;
const runtimes: PodRuntime[] = [];
const apiObjects = new Map<string, unknown>();

function deps(): RuntimeDeps {
  return {
    nodeName: 'rt-node',
    ipPath: '/usr/sbin/ip',
    setprivPath: '/usr/bin/setpriv',
    images: DEFAULT_IMAGE_RULES,
    imageVars: { node: process.execPath, checkout: '/nonexistent' },
    network,
    pool,
    hostIP: pool.gateway,
    allocatable: { cpu: 4, memory: 2 ** 33, 'ephemeral-storage': 2 ** 36 },
    envSources: { configMap: async () => undefined, secret: async () => undefined },
    // Unit scope: the runtime's side of volumes (files, modes, bind mounts); the real API is localnode.cluster.test.ts's.
    volumeApi: {
      get: async <T>(path: string) => apiObjects.get(path) as T | undefined,
      requestToken: async (ns, sa, spec) => ({
        token: `token-for-${ns}/${sa}/${spec.boundObjectRef.name}`,
        expirationTimestamp: new Date(Date.now() + spec.expirationSeconds * 1000),
      }),
    },
    podsDir: join(base, 'pods'),
    linksDir,
    logsDir: join(base, 'logs'),
    restartBackoff: { initialMs: 200, maxMs: 1000 },
    isAllowedAddress: (ip) => cidrContains(cidr, ip),
    log: silent,
    event: (_pod, _type, reason, message) => events.push({ reason, message }),
  };
}

function shellPod(containers: V1Container[], spec: Partial<NonNullable<V1Pod['spec']>> = {}): V1Pod {
  return {
    metadata: { name: `p-${randomBytes(3).toString('hex')}`, namespace: 'test', uid: randomUUID() },
    spec: { restartPolicy: 'Never', nodeName: 'rt-node', ...spec, containers },
  };
}

/** Runs the pod the way the agent does: sync on every change and at every wake-up the runtime asks for. */
function run(pod: V1Pod): PodRuntime {
  let timer: NodeJS.Timeout | undefined;
  const rt: PodRuntime = new PodRuntime(pod, deps(), () => void tick(), new Date());
  const tick = async () => {
    await rt.sync(pod, new Date()).catch(() => undefined);
    clearTimeout(timer);
    const wake = rt.nextWakeAt();
    if (wake !== undefined) timer = setTimeout(() => void tick(), Math.max(1, wake - Date.now()));
  };
  runtimes.push(rt);
  void tick();
  return rt;
}

async function until<T>(what: string, f: () => T | undefined | false, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const status = (pod: V1Pod, rt: PodRuntime) => computePodStatus(pod, rt.snapshot(), new Date());
interface ContainerStatusJson {
  ready: boolean;
  restartCount: number;
  state: { running?: unknown; terminated?: Record<string, unknown>; waiting?: Record<string, unknown> };
  lastState?: unknown;
}
const appStatus = (pod: V1Pod, rt: PodRuntime, i = 0) =>
  (status(pod, rt)['containerStatuses'] as ContainerStatusJson[])[i] as ContainerStatusJson;

describe('PodRuntime', () => {
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'localnode-rt-'));
    // As under /run: containers running as another user must be able to reach their directories.
    await chmod(base, 0o755);
    await mkdir(join(base, 'logs'));
    await mkdir(linksDir, { recursive: true });
    await network.ensureBridge();
  });

  afterEach(async () => {
    for (const rt of runtimes.splice(0)) {
      rt.stop(0);
      await until('stopped', () => rt.allStopped);
      await rt.releaseSandbox();
      await rt.removeDirectory();
    }
  });

  afterAll(async () => {
    await network.removeStale();
    await network.removeBridge();
    await rm(base, { recursive: true, force: true });
    await rm(linksDir, { recursive: true, force: true });
  });

  it('writes projected and configMap volumes; the token is bind-mounted where client libraries look', async () => {
    apiObjects.set('/api/v1/namespaces/test/configmaps/kube-root-ca.crt', { data: { 'ca.crt': 'CA PEM' } });
    apiObjects.set('/api/v1/namespaces/test/configmaps/app', { data: { 'app.yaml': 'a: 1' } });
    const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
    const pod = shellPod(
      [
        {
          name: 'c',
          image: 'localnode/shell',
          args: [
            `cat ${sa}/token; echo; cat ${sa}/ca.crt; echo; cat ${sa}/namespace; echo; cat /etc/app/app.yaml`,
          ],
          volumeMounts: [
            { name: 'kube-api-access', mountPath: sa, readOnly: true },
            { name: 'config', mountPath: '/etc/app' },
          ],
        },
      ],
      {
        serviceAccountName: 'robot',
        volumes: [
          {
            name: 'kube-api-access',
            projected: {
              defaultMode: 0o644,
              sources: [
                { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
                { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
                {
                  downwardAPI: {
                    items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }],
                  },
                },
              ],
            },
          },
          { name: 'config', configMap: { name: 'app' } },
        ],
      },
    );
    const rt = run(pod);
    await until('exited', () => appStatus(pod, rt).state.terminated);
    expect(appStatus(pod, rt).state.terminated?.['exitCode']).toBe(0);
    const log = (await readFile(rt.layout.log('c'), 'utf8')).split('\n');
    expect(log.slice(0, 4)).toEqual([`token-for-test/robot/${pod.metadata?.name}`, 'CA PEM', 'test', 'a: 1']);
    // The mount stayed in the container's namespace: the host's directory is (still) empty.
    expect(existsSync(`${sa}/token`)).toBe(false);
  });

  it('keeps a pod whose ConfigMap volume is missing in ContainerCreating, with a FailedMount event', async () => {
    const pod = shellPod(
      [
        {
          name: 'c',
          image: 'localnode/shell',
          args: ['true'],
          volumeMounts: [{ name: 'v', mountPath: '/cfg' }],
        },
      ],
      {
        volumes: [{ name: 'v', configMap: { name: 'absent' } }],
      },
    );
    const rt = run(pod);
    await until('event', () =>
      events.find((e) => e.reason === 'FailedMount' && e.message.includes('"absent"')),
    );
    expect(appStatus(pod, rt).state.waiting?.['reason']).toBe('ContainerCreating');
    apiObjects.set('/api/v1/namespaces/test/configmaps/absent', { data: {} });
  });

  it('runs a shell pod in its own namespace, turns Ready by its probe, and reports its exit and message', async () => {
    const pod = shellPod([
      {
        name: 'web',
        image: 'localnode/shell',
        args: [
          'echo "ip=$POD_IP name=$POD_NAME"; python3 -m http.server 8080 --bind "$POD_IP" >/dev/null 2>&1 & ' +
            'while [ ! -f /tmp/stop ]; do sleep 0.05; done; echo goodbye > /dev/termination-log; exit 3',
        ],
        env: [
          { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        ],
        readinessProbe: { httpGet: { port: 8080, path: '/' }, periodSeconds: 1 },
      },
    ]);
    const rt = run(pod);
    await until('ready', () => appStatus(pod, rt).ready);
    expect(status(pod, rt)).toMatchObject({ phase: 'Running', podIP: rt.ip });
    expect(cidrContains(cidr, rt.ip ?? '')).toBe(true);
    // Ready means the probe reached the server, which runs inside the pod's namespace.
    expect(await netnsPids(statSync(`/run/netns/${rt.netns}`).ino)).not.toHaveLength(0);
    const log = await readFile(rt.layout.log('web'), 'utf8');
    expect(log).toContain(`ip=${rt.ip} name=${pod.metadata?.name}`);

    // The container's /tmp is its own directory under the pod.
    await writeFile(join(rt.layout.tmp('web'), 'stop'), '');
    await until('exit', () => appStatus(pod, rt).state.terminated);
    expect(appStatus(pod, rt)).toMatchObject({
      ready: false,
      state: { terminated: { exitCode: 3, reason: 'Error', message: 'goodbye\n' } },
    });
    expect(podPhase(pod, rt.snapshot())).toBe('Failed');
  });

  it('restarts an OnFailure container with back-off until it succeeds', async () => {
    const pod = shellPod(
      [
        {
          name: 'flaky',
          image: 'localnode/shell',
          args: [
            'n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n; [ $n -ge 3 ] && exit 0; exit 1',
          ],
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
        },
      ],
      { restartPolicy: 'OnFailure', volumes: [{ name: 'data', emptyDir: {} }] },
    );
    const rt = run(pod);
    await until('success', () => podPhase(pod, rt.snapshot()) === 'Succeeded');
    expect(appStatus(pod, rt)).toMatchObject({
      restartCount: 2,
      state: { terminated: { exitCode: 0, reason: 'Completed' } },
      lastState: { terminated: { exitCode: 1 } },
    });
    expect(events.some((e) => e.reason === 'BackOff')).toBe(true);
    expect(await readFile(join(rt.layout.volume('data'), 'n'), 'utf8')).toBe('3\n');
  });

  it('runs init containers first, and a failed liveness probe restarts the container', async () => {
    const pod = shellPod(
      [
        {
          name: 'app',
          image: 'localnode/shell',
          args: ['cat /shared/init-was-here; sleep 60'],
          volumeMounts: [{ name: 'shared', mountPath: '/shared' }],
          livenessProbe: {
            exec: { command: ['false'] },
            initialDelaySeconds: 1,
            periodSeconds: 1,
            failureThreshold: 1,
          },
          ...{ terminationMessagePolicy: 'FallbackToLogsOnError' },
        },
      ],
      {
        restartPolicy: 'Always',
        terminationGracePeriodSeconds: 1,
        volumes: [{ name: 'shared', emptyDir: {} }],
        initContainers: [
          {
            name: 'init',
            image: 'localnode/shell',
            args: ['echo yes > /shared/init-was-here'],
            volumeMounts: [{ name: 'shared', mountPath: '/shared' }],
          },
        ],
      },
    );
    const rt = run(pod);
    await until('restart', () => appStatus(pod, rt).restartCount >= 1);
    const s = status(pod, rt);
    expect(s['initContainerStatuses']).toMatchObject([
      { name: 'init', state: { terminated: { exitCode: 0 } } },
    ]);
    expect(appStatus(pod, rt).lastState).toMatchObject({ terminated: { exitCode: 143 } });
    expect(await readFile(rt.layout.log('app'), 'utf8')).toContain('yes');
    expect(events.some((e) => e.reason === 'Unhealthy' && e.message.startsWith('Liveness'))).toBe(true);
  });

  it('runs a hostNetwork pod without a namespace of its own, at the node address', async () => {
    const pod = shellPod(
      [{ name: 'h', image: 'localnode/shell', args: ['readlink /proc/self/ns/net; echo "$TMPDIR"'] }],
      {
        hostNetwork: true,
      },
    );
    const rt = run(pod);
    await until('exit', () => appStatus(pod, rt).state.terminated);
    expect(rt.netns).toBeUndefined();
    expect(status(pod, rt)).toMatchObject({ podIP: pool.gateway, phase: 'Succeeded' });
    const [netns, tmp] = (await readFile(rt.layout.log('h'), 'utf8')).split('\n');
    expect(netns).toBe(await readlink('/proc/self/ns/net'));
    // Containers are told the short path, which stays far below the 108-byte limit of Unix socket paths.
    expect(tmp).toBe(join(linksDir, shortPodId(pod.metadata?.uid ?? ''), 'containers/h/tmp'));
  });

  it('runs a container as the user of its securityContext', async () => {
    const pod = shellPod(
      [{ name: 'who', image: 'localnode/shell', args: ['id -u; id -g; touch "$HOME/x"'] }],
      {
        securityContext: { runAsUser: 1000, runAsGroup: 1000 },
      },
    );
    const rt = run(pod);
    await until('exit', () => appStatus(pod, rt).state.terminated);
    expect(appStatus(pod, rt).state.terminated).toMatchObject({ exitCode: 0 });
    expect((await readFile(rt.layout.log('who'), 'utf8')).split('\n').slice(0, 2)).toEqual(['1000', '1000']);
  });

  it('fails the pod for an image it has no program for, and stops everything within the grace period', async () => {
    const bad = shellPod([{ name: 'x', image: 'quay.io/nope/nginx:1' }]);
    const rtBad = run(bad);
    await until('failure', () => rtBad.failure);
    expect(status(bad, rtBad)).toMatchObject({
      phase: 'Failed',
      reason: 'ErrImagePull',
      containerStatuses: [{ state: { waiting: { reason: 'ErrImagePull' } } }],
    });

    const stubborn = shellPod([
      {
        name: 's',
        image: 'localnode/shell',
        args: ['trap "" TERM; echo trapped; sleep 60 & wait; sleep 60'],
      },
    ]);
    const rt = run(stubborn);
    await until('running', () => appStatus(stubborn, rt).state.running);
    for (let i = 0; i < 100 && !(await readFile(rt.layout.log('s'), 'utf8')).includes('trapped'); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    rt.stop(300);
    await until('stopped', () => rt.allStopped);
    expect(appStatus(stubborn, rt).state.terminated).toMatchObject({ exitCode: 137 });
    const netns = rt.netns as string;
    await rt.releaseSandbox();
    expect(existsSync(`/run/netns/${netns}`)).toBe(false);
  });
});
