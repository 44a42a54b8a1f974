import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { freePorts } from '../src/localcluster/control-plane.js';
import { repoRoot } from '../src/localcluster/tools.js';
import type { KubeClient } from '../src/shared/kube/client.js';
import { kubectl, testKubeconfig } from '../src/testing/cluster.js';
import { waitFor } from '../src/testing/wait.js';
import { scratchDir } from './chart-harness.js';

/*
 * The local node agent runs pods as processes, but not pods that talk to the API server from inside: it does not
 * materialise service-account tokens or ConfigMap volumes, and there is no Service network (no kube-proxy, no
 * cluster DNS) and no route from a pod to the API server. Until it does, the chart's operator and gateway pods
 * are played by processes on this host that run exactly what the pod template says — the same program, args and
 * environment (downward API and Secret references resolved from the API), the chart's ConfigMap as the config
 * file, and credentials of the chart's ServiceAccount (a TokenRequest token, so the chart's RBAC is what the
 * API server enforces). Only the network differs: each replica listens on a loopback port of its own, and a
 * forwarder on the pod network's host address plays each Service.
 */

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    secretKeyRef?: { name: string; key: string };
  };
}
interface Container {
  args?: string[];
  env?: EnvVar[];
  volumeMounts?: { name: string; mountPath: string }[];
}
interface Deployment {
  metadata: { name: string; namespace: string };
  spec: {
    replicas: number;
    template: {
      spec: {
        serviceAccountName: string;
        containers: Container[];
        volumes?: { name: string; configMap?: { name: string } }[];
      };
    };
  };
}

/** Plays a Service: connections to host:port go round-robin to the current backends (loopback ports). */
export class ServiceForwarder {
  private backends: number[] = [];
  private next = 0;
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly server: net.Server) {}

  static async listen(host: string, port: number): Promise<ServiceForwarder> {
    const server = net.createServer();
    const forwarder = new ServiceForwarder(server);
    server.on('connection', (client) => forwarder.forward(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, resolve);
    });
    return forwarder;
  }

  setBackends(ports: number[]): void {
    this.backends = ports;
  }

  private forward(client: net.Socket): void {
    const port = this.backends[this.next++ % Math.max(1, this.backends.length)];
    if (port === undefined) return void client.destroy();
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  }

  async close(): Promise<void> {
    const closed = new Promise((r) => this.server.close(r));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}

interface Replica {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  /** The port its Service forwards to (gateway http, operator report). */
  port: number;
  metricsPort: number;
  logFile: string;
}

/** A Deployment of the chart, played by host processes (see above). */
export class DeploymentStandIn {
  private replicas: Replica[] = [];
  private generation = 0;

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly name: string,
    private readonly forwarder: ServiceForwarder,
    private readonly dir: string,
  ) {}

  /** Starts the pod template's replicas and sends the Service's traffic to them. */
  async start(): Promise<void> {
    this.replicas = await this.startReplicas();
    this.forwarder.setBackends(this.replicas.map((r) => r.port));
  }

  /** A rolling update to the Deployment's current template: new replicas ready first, then the old ones stop. */
  async roll(): Promise<void> {
    const old = this.replicas;
    await this.start();
    await Promise.all(old.map((r) => stopReplica(r)));
  }

  async stop(): Promise<void> {
    this.forwarder.setBackends([]);
    await Promise.all(this.replicas.map((r) => stopReplica(r)));
    this.replicas = [];
  }

  get names(): string[] {
    return this.replicas.map((r) => r.name);
  }

  private async startReplicas(): Promise<Replica[]> {
    const deployment = await this.client.get<Deployment>(
      `/apis/apps/v1/namespaces/${this.namespace}/deployments/${this.name}`,
    );
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0] as Container;
    const component = container.args?.[0];
    if (component !== 'operator' && component !== 'gateway')
      throw new Error(`${this.name}: unexpected args ${JSON.stringify(container.args)}`);
    this.generation++;
    const kubeconfig = await this.serviceAccountKubeconfig(pod.serviceAccountName);
    const started: Replica[] = [];
    try {
      for (let i = 0; i < deployment.spec.replicas; i++) {
        const name = `${this.name}-standin-${this.generation}-${i}`;
        started.push(await this.startReplica(name, component, container, pod.volumes ?? [], kubeconfig));
      }
    } catch (err) {
      await Promise.all(started.map((r) => stopReplica(r)));
      throw err;
    }
    return started;
  }

  private async startReplica(
    name: string,
    component: 'operator' | 'gateway',
    container: Container,
    volumes: NonNullable<Deployment['spec']['template']['spec']['volumes']>,
    kubeconfig: string,
  ): Promise<Replica> {
    const home = path.join(this.dir, name);
    await mkdir(home, { recursive: true });
    const [port, metricsPort] = (await freePorts(2)) as [number, number];

    // ConfigMap volumes become directories holding the ConfigMap's keys; args naming them are rewritten.
    const mounts = new Map<string, string>();
    for (const mount of container.volumeMounts ?? []) {
      const configMap = volumes.find((v) => v.name === mount.name)?.configMap;
      if (!configMap) continue;
      const dir = path.join(home, 'volumes', mount.name);
      await mkdir(dir, { recursive: true });
      const cm = await this.client.get<{ data?: Record<string, string> }>(
        `/api/v1/namespaces/${this.namespace}/configmaps/${configMap.name}`,
      );
      for (const [key, value] of Object.entries(cm.data ?? {})) await writeFile(path.join(dir, key), value);
      mounts.set(mount.mountPath, dir);
    }
    const args = (container.args ?? []).map((arg) => {
      for (const [mountPath, dir] of mounts)
        if (arg.startsWith(`${mountPath}/`)) return dir + arg.slice(mountPath.length);
      return arg;
    });

    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: home,
      HOSTNAME: name,
      BF_KUBECONFIG: kubeconfig,
    };
    for (const v of container.env ?? []) env[v.name] = await this.resolve(v, name);

    // The network: a loopback port per replica instead of the pod's own address.
    if (component === 'gateway') {
      env['BF_GATEWAY_LISTEN'] = `127.0.0.1:${port}`;
      env['BF_GATEWAY_METRICS_LISTEN'] = `127.0.0.1:${metricsPort}`;
    } else {
      const file = args[args.indexOf('--config') + 1] as string;
      const config = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      await writeFile(
        file,
        stringify({
          ...config,
          reportListen: `127.0.0.1:${port}`,
          metricsListen: `127.0.0.1:${metricsPort}`,
        }),
      );
    }

    const logFile = path.join(home, `${component}.log`);
    const log = createWriteStream(logFile);
    const child = spawn(process.execPath, [path.join(repoRoot, 'dist/main.js'), ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const replica: Replica = { name, child, exited, port, metricsPort, logFile };
    let gone = false;
    void exited.then(() => {
      gone = true;
    });
    try {
      await waitFor(`${name} ready`, async () => {
        if (gone) throw new Error(`${name} exited: ${tail(logFile)}`);
        const res = await fetch(`http://127.0.0.1:${metricsPort}/readyz`).catch(() => undefined);
        return res?.status === 200;
      });
    } catch (err) {
      await stopReplica(replica);
      throw new Error(`${name} did not become ready: ${String(err)}\n${tail(logFile)}`);
    }
    return replica;
  }

  private async resolve(v: EnvVar, podName: string): Promise<string> {
    if (v.value !== undefined) return v.value;
    const field = v.valueFrom?.fieldRef?.fieldPath;
    if (field === 'metadata.namespace') return this.namespace;
    if (field === 'metadata.name') return podName;
    const ref = v.valueFrom?.secretKeyRef;
    if (ref) {
      const secret = await this.client.get<{ data?: Record<string, string> }>(
        `/api/v1/namespaces/${this.namespace}/secrets/${ref.name}`,
      );
      return Buffer.from(secret.data?.[ref.key] ?? '', 'base64').toString('utf8');
    }
    throw new Error(`env ${v.name}: this stand-in cannot resolve ${JSON.stringify(v.valueFrom)}`);
  }

  /** A kubeconfig holding a token of the pod's ServiceAccount (TokenRequest), for the API server on loopback. */
  private async serviceAccountKubeconfig(serviceAccount: string): Promise<string> {
    const { stdout: token } = await kubectl([
      'create',
      'token',
      serviceAccount,
      '--namespace',
      this.namespace,
      '--duration=2h',
    ]);
    const admin = parse(readFileSync(testKubeconfig(), 'utf8')) as {
      clusters: { cluster: Record<string, string> }[];
    };
    const cluster = admin.clusters[0]?.cluster ?? {};
    const file = path.join(this.dir, `${serviceAccount}.kubeconfig`);
    await writeFile(
      file,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'c',
            cluster: {
              server: cluster['server'],
              'certificate-authority-data': cluster['certificate-authority-data'],
            },
          },
        ],
        users: [{ name: serviceAccount, user: { token: token.trim() } }],
        contexts: [{ name: 'c', context: { cluster: 'c', user: serviceAccount, namespace: this.namespace } }],
        'current-context': 'c',
      }),
      { mode: 0o600 },
    );
    return file;
  }
}

async function stopReplica(r: Replica): Promise<void> {
  if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGTERM');
  const timer = setTimeout(() => r.child.kill('SIGKILL'), 15_000);
  await r.exited;
  clearTimeout(timer);
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
}

/** The chart's operator and gateway, each played by processes, with forwarders playing their Services. */
export class ChartStandIns {
  private constructor(
    readonly operator: DeploymentStandIn,
    readonly gateway: DeploymentStandIn,
    private readonly forwarders: ServiceForwarder[],
  ) {}

  static async start(opts: {
    client: KubeClient;
    namespace: string;
    fullname: string;
    /** Where browser pods and the helm test pod reach the Services: the pod network's host address. */
    host: string;
    gatewayPort: number;
    reportPort: number;
  }): Promise<ChartStandIns> {
    const dir = await scratchDir('standins-');
    const gatewayService = await ServiceForwarder.listen(opts.host, opts.gatewayPort);
    const reportService = await ServiceForwarder.listen(opts.host, opts.reportPort);
    const standIns = new ChartStandIns(
      new DeploymentStandIn(opts.client, opts.namespace, `${opts.fullname}-operator`, reportService, dir),
      new DeploymentStandIn(opts.client, opts.namespace, `${opts.fullname}-gateway`, gatewayService, dir),
      [gatewayService, reportService],
    );
    try {
      await standIns.operator.start();
      await standIns.gateway.start();
    } catch (err) {
      await standIns.stop();
      throw err;
    }
    return standIns;
  }

  /** What the Deployment controller does after `helm upgrade`: roll both to their new templates. */
  async roll(): Promise<void> {
    await this.operator.roll();
    await this.gateway.roll();
  }

  async stop(): Promise<void> {
    await this.gateway.stop();
    await this.operator.stop();
    await Promise.all(this.forwarders.map((f) => f.close()));
  }
}
