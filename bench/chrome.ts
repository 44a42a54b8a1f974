import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../src/operator/config.js';
import { CHROMIUM } from './report.js';

export interface BenchChrome {
  pid: number;
  /** The browser websocket from the "DevTools listening on" line. */
  wsEndpoint: string;
  httpUrl: string;
  /** Spawn to "DevTools listening on", milliseconds. */
  startMs: number;
  /** Kills the process group and waits for it; resolves with how long that took, milliseconds. */
  close(): Promise<number>;
}

/**
 * Chromium as a browser pod runs it (the operator's default flags, the pod's window size and first page), but
 * on the host's loopback with DevTools on a free port: the baseline every benchmark compares against.
 */
export async function launchChrome(): Promise<BenchChrome> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'bf-bench-chrome-'));
  const start = performance.now();
  const child = spawn(
    CHROMIUM,
    [
      ...defaultConfig.chrome.flags,
      '--remote-debugging-address=127.0.0.1',
      '--remote-debugging-port=0',
      `--user-data-dir=${userDataDir}`,
      '--window-size=1920,1080',
      'about:blank',
    ],
    // Its own process group, so close() takes the renderer and utility processes with it.
    { detached: true, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async () => {
    const t = performance.now();
    killGroup(child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    killGroup(child, 'SIGKILL');
    const ms = performance.now() - t;
    await rm(userDataDir, { recursive: true, force: true });
    return ms;
  };
  try {
    const wsEndpoint = await devToolsLine(child);
    const startMs = performance.now() - start;
    const port = new URL(wsEndpoint).port;
    return { pid: child.pid ?? 0, wsEndpoint, httpUrl: `http://127.0.0.1:${port}`, startMs, close };
  } catch (err) {
    await close();
    throw err;
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function devToolsLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`Chromium printed no DevTools line:\n${seen}`)), 30_000);
    child.stderr?.setEncoding('utf8');
    const onData = (chunk: string) => {
      seen += chunk;
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(seen);
      if (!match?.[1]) return;
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      // Keep draining stderr so Chrome never blocks on a full pipe.
      child.stderr?.resume();
      resolve(match[1]);
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Chromium exited with code ${code} before DevTools was ready:\n${seen}`));
    });
  });
}
