import type { ChildProcess } from 'node:child_process';
import { type Clock, systemClock, type Timer } from '../shared/clock.js';
import { DEV_RESTART_POLICY, decideRestart, NEVER_RESTARTED, type RestartPolicy } from './restart-policy.js';

/**
 * Keeps one child process of `make dev` running, as a Deployment's container is kept running: a child that
 * exits while the stack is up is started again after the policy's backoff (decideRestart), and every exit and
 * restart is told to `log`. `restart()` replaces it at once (new code, new config): not a crash, so no backoff
 * and no restart counted. `stop()` ends it for good: SIGTERM, SIGKILL after `killAfterMs`.
 */
export interface SupervisedChild {
  readonly name: string;
  /** The running process, if any (none between an exit and its restart). */
  current(): ChildProcess | undefined;
  restarts(): number;
  /** Stops the running process (as stop() does) and starts a new one without waiting for a backoff. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface SuperviseOptions {
  name: string;
  start: () => ChildProcess;
  log: (message: string) => void;
  /** Called with each new process (make dev records its pid). */
  onStart?: (child: ChildProcess) => void;
  policy?: RestartPolicy;
  clock?: Clock;
  killAfterMs?: number;
}

export function supervise(opts: SuperviseOptions): SupervisedChild {
  const clock = opts.clock ?? systemClock;
  const policy = opts.policy ?? DEV_RESTART_POLICY;
  let state = NEVER_RESTARTED;
  let child: ChildProcess | undefined;
  let restartTimer: Timer | undefined;
  let stopping = false;
  /** Processes being replaced by restart(): their exit is expected, not a crash. */
  const replaced = new WeakSet<ChildProcess>();

  const launch = () => {
    restartTimer = undefined;
    const startedAt = clock.now();
    const proc = opts.start();
    child = proc;
    opts.onStart?.(proc);
    // 'error' (spawn failed) is followed by 'exit' or nothing; treat it like an exit so the loop goes on.
    let done = false;
    const exited = (code: number | null, signal: NodeJS.Signals | null) => {
      if (done) return;
      done = true;
      if (child === proc) child = undefined;
      if (stopping || replaced.has(proc)) return;
      const decision = decideRestart(state, { startedAt, exitedAt: clock.now() }, policy);
      state = decision.next;
      opts.log(
        `${opts.name} exited (${signal ? `signal ${signal}` : `code ${code}`}); restarting in ` +
          `${(decision.delayMs / 1000).toFixed(1)} s (restart ${state.restarts})`,
      );
      restartTimer = clock.setTimeout(launch, decision.delayMs);
    };
    proc.once('exit', exited);
    proc.once('error', (err) => {
      opts.log(`${opts.name} could not start: ${err.message}`);
      exited(null, null);
    });
  };
  launch();

  /** SIGTERM, then SIGKILL after killAfterMs; resolves when the process has exited. */
  const terminate = async (proc: ChildProcess) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const killer = setTimeout(() => proc.kill('SIGKILL'), opts.killAfterMs ?? 10_000);
    await gone;
    clearTimeout(killer);
  };

  return {
    name: opts.name,
    current: () => child,
    restarts: () => state.restarts,
    async restart() {
      if (stopping) return;
      if (restartTimer !== undefined) clock.clearTimeout(restartTimer);
      restartTimer = undefined;
      const proc = child;
      if (proc) {
        replaced.add(proc);
        await terminate(proc);
      }
      if (!stopping) launch();
    },
    async stop() {
      stopping = true;
      if (restartTimer !== undefined) clock.clearTimeout(restartTimer);
      if (child) await terminate(child);
    },
  };
}
