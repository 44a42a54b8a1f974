import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { ensureNamespace, installCrds, type LocalNetwork } from '../../dev/stack.js';
import { type ControlPlane, startControlPlane } from '../../localcluster/control-plane.js';
import { type RealNode, startRealNode } from '../../localcluster/real-node.js';
import { tool } from '../../localcluster/tools.js';
import { KubeClient, paths } from '../../shared/kube/client.js';
import { repoRoot } from '../../shared/repo-root.js';

const run = promisify(execFile);

/**
 * The chaos run's own cluster: a control plane (so its API server can be restarted), a real node (kubelet,
 * containerd, kube-proxy: hack/real-node.sh) on a network of its own, and the chart installed on it, its
 * operator and gateway running as real pods from the images `make images` built. One real node runs per
 * machine, so this world cannot be up while the cluster suite's node is (vitest's `chaos` project runs alone).
 */
export const CHAOS_NETWORK: LocalNetwork = {
  podCIDR: '10.246.0.0/16',
  hostIP: '10.246.0.1',
  bridge: 'bfchaos0',
  serviceCIDR: '10.98.0.0/16',
};
export const CHAOS_NODE = 'chaos-node';
const STATE_DIR = '/run/bf-chaos-node';
const GATEWAY_IP = '10.98.0.200';
const SCRIPT = path.join(repoRoot, 'hack/real-node.sh');

export interface ChaosWorld {
  plane: ControlPlane;
  client: KubeClient;
  node: RealNode;
  /** The release's namespace (operator, gateway, Lease) and the project's (sessions, browser pods). */
  releaseNamespace: string;
  projectNamespace: string;
  project: string;
  concurrency: number;
  leaseName: string;
  gatewayUrl: string;
  apiKey: string;
  /**
   * SIGKILLs the node's kubelet and starts it again `downMs` later (hack/real-node.sh restart-kubelet); resolves
   * once the new one answers its health check. `onKilled` is called as it is killed.
   */
  restartKubelet(downMs: number, onKilled: (at: number, pid: number) => void): Promise<{ upAt: number }>;
  logDir: string;
  stop(): Promise<void>;
}

export async function startChaosWorld(opts: {
  concurrency: number;
  maxQueued: number;
  timeoutSeconds: number;
}): Promise<ChaosWorld> {
  const logDir = await mkdtemp(path.join(os.tmpdir(), 'bf-chaos-'));
  // A run killed outright (no stop, no exit hook) left its node up; up refuses to start over it.
  await run('bash', [SCRIPT, 'down', STATE_DIR]).catch(() => undefined);
  // The chart's pods reach the API server at the node's bridge address (the `kubernetes` Service's endpoint).
  const plane = await startControlPlane({
    serviceCIDR: CHAOS_NETWORK.serviceCIDR,
    advertiseAddress: CHAOS_NETWORK.hostIP,
  });
  const cleanups: (() => Promise<void>)[] = [() => plane.stop()];
  const stop = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    // down keeps the node's own logs; the pods' logs went with the pods, copied before (see below).
    await cp(path.join(STATE_DIR, 'logs'), path.join(logDir, 'node-logs'), { recursive: true }).catch(
      () => undefined,
    );
  };
  try {
    installCrds(plane.kubeconfigPath);
    const client = await KubeClient.create(plane.kubeconfigPath);
    cleanups.push(async () => client.close());
    const node = await startRealNode({
      stateDir: STATE_DIR,
      kubeconfigPath: plane.kubeconfigPath,
      name: CHAOS_NODE,
      bridge: CHAOS_NETWORK.bridge,
      podCIDR: CHAOS_NETWORK.podCIDR,
      // The node's CoreDNS answers for the chart's Service names (its default reportUrl is one).
    });
    // The kubelet removes a pod's logs with the pod, and a killed container's with its next restart: copied
    // every few seconds (never deleted from the copy), a failed run keeps the logs of every session's sidecar.
    const copyLogs = () =>
      cp(path.join(STATE_DIR, 'pod-logs'), path.join(logDir, 'pod-logs'), {
        recursive: true,
        dereference: true,
        force: true,
      }).catch(() => undefined);
    let copying: Promise<unknown> = Promise.resolve();
    const logCopier = setInterval(() => {
      copying = copying.then(copyLogs);
    }, 3000);
    cleanups.push(async () => {
      clearInterval(logCopier);
      await copying;
      await copyLogs();
      await node.stop();
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
    // What the last try got, and whether kube-proxy had written the Service's rules, for a timeout's message
    // (seen once in CI: both replicas Ready and listening, the cluster IP not answering for two minutes).
    let lastSeen = 'nothing yet';
    await waitFor('the gateway at its cluster IP', 120_000, async () => {
      const r = await fetch(`${gatewayUrl}/v1/sessions`, { signal: AbortSignal.timeout(2000) }).catch(
        (err: unknown) => {
          const e = err as { message?: string; cause?: { code?: string } };
          lastSeen = `${e.message ?? String(err)}${e.cause?.code ? ` (${e.cause.code})` : ''}`;
          return undefined;
        },
      );
      // Seen twice: HTTP 404 for minutes, with the Service's rules written. Its body says who answered.
      if (r) lastSeen = `HTTP ${r.status} ${(await r.text().catch(() => '')).slice(0, 160)}`;
      return r?.status === 401;
    }).catch(async (err: unknown) => {
      const saved = await run('iptables-save', ['-t', 'nat']).then(
        (o) => o.stdout.split('\n'),
        () => [] as string[],
      );
      const nat = saved.filter((l) => l.includes(GATEWAY_IP)).length;
      const jumps = saved.filter((l) => /^-A (OUTPUT|PREROUTING) .*KUBE-SERVICES/.test(l)).length;
      throw new Error(
        `${(err as Error).message}: last try ${lastSeen}; ${nat} nat rules name ${GATEWAY_IP}; ${jumps} OUTPUT/PREROUTING jumps to KUBE-SERVICES`,
      );
    });
    const secret = await client.get<{ data: Record<string, string> }>(
      paths.secret(P, `${fullname}-${project}-api-key`),
    );
    const apiKey = Buffer.from(secret.data['apiKey'] ?? '', 'base64').toString('utf8');
    return {
      plane,
      client,
      node,
      releaseNamespace: R,
      projectNamespace: P,
      project,
      concurrency: opts.concurrency,
      leaseName: `${fullname}-operator`,
      gatewayUrl,
      apiKey,
      async restartKubelet(downMs, onKilled) {
        const pid = Number(readFileSync(path.join(STATE_DIR, 'run/kubelet.pid'), 'utf8'));
        // The script kills it first thing; the moment is taken here, a few milliseconds early.
        onKilled(Date.now(), pid);
        await run('bash', [SCRIPT, 'restart-kubelet', STATE_DIR, (downMs / 1000).toFixed(3)], {
          maxBuffer: 16 << 20,
        });
        return { upAt: Date.now() };
      },
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
