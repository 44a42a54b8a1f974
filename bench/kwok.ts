import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { V1Node } from '@kubernetes/client-node';
import { freePorts } from '../src/localcluster/control-plane.js';
import { tool } from '../src/localcluster/tools.js';
import { intToIp, ipToInt } from '../src/shared/cidr.js';
import { isNotFound, type KubeClient, paths } from '../src/shared/kube/client.js';
import { repoRoot } from '../src/shared/repo-root.js';
import { mapLimit, sleep } from './report.js';

/**
 * Fake nodes for the scale runs, as Kubernetes' own scale tests make them: KWOK (sigs.k8s.io/kwok, the binary
 * `make tools` builds) keeps Node objects Ready with leases and moves the pods bound to them through its stages
 * (Running and Ready at once, deleted when asked), with no kubelet, no container and no process per pod. The
 * stages are KWOK's own "fast" set, the one `kwokctl` installs, read from the module's source in the Go module
 * cache (`go mod download` fetches it from the module proxy if it is not there).
 *
 * The nodes carry KWOK's usual label and taint; pods meant for them select the label and tolerate the taint
 * (`placement`), so a real node in the same cluster never gets one, and no other pod lands on a fake node.
 */
export const KWOK_LABEL = { key: 'type', value: 'kwok' } as const;
export const KWOK_TAINT = { key: 'kwok.x-k8s.io/node', value: 'fake', effect: 'NoSchedule' } as const;

/** What a pod needs to run on the fake nodes: the operator's `nodeSelector` and `tolerations` settings. */
export const placement = {
  nodeSelector: { [KWOK_LABEL.key]: KWOK_LABEL.value },
  tolerations: [{ ...KWOK_TAINT, operator: 'Equal' }],
};

/** KWOK's default stages (pkg/kwokctl/runtime/cluster.go: node-initialize, heartbeat with lease, pod fast). */
const STAGES = [
  'kustomize/stage/node/fast/node-initialize.yaml',
  'kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml',
  'kustomize/stage/pod/fast/pod-ready.yaml',
  'kustomize/stage/pod/fast/pod-complete.yaml',
  'kustomize/stage/pod/fast/pod-delete.yaml',
];

export interface KwokOptions {
  nodes: number;
  /** Pods each fake node takes (its allocatable `pods`); no kubelet limits a fake node to 110. */
  podsPerNode: number;
  logFile: string;
}

export interface Kwok {
  pid: number;
  nodes: string[];
  /** Stops KWOK and deletes its nodes (their pods are the callers' to delete first). */
  stop(): Promise<void>;
}

/** The directory of sigs.k8s.io/kwok at the pinned version, downloaded into the module cache if missing. */
function kwokModuleDir(): string {
  const version = execFileSync(
    'bash',
    ['-c', `source "${path.join(repoRoot, 'hack/tools-env.sh')}" && printf %s "$KWOK_VERSION"`],
    { encoding: 'utf8' },
  );
  if (!version) throw new Error('hack/tools-env.sh sets no KWOK_VERSION');
  let out: string;
  try {
    out = execFileSync('go', ['mod', 'download', '-json', `sigs.k8s.io/kwok@${version}`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    throw new Error(
      `go mod download sigs.k8s.io/kwok@${version} failed (KWOK's stages come from it): ${err}`,
    );
  }
  const dir = (JSON.parse(out) as { Dir?: string }).Dir;
  if (!dir || !existsSync(dir)) throw new Error(`go mod download sigs.k8s.io/kwok@${version}: no Dir`);
  return dir;
}

function fakeNode(name: string, podCIDR: string, pods: number): V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        [KWOK_LABEL.key]: KWOK_LABEL.value,
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
      },
    },
    spec: { podCIDR, podCIDRs: [podCIDR], taints: [{ ...KWOK_TAINT }] },
    status: {
      // Room for the pods; requests are the operator's (chrome + sidecar), checked by the scheduler as usual.
      allocatable: { cpu: String(pods), memory: `${pods * 2}Gi`, pods: String(pods) },
      capacity: { cpu: String(pods), memory: `${pods * 2}Gi`, pods: String(pods) },
    },
  };
}

/** Creates `nodes` fake nodes, starts KWOK for them and waits until every one is Ready. */
export async function startKwok(
  client: KubeClient,
  kubeconfig: string,
  opts: KwokOptions,
  progress: (msg: string) => void,
): Promise<Kwok> {
  const t0 = Date.now();
  const dir = kwokModuleDir();
  const names = Array.from({ length: opts.nodes }, (_, i) => `kwok-node-${i}`);
  // Each node its own /20 of 10.192.0.0/12: KWOK hands out pod IPs from the node's podCIDR.
  const base = ipToInt('10.192.0.0');
  if (opts.nodes > 256)
    throw new Error(`at most 256 fake nodes (one /20 each of 10.192.0.0/12), not ${opts.nodes}`);
  if (opts.podsPerNode > 4000)
    throw new Error(`podsPerNode must be at most 4000 (a /20), not ${opts.podsPerNode}`);
  const [serverPort] = await freePorts(1);
  mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const log = createWriteStream(opts.logFile);
  // pdeathsig: a benchmark killed outright takes KWOK with it (as the control plane's own processes).
  const child: ChildProcess = spawn(
    'setpriv',
    [
      '--pdeathsig',
      'KILL',
      '--',
      tool('kwok'),
      `--kubeconfig=${kubeconfig}`,
      `--manage-nodes-with-label-selector=${KWOK_LABEL.key}=${KWOK_LABEL.value}`,
      `--server-address=127.0.0.1:${serverPort}`,
      // Leases, as kubelets renew them: the node controller marks a node without one NotReady after 40 s.
      '--node-lease-duration-seconds=40',
      ...STAGES.flatMap((s) => ['-c', path.join(dir, s)]),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await mapLimit(names, 8, (n) =>
      client.delete(`${paths.nodes()}/${n}`).catch((e: unknown) => {
        if (!isNotFound(e)) throw e;
      }),
    ).catch(() => undefined);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    log.end();
  };
  try {
    await mapLimit(names, 8, (name, i) =>
      client.create(paths.nodes(), fakeNode(name, `${intToIp(base + i * 4096)}/20`, opts.podsPerNode)),
    );
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`kwok exited (${child.exitCode}); log ${opts.logFile}`);
      const list = await client.get<{ items: V1Node[] }>(paths.nodes(), {
        labelSelector: `${KWOK_LABEL.key}=${KWOK_LABEL.value}`,
      });
      const ready = list.items.filter((n) =>
        n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      ).length;
      if (ready === names.length) break;
      if (Date.now() > deadline)
        throw new Error(`${ready} of ${names.length} fake nodes Ready after 60 s; log ${opts.logFile}`);
      await sleep(200);
    }
    progress(
      `kwok: ${names.length} fake nodes (${opts.podsPerNode} pods each) Ready in ${Date.now() - t0} ms`,
    );
    return { pid: child.pid ?? 0, nodes: names, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
