import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HEADLESS_CHROME_FLAGS } from '../shared/chrome-flags.js';

/** The real binary: /usr/bin/chromium is a wrapper script, and killing it would leave Chrome running. */
export const CHROMIUM = process.env['BF_CHROMIUM_BINARY'] ?? '/usr/lib/chromium/chromium';

export interface LaunchedChromium {
  pid: number;
  /** http://127.0.0.1:<port> */
  httpUrl: string;
  port: number;
  /** The browser websocket from the "DevTools listening on" line. */
  wsEndpoint: string;
  /** Spawn to "DevTools listening on", milliseconds. */
  startMs: number;
  /** Kills the process group and waits for it; resolves with how long that took, milliseconds. */
  close(): Promise<number>;
}

export interface ChromiumOptions {
  /** Chrome's flags; the headless defaults unless given (the benchmarks pass the operator's pod flags). */
  flags?: readonly string[];
  /** After the flags and the DevTools and profile arguments: more switches, then the first page, if any. */
  args?: readonly string[];
}

/**
 * Starts a headless Chromium on a random loopback DevTools port, for tests and benchmarks. It runs in its own
 * process group so close() takes the renderer and GPU children down with it.
 */
export async function launchChromium(opts: ChromiumOptions = {}): Promise<LaunchedChromium> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'bf-chromium-'));
  const start = performance.now();
  const child = spawn(
    CHROMIUM,
    [
      ...(opts.flags ?? HEADLESS_CHROME_FLAGS),
      `--user-data-dir=${userDataDir}`,
      '--remote-debugging-address=127.0.0.1',
      '--remote-debugging-port=0',
      ...(opts.args ?? []),
    ],
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
    const port = Number(new URL(wsEndpoint).port);
    return { pid: child.pid ?? 0, httpUrl: `http://127.0.0.1:${port}`, port, wsEndpoint, startMs, close };
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
    // Already gone.
  }
}

function devToolsLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`Chromium printed no DevTools line:\n${seen}`)), 30_000);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      seen += chunk;
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(seen);
      if (match?.[1]) {
        clearTimeout(timer);
        // Keep draining stderr so Chrome never blocks on a full pipe.
        child.stderr?.removeAllListeners('data');
        child.stderr?.resume();
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Chromium exited with code ${code} before DevTools was ready:\n${seen}`));
    });
  });
}
