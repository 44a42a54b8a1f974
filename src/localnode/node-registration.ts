import { readFile } from 'node:fs/promises';
import { arch, release } from 'node:os';
import type { V1Node } from '@kubernetes/client-node';
import { isAlreadyExists, isNotFound, type KubeClient, paths } from '../shared/kube/client.js';
import type { Logger } from '../shared/log.js';

export const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';
export const LEASE_NAMESPACE = 'kube-node-lease';

export const nodePaths = {
  node: (name: string) => `/api/v1/nodes/${name}`,
  nodeStatus: (name: string) => `/api/v1/nodes/${name}/status`,
  nodes: () => '/api/v1/nodes',
};

export interface NodeRegistrationOptions {
  nodeName: string;
  nodeIP: string;
  allocatable: { cpu: string; memory: string; pods: number };
  labels: Record<string, string>;
  taints: { key: string; value?: string; effect: string }[];
  leaseDurationSeconds: number;
  /** How often the Node's status (conditions, heartbeat time) is re-posted; the Lease is renewed more often. */
  statusIntervalMs: number;
}

const KUBELET_VERSION = 'v1.37.2-localnode';

/**
 * The Node object and its heartbeat. The scheduler binds pods only to a Node that is Ready, has allocatable
 * resources and no NoSchedule taints; the node lifecycle controller keeps it Ready only while its Lease in
 * kube-node-lease is renewed. Both are maintained here, as the kubelet does.
 */
export class NodeRegistration {
  private leaseTimer: NodeJS.Timeout | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private nodeUid: string | undefined;
  private stopped = false;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: NodeRegistrationOptions,
    private readonly log: Logger,
  ) {}

  private labels(): Record<string, string> {
    return {
      'kubernetes.io/hostname': this.opts.nodeName,
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': arch() === 'x64' ? 'amd64' : arch(),
      'node.kubernetes.io/instance-type': 'localnode',
      'browserfleet.dev/localnode': 'true',
      ...this.opts.labels,
    };
  }

  private async status(ready: boolean, reason: string, message: string): Promise<Record<string, unknown>> {
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const resources = {
      cpu: this.opts.allocatable.cpu,
      memory: this.opts.allocatable.memory,
      pods: String(this.opts.allocatable.pods),
      'ephemeral-storage': '100Gi',
    };
    const healthy = (type: string, reasonOk: string, msg: string) => ({
      type,
      status: 'False',
      reason: reasonOk,
      message: msg,
      lastHeartbeatTime: now,
    });
    const machineId = (await readFile('/etc/machine-id', 'utf8').catch(() => '')).trim();
    const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
    return {
      capacity: resources,
      allocatable: resources,
      conditions: [
        healthy('MemoryPressure', 'KubeletHasSufficientMemory', 'localnode has sufficient memory available'),
        healthy('DiskPressure', 'KubeletHasNoDiskPressure', 'localnode has no disk pressure'),
        healthy('PIDPressure', 'KubeletHasSufficientPID', 'localnode has sufficient PID available'),
        { type: 'Ready', status: ready ? 'True' : 'False', reason, message, lastHeartbeatTime: now },
      ],
      addresses: [
        { type: 'InternalIP', address: this.opts.nodeIP },
        { type: 'Hostname', address: this.opts.nodeName },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
      nodeInfo: {
        machineID: machineId,
        systemUUID: machineId,
        bootID: bootId,
        kernelVersion: release(),
        osImage: 'browserfleet localnode',
        containerRuntimeVersion: 'localnode://processes',
        kubeletVersion: KUBELET_VERSION,
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: arch() === 'x64' ? 'amd64' : arch(),
      },
    };
  }

  /** Creates the Node, or takes over an existing one of the same name (a restarted agent). */
  async register(): Promise<void> {
    const { nodeName } = this.opts;
    const readyStatus = await this.status(true, 'KubeletReady', 'localnode is posting ready status');
    try {
      const created = await this.client.create<V1Node>(nodePaths.nodes(), {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: nodeName, labels: this.labels() },
        spec: this.opts.taints.length > 0 ? { taints: this.opts.taints } : {},
        status: readyStatus,
      });
      this.nodeUid = created.metadata?.uid;
      this.log.info('registered node', { node: nodeName });
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
      const existing = await this.client.request<V1Node>('PATCH', nodePaths.node(nodeName), {
        body: { metadata: { labels: this.labels() } },
        contentType: STRATEGIC_MERGE_PATCH,
      });
      this.nodeUid = existing.metadata?.uid;
      this.log.info('took over existing node', { node: nodeName });
    }
    await this.postStatus(readyStatus);
    await this.renewLease();
  }

  private async postStatus(status: Record<string, unknown>): Promise<void> {
    await this.client.request('PATCH', nodePaths.nodeStatus(this.opts.nodeName), {
      body: { status },
      contentType: STRATEGIC_MERGE_PATCH,
    });
  }

  private async renewLease(): Promise<void> {
    const { nodeName, leaseDurationSeconds } = this.opts;
    const renewTime = new Date().toISOString().replace(/Z$/, '000Z');
    const path = paths.lease(LEASE_NAMESPACE, nodeName);
    try {
      await this.client.mergePatch(path, {
        spec: { holderIdentity: nodeName, leaseDurationSeconds, renewTime },
      });
    } catch (e) {
      if (!isNotFound(e)) throw e;
      await this.client.create(paths.leases(LEASE_NAMESPACE), {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: {
          name: nodeName,
          namespace: LEASE_NAMESPACE,
          // As the kubelet does: the Lease goes away with its Node.
          ...(this.nodeUid
            ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: this.nodeUid }] }
            : {}),
        },
        spec: { holderIdentity: nodeName, leaseDurationSeconds, renewTime },
      });
    }
  }

  /** Renews the Lease every quarter of its duration and re-posts status; a deleted Node is registered again. */
  startHeartbeat(): void {
    const leaseEvery = (this.opts.leaseDurationSeconds * 1000) / 4;
    const leaseTick = async () => {
      try {
        await this.renewLease();
      } catch (e) {
        this.log.warn('lease renewal failed', { node: this.opts.nodeName, err: e });
      }
      if (!this.stopped) this.leaseTimer = setTimeout(() => void leaseTick(), leaseEvery);
    };
    const statusTick = async () => {
      try {
        await this.postStatus(await this.status(true, 'KubeletReady', 'localnode is posting ready status'));
      } catch (e) {
        if (isNotFound(e)) {
          this.log.warn('node object is gone; registering again', { node: this.opts.nodeName });
          await this.register().catch((err: unknown) => this.log.error('node registration failed', { err }));
        } else {
          this.log.warn('node status update failed', { node: this.opts.nodeName, err: e });
        }
      }
      if (!this.stopped) this.statusTimer = setTimeout(() => void statusTick(), this.opts.statusIntervalMs);
    };
    this.leaseTimer = setTimeout(() => void leaseTick(), leaseEvery);
    this.statusTimer = setTimeout(() => void statusTick(), this.opts.statusIntervalMs);
  }

  stopHeartbeat(): void {
    this.stopped = true;
    clearTimeout(this.leaseTimer);
    clearTimeout(this.statusTimer);
  }

  /** Tells the scheduler and controllers right away that this node runs nothing any more. */
  async markNotReady(): Promise<void> {
    await this.postStatus(await this.status(false, 'KubeletNotReady', 'localnode agent stopped'));
  }
}
