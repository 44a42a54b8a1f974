import { type ChildProcess, spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, open, readFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';

/**
 * A container is a process tree: the main process is started as the leader of its own session and process
 * group, so the whole tree (Chrome and its helpers, a shell and its children) can be signalled at once, as a
 * runtime signals a container's cgroup. Output goes straight to the container's log file by file descriptor,
 * so logs keep flowing even if the agent dies.
 */

export interface ProcessSpec {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  logPath: string;
  /** Run inside this named network namespace (through `ip netns exec`). */
  netns?: string;
  ipPath: string;
  /** Runs the program through this (setpriv and its arguments, to switch user). */
  wrapper?: string[];
}

export interface ProcessExit {
  exitCode: number;
  signal?: number;
  finishedAt: Date;
}

/** The program could not be started; runtimes report this as StartError with exit code 128. */
export class StartError extends Error {}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export async function resolveProgram(
  program: string,
  pathVar: string | undefined,
): Promise<string | undefined> {
  const executable = (p: string) =>
    access(p, fsConstants.X_OK).then(
      () => true,
      () => false,
    );
  if (program.includes('/')) return (await executable(program)) ? program : undefined;
  for (const dir of (pathVar ?? DEFAULT_PATH).split(delimiter)) {
    if (!isAbsolute(dir)) continue;
    const candidate = join(dir, program);
    if (await executable(candidate)) return candidate;
  }
  return undefined;
}

/** Field 22 of /proc/<pid>/stat: start time in clock ticks since boot. With the pid it names one process forever. */
export async function processStartTime(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!stat) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19];
}

/** True while the process exists and is not a zombie (on this machine PID 1 is slow to reap orphans). */
export async function isRunning(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!stat) return false;
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Kills a process group recorded by an earlier run of the agent, but only if its leader is still the same
 * process (same pid and start time), so a recycled pid is never hit.
 */
export async function killRecordedGroup(pid: number, startTime: string | undefined): Promise<boolean> {
  if (startTime === undefined || (await processStartTime(pid)) !== startTime) return false;
  signalGroup(pid, 'SIGKILL');
  return true;
}

/** The process to spawn for a program: through `ip netns exec` into the pod's namespace, then the wrapper. */
export function launchArgv(
  spec: Pick<ProcessSpec, 'netns' | 'ipPath' | 'wrapper'>,
  argv: string[],
): [string, string[]] {
  const full = [...(spec.wrapper ?? []), ...argv];
  if (spec.netns) return [spec.ipPath, ['netns', 'exec', spec.netns, ...full]];
  return [full[0] as string, full.slice(1)];
}

export class ContainerProcess {
  readonly exited: Promise<ProcessExit>;
  private exit: ProcessExit | undefined;

  private constructor(
    private readonly child: ChildProcess,
    readonly pid: number,
    readonly startedAt: Date,
    readonly startTime: string | undefined,
    exited: Promise<ProcessExit>,
  ) {
    this.exited = exited.then((exit) => {
      this.exit = exit;
      return exit;
    });
  }

  static async start(spec: ProcessSpec): Promise<ContainerProcess> {
    const [program, ...args] = spec.argv;
    if (!program) throw new StartError('no command');
    const resolved = await resolveProgram(program, spec.env['PATH']);
    if (!resolved) throw new StartError(`exec: "${program}": executable file not found in $PATH`);
    const log = await open(spec.logPath, 'a');
    try {
      const [file, fileArgs] = launchArgv(spec, [resolved, ...args]);
      const child = spawn(file, fileArgs, {
        cwd: spec.cwd,
        env: spec.env,
        detached: true,
        stdio: ['ignore', log.fd, log.fd],
      });
      // Listen before anything is awaited: a short-lived program may be gone before the next tick.
      const exited = new Promise<ProcessExit>((resolve) => {
        child.once('exit', (code, signal) => {
          const signo = signal ? osConstants.signals[signal] : undefined;
          // The container ends with its main process: whatever it left behind in its group goes too.
          if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
          resolve({
            exitCode: code ?? 128 + (signo ?? 0),
            ...(signo !== undefined ? { signal: signo } : {}),
            finishedAt: new Date(),
          });
        });
      });
      const pid = await new Promise<number>((resolve, reject) => {
        child.once('spawn', () => resolve(child.pid as number));
        child.once('error', (e) => reject(new StartError(`failed to start "${program}": ${e.message}`)));
      });
      const startedAt = new Date();
      return new ContainerProcess(child, pid, startedAt, await processStartTime(pid), exited);
    } finally {
      await log.close();
    }
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  get exitInfo(): ProcessExit | undefined {
    return this.exit;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) signalGroup(this.pid, signal);
  }

  /** SIGTERM to the group, SIGKILL when the grace period is over; resolves once the main process is gone. */
  async stop(graceMs: number): Promise<ProcessExit> {
    if (this.exit) return this.exit;
    this.signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.signal('SIGKILL');
        resolve();
      }, graceMs);
    });
    await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    return this.exited;
  }

  /** Forgets the process without touching it: what a crashing agent does. */
  detach(): void {
    this.child.removeAllListeners();
    this.child.unref();
  }
}
