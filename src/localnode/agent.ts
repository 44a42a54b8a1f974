import { rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { ANNOTATION_LOCALNODE_SIMULATE } from '../api/labels.js';
import { AddressPool, type Cidr, cidrContains, isLoopback, parseCidr } from '../shared/cidr.js';
import { isConflict, isNotFound, KubeClient, paths } from '../shared/kube/client.js';
import { EventRecorder } from '../shared/kube/events.js';
import { Informer } from '../shared/kube/informer.js';
import { WorkQueue } from '../shared/kube/workqueue.js';
import { createLogger, type Logger } from '../shared/log.js';
import { parseQuantity } from '../shared/quantity.js';
import { type AgentRecord, AgentRegistry } from './agent-registry.js';
import { ClusterDns } from './cluster-dns.js';
import type { LocalnodeConfig } from './config.js';
import type { EnvSources } from './container-env.js';
import { containerArgv, type ImageRule, mergeImageRules } from './images.js';
import { nodeTag, PodNetwork } from './network.js';
import { NodeRegistration, STRATEGIC_MERGE_PATCH } from './node-registration.js';
import { PodRuntime, type RuntimeDeps } from './pod-runtime.js';
import {
  type ContainerSnapshot,
  computePodStatus,
  isTerminalPhase,
  type PodSnapshot,
  podPhase,
  statusCovers,
} from './pod-status.js';
import { ServiceProxy } from './service-proxy.js';
import { NodeStateDir } from './state-dir.js';
import type { VolumeApi } from './volume-files.js';

const DEADLINE_MESSAGE = 'Pod was active on the node longer than the specified deadline';
const RESYNC_MS = 5 * 60 * 1000;
/** On shutdown the API server may already be gone; reporting must not hold the machine's cleanup hostage. */
const STOP_API_TIMEOUT_MS = 5000;

/**
 * A strategic merge patch merges podIPs and hostIPs by address, so a changed address would be added next to
 * the old one (which the API server rejects); the `$patch: replace` directive replaces the list instead.
 */
function withListReplace(status: Record<string, unknown>, fields: string[]): Record<string, unknown> {
  const out = { ...status };
  for (const f of fields) {
    const list = out[f];
    if (Array.isArray(list)) out[f] = [...list, { $patch: 'replace' }];
  }
  return out;
}

async function withTimeout<T>(p: Promise<T> | undefined, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface LocalnodeDeps {
  log?: Logger;
  /** An API client to use instead of one built from the config's kubeconfig. */
  client?: KubeClient;
}

export interface PodInfo {
  uid: string;
  ip: string | undefined;
  netns: string | undefined;
  dir: string;
  simulated: boolean;
}

export interface Localnode {
  readonly config: LocalnodeConfig;
  readonly nodeDir: string;
  start(): Promise<void>;
  /**
   * Stops the agent. With cleanup (the default, what SIGTERM does) every pod's processes are stopped, their
   * pods reported Failed, and every namespace, veth, the bridge and the state directory removed. Without
   * cleanup the agent just lets go of everything, as a crash would.
   */
  stop(opts?: { cleanup?: boolean }): Promise<void>;
  /** Where a pod runs on this node (tests and tooling). */
  podInfo(namespace: string, name: string): PodInfo | undefined;
}

export function createLocalnode(config: LocalnodeConfig, deps: LocalnodeDeps = {}): Localnode {
  return new LocalnodeAgent(config, deps);
}

const keyOf = (pod: V1Pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`;

function graceMs(pod: V1Pod): number {
  return (pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
}

class LocalnodeAgent implements Localnode {
  readonly nodeDir: string;
  private readonly log: Logger;
  private readonly state: NodeStateDir;
  private readonly tag: string;
  private readonly registry: AgentRegistry;
  private readonly pool: AddressPool;
  private readonly images: ImageRule[];
  private readonly hostIP: string;
  private readonly network: PodNetwork | undefined;
  private readonly runtimes = new Map<string, PodRuntime>();
  private readonly simulated = new Map<string, { uid: string; startTime: Date; ip: string }>();
  /** The last status sent per pod uid, so an unchanged status is not sent again before the watch catches up. */
  private readonly lastPatched = new Map<string, string>();
  /**
   * Pod key -> uid of the pod this agent has already removed from the API: later events of that pod (each
   * watch update until the deletion shows) must not send the same delete again.
   */
  private readonly removed = new Map<string, string>();
  private client: KubeClient | undefined;
  private informer: Informer<V1Pod> | undefined;
  private registration: NodeRegistration | undefined;
  private events: EventRecorder | undefined;
  private queue = new WorkQueue({ baseDelayMs: 200, maxDelayMs: 30_000 });
  private workers: Promise<void>[] = [];
  private resyncTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  /** Set once the state directory is locked: only then may stop() clean up the node's things. */
  private ownsNode = false;
  private serviceProxy: ServiceProxy | undefined;
  private dns: ClusterDns | undefined;
  private serviceEnv: Record<string, string> | undefined;

  constructor(
    readonly config: LocalnodeConfig,
    private readonly deps: LocalnodeDeps,
  ) {
    this.log = deps.log ?? createLogger({ component: 'localnode', node: config.nodeName });
    this.nodeDir = join(config.stateDir, config.nodeName);
    this.tag = nodeTag(config.nodeName);
    this.registry = new AgentRegistry(config.runDir);
    this.state = new NodeStateDir(this.nodeDir, join(config.runDir, this.tag));
    const cidr = parseCidr(config.podCIDR);
    this.pool = new AddressPool(cidr);
    this.images = mergeImageRules(config.images);
    this.network = config.simulate
      ? undefined
      : new PodNetwork({
          ipPath: config.ipPath,
          bridge: config.bridge,
          cidr,
          nodeName: config.nodeName,
        });
    this.hostIP = config.nodeIP || (this.network ? this.pool.gateway : '127.0.0.1');
  }

  async start(): Promise<void> {
    const { config } = this;
    if (this.network && process.getuid?.() !== 0) {
      throw new Error('localnode needs root for network namespaces (or set simulate: true)');
    }
    this.client = this.deps.client ?? (await KubeClient.create(config.kubeconfig || undefined));
    await this.registry.claim(
      this.tag,
      {
        nodeName: config.nodeName,
        nodeDir: this.nodeDir,
        bridge: this.network ? config.bridge : '',
        podCIDR: config.podCIDR,
      },
      (tag, dead) => this.reapDeadAgent(tag, dead),
    );
    this.ownsNode = true;
    await this.state.removeLeftovers(this.network, this.log);
    if (this.network) await this.network.ensureBridge();
    if (this.network && config.serviceProxy) await this.startServices(this.network);

    this.events = new EventRecorder(this.client, 'kubelet', config.nodeName, this.log);
    this.registration = new NodeRegistration(
      this.client,
      {
        nodeName: config.nodeName,
        nodeIP: this.hostIP,
        allocatable: config.allocatable,
        labels: config.labels,
        taints: config.taints,
        leaseDurationSeconds: config.leaseDurationSeconds,
        statusIntervalMs: config.nodeStatusIntervalSeconds * 1000,
      },
      this.log,
    );
    await this.registration.register();
    this.registration.startHeartbeat();

    this.informer = new Informer<V1Pod>(this.client, paths.pods(), {
      fieldSelector: `spec.nodeName=${config.nodeName}`,
      onRestart: (err, delayMs) => this.log.warn('pod watch failed; restarting', { err, delayMs }),
    });
    this.informer.onChange((pod) => this.queue.add(keyOf(pod)));
    await this.informer.start();
    // Addresses that pods already report stay theirs: a restarted agent must not give them to other pods.
    for (const pod of this.informer.list()) {
      const ip = pod.status?.podIP;
      if (ip && !pod.spec?.hostNetwork && !isTerminalPhase(pod.status?.phase)) {
        this.pool.reserve(pod.metadata?.uid ?? '', ip);
      }
    }
    for (const pod of this.informer.list()) this.queue.add(keyOf(pod));
    this.workers = Array.from({ length: config.workers }, () => this.work());
    this.resyncTimer = setInterval(() => {
      for (const pod of this.informer?.list() ?? []) this.queue.add(keyOf(pod));
      for (const key of this.runtimes.keys()) this.queue.add(key);
    }, RESYNC_MS);
    this.log.info('localnode started', {
      node: config.nodeName,
      simulate: config.simulate,
      podCIDR: config.podCIDR,
      bridge: this.network ? config.bridge : undefined,
      pods: this.informer.list().length,
    });
  }

  /**
   * kube-proxy's and the cluster DNS's part (config `serviceProxy`): cluster IPs served on the bridge, names
   * answered on the bridge address, and pods routed to the service range and pointed at that DNS.
   */
  private async startServices(network: PodNetwork): Promise<void> {
    const client = this.api();
    const cidr = await this.serviceCIDR(client);
    network.serviceCIDR = cidr;
    const kubernetes = await client.get<{
      spec?: { clusterIP?: string; ports?: { name?: string; port: number }[] };
    }>(paths.service('default', 'kubernetes'));
    const host = kubernetes.spec?.clusterIP ?? '';
    const port = String(kubernetes.spec?.ports?.find((p) => p.name === 'https')?.port ?? 443);
    // What the kubelet sets in every container, service links or not: how in-cluster clients find the API.
    this.serviceEnv = {
      KUBERNETES_SERVICE_HOST: host,
      KUBERNETES_SERVICE_PORT: port,
      KUBERNETES_SERVICE_PORT_HTTPS: port,
      KUBERNETES_PORT: `tcp://${host}:${port}`,
      [`KUBERNETES_PORT_${port}_TCP`]: `tcp://${host}:${port}`,
      [`KUBERNETES_PORT_${port}_TCP_PROTO`]: 'tcp',
      [`KUBERNETES_PORT_${port}_TCP_PORT`]: port,
      [`KUBERNETES_PORT_${port}_TCP_ADDR`]: host,
    };
    const server = client.serverUrl;
    this.serviceProxy = new ServiceProxy({
      client,
      bridge: this.config.bridge,
      serviceCIDR: cidr,
      apiServer: { ip: server.hostname, port: Number(server.port || 443) },
      ip: (args) => network.ip(args),
      log: this.log,
    });
    await this.serviceProxy.start();
    this.dns = await ClusterDns.start({
      host: network.gateway,
      domain: this.config.clusterDomain,
      lookup: this.serviceProxy.lookup,
      log: this.log,
    });
  }

  private async serviceCIDR(client: KubeClient): Promise<Cidr> {
    if (this.config.serviceCIDR) return parseCidr(this.config.serviceCIDR);
    try {
      const sc = await client.get<{ spec?: { cidrs?: string[] } }>(
        '/apis/networking.k8s.io/v1/servicecidrs/kubernetes',
      );
      const v4 = sc.spec?.cidrs?.find((c) => !c.includes(':'));
      if (v4) return parseCidr(v4);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    throw new Error(
      'serviceProxy: the cluster has no ServiceCIDR "kubernetes"; set serviceCIDR in the config',
    );
  }

  /** Kills and removes whatever an agent that died without cleaning up left on this machine. */
  private async reapDeadAgent(tag: string, dead: AgentRecord): Promise<void> {
    const state = new NodeStateDir(dead.nodeDir, join(this.config.runDir, tag));
    const network = dead.bridge
      ? new PodNetwork({
          ipPath: this.config.ipPath,
          bridge: dead.bridge,
          cidr: parseCidr(dead.podCIDR),
          nodeName: dead.nodeName,
        })
      : undefined;
    await state.removeLeftovers(network, this.log);
    if (tag !== this.tag) {
      await network?.removeBridge();
      await state.remove();
      this.log.info('cleaned up after a dead localnode agent', { node: dead.nodeName, pid: dead.pid });
    }
  }

  podInfo(namespace: string, name: string): PodInfo | undefined {
    const key = `${namespace}/${name}`;
    const rt = this.runtimes.get(key);
    if (rt) return { uid: rt.uid, ip: rt.ip, netns: rt.netns, dir: rt.layout.dir, simulated: false };
    const sim = this.simulated.get(key);
    if (sim) return { uid: sim.uid, ip: sim.ip, netns: undefined, dir: '', simulated: true };
    return undefined;
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      if (this.stopping) {
        this.queue.done(key);
        continue;
      }
      try {
        await this.reconcile(key);
        this.queue.forget(key);
      } catch (err) {
        this.log.warn('pod sync failed; will retry', { pod: key, err });
        this.queue.addRateLimited(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  private runtimeDeps(): RuntimeDeps {
    const { config } = this;
    return {
      nodeName: config.nodeName,
      ipPath: config.ipPath,
      setprivPath: config.setprivPath,
      images: this.images,
      imageVars: { node: process.execPath, checkout: config.checkoutDir },
      network: this.network,
      pool: this.pool,
      hostIP: this.hostIP,
      allocatable: {
        cpu: parseQuantity(config.allocatable.cpu),
        memory: parseQuantity(config.allocatable.memory),
        'ephemeral-storage': parseQuantity('100Gi'),
      },
      envSources: this.envSources(),
      volumeApi: this.volumeApi(),
      ...(this.dns && this.network
        ? { clusterDNS: { nameserver: this.network.gateway, domain: this.config.clusterDomain } }
        : {}),
      ...(this.serviceEnv ? { serviceEnv: this.serviceEnv } : {}),
      podsDir: this.state.podsDir,
      linksDir: this.state.linksDir,
      logsDir: this.state.logsDir,
      restartBackoff: {
        initialMs: config.restartBackoff.initialSeconds * 1000,
        maxMs: config.restartBackoff.maxSeconds * 1000,
      },
      isAllowedAddress: (ip) => isLoopback(ip) || cidrContains(this.pool.cidr, ip),
      log: this.log,
      event: (pod, type, reason, message) => this.event(pod, type, reason, message),
    };
  }

  private event(pod: V1Pod, type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.events?.record(
      { apiVersion: 'v1', kind: 'Pod', metadata: pod.metadata ?? {} },
      type,
      reason,
      message,
    );
  }

  private envSources(): EnvSources {
    const read = async (path: string) => {
      try {
        return await this.api().get<{ data?: Record<string, string> }>(path);
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw e;
      }
    };
    return {
      configMap: async (ns, name) => {
        const cm = await read(`/api/v1/namespaces/${ns}/configmaps/${name}`);
        return cm ? (cm.data ?? {}) : undefined;
      },
      secret: async (ns, name) => {
        const s = await read(paths.secret(ns, name));
        if (!s) return undefined;
        return Object.fromEntries(
          Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
        );
      },
    };
  }

  private volumeApi(): VolumeApi {
    return {
      get: async <T>(path: string) => {
        try {
          return await this.api().get<T>(path);
        } catch (e) {
          if (isNotFound(e)) return undefined;
          throw e;
        }
      },
      requestToken: async (namespace, serviceAccount, spec) => {
        const tr = await this.api().create<{ status: { token: string; expirationTimestamp: string } }>(
          `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`,
          { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec },
        );
        return { token: tr.status.token, expirationTimestamp: new Date(tr.status.expirationTimestamp) };
      },
    };
  }

  private api(): KubeClient {
    if (!this.client) throw new Error('localnode is not started');
    return this.client;
  }

  private isSimulated(pod: V1Pod): boolean {
    return this.config.simulate || pod.metadata?.annotations?.[ANNOTATION_LOCALNODE_SIMULATE] === 'true';
  }

  /**
   * Level-triggered: whatever woke it, compare the pod bound to this node (desired) with what runs here
   * (actual) and close the gap by one step; every later change wakes it again.
   */
  private async reconcile(key: string): Promise<void> {
    const slash = key.indexOf('/');
    const pod = this.informer?.get(key.slice(slash + 1), key.slice(0, slash));
    const uid = pod?.metadata?.uid ?? '';

    const rt = this.runtimes.get(key);
    if (rt && rt.uid !== uid) {
      // The pod object is gone (force-deleted) or was replaced by a new pod of the same name.
      rt.stop(0);
      if (!rt.allStopped) return; // its exits wake this again
      await this.discard(key, rt);
    }
    const sim = this.simulated.get(key);
    if (sim && sim.uid !== uid) {
      this.pool.release(sim.uid);
      this.simulated.delete(key);
      this.lastPatched.delete(sim.uid);
    }
    if (this.removed.has(key) && this.removed.get(key) !== uid) this.removed.delete(key);
    if (!pod) return;

    if (pod.metadata?.deletionTimestamp) return this.reconcileDeletion(key, pod);
    if (this.isSimulated(pod)) return this.reconcileSimulated(key, pod);
    return this.reconcileRunning(key, pod);
  }

  private async reconcileRunning(key: string, pod: V1Pod): Promise<void> {
    const apiTerminal = isTerminalPhase(pod.status?.phase);
    let rt = this.runtimes.get(key);
    if (!rt) {
      if (apiTerminal) return; // finished before this agent started; nothing of it runs here
      rt = new PodRuntime(pod, this.runtimeDeps(), () => this.queue.add(key), new Date());
      this.runtimes.set(key, rt);
    }
    const now = Date.now();
    const deadline = pod.spec?.activeDeadlineSeconds;
    if (deadline !== undefined && !rt.failure) {
      const at = rt.startTime.getTime() + deadline * 1000;
      if (now >= at) {
        rt.fail('DeadlineExceeded', DEADLINE_MESSAGE);
        this.event(pod, 'Normal', 'DeadlineExceeded', DEADLINE_MESSAGE);
      } else {
        this.queue.addAfter(key, at - now);
      }
    }
    try {
      await rt.sync(pod, new Date(now));
    } catch (e) {
      this.event(pod, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${String(e)}`);
      throw e;
    }
    if (apiTerminal && !isTerminalPhase(podPhase(pod, rt.snapshot()))) {
      // Someone else declared the pod finished (the API is the source of truth): stop running it.
      rt.fail(pod.status?.reason ?? 'Terminated', pod.status?.message ?? 'the pod was marked terminal');
    }
    if (isTerminalPhase(podPhase(pod, rt.snapshot()))) {
      rt.stop(graceMs(pod));
      if (rt.allStopped) await rt.releaseSandbox();
    }
    await this.patchStatus(pod, computePodStatus(pod, rt.snapshot(), new Date()));
    const wake = rt.nextWakeAt();
    if (wake !== undefined) this.queue.addAfter(key, Math.max(1, wake - Date.now()));
  }

  /**
   * As the kubelet: stop the containers within the grace period, report the final status, release the
   * sandbox, then remove the pod object for good.
   */
  private async reconcileDeletion(key: string, pod: V1Pod): Promise<void> {
    if (this.removed.get(key) === pod.metadata?.uid) return;
    const rt = this.runtimes.get(key);
    if (rt) {
      const grace =
        (pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
      if (!rt.isStopping) this.event(pod, 'Normal', 'Killing', 'Stopping pod');
      rt.stop(grace);
      if (!rt.allStopped) return; // exits wake this again
      const status = computePodStatus(pod, rt.snapshot(), new Date());
      if (!isTerminalPhase(status['phase'] as string)) {
        const all = [...rt.snapshot().containers];
        const succeeded = all.every((c) => c.state.kind === 'terminated' && c.state.exitCode === 0);
        status['phase'] = succeeded ? 'Succeeded' : 'Failed';
      }
      await this.patchStatus(pod, status).catch((err: unknown) => {
        this.log.warn('final pod status not reported', { pod: key, err });
      });
      await this.discard(key, rt);
    }
    const sim = this.simulated.get(key);
    if (sim) {
      this.pool.release(sim.uid);
      this.simulated.delete(key);
    }
    this.lastPatched.delete(pod.metadata?.uid ?? '');
    try {
      await this.api().delete(paths.pod(pod.metadata?.namespace ?? '', pod.metadata?.name ?? ''), {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        gracePeriodSeconds: 0,
        preconditions: { uid: pod.metadata?.uid },
      });
      this.log.info('pod deleted', { pod: key });
    } catch (e) {
      if (!isNotFound(e) && !isConflict(e)) throw e;
    }
    this.removed.set(key, pod.metadata?.uid ?? '');
  }

  private async discard(key: string, rt: PodRuntime): Promise<void> {
    await rt.releaseSandbox();
    await rt.removeDirectory();
    this.runtimes.delete(key);
    this.lastPatched.delete(rt.uid);
  }

  /** A pod that only looks like it runs: Running and Ready with an address, and no process or namespace. */
  private async reconcileSimulated(key: string, pod: V1Pod): Promise<void> {
    const uid = pod.metadata?.uid ?? '';
    if (isTerminalPhase(pod.status?.phase)) return;
    let sim = this.simulated.get(key);
    if (!sim) {
      const startTime = pod.status?.startTime ? new Date(pod.status.startTime) : new Date();
      const ip = pod.spec?.hostNetwork
        ? this.hostIP
        : this.pool.allocate(uid, pod.status?.podIP ?? undefined);
      sim = { uid, startTime, ip };
      this.simulated.set(key, sim);
    }
    const snap = simulatedSnapshot(pod, sim, this.hostIP, this.images);
    const deadline = pod.spec?.activeDeadlineSeconds;
    if (deadline !== undefined && !snap.failure) {
      const left = sim.startTime.getTime() + deadline * 1000 - Date.now();
      if (left <= 0) snap.failure = { reason: 'DeadlineExceeded', message: DEADLINE_MESSAGE };
      else this.queue.addAfter(key, left);
    }
    await this.patchStatus(pod, computePodStatus(pod, snap, new Date()));
    if (snap.failure) {
      this.pool.release(uid);
    }
  }

  private async patchStatus(pod: V1Pod, status: Record<string, unknown>): Promise<void> {
    const uid = pod.metadata?.uid ?? '';
    const json = JSON.stringify(status);
    if (this.lastPatched.get(uid) === json || statusCovers(pod.status, status)) return;
    try {
      await this.api().request(
        'PATCH',
        `${paths.pod(pod.metadata?.namespace ?? '', pod.metadata?.name ?? '')}/status`,
        {
          // The uid makes the patch fail on a new pod that took the name meanwhile.
          body: { metadata: { uid }, status: withListReplace(status, ['podIPs', 'hostIPs']) },
          contentType: STRATEGIC_MERGE_PATCH,
        },
      );
      this.lastPatched.set(uid, json);
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
  }

  async stop(opts: { cleanup?: boolean } = {}): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const cleanup = opts.cleanup !== false;
    clearInterval(this.resyncTimer);
    this.registration?.stopHeartbeat();
    await this.informer?.stop().catch(() => undefined);
    this.queue.shutDown();
    await Promise.all(this.workers);
    await this.dns?.stop();
    await this.serviceProxy?.stop();
    if (!cleanup || !this.ownsNode) {
      for (const rt of this.runtimes.values()) rt.detach();
      this.client?.close();
      this.log.info('localnode let go of its pods without stopping them', { node: this.config.nodeName });
      return;
    }
    await this.stopAllPods();
    if (this.network) {
      await this.network.removeStale();
      await this.network.removeBridge();
    }
    await withTimeout(this.registration?.markNotReady(), STOP_API_TIMEOUT_MS).catch((err: unknown) => {
      this.log.warn('could not mark the node NotReady', { err });
    });
    await this.state.remove();
    await this.registry.release(this.tag);
    await rmdir(this.config.runDir).catch(() => undefined);
    this.client?.close();
    this.log.info('localnode stopped', { node: this.config.nodeName });
  }

  /** Kills every pod's processes (as a node shutdown does) and reports the pods that were cut short as Failed. */
  private async stopAllPods(): Promise<void> {
    const shutdownMs = this.config.shutdownGracePeriodSeconds * 1000;
    const entries = [...this.runtimes.entries()];
    const pods = new Map(entries.map(([key]) => [key, this.podFromCache(key)] as const));
    for (const [key, rt] of entries) {
      const pod = pods.get(key);
      if (pod && !isTerminalPhase(podPhase(pod, rt.snapshot()))) {
        rt.fail('Terminated', 'the localnode agent stopped and killed the pod');
      }
      rt.stop(Math.min(shutdownMs, pod ? graceMs(pod) : shutdownMs));
    }
    const deadline = Date.now() + shutdownMs + 5000;
    while (entries.some(([, rt]) => !rt.allStopped) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await Promise.all(
      entries.map(async ([key, rt]) => {
        const pod = pods.get(key);
        if (pod) {
          await withTimeout(
            this.patchStatus(pod, computePodStatus(pod, rt.snapshot(), new Date())),
            STOP_API_TIMEOUT_MS,
          ).catch((err: unknown) => {
            this.log.warn('final pod status not reported', { pod: key, err });
          });
        }
        await this.discard(key, rt).catch((err: unknown) =>
          this.log.error('pod cleanup failed', { pod: key, err }),
        );
      }),
    );
  }

  private podFromCache(key: string): V1Pod | undefined {
    const slash = key.indexOf('/');
    return this.informer?.get(key.slice(slash + 1), key.slice(0, slash));
  }
}

/** Every container running (or, for plain init containers, completed) since the pod started. */
export function simulatedSnapshot(
  pod: V1Pod,
  sim: { startTime: Date; ip: string },
  hostIP: string,
  images: readonly ImageRule[],
): PodSnapshot {
  const vars = { node: process.execPath, checkout: '' };
  let failure: PodSnapshot['failure'];
  const make = (c: { name: string; image?: string }, completed: boolean): ContainerSnapshot => {
    const argv = containerArgv(c, images, vars);
    if (!argv.ok) {
      failure ??= { reason: argv.reason, message: argv.message };
      return {
        name: c.name,
        image: c.image ?? '',
        imageID: '',
        state: { kind: 'waiting', reason: argv.reason, message: argv.message },
        restartCount: 0,
        ready: false,
        started: false,
      };
    }
    return {
      name: c.name,
      image: c.image ?? '',
      imageID: `localnode://${argv.argv[0]}`,
      containerID: 'localnode://simulated',
      state: completed
        ? {
            kind: 'terminated',
            exitCode: 0,
            reason: 'Completed',
            startedAt: sim.startTime,
            finishedAt: sim.startTime,
          }
        : { kind: 'running', startedAt: sim.startTime },
      restartCount: 0,
      ready: !completed,
      started: !completed,
    };
  };
  const snap: PodSnapshot = {
    podIP: sim.ip,
    hostIP,
    startTime: sim.startTime,
    sandboxReady: true,
    initContainers: (pod.spec?.initContainers ?? []).map((c) => make(c, c.restartPolicy !== 'Always')),
    containers: (pod.spec?.containers ?? []).map((c) => make(c, false)),
  };
  if (failure) snap.failure = failure;
  return snap;
}
