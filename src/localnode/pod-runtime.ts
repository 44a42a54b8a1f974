import { chmod, chown, mkdir, open, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Container, V1Pod, V1PodStatus } from '@kubernetes/client-node';
import type { AddressPool } from '../shared/cidr.js';
import type { Logger } from '../shared/log.js';
import {
  ContainerConfigError,
  type EnvSources,
  expandCommand,
  type PodFacts,
  resolveContainerEnv,
} from './container-env.js';
import { containerArgv, type ImageRule, type ImageVars } from './images.js';
import type { PodNetwork, Sandbox } from './network.js';
import {
  containerBindMounts,
  containerPathMappings,
  mountWrapper,
  type PathMapping,
  PodLayout,
  rewritePaths,
} from './pod-layout.js';
import type { ContainerSnapshot, ContainerState, PodSnapshot, TerminatedState } from './pod-status.js';
import { type ProbeKind, type ProbeTarget, ProbeWorker } from './probes.js';
import { ContainerProcess, DEFAULT_PATH, type ProcessExit, StartError } from './process-runner.js';
import { type RunAs, runAsFor, setprivArgs } from './security.js';
import { type PodRecord, writeJsonAtomic } from './state-dir.js';
import { hasFiles, MissingVolumeSourceError, type VolumeApi, writeVolumeFiles } from './volume-files.js';

/**
 * The node-side life of one pod: its sandbox (namespace, address, directory), its containers as process
 * groups, their probes and restarts. `sync(pod)` moves the pod one step towards running its spec and is safe to
 * call any number of times; every change the runtime observes by itself (an exit, a probe verdict, a finished
 * stop) is reported through `onChange` so the agent reconciles again.
 */

export interface RuntimeDeps {
  nodeName: string;
  ipPath: string;
  setprivPath: string;
  images: readonly ImageRule[];
  imageVars: ImageVars;
  /** Absent when pods run without their own namespaces (hostNetwork only). */
  network: PodNetwork | undefined;
  pool: AddressPool;
  hostIP: string;
  allocatable: PodFacts['allocatable'];
  envSources: EnvSources;
  volumeApi: VolumeApi;
  /** Set when this node serves cluster DNS: pods with dnsPolicy ClusterFirst resolve through it. */
  clusterDNS?: { nameserver: string; domain: string };
  /** What the kubelet gives every container: the `kubernetes` Service's KUBERNETES_SERVICE_HOST and so on. */
  serviceEnv?: Readonly<Record<string, string>>;
  podsDir: string;
  /** Short symlinks to pod directories (see PodLayout); absent = containers see the real paths. */
  linksDir?: string;
  logsDir: string;
  restartBackoff: { initialMs: number; maxMs: number };
  isAllowedAddress(ip: string): boolean;
  log: Logger;
  /** Records an Event on the pod (what `kubectl describe pod` shows). */
  event(pod: V1Pod, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

type ContainerKind = 'init' | 'sidecar' | 'app';

/** A container ran this long without failing gets its restart backoff reset, as with the kubelet. */
const BACKOFF_RESET_MS = 10 * 60 * 1000;
/** How long to wait before retrying a container whose ConfigMap/Secret was missing. */
const CONFIG_RETRY_MS = 10_000;
/** Volume sources are often created just after the pod (kube-root-ca.crt in a new namespace): retry soon. */
const VOLUME_RETRY_MS = 1000;
const MAX_MESSAGE_BYTES = 4096;

class ContainerRuntime {
  state: ContainerState = { kind: 'waiting', reason: 'ContainerCreating' };
  lastState: TerminatedState | undefined;
  restartCount = 0;
  backoffSteps = 0;
  ready = false;
  started = false;
  nextStartAt: number | undefined;
  retryAt: number | undefined;
  proc: ContainerProcess | undefined;
  starting = false;
  probes = new Map<ProbeKind, ProbeWorker>();
  imageID = '';

  constructor(
    readonly spec: V1Container,
    readonly kind: ContainerKind,
  ) {}

  get name(): string {
    return this.spec.name;
  }

  /** True once the container has run (or tried to) at least once. */
  get everRan(): boolean {
    return this.state.kind !== 'waiting' || this.lastState !== undefined;
  }

  stopProbes(): void {
    for (const p of this.probes.values()) p.stop();
    this.probes.clear();
  }

  snapshot(): ContainerSnapshot {
    return {
      name: this.name,
      image: this.spec.image ?? '',
      imageID: this.imageID,
      ...(this.proc ? { containerID: `localnode://${this.proc.pid}` } : {}),
      state: this.state,
      ...(this.lastState ? { lastState: this.lastState } : {}),
      restartCount: this.restartCount,
      ready: this.ready && this.state.kind === 'running',
      started: this.started && this.state.kind === 'running',
    };
  }
}

export class PodRuntime {
  readonly uid: string;
  readonly key: string;
  readonly layout: PodLayout;
  readonly hostNetwork: boolean;
  startTime: Date;
  sandbox: Sandbox | undefined;
  ip: string | undefined;
  failure: { reason: string; message: string } | undefined;
  private readonly containers: ContainerRuntime[];
  private pod: V1Pod;
  private prepared = false;
  private volumesWritten = false;
  private volumeTimer: NodeJS.Timeout | undefined;
  private lastMountFailure = '';
  private stopping: { killAt: number; timer: NodeJS.Timeout | undefined } | undefined;
  private removed = false;
  private detached = false;
  private recordWrite: Promise<void> = Promise.resolve();

  constructor(
    pod: V1Pod,
    private readonly deps: RuntimeDeps,
    private readonly onChange: () => void,
    now: Date,
  ) {
    this.pod = pod;
    this.uid = pod.metadata?.uid ?? '';
    this.key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    this.layout = PodLayout.of(deps.podsDir, this.uid, deps.linksDir);
    this.hostNetwork = pod.spec?.hostNetwork === true;
    this.startTime = pod.status?.startTime ? new Date(pod.status.startTime) : now;
    this.containers = [
      ...(pod.spec?.initContainers ?? []).map(
        (c) => new ContainerRuntime(c, c.restartPolicy === 'Always' ? 'sidecar' : 'init'),
      ),
      ...(pod.spec?.containers ?? []).map((c) => new ContainerRuntime(c, 'app')),
    ];
    this.seedFromPreviousRun(pod.status, now);
  }

  /**
   * A pod whose status says it already ran was started by an earlier run of the agent, which killed it
   * (the agent never adopts processes). Its containers are recorded as killed, so restartPolicy decides as it
   * would for a crash: Never makes the pod Failed, Always/OnFailure restart it.
   */
  private seedFromPreviousRun(status: V1PodStatus | undefined, now: Date): void {
    const previous = [...(status?.initContainerStatuses ?? []), ...(status?.containerStatuses ?? [])];
    for (const c of this.containers) {
      const s = previous.find((p) => p.name === c.name);
      if (!s) continue;
      c.restartCount = s.restartCount ?? 0;
      const toTerminated = (t: NonNullable<NonNullable<typeof s.state>['terminated']>): TerminatedState => ({
        kind: 'terminated',
        exitCode: t.exitCode,
        reason: t.reason ?? (t.exitCode === 0 ? 'Completed' : 'Error'),
        ...(t.message ? { message: t.message } : {}),
        ...(t.startedAt ? { startedAt: new Date(t.startedAt) } : {}),
        finishedAt: t.finishedAt ? new Date(t.finishedAt) : now,
      });
      if (s.lastState?.terminated) c.lastState = toTerminated(s.lastState.terminated);
      if (s.state?.running) {
        c.state = {
          kind: 'terminated',
          exitCode: 137,
          reason: 'Error',
          message: 'the localnode agent restarted and killed the container',
          ...(s.state.running.startedAt ? { startedAt: new Date(s.state.running.startedAt) } : {}),
          finishedAt: now,
        };
        c.nextStartAt = now.getTime();
      } else if (s.state?.terminated) {
        c.state = toTerminated(s.state.terminated);
        c.nextStartAt = now.getTime();
      } else if (c.lastState) {
        c.state = c.lastState;
        c.lastState = undefined;
        c.nextStartAt = now.getTime();
      }
    }
  }

  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  get allStopped(): boolean {
    return this.containers.every((c) => !c.proc && !c.starting);
  }

  get netns(): string | undefined {
    return this.sandbox?.netns;
  }

  fail(reason: string, message: string): void {
    if (!this.failure) this.failure = { reason, message };
  }

  /** Moves the pod towards its spec: sandbox first, then init containers in order, then the app containers. */
  async sync(pod: V1Pod, now: Date): Promise<void> {
    this.pod = pod;
    if (this.stopping || this.failure || this.detached) return;
    if (!this.prepared) await this.prepare();
    if (!this.volumesWritten && !(await this.writeVolumes())) return;
    const nowMs = now.getTime();
    const policy = pod.spec?.restartPolicy ?? 'Always';
    const apps = this.containers.filter((c) => c.kind === 'app');
    // App containers that ran and will not run again; when all are like that, the pod is done.
    const appsDone = apps.every(
      (c) =>
        c.state.kind === 'terminated' &&
        !c.proc &&
        (policy === 'Never' || (policy === 'OnFailure' && c.state.exitCode === 0)),
    );
    const initialized = apps.some((c) => c.everRan);
    for (const c of this.containers) {
      if (c.kind === 'app') continue;
      if (c.kind === 'sidecar') {
        // Sidecars live as long as the app containers, restarting whenever they exit.
        if (appsDone) c.proc?.signal('SIGTERM');
        else this.advance(c, nowMs, true);
        if (!initialized && !c.started) return;
        continue;
      }
      if (initialized || (c.state.kind === 'terminated' && c.state.exitCode === 0)) continue;
      this.advance(c, nowMs, policy !== 'Never');
      return;
    }
    for (const c of apps) {
      // In back-off the container is waiting; its last exit still decides whether it comes back.
      const last = c.state.kind === 'terminated' ? c.state : c.lastState;
      const restart =
        policy === 'Always' || (policy === 'OnFailure' && last !== undefined && last.exitCode !== 0);
      this.advance(c, nowMs, restart);
    }
  }

  /** Starts a container that never ran, or restarts a terminated one when allowed and its backoff is over. */
  private advance(c: ContainerRuntime, nowMs: number, restartAllowed: boolean): void {
    if (c.proc || c.starting) return;
    if (c.retryAt !== undefined && nowMs < c.retryAt) return;
    const retryable =
      c.state.kind === 'waiting' && /^Create(Container|ContainerConfig)Error$/.test(c.state.reason);
    if (!c.everRan || retryable) {
      void this.startContainer(c);
      return;
    }
    const last = c.state.kind === 'terminated' ? c.state : c.lastState;
    if (!restartAllowed || !last) return;
    if (c.nextStartAt === undefined) {
      const ranFor = last.startedAt ? last.finishedAt.getTime() - last.startedAt.getTime() : 0;
      if (ranFor > BACKOFF_RESET_MS) c.backoffSteps = 0;
      const delay =
        c.backoffSteps === 0
          ? 0
          : Math.min(
              this.deps.restartBackoff.maxMs,
              this.deps.restartBackoff.initialMs * 2 ** (c.backoffSteps - 1),
            );
      c.backoffSteps++;
      c.nextStartAt = last.finishedAt.getTime() + delay;
    }
    if (nowMs < c.nextStartAt) {
      if (c.state.kind === 'terminated') {
        c.lastState = c.state;
        const seconds = Math.round((c.nextStartAt - last.finishedAt.getTime()) / 1000);
        this.deps.event(this.pod, 'Warning', 'BackOff', `Back-off restarting failed container ${c.name}`);
        c.state = {
          kind: 'waiting',
          reason: 'CrashLoopBackOff',
          message: `back-off ${seconds}s restarting failed container=${c.name} pod=${this.pod.metadata?.name}_${this.pod.metadata?.namespace}(${this.uid})`,
        };
      }
      return;
    }
    if (c.state.kind === 'terminated') c.lastState = c.state;
    c.restartCount++;
    c.nextStartAt = undefined;
    void this.startContainer(c);
  }

  /** The earliest time at which sync() has something to do that no event will announce. */
  nextWakeAt(): number | undefined {
    let at: number | undefined;
    for (const c of this.containers) {
      for (const t of [c.nextStartAt, c.retryAt]) if (t !== undefined && (at === undefined || t < at)) at = t;
    }
    return at;
  }

  private async prepare(): Promise<void> {
    await mkdir(this.layout.dir, { recursive: true });
    if (this.layout.root !== this.layout.dir) {
      await rm(this.layout.root, { force: true });
      await symlink(this.layout.dir, this.layout.root);
    }
    if (!this.ip) {
      this.ip = this.hostNetwork
        ? this.deps.hostIP
        : this.deps.pool.allocate(this.uid, this.pod.status?.podIP ?? undefined);
    }
    if (!this.hostNetwork && !this.sandbox) {
      if (!this.deps.network) throw new Error('pod networking is disabled on this node (simulate mode)');
      try {
        this.sandbox = await this.deps.network.createSandbox(this.uid, this.ip, this.resolvConf());
      } catch (e) {
        await this.deps.network.destroySandbox(
          this.deps.network.netnsName(this.uid),
          this.deps.network.vethName(this.uid),
        );
        throw e;
      }
    }
    for (const v of this.pod.spec?.volumes ?? []) {
      if (!v.hostPath) await mkdir(this.layout.volume(v.name), { recursive: true });
    }
    this.prepared = true;
    await this.writeRecord();
  }

  /** /etc/resolv.conf as the kubelet writes it for dnsPolicy ClusterFirst; undefined = the host's. */
  private resolvConf(): string | undefined {
    const dns = this.deps.clusterDNS;
    const policy = this.pod.spec?.dnsPolicy ?? 'ClusterFirst';
    if (!dns || (policy !== 'ClusterFirst' && policy !== 'ClusterFirstWithHostNet')) return undefined;
    const ns = this.pod.metadata?.namespace ?? 'default';
    return [
      `nameserver ${dns.nameserver}`,
      `search ${ns}.svc.${dns.domain} svc.${dns.domain} ${dns.domain}`,
      'options ndots:5',
      '',
    ].join('\n');
  }

  /**
   * Writes the files of configMap, secret, downwardAPI and projected volumes. A missing source keeps the pod
   * in ContainerCreating and is retried, as the kubelet does (with a FailedMount event); tokens are renewed
   * before they expire. False while the volumes are not ready.
   */
  private async writeVolumes(): Promise<boolean> {
    clearTimeout(this.volumeTimer);
    let refreshAt: number | undefined;
    try {
      for (const v of this.pod.spec?.volumes ?? []) {
        if (!hasFiles(v)) continue;
        const written = await writeVolumeFiles(
          this.pod,
          v,
          this.layout.volume(v.name),
          this.deps.volumeApi,
          this.facts(),
        );
        if (written.refreshAt !== undefined) refreshAt = Math.min(refreshAt ?? Infinity, written.refreshAt);
      }
    } catch (e) {
      if (!(e instanceof MissingVolumeSourceError)) throw e;
      if (e.message !== this.lastMountFailure) {
        this.lastMountFailure = e.message;
        this.deps.event(this.pod, 'Warning', 'FailedMount', `MountVolume.SetUp failed for ${e.message}`);
      }
      this.volumeTimer = setTimeout(() => this.onChange(), VOLUME_RETRY_MS);
      return false;
    }
    this.volumesWritten = true;
    if (refreshAt !== undefined) {
      this.volumeTimer = setTimeout(
        () =>
          void this.writeVolumes().catch((err) =>
            this.deps.log.warn('token renewal failed', { pod: this.key, err }),
          ),
        Math.max(1000, refreshAt - Date.now()),
      );
    }
    return true;
  }

  private writeRecord(): Promise<void> {
    const record: PodRecord = {
      uid: this.uid,
      namespace: this.pod.metadata?.namespace ?? '',
      name: this.pod.metadata?.name ?? '',
      ...(this.sandbox ? { netns: this.sandbox.netns, veth: this.sandbox.veth } : {}),
      ...(this.ip ? { ip: this.ip } : {}),
      processes: this.containers.flatMap((c) =>
        c.proc ? [{ container: c.name, pid: c.proc.pid, startTime: c.proc.startTime }] : [],
      ),
    };
    this.recordWrite = this.recordWrite.then(() =>
      this.removed ? undefined : writeJsonAtomic(this.layout.stateFile, record).catch(() => undefined),
    );
    return this.recordWrite;
  }

  private facts(): PodFacts {
    return { podIP: this.ip ?? '', hostIP: this.deps.hostIP, allocatable: this.deps.allocatable };
  }

  private async startContainer(c: ContainerRuntime): Promise<void> {
    c.starting = true;
    c.retryAt = undefined;
    try {
      await this.launch(c);
    } catch (e) {
      // Something of the node's own failed (disk, namespace); the kubelet reports this and retries.
      c.state = {
        kind: 'waiting',
        reason: 'CreateContainerError',
        message: e instanceof Error ? e.message : String(e),
      };
      c.retryAt = Date.now() + CONFIG_RETRY_MS;
      this.deps.log.error('could not start container', { pod: this.key, container: c.name, err: e });
    } finally {
      c.starting = false;
      this.onChange();
    }
  }

  private async launch(c: ContainerRuntime): Promise<void> {
    const pod = this.pod;
    const log = this.deps.log;
    let env: Map<string, string>;
    try {
      env = await resolveContainerEnv(pod, c.spec, this.facts(), this.deps.envSources);
    } catch (e) {
      if (!(e instanceof ContainerConfigError)) throw e;
      c.state = { kind: 'waiting', reason: 'CreateContainerConfigError', message: e.message };
      c.retryAt = Date.now() + CONFIG_RETRY_MS;
      return;
    }
    const resolved = containerArgv(
      {
        name: c.name,
        image: c.spec.image,
        command: expandCommand(c.spec.command, env),
        args: expandCommand(c.spec.args, env),
      },
      this.deps.images,
      this.deps.imageVars,
    );
    if (!resolved.ok) {
      c.state = { kind: 'waiting', reason: resolved.reason, message: resolved.message };
      this.fail(resolved.reason, resolved.message);
      log.warn('container image not available', {
        pod: this.key,
        container: c.name,
        reason: resolved.reason,
        message: resolved.message,
      });
      this.deps.event(
        pod,
        'Warning',
        'Failed',
        `Failed to pull image "${c.spec.image}": ${resolved.message}`,
      );
      return;
    }
    c.imageID = `localnode://${resolved.argv[0]}`;
    const mappings = containerPathMappings(pod, c.spec, this.layout);
    const rewrite = (s: string) => rewritePaths(s, mappings);
    const runAs = runAsFor(pod, c.spec);
    const wrapper = [
      ...mountWrapper(containerBindMounts(pod, c.spec, this.layout), this.hostNetwork),
      ...setprivArgs(runAs, this.deps.setprivPath),
    ];
    await this.prepareContainerFiles(c.name, mappings, runAs);
    const fullEnv: Record<string, string> = {
      PATH: DEFAULT_PATH,
      HOSTNAME: pod.metadata?.name ?? '',
      HOME: this.layout.home(c.name),
      TMPDIR: rewrite('/tmp'),
      ...this.deps.serviceEnv,
    };
    for (const [k, v] of env) fullEnv[k] = rewrite(v);
    const cwd = c.spec.workingDir ? rewrite(c.spec.workingDir) : this.layout.home(c.name);
    if (this.layout.owns(cwd)) await mkdir(cwd, { recursive: true });
    const logPath = this.layout.log(c.name);
    await this.linkLog(c.name, logPath);
    try {
      c.proc = await ContainerProcess.start({
        // The image's own program paths are host paths (the checkout may itself live under /tmp): only the
        // container's paths are rewritten to where its volumes really are.
        argv: resolved.argv.map((a) =>
          Object.values(this.deps.imageVars).some(
            (p) => typeof p === 'string' && p.startsWith('/') && (a === p || a.startsWith(`${p}/`)),
          )
            ? a
            : rewrite(a),
        ),
        env: fullEnv,
        cwd,
        logPath,
        ...(this.sandbox ? { netns: this.sandbox.netns } : {}),
        ipPath: this.deps.ipPath,
        wrapper,
      });
    } catch (e) {
      if (!(e instanceof StartError)) throw e;
      const now = new Date();
      c.state = {
        kind: 'terminated',
        exitCode: 128,
        reason: 'StartError',
        message: e.message,
        startedAt: now,
        finishedAt: now,
      };
      log.warn('container could not start', { pod: this.key, container: c.name, err: e });
      this.deps.event(pod, 'Warning', 'Failed', `Error: failed to start container "${c.name}": ${e.message}`);
      return;
    }
    const proc = c.proc;
    c.state = { kind: 'running', startedAt: proc.startedAt };
    c.started = !c.spec.startupProbe;
    c.ready = !c.spec.readinessProbe;
    log.info('started container', {
      pod: this.key,
      container: c.name,
      pid: proc.pid,
      restartCount: c.restartCount,
    });
    this.deps.event(pod, 'Normal', 'Started', `Started container ${c.name}`);
    await this.writeRecord();
    this.startProbes(
      c,
      {
        podIP: this.ip ?? '',
        ...(this.sandbox ? { netns: this.sandbox.netns } : {}),
        ipPath: this.deps.ipPath,
        wrapper,
        env: fullEnv,
        cwd,
        ports: c.spec.ports ?? [],
        isAllowedAddress: (ip) => this.deps.isAllowedAddress(ip),
      },
      rewrite,
    );
    void proc.exited.then((exit) => this.onExit(c, proc, exit));
    if (this.stopping) proc.signal(Date.now() >= this.stopping.killAt ? 'SIGKILL' : 'SIGTERM');
  }

  /**
   * The container's own files, writable by the user it runs as: HOME, /tmp and an empty termination-message
   * file are its own; emptyDir volumes are world-writable, as the kubelet makes them.
   */
  private async prepareContainerFiles(
    container: string,
    mappings: PathMapping[],
    runAs: RunAs,
  ): Promise<void> {
    const home = this.layout.home(container);
    const tmp = this.layout.tmp(container);
    const termLog = this.layout.terminationLog(container);
    await mkdir(home, { recursive: true });
    await mkdir(tmp, { recursive: true });
    await writeFile(termLog, '', { mode: 0o666 });
    await chmod(termLog, 0o666);
    for (const m of mappings) {
      if (!this.layout.isVolumePath(m.hostPath)) continue;
      await mkdir(m.hostPath, { recursive: true });
      await chmod(m.hostPath, 0o777);
    }
    if (runAs.uid !== undefined || runAs.gid !== undefined) {
      const uid = runAs.uid ?? 0;
      const gid = runAs.gid ?? 0;
      for (const p of [this.layout.containerDir(container), home, tmp, termLog]) await chown(p, uid, gid);
    }
  }

  private async linkLog(container: string, target: string): Promise<void> {
    const link = join(
      this.deps.logsDir,
      `${this.pod.metadata?.namespace}_${this.pod.metadata?.name}_${container}.log`,
    );
    await rm(link, { force: true });
    await symlink(target, link).catch(() => undefined);
  }

  private startProbes(c: ContainerRuntime, target: ProbeTarget, rewrite: (s: string) => string): void {
    const withPaths = <T extends { exec?: { command?: string[] } }>(p: T): T =>
      p.exec?.command ? { ...p, exec: { ...p.exec, command: p.exec.command.map(rewrite) } } : p;
    const add = (kind: ProbeKind, onVerdict: (passing: boolean, message: string | undefined) => void) => {
      const spec =
        kind === 'readiness'
          ? c.spec.readinessProbe
          : kind === 'liveness'
            ? c.spec.livenessProbe
            : c.spec.startupProbe;
      if (!spec) return;
      const worker = new ProbeWorker(kind, withPaths(spec), target, onVerdict);
      c.probes.set(kind, worker);
      return worker;
    };
    const startReadinessAndLiveness = () => {
      add('readiness', (ok, message) => {
        c.ready = ok;
        if (!ok)
          this.deps.event(this.pod, 'Warning', 'Unhealthy', `Readiness probe failed: ${message ?? ''}`);
        this.onChange();
      })?.start();
      add('liveness', (ok, message) => {
        if (!ok) this.killForProbe(c, 'Liveness', message);
      })?.start();
    };
    const startup = add('startup', (ok, message) => {
      if (ok) {
        c.started = true;
        startReadinessAndLiveness();
        this.onChange();
      } else {
        this.killForProbe(c, 'Startup', message);
      }
    });
    if (startup) startup.start();
    else startReadinessAndLiveness();
  }

  private killForProbe(c: ContainerRuntime, kind: 'Liveness' | 'Startup', message: string | undefined): void {
    const proc = c.proc;
    if (!proc) return;
    this.deps.log.info('container failed its probe and will be restarted', {
      pod: this.key,
      container: c.name,
      probe: kind,
      message,
    });
    this.deps.event(this.pod, 'Warning', 'Unhealthy', `${kind} probe failed: ${message ?? ''}`);
    this.deps.event(
      this.pod,
      'Normal',
      'Killing',
      `Container ${c.name} failed ${kind.toLowerCase()} probe, will be restarted`,
    );
    const probe = kind === 'Liveness' ? c.spec.livenessProbe : c.spec.startupProbe;
    const grace = probe?.terminationGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30;
    c.stopProbes();
    void proc.stop(grace * 1000);
  }

  private async onExit(c: ContainerRuntime, proc: ContainerProcess, exit: ProcessExit): Promise<void> {
    if (this.detached || c.proc !== proc) return;
    c.stopProbes();
    const message = await this.terminationMessage(c, exit.exitCode);
    c.state = {
      kind: 'terminated',
      exitCode: exit.exitCode,
      ...(exit.signal !== undefined ? { signal: exit.signal } : {}),
      reason: exit.exitCode === 0 ? 'Completed' : 'Error',
      ...(message ? { message } : {}),
      startedAt: proc.startedAt,
      finishedAt: exit.finishedAt,
    };
    c.proc = undefined;
    c.ready = false;
    c.started = false;
    this.deps.log.info('container exited', { pod: this.key, container: c.name, exitCode: exit.exitCode });
    await this.writeRecord();
    this.onChange();
  }

  /** The kubelet's rules: the termination-message file first; the log tail only for FallbackToLogsOnError. */
  private async terminationMessage(c: ContainerRuntime, exitCode: number): Promise<string | undefined> {
    const fromFile = await readHead(this.layout.terminationLog(c.name), MAX_MESSAGE_BYTES);
    if (fromFile) return fromFile;
    if (c.spec.terminationMessagePolicy === 'FallbackToLogsOnError' && exitCode !== 0) {
      const tail = await readTail(this.layout.log(c.name), 2048);
      return tail?.split('\n').slice(-80).join('\n');
    }
    return undefined;
  }

  /**
   * Stops every container: SIGTERM now, SIGKILL at the end of the grace period. Calling it again with a shorter
   * grace period brings the SIGKILL forward (as a second, shorter deletion does).
   */
  stop(graceMs: number): void {
    const killAt = Date.now() + Math.max(0, graceMs);
    if (this.stopping && this.stopping.killAt <= killAt) return;
    if (this.stopping) clearTimeout(this.stopping.timer);
    const first = !this.stopping;
    this.stopping = { killAt, timer: undefined };
    clearTimeout(this.volumeTimer);
    for (const c of this.containers) {
      c.stopProbes();
      c.nextStartAt = undefined;
      if (first) c.proc?.signal('SIGTERM');
    }
    this.stopping.timer = setTimeout(() => {
      for (const c of this.containers) c.proc?.signal('SIGKILL');
    }, graceMs);
  }

  snapshot(): PodSnapshot {
    return {
      ...(this.ip ? { podIP: this.ip } : {}),
      hostIP: this.deps.hostIP,
      startTime: this.startTime,
      sandboxReady: this.sandbox !== undefined || (this.hostNetwork && this.prepared),
      ...(this.failure ? { failure: this.failure } : {}),
      initContainers: this.containers.filter((c) => c.kind !== 'app').map((c) => c.snapshot()),
      containers: this.containers.filter((c) => c.kind === 'app').map((c) => c.snapshot()),
    };
  }

  /** Removes the namespace and gives back the address; the directory (logs) stays until the pod is deleted. */
  async releaseSandbox(): Promise<void> {
    if (!this.allStopped) throw new Error(`pod ${this.key}: cannot release the sandbox of a running pod`);
    if (this.sandbox && this.deps.network) {
      await this.deps.network.destroySandbox(this.sandbox.netns, this.sandbox.veth, this.sandbox.netnsInode);
    }
    this.sandbox = undefined;
    if (!this.hostNetwork) this.deps.pool.release(this.uid);
    clearTimeout(this.stopping?.timer);
  }

  async removeDirectory(): Promise<void> {
    this.removed = true;
    await this.recordWrite;
    await rm(this.layout.dir, { recursive: true, force: true });
    if (this.layout.root !== this.layout.dir) await rm(this.layout.root, { force: true });
    for (const c of this.containers) {
      await rm(
        join(this.deps.logsDir, `${this.pod.metadata?.namespace}_${this.pod.metadata?.name}_${c.name}.log`),
        {
          force: true,
        },
      );
    }
  }

  /** Forgets everything without stopping anything: what a crashing agent does (tests use it to simulate one). */
  detach(): void {
    this.detached = true;
    clearTimeout(this.volumeTimer);
    clearTimeout(this.stopping?.timer);
    for (const c of this.containers) {
      c.stopProbes();
      c.proc?.detach();
    }
  }
}

async function readHead(path: string, max: number): Promise<string | undefined> {
  try {
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(max);
      const { bytesRead } = await fh.read(buf, 0, max, 0);
      return buf.subarray(0, bytesRead).toString('utf8') || undefined;
    } finally {
      await fh.close();
    }
  } catch {
    return undefined;
  }
}

async function readTail(path: string, max: number): Promise<string | undefined> {
  try {
    const data = await readFile(path);
    return data.subarray(Math.max(0, data.length - max)).toString('utf8') || undefined;
  } catch {
    return undefined;
  }
}
