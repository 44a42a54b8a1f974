import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import {
  BENCH_NETWORK,
  freeReportEndpoint,
  localnodeConfig,
  seedProject,
  startLocalControlPlane,
} from '../src/dev/stack.js';
import { defaultGatewayConfig, validateGatewayConfig } from '../src/gateway/config.js';
import { type ControlPlane, freePorts } from '../src/localcluster/control-plane.js';
import { loadConfig as loadOperatorConfig, type OperatorConfig } from '../src/operator/config.js';
import { isNotFound, KubeClient, paths } from '../src/shared/kube/client.js';
import { repoRoot } from '../src/shared/repo-root.js';
import { type ChildHandle, startChild } from './child-protocol.js';
import { resultsDir, sleep } from './report.js';

export const NODE_NAME = 'bench-node';
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
  localnode: ChildHandle;
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
 * Everything the benchmarks run against, started once per `make bench`: a local control plane, the node agent
 * (real browser pods in network namespaces; simulated ones on request), an operator and a gateway, each
 * browserfleet component as its own process, configured as `make dev` configures them.
 */
export async function startBenchStack(
  log: (msg: string) => void,
  opts: { realPods: boolean },
): Promise<BenchStack> {
  // Without real pods nothing needs the pod network: the node agent only simulates, and the operator's report
  // endpoint and the page listen on loopback (where the loopback pods' sidecars reach them).
  const hostIP = opts.realPods ? BENCH_NETWORK.hostIP : '127.0.0.1';
  if (process.getuid?.() !== 0)
    throw new Error('the benchmarks need root (the node agent creates network namespaces)');
  if (!existsSync(path.join(repoRoot, 'dist/main.js'))) {
    throw new Error('dist/main.js is missing (browser pods run the sidecar from it): run `make build` first');
  }
  const logsDir = path.join(resultsDir, 'logs');
  const children: ChildHandle[] = [];
  let plane: ControlPlane | undefined;
  let page: http.Server | undefined;
  const stop = async () => {
    // The node agent last: it stops the browser pods of sessions the operator no longer serves.
    for (const c of children.reverse()) await c.stop().catch(() => undefined);
    children.length = 0;
    if (page) await new Promise((r) => page?.close(r));
    page?.closeAllConnections();
    await plane?.stop();
  };
  try {
    const t0 = Date.now();
    plane = await startLocalControlPlane(BENCH_NETWORK);
    const kubeconfig = plane.kubeconfigPath;
    const client = await KubeClient.create(kubeconfig);
    const version = await client.get<{ gitVersion: string }>('/version');
    log(`control plane ready in ${plane.readyMs} ms`);

    const localnode = await startChild(
      'localnode',
      localnodeConfig(BENCH_NETWORK, {
        simulate: !opts.realPods,
        nodeName: NODE_NAME,
        kubeconfig,
        // Not under the control plane's directory: that one is private to root, and pods run as uid 1000.
        stateDir: '/run/browserfleet-bench',
        checkoutDir: repoRoot,
        // Room for the scale benchmark's simulated pods next to the real ones; requests are the operator's.
        allocatable: { cpu: '100000', memory: '200Ti', pods: 50_000 },
      }),
      { logFile: path.join(logsDir, 'localnode.log') },
    ).catch((err: unknown) => {
      throw new Error(
        `${err instanceof Error ? err.message : err}\n(is \`make dev\` or \`make test\` running? they use the same pod network)`,
      );
    });
    children.push(localnode);

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
        ...(await freeReportEndpoint(hostIP)),
        leaderElection: { ...base.leaderElection, enabled: false },
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
      localnode,
      operator,
      gateway,
      gatewayUrl,
      pageUrl,
      logsDir,
      startOperator,
      async stop() {
        // Ending the sessions first lets the operator and node agent take the pods down the normal way.
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
