import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { ensureNamespace, installCrds, type LocalNetwork } from '../../dev/stack.js';
import { type ControlPlane, startControlPlane } from '../../localcluster/control-plane.js';
import { tool } from '../../localcluster/tools.js';
import { KubeClient, paths } from '../../shared/kube/client.js';
import { repoRoot } from '../../shared/repo-root.js';

const run = promisify(execFile);

/**
 * The chaos run's own cluster: a control plane (so its API server can be restarted without disturbing the
 * rest of the suite), a node agent as a separate process on a network of its own (so it can be SIGKILLed and
 * started again), and the chart installed on it, its operator and gateway running as real pods on that node.
 */
export const CHAOS_NETWORK: LocalNetwork = {
  podCIDR: '10.246.0.0/16',
  hostIP: '10.246.0.1',
  bridge: 'bfchaos0',
  serviceCIDR: '10.98.0.0/16',
};
export const CHAOS_NODE = 'chaos-node';
const STATE_DIR = '/run/bf-chaos';
const GATEWAY_IP = '10.98.0.200';

export interface ChaosWorld {
  plane: ControlPlane;
  client: KubeClient;
  /** The release's namespace (operator, gateway, Lease) and the project's (sessions, browser pods). */
  releaseNamespace: string;
  projectNamespace: string;
  project: string;
  concurrency: number;
  leaseName: string;
  gatewayUrl: string;
  apiKey: string;
  /** The node agent's per-pod records: `<dir>/pods/<uid>/state.json`. */
  nodeStateDir: string;
  nodeAgent: NodeAgentProcess;
  logDir: string;
  stop(): Promise<void>;
}

export interface NodeAgentProcess {
  pid(): number | undefined;
  /** SIGKILL, as a crash: its pods' processes stay until a new agent starts and clears them. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

function nodeAgent(kubeconfig: string, logDir: string): NodeAgentProcess {
  let child: ChildProcess | undefined;
  const exited = (c: ChildProcess) =>
    c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r));
  return {
    pid: () => child?.pid,
    async start() {
      const log = createWriteStream(path.join(logDir, 'localnode.log'), { flags: 'a' });
      child = spawn(
        'setpriv',
        ['--pdeathsig', 'TERM', '--', process.execPath, path.join(repoRoot, 'dist/main.js'), 'localnode'],
        {
          env: {
            ...process.env,
            BF_LOCALNODE_KUBECONFIG: kubeconfig,
            BF_LOCALNODE_NODE_NAME: CHAOS_NODE,
            BF_LOCALNODE_POD_CIDR: CHAOS_NETWORK.podCIDR,
            BF_LOCALNODE_BRIDGE: CHAOS_NETWORK.bridge,
            BF_LOCALNODE_SERVICE_PROXY: 'true',
            BF_LOCALNODE_STATE_DIR: STATE_DIR,
            BF_LOCALNODE_CPU: '64',
            BF_LOCALNODE_MEMORY: '256Gi',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      child.stdout?.pipe(log);
      child.stderr?.pipe(log);
    },
    async kill() {
      if (!child) return;
      child.kill('SIGKILL');
      await exited(child);
    },
    async stop() {
      if (!child) return;
      const c = child;
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 60_000);
      await exited(c);
      clearTimeout(timer);
    },
  };
}

export async function startChaosWorld(opts: {
  concurrency: number;
  maxQueued: number;
  timeoutSeconds: number;
}): Promise<ChaosWorld> {
  const logDir = await mkdtemp(path.join(os.tmpdir(), 'bf-chaos-'));
  const plane = await startControlPlane({ serviceCIDR: CHAOS_NETWORK.serviceCIDR });
  const cleanups: (() => Promise<void>)[] = [() => plane.stop()];
  const stop = async () => {
    // The pods' logs go with the pods: keep a copy beside the run's other files.
    const podLogs = path.join(STATE_DIR, CHAOS_NODE, 'logs');
    await cp(podLogs, path.join(logDir, 'pod-logs'), { recursive: true, dereference: true }).catch(
      () => undefined,
    );
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    installCrds(plane.kubeconfigPath);
    const client = await KubeClient.create(plane.kubeconfigPath);
    cleanups.push(async () => client.close());
    const agent = nodeAgent(plane.kubeconfigPath, logDir);
    await agent.start();
    cleanups.push(() => agent.stop());
    await waitFor('the chaos node Ready', 60_000, async () => {
      const node = await client
        .get<{ status?: { conditions?: { type: string; status: string }[] } }>(`/api/v1/nodes/${CHAOS_NODE}`)
        .catch(() => undefined);
      return node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    });

    const R = 'chaos-system';
    const P = 'chaos-sessions';
    const project = 'chaos';
    const release = 'chaos';
    const fullname = `${release}-browserfleet`;
    for (const ns of [R, P]) await ensureNamespace(client, ns);
    const values = path.join(logDir, 'values.yaml');
    await writeFile(
      values,
      stringify({
        watchNamespace: P,
        operator: { disconnectGraceMs: 500 },
        gateway: {
          createWaitMs: 5000,
          connectWaitMs: 10_000,
          publicUrl: `http://${GATEWAY_IP}`,
          service: { clusterIP: GATEWAY_IP },
        },
        browser: {
          resources: { requests: { cpu: '10m', memory: '64Mi' }, limits: { memory: '2Gi' } },
          sidecar: { resources: { requests: { cpu: '10m', memory: '32Mi' } } },
        },
        projects: [
          {
            name: project,
            namespace: P,
            concurrency: opts.concurrency,
            maxQueued: opts.maxQueued,
            defaultTimeout: opts.timeoutSeconds,
            maxTimeout: 60,
            ttlSecondsAfterFinished: 60,
          },
        ],
      }),
    );
    const helmHome = path.join(logDir, 'helm');
    mkdirSync(helmHome, { recursive: true });
    const helm = (args: string[]) =>
      run(tool('helm'), ['--kubeconfig', plane.kubeconfigPath, ...args], {
        env: {
          ...process.env,
          HELM_CACHE_HOME: path.join(helmHome, 'cache'),
          HELM_CONFIG_HOME: path.join(helmHome, 'config'),
          HELM_DATA_HOME: path.join(helmHome, 'data'),
        },
        maxBuffer: 16 << 20,
      });
    await helm(['install', release, path.join(repoRoot, 'charts/browserfleet'), '-n', R, '--values', values]);
    cleanups.push(async () => {
      await client.request('DELETE', paths.sessions(P)).catch(() => undefined);
      await helm(['uninstall', release, '-n', R, '--wait', '--timeout', '2m']).catch(() => undefined);
    });
    for (const component of ['operator', 'gateway'])
      await run(tool('kubectl'), [
        '--kubeconfig',
        plane.kubeconfigPath,
        'rollout',
        'status',
        `deployment/${fullname}-${component}`,
        '-n',
        R,
        '--timeout=300s',
      ]);
    const gatewayUrl = `http://${GATEWAY_IP}`;
    await waitFor('the gateway at its cluster IP', 120_000, async () => {
      const r = await fetch(`${gatewayUrl}/v1/sessions`, { signal: AbortSignal.timeout(2000) }).catch(
        () => undefined,
      );
      return r?.status === 401;
    });
    const secret = await client.get<{ data: Record<string, string> }>(
      paths.secret(P, `${fullname}-${project}-api-key`),
    );
    const apiKey = Buffer.from(secret.data['apiKey'] ?? '', 'base64').toString('utf8');
    return {
      plane,
      client,
      releaseNamespace: R,
      projectNamespace: P,
      project,
      concurrency: opts.concurrency,
      leaseName: `${fullname}-operator`,
      gatewayUrl,
      apiKey,
      nodeStateDir: path.join(STATE_DIR, CHAOS_NODE),
      nodeAgent: agent,
      logDir,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
