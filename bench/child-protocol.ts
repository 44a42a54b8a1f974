import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Messages between the benchmark and the processes it starts (bench/child.ts). */
export type ChildMessage =
  | { type: 'ready'; ports: Record<string, number> }
  | { type: 'failed'; message: string }
  | { type: 'stats'; id: number; stats: ChildStats };

export type ParentMessage = { type: 'stats'; id: number };

export interface ChildStats {
  memory: NodeJS.MemoryUsage;
  cpu: NodeJS.CpuUsage;
  requestsByVerb?: Record<string, number>;
  totalRequests?: number;
  [k: string]: unknown;
}

export type ChildMode = 'operator' | 'gateway' | 'sidecar';

export interface ChildHandle {
  mode: ChildMode;
  pid: number;
  ports: Record<string, number>;
  logFile: string;
  stats(): Promise<ChildStats>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

const childEntry = fileURLToPath(new URL('./child.js', import.meta.url));

/**
 * Starts bench/child.js in `mode` and resolves once it reports ready. Its stderr goes to `logFile`; if it
 * exits before it is ready, the rejection quotes the log's tail.
 */
export function startChild(
  mode: ChildMode,
  config: unknown,
  opts: { logFile: string; exposeGc?: boolean; env?: Record<string, string> },
): Promise<ChildHandle> {
  mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const log = createWriteStream(opts.logFile);
  // BF_BENCH_PROFILE=operator,gateway: V8 CPU profiles of those processes, written when they stop.
  const profile = (process.env['BF_BENCH_PROFILE'] ?? '').split(',').includes(mode)
    ? ['--cpu-prof', `--cpu-prof-dir=${path.join(path.dirname(opts.logFile), 'profiles')}`]
    : [];
  const child: ChildProcess = spawn(
    process.execPath,
    [...(opts.exposeGc ? ['--expose-gc'] : []), ...profile, childEntry, mode],
    {
      env: { ...process.env, ...opts.env, BF_BENCH_CONFIG: JSON.stringify(config) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    },
  );
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000);
    log.write(chunk);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let nextId = 1;
  const pending = new Map<number, (s: ChildStats) => void>();
  child.on('message', (msg: ChildMessage) => {
    if (msg.type === 'stats') {
      pending.get(msg.id)?.(msg.stats);
      pending.delete(msg.id);
    }
  });
  // A dead child must not take the benchmark down through an EPIPE on the channel.
  child.on('error', () => undefined);

  return new Promise((resolve, reject) => {
    const onExit = (code: number | null, signal: string | null) =>
      reject(
        new Error(`${mode} exited (${code ?? signal}) before it was ready; log ${opts.logFile}:\n${tail}`),
      );
    child.once('exit', onExit);
    child.on('message', (msg: ChildMessage) => {
      if (msg.type === 'failed') return; // the exit that follows rejects, with the log
      if (msg.type !== 'ready') return;
      child.off('exit', onExit);
      resolve({
        mode,
        pid: child.pid ?? 0,
        ports: msg.ports,
        logFile: opts.logFile,
        stats: () =>
          new Promise<ChildStats>((res, rej) => {
            if (!child.connected) return rej(new Error(`${mode} is not running`));
            const id = nextId++;
            pending.set(id, res);
            child.send({ type: 'stats', id } satisfies ParentMessage);
          }),
        async stop(graceMs = 30_000) {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
          await exited;
          clearTimeout(timer);
          log.end();
        },
      });
    });
  });
}
