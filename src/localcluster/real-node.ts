import { execFile, execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../shared/repo-root.js';

const run = promisify(execFile);

export interface RealNodeOptions {
  /** Where the node keeps everything (containerd's root, the kubelet's root dir, logs). Absolute. */
  stateDir: string;
  /** An admin kubeconfig of the control plane: the node's certificates are requested and approved with it. */
  kubeconfigPath: string;
  /** The Node object's name (default bf-real-node). */
  name?: string;
  /** The CNI bridge (default bfreal0); at most 15 characters, as for any Linux interface name. */
  bridge?: string;
  /** The pods' range, a /16 on a .0.0 boundary (default 10.123.0.0/16); its first address is the node's IP. */
  podCIDR?: string;
  /**
   * The cluster DNS address pods are told (default: the node's own IP, where its CoreDNS answers; with
   * `dns: false`, 10.96.0.10).
   */
  clusterDNS?: string;
  /** Run CoreDNS on the node's IP for the cluster's Service names (default true). */
  dns?: boolean;
  /** Images copied from podman's store into containerd (default the chart's two at package.json's version). */
  images?: string[];
  /**
   * containerd's root, kept across runs so an image is copied from podman only when it changed (default
   * ~/.cache/browserfleet/node-images/<name>; '' keeps it under stateDir, removed by stop()). Absolute.
   */
  imageStore?: string;
  /** Labels the node registers with (the kubelet's --node-labels), e.g. a region sessions select. */
  labels?: Record<string, string>;
  /**
   * Taints the node registers with (--register-with-taints), so that only pods which tolerate them are ever
   * scheduled onto it, from its first moment on.
   */
  taints?: { key: string; value?: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' }[];
  /**
   * Run kube-proxy (default true). Off where something else serves the cluster's Services on this machine:
   * kube-proxy programs every Service into the host's iptables.
   */
  kubeProxy?: boolean;
}

/** What hack/real-node.sh wrote to <stateDir>/node.json once the node was Ready. */
export interface RealNodeInfo {
  name: string;
  ip: string;
  podCIDR: string;
  bridge: string;
  kubeletKubeconfig: string;
}

export interface RealNode extends RealNodeInfo {
  stateDir: string;
  /** Milliseconds from start until the node was Ready and kube-proxy answered. */
  upMs: number;
  /** Deletes the node's pods, stops every process and undoes what the node did to the host. */
  stop(): Promise<void>;
}

const SCRIPT = path.join(repoRoot, 'hack/real-node.sh');
/** An optional DNS-subdomain prefix and a name (the apiserver's rule for label keys). */
const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/**
 * The environment hack/real-node.sh reads, from options checked here so a bad one is refused with its name
 * rather than failing half-way through bringing the node up.
 */
export function realNodeEnv(opts: RealNodeOptions): Record<string, string> {
  if (!path.isAbsolute(opts.stateDir) || path.resolve(opts.stateDir) === '/') {
    throw new Error(`stateDir must be an absolute directory other than /, not "${opts.stateDir}"`);
  }
  if (!opts.kubeconfigPath) throw new Error('kubeconfigPath is required');
  const env: Record<string, string> = {};
  if (opts.name !== undefined) {
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(opts.name)) {
      throw new Error(`name must be a DNS label (lower-case letters, digits, '-'), not "${opts.name}"`);
    }
    env['BF_NODE_NAME'] = opts.name;
  }
  if (opts.bridge !== undefined) {
    if (!/^[a-z][a-z0-9-]{0,14}$/.test(opts.bridge)) {
      throw new Error(`bridge must be an interface name of at most 15 characters, not "${opts.bridge}"`);
    }
    env['BF_NODE_BRIDGE'] = opts.bridge;
  }
  if (opts.podCIDR !== undefined) {
    const m = /^(\d{1,3})\.(\d{1,3})\.0\.0\/16$/.exec(opts.podCIDR);
    if (!m || Number(m[1]) > 255 || Number(m[2]) > 255) {
      throw new Error(
        `podCIDR must be a /16 on a .0.0 boundary such as 10.123.0.0/16, not "${opts.podCIDR}"`,
      );
    }
    env['BF_NODE_POD_CIDR'] = opts.podCIDR;
  }
  if (opts.clusterDNS !== undefined) {
    const parts = opts.clusterDNS.split('.');
    if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
      throw new Error(`clusterDNS must be an IPv4 address, not "${opts.clusterDNS}"`);
    }
    env['BF_NODE_CLUSTER_DNS'] = opts.clusterDNS;
  }
  if (opts.images !== undefined) {
    const bad = opts.images.find((i) => !/^[^\s]+$/.test(i));
    if (opts.images.length === 0 || bad !== undefined) {
      throw new Error(
        `images must be a non-empty list of image names without spaces, not ${JSON.stringify(opts.images)}`,
      );
    }
    env['BF_NODE_IMAGES'] = opts.images.join(' ');
  }
  if (opts.imageStore !== undefined) {
    if (
      opts.imageStore !== '' &&
      (!path.isAbsolute(opts.imageStore) || path.resolve(opts.imageStore) === '/')
    ) {
      throw new Error(
        `imageStore must be '' or an absolute directory other than /, not "${opts.imageStore}"`,
      );
    }
    env['BF_NODE_IMAGE_STORE'] = opts.imageStore;
  }
  if (opts.labels !== undefined) {
    env['BF_NODE_LABELS'] = Object.entries(opts.labels)
      .map(([k, v]) => {
        if (!LABEL_KEY.test(k) || !LABEL_VALUE.test(v)) {
          throw new Error(
            `labels must be Kubernetes label keys and values, not ${JSON.stringify({ [k]: v })}`,
          );
        }
        return `${k}=${v}`;
      })
      .join(',');
  }
  if (opts.taints !== undefined) {
    env['BF_NODE_TAINTS'] = opts.taints
      .map((t) => {
        if (!LABEL_KEY.test(t.key) || (t.value !== undefined && !LABEL_VALUE.test(t.value))) {
          throw new Error(`taints must have label-like keys and values, not ${JSON.stringify(t)}`);
        }
        if (!['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(t.effect)) {
          throw new Error(
            `taints' effect must be NoSchedule, PreferNoSchedule or NoExecute, not "${t.effect}"`,
          );
        }
        return `${t.key}${t.value !== undefined ? `=${t.value}` : ''}:${t.effect}`;
      })
      .join(',');
  }
  if (opts.kubeProxy !== undefined) env['BF_NODE_KUBE_PROXY'] = opts.kubeProxy ? '1' : '0';
  if (opts.dns !== undefined) env['BF_NODE_DNS'] = opts.dns ? '1' : '0';
  return env;
}

/**
 * Brings a real node up against a control plane (root only). If this process exits without calling stop(),
 * the node is taken down on the way out, so a failed run leaves no kubelet behind.
 */
export async function startRealNode(opts: RealNodeOptions): Promise<RealNode> {
  const env = { ...process.env, ...realNodeEnv(opts) };
  const started = Date.now();
  const down = () => run('bash', [SCRIPT, 'down', opts.stateDir], { env, maxBuffer: 16 << 20 });
  const downSync = () => {
    execFileSync('bash', [SCRIPT, 'down', opts.stateDir], { env, stdio: 'ignore' });
  };
  process.on('exit', downSync);
  try {
    await run('bash', [SCRIPT, 'up', opts.stateDir, opts.kubeconfigPath], { env, maxBuffer: 16 << 20 });
  } catch (err) {
    process.off('exit', downSync);
    await down().catch(() => undefined);
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`real node did not come up: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
  const info = JSON.parse(await readFile(path.join(opts.stateDir, 'node.json'), 'utf8')) as RealNodeInfo;
  let stopped = false;
  return {
    ...info,
    stateDir: opts.stateDir,
    upMs: Date.now() - started,
    async stop() {
      if (stopped) return;
      stopped = true;
      process.off('exit', downSync);
      await down();
    },
  };
}
