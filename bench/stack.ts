import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { BENCH_NETWORK, freeReportEndpoint, seedProject, startLocalControlPlane } from '../src/dev/stack.js';
import { defaultGatewayConfig, validateGatewayConfig } from '../src/gateway/config.js';
import { type ControlPlane, freePorts } from '../src/localcluster/control-plane.js';
import { type RealNode, startRealNode } from '../src/localcluster/real-node.js';
import { loadConfig as loadOperatorConfig, type OperatorConfig } from '../src/operator/config.js';
import { isNotFound, KubeClient, paths } from '../src/shared/kube/client.js';
import { repoRoot } from '../src/shared/repo-root.js';
import { type ChildHandle, startChild } from './child-protocol.js';
import { resultsDir, sleep } from './report.js';

export const NODE_NAME = 'bench-node';
/** The real node's state (containerd, kubelet, logs); its images stay in the shared store across runs. */
const NODE_STATE_DIR = '/run/browserfleet-bench-node';
const VERSION = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string })
  .version;
/** The chart's image names, as `make images` builds them and hack/real-node.sh copies them into containerd. */
export const CHROME_IMAGE = `browserfleet/chrome:${VERSION}`;
export const SIDECAR_IMAGE = `browserfleet/browserfleet:${VERSION}`;
/**
 * Requests of the benchmark's browser pods: the defaults (500m + 50m CPU, 1 GiB + 64 MiB) would fit three on
 * this 2-core node, and the lifecycle runs ten at once. Limits stay the defaults; only what the scheduler
 * reserves is smaller, so every pod is placed and they share the cores as bare Chromes do in the baseline.
 */
const BENCH_POD_REQUESTS = {
  chrome: { cpu: '100m', memory: '256Mi' },
  sidecar: { cpu: '10m', memory: '32Mi' },
};
export const BENCH_NAMESPACE = 'bf-bench';
export const BENCH_PROJECT = 'bench';
/**
 * Sessions in this region get a node selector no node matches: the benchmark itself plays the kubelet for
 * their pods, running Chrome and the sidecar on loopback (bench/loopback-pod.ts), so that one Chrome can be
 * measured directly, through its sidecar, and through the gateway.
 */
export const LOOPBACK_REGION = 'bench-loopback';

export interface BenchStack {
  plane: ControlPlane;
  kubeconfig: string;
  client: KubeClient;
  kubernetesVersion: string;
  sessionKey: string;
  apiKey: string;
  namespace: string;
  project: string;
  /** The real node (kubelet, containerd, kube-proxy) the browser pods run on; undefined when not started. */
  node: RealNode | undefined;
  /** Takes the real node down (the scale runs place their pods on KWOK's fake nodes instead). */
  stopNode(): Promise<void>;
  operator: ChildHandle;
  gateway: ChildHandle;
  /** http://127.0.0.1:<port>: the SDKs' base URL. */
  gatewayUrl: string;
  /** A page on the pod network's host address: reachable from browser pods and from Chrome on the host. */
  pageUrl: string;
  logsDir: string;
  /** An operator process for one namespace, configured like the benchmark's own plus `overrides`. */
  startOperator(name: string, overrides: Partial<OperatorConfig>): Promise<ChildHandle>;
  stop(): Promise<void>;
}

/**
 * Everything the benchmarks run against, started once per `make bench`: a local control plane, a real node on
 * the benchmark network (hack/real-node.sh: kubelet, containerd, runc, the CNI bridge, kube-proxy) when real
 * browser pods are wanted, an operator and a gateway, each browserfleet component as its own process.
 */
export async function startBenchStack(
  log: (msg: string) => void,
  opts: { realNode: boolean },
): Promise<BenchStack> {
  // Without real pods nothing needs the pod network: the operator's report endpoint and the page listen on
  // loopback (where the loopback pods' sidecars reach them).
  if (opts.realNode && process.getuid?.() !== 0)
    throw new Error('the benchmarks on the real node need root (it runs a kubelet and containerd)');
  const logsDir = path.join(resultsDir, 'logs');
  const children: ChildHandle[] = [];
  let plane: ControlPlane | undefined;
  let node: RealNode | undefined;
  let page: http.Server | undefined;
  const stopNode = async () => {
    const n = node;
    node = undefined;
    // down deletes the node's pods first, through the API, then stops the kubelet and undoes the host changes.
    await n?.stop();
  };
  const stop = async () => {
    for (const c of children.reverse()) await c.stop().catch(() => undefined);
    children.length = 0;
    if (page) await new Promise((r) => page?.close(r));
    page?.closeAllConnections();
    await stopNode().catch((err: unknown) => log(`real node: down failed: ${err}`));
    await plane?.stop();
  };
  try {
    const t0 = Date.now();
    plane = await startLocalControlPlane(BENCH_NETWORK);
    const kubeconfig = plane.kubeconfigPath;
    const client = await KubeClient.create(kubeconfig);
    const version = await client.get<{ gitVersion: string }>('/version');
    log(`control plane ready in ${plane.readyMs} ms`);

    let hostIP = '127.0.0.1';
    if (opts.realNode) {
      // A run killed outright (no exit hook) left its node up; up refuses to start over it.
      execFileSync('bash', [path.join(repoRoot, 'hack/real-node.sh'), 'down', NODE_STATE_DIR], {
        stdio: 'ignore',
      });
      node = await startRealNode({
        stateDir: NODE_STATE_DIR,
        kubeconfigPath: kubeconfig,
        name: NODE_NAME,
        bridge: BENCH_NETWORK.bridge,
        podCIDR: BENCH_NETWORK.podCIDR,
      }).catch((err: unknown) => {
        throw new Error(
          `${err instanceof Error ? err.message : err}\n(is \`make dev\` or \`make test\` running? one real node per machine)`,
        );
      });
      // The node's IP is the first address of the pod range, on the bridge: where pods reach this machine.
      if (node.ip !== BENCH_NETWORK.hostIP)
        throw new Error(`real node IP ${node.ip}, expected ${BENCH_NETWORK.hostIP} (the pod range's first)`);
      hostIP = node.ip;
      log(`real node ${node.name} up in ${node.upMs} ms (${node.ip}, pods ${node.podCIDR})`);
    }

    const sessionKey = randomBytes(32).toString('base64url');
    const apiKey = `bf_bench_${randomBytes(16).toString('hex')}`;
    await seedProject(client, {
      project: BENCH_PROJECT,
      namespace: BENCH_NAMESPACE,
      apiKey,
      secret: 'bench-api-key',
      spec: { concurrency: 40, maxQueued: 40, defaultTimeout: 600 },
    });

    const startOperator = async (name: string, overrides: Partial<OperatorConfig>) => {
      const base = loadOperatorConfig({ BF_SESSION_KEY: sessionKey, HOSTNAME: name });
      const config: OperatorConfig = {
        ...base,
        namespace: 'bf-bench-system',
        metricsListen: '127.0.0.1:0',
        // Not when the caller names its own: the node's address is gone once the node is down.
        ...(overrides.reportListen ? {} : await freeReportEndpoint(hostIP)),
        leaderElection: { ...base.leaderElection, enabled: false },
        chrome: {
          ...base.chrome,
          image: CHROME_IMAGE,
          resources: { ...base.chrome.resources, requests: BENCH_POD_REQUESTS.chrome },
        },
        sidecar: {
          ...base.sidecar,
          image: SIDECAR_IMAGE,
          resources: { ...base.sidecar.resources, requests: BENCH_POD_REQUESTS.sidecar },
        },
        ...overrides,
      };
      const child = await startChild(
        'operator',
        { ...config, kubeconfig },
        { logFile: path.join(logsDir, `${name}.log`) },
      );
      children.push(child);
      return child;
    };
    const operator = await startOperator('operator', { watchNamespace: BENCH_NAMESPACE });

    const [gatewayPort] = await freePorts(1);
    const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    const gateway = await startChild(
      'gateway',
      {
        kubeconfig,
        ...validateGatewayConfig({
          ...defaultGatewayConfig,
          listen: `127.0.0.1:${gatewayPort}`,
          metricsListen: '127.0.0.1:0',
          publicUrl: gatewayUrl,
          sessionKey,
          watchNamespace: BENCH_NAMESPACE,
          createWaitMs: 20_000,
          releaseWaitMs: 20_000,
        }),
      },
      { logFile: path.join(logsDir, 'gateway.log'), exposeGc: true },
    );
    children.push(gateway);

    page = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    });
    await new Promise<void>((resolve) => page?.listen(0, hostIP, resolve));
    const pageUrl = `http://${hostIP}:${(page.address() as AddressInfo).port}/`;
    log(`stack ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (logs in ${logsDir})`);

    return {
      plane,
      kubeconfig,
      client,
      kubernetesVersion: version.gitVersion,
      sessionKey,
      apiKey,
      namespace: BENCH_NAMESPACE,
      project: BENCH_PROJECT,
      get node() {
        return node;
      },
      stopNode,
      operator,
      gateway,
      gatewayUrl,
      pageUrl,
      logsDir,
      startOperator,
      async stop() {
        // Ending the sessions first lets the operator and the kubelet take the pods down the normal way.
        await client.request('DELETE', paths.sessions(BENCH_NAMESPACE)).catch(() => undefined);
        await waitForNoPods(client, BENCH_NAMESPACE, 30_000);
        client.close();
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A small, ordinary page: a title, some text and styles, no subresources. */
const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>browserfleet bench</title>
<style>body{font-family:sans-serif;margin:2em}li:nth-child(odd){background:#eef}</style></head>
<body><h1>browserfleet bench</h1><ul>${Array.from({ length: 50 }, (_, i) => `<li>item ${i}</li>`).join('')}</ul></body></html>`;

export async function waitForNoPods(
  client: KubeClient,
  namespace: string,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const list = await client
      .get<{ items: unknown[]; metadata?: { remainingItemCount?: number } }>(paths.pods(namespace), {
        limit: 1,
      })
      .catch((err: unknown) => (isNotFound(err) ? { items: [] } : undefined));
    if (list && list.items.length === 0) return true;
    await sleep(250);
  }
  return false;
}

/** Objects in a namespace without listing them all: a list of one item says how many remain. */
export async function countObjects(client: KubeClient, listPath: string): Promise<number> {
  const list = await client.get<{ items: unknown[]; metadata?: { remainingItemCount?: number } }>(listPath, {
    limit: 1,
  });
  return list.items.length + (list.metadata?.remainingItemCount ?? 0);
}
