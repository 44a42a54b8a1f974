import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { BrowserProject } from '../api/index.js';
import { type ControlPlane, freePorts, startControlPlane } from '../localcluster/control-plane.js';
import { tool } from '../localcluster/tools.js';
import type { OperatorConfig } from '../operator/config.js';
import { intToIp, parseCidr } from '../shared/cidr.js';
import { isAlreadyExists, type KubeClient, paths } from '../shared/kube/client.js';
import { repoRoot } from '../shared/repo-root.js';

/**
 * The local world that `make dev`, the benchmarks and the test suite stand up on this machine: a control plane
 * with this checkout's CRDs, a node agent on a pod network of its own, and the namespaces, keys and projects
 * the processes serve. Each of them launches the browserfleet processes its own way (make dev as
 * `dist/main.js` children, the benchmarks as measured children, the tests in-process), but the world and its
 * addresses are built here, once.
 */

/**
 * Where a local node agent puts its pods: addresses from `podCIDR` on `bridge`, whose own address `hostIP`
 * (the range's first) is where pods reach processes on this machine. Services get addresses from
 * `serviceCIDR`, which the node agent also routes on this machine.
 */
export interface LocalNetwork {
  podCIDR: string;
  hostIP: string;
  bridge: string;
  serviceCIDR: string;
}

function localNetwork(podCIDR: string, bridge: string, serviceCIDR: string): LocalNetwork {
  return { podCIDR, hostIP: intToIp(parseCidr(podCIDR).network + 1), bridge, serviceCIDR };
}

/** `make dev`'s network: its real node's pod range and bridge, and the control plane's Service range. */
export const DEV_NETWORK = localNetwork('10.244.0.0/16', 'bf0', '10.96.0.0/16');
/**
 * The benchmarks' network: make dev's addresses on a bridge of their own. Both cannot run at once (the
 * benchmark says so when its node agent cannot take the range).
 */
export const BENCH_NETWORK: LocalNetwork = { ...DEV_NETWORK, bridge: 'bfbench0' };
/** The test suite's network: apart from make dev's, so that `make test` and `make dev` run side by side. */
export const SUITE_NETWORK = localNetwork('10.245.0.0/16', 'bfsuite0', '10.97.0.0/16');

const VERSION = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string })
  .version;
/**
 * The chart's image names at package.json's version: what `make images` builds and hack/real-node.sh copies into
 * a real node's containerd, for browser pods (the operator's chrome.image and sidecar.image).
 */
export const CHART_IMAGES = {
  chrome: `browserfleet/chrome:${VERSION}`,
  sidecar: `browserfleet/browserfleet:${VERSION}`,
} as const;

/**
 * A local control plane serving `network`'s Service range, with this checkout's CRDs installed and served. Its
 * API server is advertised at the network's host address, so pods on the network's node reach it through the
 * `kubernetes` Service.
 */
export async function startLocalControlPlane(network: LocalNetwork): Promise<ControlPlane> {
  const plane = await startControlPlane({
    serviceCIDR: network.serviceCIDR,
    advertiseAddress: network.hostIP,
  });
  try {
    installCrds(plane.kubeconfigPath);
  } catch (err) {
    await plane.stop();
    throw err;
  }
  return plane;
}

/** Applies crds/ (server-side, idempotent) and waits until the API server serves them. */
export function installCrds(kubeconfig: string): void {
  const kubectl = tool('kubectl');
  const crds = path.join(repoRoot, 'crds');
  const k = (args: string[]) => {
    try {
      execFileSync(kubectl, ['--kubeconfig', kubeconfig, ...args], { stdio: 'pipe' });
    } catch (err) {
      throw new Error(
        `kubectl ${args.join(' ')} failed: ${String((err as { stderr?: Buffer }).stderr ?? err)}`,
      );
    }
  };
  k(['apply', '--server-side', '--force-conflicts', '-f', crds]);
  k(['wait', '--for=condition=Established', '--timeout=60s', '-f', crds]);
}

/**
 * Where the operator's report endpoint listens and what sidecars are told to call. On a pod network it is
 * the host address, the one address of this machine that pods in their namespaces reach.
 */
export function reportEndpoint(
  host: string,
  port: number,
): Pick<OperatorConfig, 'reportListen' | 'reportUrl'> {
  return { reportListen: `${host}:${port}`, reportUrl: `http://${host}:${port}/v1/report` };
}

/** A report endpoint on a free port of `host`. */
export async function freeReportEndpoint(
  host: string,
): Promise<Pick<OperatorConfig, 'reportListen' | 'reportUrl'>> {
  const [port] = await freePorts(1, host);
  if (port === undefined) throw new Error(`no free port on ${host} for the report endpoint`);
  return reportEndpoint(host, port);
}

/** Creates an object unless one of that name exists (a world started twice on one control plane). */
export async function ensure(client: KubeClient, listPath: string, body: unknown): Promise<void> {
  try {
    await client.create(listPath, body);
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
}

export async function ensureNamespace(client: KubeClient, name: string): Promise<void> {
  await ensure(client, paths.namespaces(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

/** A Secret holding an API key under `apiKey`, the key a project's `apiKeySecrets` refers to. */
export async function ensureApiKeySecret(
  client: KubeClient,
  namespace: string,
  name: string,
  apiKey: string,
): Promise<void> {
  await ensure(client, `/api/v1/namespaces/${namespace}/secrets`, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    stringData: { apiKey },
  });
}

export async function ensureProject(
  client: KubeClient,
  name: string,
  spec: Partial<BrowserProject['spec']> & Pick<BrowserProject['spec'], 'namespace'>,
): Promise<void> {
  await ensure(client, paths.projects(), {
    apiVersion: 'browserfleet.dev/v1alpha1',
    kind: 'BrowserProject',
    metadata: { name },
    spec,
  });
}

/**
 * What make dev and the benchmarks serve: a project whose sessions run in `namespace` (created if missing),
 * reachable with `apiKey`, which the Secret `secret` in that namespace holds.
 */
export async function seedProject(
  client: KubeClient,
  opts: {
    project: string;
    namespace: string;
    apiKey: string;
    secret: string;
    spec: Partial<BrowserProject['spec']>;
  },
): Promise<void> {
  await ensureNamespace(client, opts.namespace);
  await ensureApiKeySecret(client, opts.namespace, opts.secret, opts.apiKey);
  await ensureProject(client, opts.project, {
    ...opts.spec,
    namespace: opts.namespace,
    apiKeySecrets: [{ name: opts.secret }],
  });
}

/** The operator's config for session pods from the chart's images (CHART_IMAGES). */
export function chartImageConfig(base: OperatorConfig): Pick<OperatorConfig, 'chrome' | 'sidecar'> {
  return {
    chrome: { ...base.chrome, image: CHART_IMAGES.chrome },
    sidecar: { ...base.sidecar, image: CHART_IMAGES.sidecar },
  };
}
