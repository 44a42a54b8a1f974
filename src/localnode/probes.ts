import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { V1ContainerPort, V1Probe } from '@kubernetes/client-node';
import { launchArgv } from './process-runner.js';

/**
 * Container probes as the kubelet runs them: httpGet and tcpSocket from the node against the pod's address,
 * exec inside the pod's network namespace. Probes may only reach addresses the agent made or loopback.
 */

export interface ProbeTarget {
  podIP: string;
  /** Run exec probes inside this namespace; absent for hostNetwork pods. */
  netns?: string;
  ipPath: string;
  /** setpriv prefix, so exec probes run as the container's user. */
  wrapper: string[];
  env: Record<string, string>;
  cwd: string;
  ports: readonly V1ContainerPort[];
  /** Whether the node may send traffic to this address. */
  isAllowedAddress(ip: string): boolean;
}

export interface ProbeResult {
  ok: boolean;
  message?: string;
}

function resolvePort(port: number | string, ports: readonly V1ContainerPort[]): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return ports.find((p) => p.name === port)?.containerPort;
}

export async function runProbe(probe: V1Probe, target: ProbeTarget): Promise<ProbeResult> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.httpGet) {
    const h = probe.httpGet;
    const host = h.host || target.podIP;
    const port = resolvePort(h.port as number | string, target.ports);
    if (port === undefined) return { ok: false, message: `unknown named port "${h.port}"` };
    if (!target.isAllowedAddress(host))
      return { ok: false, message: `probe host ${host} is outside this machine's pod network` };
    return httpProbe(
      h.scheme === 'HTTPS' ? 'https' : 'http',
      host,
      port,
      h.path || '/',
      h.httpHeaders ?? [],
      timeoutMs,
    );
  }
  if (probe.tcpSocket) {
    const host = probe.tcpSocket.host || target.podIP;
    const port = resolvePort(probe.tcpSocket.port as number | string, target.ports);
    if (port === undefined) return { ok: false, message: `unknown named port "${probe.tcpSocket.port}"` };
    if (!target.isAllowedAddress(host))
      return { ok: false, message: `probe host ${host} is outside this machine's pod network` };
    return tcpProbe(host, port, timeoutMs);
  }
  if (probe.exec?.command && probe.exec.command.length > 0)
    return execProbe(probe.exec.command, target, timeoutMs);
  return { ok: false, message: 'probe type not supported by localnode (httpGet, tcpSocket and exec are)' };
}

function httpProbe(
  scheme: 'http' | 'https',
  host: string,
  port: number,
  path: string,
  headers: readonly { name: string; value: string }[],
  timeoutMs: number,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const hdrs: Record<string, string> = { 'user-agent': 'kube-probe/localnode', accept: '*/*' };
    for (const { name, value } of headers) hdrs[name.toLowerCase()] = value;
    const opts = {
      host,
      port,
      path,
      method: 'GET',
      headers: hdrs,
      timeout: timeoutMs,
      agent: false as const,
    };
    const req = scheme === 'https' ? httpsRequest({ ...opts, rejectUnauthorized: false }) : httpRequest(opts);
    req.on('response', (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(
        status >= 200 && status < 400
          ? { ok: true }
          : { ok: false, message: `HTTP probe failed with statuscode: ${status}` },
      );
    });
    req.on('timeout', () => {
      req.destroy();
      resolve({ ok: false, message: `Get "${scheme}://${host}:${port}${path}": context deadline exceeded` });
    });
    req.on('error', (e) =>
      resolve({ ok: false, message: `Get "${scheme}://${host}:${port}${path}": ${e.message}` }),
    );
    req.end();
  });
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (r: ProbeResult) => {
      socket.destroy();
      resolve(r);
    };
    socket.setTimeout(timeoutMs, () => done({ ok: false, message: `dial tcp ${host}:${port}: i/o timeout` }));
    socket.once('connect', () => done({ ok: true }));
    socket.once('error', (e) => done({ ok: false, message: `dial tcp ${host}:${port}: ${e.message}` }));
  });
}

function execProbe(command: string[], target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const [file, args] = launchArgv(target, command);
    const child = spawn(file, args, {
      env: target.env,
      cwd: target.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    const collect = (d: Buffer) => {
      if (output.length < 10_240) output += d.toString();
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ ok: false, message: e.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ ok: true });
      else if (signal) resolve({ ok: false, message: `command timed out after ${timeoutMs} ms` });
      else resolve({ ok: false, message: output.trim() || `command exited with ${code}` });
    });
  });
}

export type ProbeKind = 'readiness' | 'liveness' | 'startup';

/**
 * Runs one probe of one container on its period and applies the success/failure thresholds. `onChange` hears
 * about a changed verdict only; the initial verdict is "failing" for readiness and startup, "passing" for
 * liveness, as with the kubelet.
 */
export class ProbeWorker {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private successes = 0;
  private failures = 0;
  private verdict: boolean;
  private lastMessage: string | undefined;

  constructor(
    readonly kind: ProbeKind,
    private readonly probe: V1Probe,
    private readonly target: ProbeTarget,
    private readonly onChange: (passing: boolean, message: string | undefined) => void,
  ) {
    this.verdict = kind === 'liveness';
  }

  get passing(): boolean {
    return this.verdict;
  }

  get message(): string | undefined {
    return this.lastMessage;
  }

  start(): void {
    this.schedule((this.probe.initialDelaySeconds ?? 0) * 1000);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), ms);
  }

  private async tick(): Promise<void> {
    const result = await runProbe(this.probe, this.target);
    if (this.stopped) return;
    this.lastMessage = result.message;
    if (result.ok) {
      this.successes++;
      this.failures = 0;
    } else {
      this.failures++;
      this.successes = 0;
    }
    const successThreshold = this.kind === 'readiness' ? (this.probe.successThreshold ?? 1) : 1;
    const failureThreshold = this.probe.failureThreshold ?? 3;
    const before = this.verdict;
    if (!this.verdict && this.successes >= successThreshold) this.verdict = true;
    // Readiness starts out failing, so one failure already keeps (or makes) it unready after success.
    else if (this.verdict && this.failures >= failureThreshold) this.verdict = false;
    if (this.verdict !== before) this.onChange(this.verdict, result.message);
    // A passed startup probe has done its job; the kubelet stops running it.
    if (this.kind === 'startup' && this.verdict) return;
    this.schedule((this.probe.periodSeconds ?? 10) * 1000);
  }
}
