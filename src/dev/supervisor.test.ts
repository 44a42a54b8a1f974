import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { type SupervisedChild, supervise } from './supervisor.js';

/** Real child processes (Node itself, idle until killed): the supervisor's process handling, not a fake. */
const idleChild = () => spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
const policy = { initialMs: 50, maxMs: 200, resetAfterMs: 60_000 };

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('supervise', () => {
  let sup: SupervisedChild | undefined;
  afterEach(async () => {
    await sup?.stop();
    sup = undefined;
  });

  it('restarts a child killed with SIGKILL, after the backoff, and logs why', async () => {
    const log: string[] = [];
    const pids: number[] = [];
    sup = supervise({
      name: 'operator',
      start: idleChild,
      log: (m) => log.push(m),
      onStart: (c) => pids.push(c.pid ?? 0),
      policy,
    });
    await until('the first start', () => pids.length === 1);
    const killedAt = Date.now();
    process.kill(pids[0] ?? 0, 'SIGKILL');
    await until('a restart', () => pids.length === 2);
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(45);
    expect(log).toEqual(['operator exited (signal SIGKILL); restarting in 0.1 s (restart 1)']);
    expect(alive(pids[1] ?? 0)).toBe(true);

    process.kill(pids[1] ?? 0, 'SIGKILL');
    await until('a second restart', () => pids.length === 3);
    expect(log[1]).toBe('operator exited (signal SIGKILL); restarting in 0.1 s (restart 2)');
    expect(sup.restarts()).toBe(2);
  });

  it('logs a child that exits by itself with its exit code, and keeps restarting it', async () => {
    const log: string[] = [];
    sup = supervise({
      name: 'gateway',
      start: () => spawn(process.execPath, ['-e', 'process.exit(3)'], { stdio: 'ignore' }),
      log: (m) => log.push(m),
      policy,
    });
    await until('three exits', () => log.length >= 3);
    expect(log.slice(0, 3)).toEqual([
      'gateway exited (code 3); restarting in 0.1 s (restart 1)',
      'gateway exited (code 3); restarting in 0.1 s (restart 2)',
      'gateway exited (code 3); restarting in 0.2 s (restart 3)',
    ]);
  });

  it('stop() ends the child and restarts nothing', async () => {
    const pids: number[] = [];
    const log: string[] = [];
    const s = supervise({
      name: 'gateway',
      start: idleChild,
      log: (m) => log.push(m),
      onStart: (c) => pids.push(c.pid ?? 0),
      policy,
    });
    await until('the start', () => pids.length === 1);
    await s.stop();
    expect(alive(pids[0] ?? 0)).toBe(false);
    await new Promise((r) => setTimeout(r, 150));
    expect(pids).toHaveLength(1);
    expect(log).toEqual([]);
  });

  it('stop() between an exit and its restart cancels the restart', async () => {
    const pids: number[] = [];
    const s = supervise({
      name: 'operator',
      start: idleChild,
      log: () => undefined,
      onStart: (c) => pids.push(c.pid ?? 0),
      policy: { ...policy, initialMs: 300 },
    });
    await until('the start', () => pids.length === 1);
    process.kill(pids[0] ?? 0, 'SIGKILL');
    await until('the exit', () => s.current() === undefined);
    await s.stop();
    await new Promise((r) => setTimeout(r, 400));
    expect(pids).toHaveLength(1);
  });

  it('restart() replaces the child at once: the old one ends, a new one starts, no crash is counted', async () => {
    const pids: number[] = [];
    const log: string[] = [];
    sup = supervise({
      name: 'operator',
      start: idleChild,
      log: (m) => log.push(m),
      onStart: (c) => pids.push(c.pid ?? 0),
      // A backoff far longer than the test: only restart() can start the second process in time.
      policy: { ...policy, initialMs: 60_000 },
    });
    await until('the start', () => pids.length === 1);
    await sup.restart();
    expect(pids).toHaveLength(2);
    expect(alive(pids[0] ?? 0)).toBe(false);
    expect(alive(pids[1] ?? 0)).toBe(true);
    expect(sup.current()?.pid).toBe(pids[1]);
    expect(sup.restarts()).toBe(0);
    expect(log).toEqual([]);
  });

  it('restart() while a crashed child waits for its backoff starts it now', async () => {
    const pids: number[] = [];
    sup = supervise({
      name: 'gateway',
      start: idleChild,
      log: () => undefined,
      onStart: (c) => pids.push(c.pid ?? 0),
      // Far longer than the test: only restart() can start the second process in time.
      policy: { ...policy, initialMs: 60_000 },
    });
    await until('the start', () => pids.length === 1);
    process.kill(pids[0] ?? 0, 'SIGKILL');
    await until('the exit', () => sup?.current() === undefined);
    await sup.restart();
    expect(pids).toHaveLength(2);
    expect(alive(pids[1] ?? 0)).toBe(true);
  });
});
