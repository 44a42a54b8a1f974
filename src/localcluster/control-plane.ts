import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { formatCidr, intToIp, parseCidr } from '../shared/cidr.js';
import { reapStaleDirs } from './owned-processes.js';
import { createClientCert, createPki, type Pki } from './pki.js';
import { tool } from './tools.js';

export interface ControlPlaneOptions {
  /** Also run kube-controller-manager and kube-scheduler (default true). */
  withControllers?: boolean;
  /** Keep the state directory after stop (for debugging a failed run). */
  keepDir?: boolean;
  /**
   * The cluster's service range (default 10.96.0.0/16). Clusters started one after another on this machine use
   * different ranges, so a Service address never means another cluster's.
   */
  serviceCIDR?: string;
  /**
   * An address of this machine that pods reach (a real node's bridge address). When set, the API server listens
   * on every interface and advertises this address, so the `kubernetes` Service has an endpoint and in-cluster
   * clients (the chart's operator and gateway) reach it; it need not exist yet when the control plane starts.
   * Unset, the API server listens on loopback only and the `kubernetes` Service has no endpoints.
   */
  advertiseAddress?: string;
}

export interface ControlPlane {
  /** Admin kubeconfig (system:masters), certificates embedded. */
  kubeconfigPath: string;
  server: string;
  dir: string;
  /** Milliseconds from start() until every component answered its health check. */
  readyMs: number;
  /** Milliseconds from start() at which each component was ready, in start order. */
  phases: Record<string, number>;
  /** A kubeconfig for another identity, for RBAC tests and least-privilege components. */
  writeKubeconfig(user: string, groups: string[]): Promise<string>;
  /**
   * Kills kube-apiserver (SIGKILL, as a crash) and starts it again on the same port and store; resolves once it
   * is ready, with when it went down and when it answered again. Clients see it gone in between.
   */
  restartApiserver(): Promise<{ downAt: number; upAt: number }>;
  stop(): Promise<void>;
}

const DIR_PREFIX = 'browserfleet-cp-';

/**
 * Starts etcd, kube-apiserver and (by default) kube-controller-manager and kube-scheduler on free loopback
 * ports in a fresh temporary directory. Every child runs under `setpriv --pdeathsig KILL`, so the kernel
 * kills it if this process dies without cleaning up; state directories left by a dead owner are removed on
 * the next start.
 */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  reapStaleDirs(DIR_PREFIX);
  const started = Date.now();
  const phases: Record<string, number> = {};
  phaseLog = (name) => {
    phases[name] = Date.now() - started;
  };
  const dir = await mkdtemp(path.join(os.tmpdir(), DIR_PREFIX));
  await writeFile(path.join(dir, 'owner.pid'), String(process.pid));
  const procs: Supervised[] = [];
  let stopped = false;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.off('exit', killAllSync);
    // Reverse order: the controllers and apiserver go before the store they depend on.
    for (const p of procs.reverse()) await p.stop();
    if (!opts.keepDir) rmSync(dir, { recursive: true, force: true });
  };
  const killAllSync = (): void => {
    for (const p of procs) p.killSync();
    if (!opts.keepDir) rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', killAllSync);

  try {
    const serviceCIDR = opts.serviceCIDR ?? '10.96.0.0/16';
    const range = parseCidr(serviceCIDR);
    const pki = await createPki(dir, intToIp(range.network + 1), opts.advertiseAddress);
    phases['certificates'] = Date.now() - started;
    const [etcdClient, etcdPeer, apiPort, kcmPort, schedPort] = (await freePorts(5)) as [
      number,
      number,
      number,
      number,
      number,
    ];
    const etcdData = path.join(dir, 'etcd');
    procs.push(
      supervise('etcd', dir, tool('etcd'), [
        `--data-dir=${etcdData}`,
        '--name=default',
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
        // Test and dev data is disposable; fsync only costs time here.
        '--unsafe-no-fsync=true',
        '--quota-backend-bytes=4294967296',
        '--log-level=warn',
      ]),
    );
    await waitFor('etcd', () => httpOk(`http://127.0.0.1:${etcdClient}/health`), procs);

    const server = `https://127.0.0.1:${apiPort}`;
    const startApiserver = () =>
      supervise(
        'kube-apiserver',
        dir,
        tool('kube-apiserver'),
        apiserverArgs(pki, apiPort, etcdClient, server, formatCidr(range), opts.advertiseAddress),
      );
    procs.push(startApiserver());
    const admin = await createClientCert(dir, 'admin', 'admin', ['system:masters']);
    const kubeconfigPath = path.join(dir, 'admin.kubeconfig');
    await writeFile(kubeconfigPath, await kubeconfig(server, pki.caCert, admin.cert, admin.key, 'admin'));
    const apiserverReady = () => httpsOk(`${server}/readyz`, pki.caCert, admin);
    await waitFor('kube-apiserver', apiserverReady, procs);

    if (opts.withControllers !== false) {
      const common = [
        `--kubeconfig=${kubeconfigPath}`,
        `--authentication-kubeconfig=${kubeconfigPath}`,
        `--authorization-kubeconfig=${kubeconfigPath}`,
        '--bind-address=127.0.0.1',
        '--leader-elect=false',
        '--kube-api-qps=500',
        '--kube-api-burst=1000',
      ];
      procs.push(
        supervise('kube-controller-manager', dir, tool('kube-controller-manager'), [
          ...common,
          `--secure-port=${kcmPort}`,
          `--root-ca-file=${pki.caCert}`,
          `--service-account-private-key-file=${pki.saKey}`,
          `--cluster-signing-cert-file=${pki.caCert}`,
          `--cluster-signing-key-file=${pki.caKey}`,
          '--use-service-account-credentials=false',
          '--concurrent-gc-syncs=20',
        ]),
        supervise('kube-scheduler', dir, tool('kube-scheduler'), [...common, `--secure-port=${schedPort}`]),
      );
      await waitFor('kube-controller-manager', () => httpsOk(`https://127.0.0.1:${kcmPort}/healthz`), procs);
      await waitFor('kube-scheduler', () => httpsOk(`https://127.0.0.1:${schedPort}/healthz`), procs);
    }

    return {
      kubeconfigPath,
      server,
      dir,
      readyMs: Date.now() - started,
      phases,
      async writeKubeconfig(user, groups) {
        const safe = user.replace(/[^a-zA-Z0-9-]/g, '-');
        const c = await createClientCert(dir, `user-${safe}`, user, groups);
        const file = path.join(dir, `${safe}.kubeconfig`);
        await writeFile(file, await kubeconfig(server, pki.caCert, c.cert, c.key, safe));
        return file;
      },
      async restartApiserver() {
        const i = procs.findIndex((p) => p.name === 'kube-apiserver');
        const old = procs[i];
        if (!old || stopped) throw new Error('the control plane has no running kube-apiserver');
        const downAt = Date.now();
        old.killSync();
        await old.exited;
        procs[i] = startApiserver();
        await waitReady('kube-apiserver', apiserverReady, procs);
        return { downAt, upAt: Date.now() };
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function apiserverArgs(
  pki: Pki,
  port: number,
  etcdPort: number,
  server: string,
  serviceCIDR: string,
  advertiseAddress: string | undefined,
): string[] {
  return [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    // The bridge address pods reach is created by the node after the API server starts, so it cannot be bound
    // on its own: every interface, behind client-certificate and token authentication like any API server.
    ...(advertiseAddress
      ? ['--bind-address=0.0.0.0', `--advertise-address=${advertiseAddress}`]
      : // A loopback advertise address fails Endpoints validation for the `kubernetes` Service.
        ['--bind-address=127.0.0.1', '--endpoint-reconciler-type=none']),
    `--secure-port=${port}`,
    `--tls-cert-file=${pki.serverCert}`,
    `--tls-private-key-file=${pki.serverKey}`,
    `--client-ca-file=${pki.caCert}`,
    `--service-account-issuer=${server}`,
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    `--service-cluster-ip-range=${serviceCIDR}`,
    `--kubelet-client-certificate=${pki.kubeletClientCert}`,
    `--kubelet-client-key=${pki.kubeletClientKey}`,
    // A real node's name does not resolve on this machine; its InternalIP (the node's bridge address) does.
    '--kubelet-preferred-address-types=InternalIP,Hostname',
    '--authorization-mode=Node,RBAC',
    '--allow-privileged=true',
    // One machine, one user: client-side throttling and APF only add latency and noise to measurements.
    '--enable-priority-and-fairness=false',
    '--max-requests-inflight=0',
    '--max-mutating-requests-inflight=0',
    '--profiling=false',
    '--event-ttl=1h',
  ];
}

async function kubeconfig(
  server: string,
  ca: string,
  cert: string,
  key: string,
  user: string,
): Promise<string> {
  const b64 = async (f: string) => (await readFile(f)).toString('base64');
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'local', cluster: { server, 'certificate-authority-data': await b64(ca) } }],
    users: [
      { name: user, user: { 'client-certificate-data': await b64(cert), 'client-key-data': await b64(key) } },
    ],
    contexts: [{ name: 'local', context: { cluster: 'local', user } }],
    'current-context': 'local',
  });
}

interface Supervised {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  logFile: string;
  stop(): Promise<void>;
  killSync(): void;
}

function supervise(name: string, dir: string, bin: string, args: string[]): Supervised {
  const logFile = path.join(dir, `${name}.log`);
  const log = createWriteStream(logFile);
  // pdeathsig: if the owning Node process is SIGKILLed, the kernel takes its children with it.
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', bin, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const pidFile = path.join(dir, `${name}.pid`);
  void writeFile(pidFile, String(child.pid ?? ''));
  return {
    name,
    child,
    exited,
    logFile,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
    killSync() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

async function waitFor(name: string, ready: () => Promise<boolean>, procs: Supervised[]): Promise<void> {
  await waitReady(name, ready, procs);
  phaseLog?.(name);
}

let phaseLog: ((name: string) => void) | undefined;

async function waitReady(name: string, ready: () => Promise<boolean>, procs: Supervised[]): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const dead = procs.find((p) => p.child.exitCode !== null || p.child.signalCode !== null);
    if (dead) throw new Error(`${dead.name} exited early; last log lines:\n${tail(dead.logFile)}`);
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  const p = procs.find((x) => x.name === name);
  throw new Error(`${name} not ready after 120s; last log lines:\n${p ? tail(p.logFile) : ''}`);
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function httpOk(url: string): Promise<boolean> {
  return fetch(url, { signal: AbortSignal.timeout(1000) })
    .then((r) => r.ok)
    .catch(() => false);
}

/** GET over TLS; kcm and scheduler serve self-signed certs, so those are not verified (loopback only). */
function httpsOk(url: string, ca?: string, client?: { cert: string; key: string }): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(
      url,
      {
        timeout: 1000,
        ...(ca && client
          ? { ca: readFileSync(ca), cert: readFileSync(client.cert), key: readFileSync(client.key) }
          : { rejectUnauthorized: false }),
      },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.once('error', reject);
          s.listen(0, host, () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
