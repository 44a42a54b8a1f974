import net from 'node:net';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { type Cidr, cidrContains } from '../shared/cidr.js';
import type { KubeClient } from '../shared/kube/client.js';
import { Informer } from '../shared/kube/informer.js';
import type { Logger } from '../shared/log.js';
import type { ServiceLookup } from './cluster-dns.js';

/**
 * A stand-in for kube-proxy (in its old userspace mode) on a machine whose "nodes" all share the host's network
 * namespace: every Service's cluster IP is put on the node's bridge as a /32 and served by a TCP listener that
 * relays each connection to one ready endpoint (round robin), so pods (routed to the service CIDR through the
 * bridge) and the host itself reach Services exactly by their cluster IPs and ports. The `kubernetes` Service
 * relays to the API server this agent itself uses: the local control plane runs no endpoint reconciler, since
 * the API server listens on loopback only.
 *
 * Only TCP. Only one agent per machine may serve a cluster's Services (their addresses would collide), so this
 * is opt-in per agent (config `serviceProxy`).
 */

export interface Backend {
  ip: string;
  port: number;
}

export interface ServiceProxyOptions {
  client: KubeClient;
  bridge: string;
  serviceCIDR: Cidr;
  /** Where `default/kubernetes` leads. */
  apiServer: Backend;
  /** Runs `ip` with these arguments. */
  ip(args: string[]): Promise<string>;
  log: Logger;
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** Pure: the ready endpoints of each of a Service's TCP ports, by service port number. */
export function serviceBackends(
  service: V1Service,
  slices: readonly V1EndpointSlice[],
): Map<number, Backend[]> {
  const out = new Map<number, Backend[]>();
  for (const sp of service.spec?.ports ?? []) {
    if ((sp.protocol ?? 'TCP') !== 'TCP') continue;
    const backends: Backend[] = [];
    for (const slice of slices) {
      if (slice.addressType !== 'IPv4') continue;
      // Slice ports carry the service port's name (empty for a single unnamed port).
      const port = slice.ports?.find(
        (p) => (p.name ?? '') === (sp.name ?? '') && (p.protocol ?? 'TCP') === 'TCP',
      );
      if (port?.port === undefined) continue;
      for (const e of slice.endpoints) {
        // Absent conditions mean ready (EndpointSlice API); terminating endpoints take no new connections.
        if (e.conditions?.ready === false) continue;
        for (const ip of e.addresses) backends.push({ ip, port: port.port });
      }
    }
    out.set(sp.port, backends);
  }
  return out;
}

/** Pure: the address a Service's DNS name resolves to (its cluster IP, or a headless Service's ready endpoints). */
export function serviceAddresses(service: V1Service, slices: readonly V1EndpointSlice[]): string[] {
  const clusterIP = service.spec?.clusterIP;
  if (service.spec?.type === 'ExternalName') return [];
  if (clusterIP && clusterIP !== 'None') return [clusterIP];
  const ips = new Set<string>();
  for (const slice of slices) {
    if (slice.addressType !== 'IPv4') continue;
    for (const e of slice.endpoints)
      if (e.conditions?.ready !== false) for (const ip of e.addresses) ips.add(ip);
  }
  return [...ips].sort();
}

interface Listener {
  server: net.Server;
  service: string;
}

export class ServiceProxy {
  private readonly services: Informer<V1Service>;
  private readonly slices: Informer<V1EndpointSlice>;
  /** `ip:port` → its listener. */
  private readonly listeners = new Map<string, Listener>();
  /** Cluster IPs this proxy put on the bridge. */
  private readonly addresses = new Set<string>();
  private readonly roundRobin = new Map<string, number>();
  private readonly connections = new Set<net.Socket>();
  /** Syncs run one after another: address changes must not interleave. */
  private syncing: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly opts: ServiceProxyOptions) {
    const restart = (resource: string) => (err: unknown, delayMs: number) =>
      opts.log.warn('watch restarting', { resource, delayMs, err });
    this.services = new Informer(opts.client, '/api/v1/services', { onRestart: restart('services') });
    this.slices = new Informer(opts.client, '/apis/discovery.k8s.io/v1/endpointslices', {
      onRestart: restart('endpointslices'),
    });
    this.services.onChange(() => this.scheduleSync());
  }

  async start(): Promise<void> {
    await Promise.all([this.services.start(), this.slices.start()]);
    this.scheduleSync();
    await this.syncing;
  }

  /** For the cluster DNS: what `<name>.<namespace>.svc` resolves to. */
  readonly lookup: ServiceLookup = (namespace, name) => {
    const service = this.services.get(name, namespace);
    return service ? serviceAddresses(service, this.slicesOf(service)) : undefined;
  };

  async stop(): Promise<void> {
    this.stopped = true;
    await this.syncing;
    await Promise.all([this.services.stop(), this.slices.stop()]);
    for (const s of this.connections) s.destroy();
    await Promise.all([...this.listeners.values()].map((l) => closeServer(l.server)));
    this.listeners.clear();
    for (const ip of this.addresses)
      await this.opts.ip(['addr', 'del', `${ip}/32`, 'dev', this.opts.bridge]).catch(() => undefined);
    this.addresses.clear();
  }

  private slicesOf(service: V1Service): V1EndpointSlice[] {
    const name = service.metadata?.name;
    return this.slices
      .list(service.metadata?.namespace)
      .filter((s) => s.metadata?.labels?.[SERVICE_NAME_LABEL] === name);
  }

  private scheduleSync(): void {
    this.syncing = this.syncing
      .then(() => this.sync())
      .catch((err) => this.opts.log.warn('service sync failed', { err }));
  }

  /** Level-triggered: the listeners and addresses that the cached Services call for, whatever changed. */
  private async sync(): Promise<void> {
    if (this.stopped) return;
    const want = new Map<string, { service: string; ip: string; port: number }>();
    for (const svc of this.services.list()) {
      const ip = svc.spec?.clusterIP;
      if (!ip || ip === 'None' || svc.spec?.type === 'ExternalName') continue;
      if (!cidrContains(this.opts.serviceCIDR, ip)) continue;
      const service = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
      for (const p of svc.spec?.ports ?? [])
        if ((p.protocol ?? 'TCP') === 'TCP') want.set(`${ip}:${p.port}`, { service, ip, port: p.port });
    }
    for (const [key, l] of this.listeners) {
      if (want.get(key)?.service === l.service) continue;
      this.listeners.delete(key);
      await closeServer(l.server);
    }
    const ips = new Set([...want.values()].map((w) => w.ip));
    for (const ip of this.addresses) {
      if (ips.has(ip)) continue;
      this.addresses.delete(ip);
      await this.opts.ip(['addr', 'del', `${ip}/32`, 'dev', this.opts.bridge]).catch(() => undefined);
    }
    for (const ip of ips) {
      if (this.addresses.has(ip)) continue;
      await this.opts.ip(['addr', 'replace', `${ip}/32`, 'dev', this.opts.bridge]);
      this.addresses.add(ip);
    }
    for (const [key, w] of want) {
      if (this.listeners.has(key)) continue;
      try {
        const server = await this.listen(w.service, w.ip, w.port);
        this.listeners.set(key, { server, service: w.service });
      } catch (err) {
        this.opts.log.warn('cannot serve a Service port', { service: w.service, address: key, err });
      }
    }
  }

  private listen(service: string, ip: string, port: number): Promise<net.Server> {
    const server = net.createServer((client) => this.relay(service, port, client));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, ip, () => {
        server.off('error', reject);
        server.on('error', (err) => this.opts.log.warn('service listener failed', { service, err }));
        resolve(server);
      });
    });
  }

  private backendsFor(service: string, port: number): Backend[] {
    if (service === 'default/kubernetes') return [this.opts.apiServer];
    const [namespace = '', name = ''] = service.split('/');
    const svc = this.services.get(name, namespace);
    if (!svc) return [];
    return serviceBackends(svc, this.slicesOf(svc)).get(port) ?? [];
  }

  private relay(service: string, port: number, client: net.Socket): void {
    const backends = this.backendsFor(service, port);
    if (backends.length === 0) {
      // As kube-proxy rejects: the client learns at once instead of waiting for a timeout.
      client.resetAndDestroy();
      return;
    }
    const key = `${service}:${port}`;
    const n = this.roundRobin.get(key) ?? 0;
    this.roundRobin.set(key, n + 1);
    const target = backends[n % backends.length] as Backend;
    const upstream = net.connect(target.port, target.ip);
    this.connections.add(client);
    this.connections.add(upstream);
    const done = () => {
      this.connections.delete(client);
      this.connections.delete(upstream);
    };
    client.on('close', done);
    upstream.on('close', done);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.resetAndDestroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

/** Stops accepting at once; connections already relayed run on (as with kube-proxy's conntrack entries). */
function closeServer(server: net.Server): Promise<void> {
  server.close();
  return Promise.resolve();
}
