import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Browserbase from '@browserbasehq/sdk';
import { Hyperbrowser } from '@hyperbrowser/sdk';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sessionToken } from '../src/shared/credentials.js';
import { kubectl } from '../src/testing/cluster.js';
import { waitFor } from '../src/testing/wait.js';
import { type GatewayStack, startGatewayStack } from './gateway-harness.js';

/**
 * No log line holds a credential. A session runs through the gateway with the SDKs of both dialects and a CDP
 * connect, with every in-process logger (gateway, operator) at debug level and appending to one file
 * (BF_LOG_FILE), which logs each request's and upgrade's URL and headers. Then that file and the session's
 * pod logs (the sidecar's) are searched for the API key, the connect token, the live-view token, the
 * sidecar's session token and the session key.
 */
const logDir = mkdtempSync(path.join(tmpdir(), 'bf-e2e-logs-'));
const logFile = path.join(logDir, 'processes.log');
const savedEnv = {
  BF_LOG: process.env['BF_LOG'],
  BF_LOG_FILE: process.env['BF_LOG_FILE'],
  BF_LOG_LEVEL: process.env['BF_LOG_LEVEL'],
};
let g: GatewayStack;

beforeAll(async () => {
  // Read when each logger is created: the harness creates the gateway's and the operator's below.
  process.env['BF_LOG_FILE'] = logFile;
  process.env['BF_LOG_LEVEL'] = 'debug';
  delete process.env['BF_LOG'];
  g = await startGatewayStack({ prefix: 'logs', pods: 'node' });
});

afterAll(async () => {
  await g?.stop();
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(logDir, { recursive: true, force: true });
});

/** The logs of every container of the namespace's pods, through the kubelet (read while the pods run). */
async function podLogs(namespace: string): Promise<string[]> {
  const names = (await kubectl(['get', 'pods', '-n', namespace, '-o', 'name'])).stdout
    .split('\n')
    .filter(Boolean);
  return Promise.all(
    names.map(
      async (pod) =>
        (await kubectl(['logs', '-n', namespace, pod, '--all-containers', '--prefix=false'])).stdout,
    ),
  );
}

it('no log line of a session through the gateway contains an API key, token or key', async () => {
  const bb = new Browserbase({ apiKey: g.apiKey, baseURL: g.baseUrl });
  const hb = new Hyperbrowser({ apiKey: g.apiKey, baseUrl: g.baseUrl });

  const session = await bb.sessions.create({});
  const connectToken = new URL(session.connectUrl).searchParams.get('signingKey') ?? '';
  expect(connectToken.length).toBeGreaterThan(20);

  // A wrong credential is refused, and the refused URL (which holds most of the token) is logged at debug.
  await expect(chromium.connectOverCDP(`${session.connectUrl}x`, { timeout: 10_000 })).rejects.toThrow();
  const browser = await chromium.connectOverCDP(session.connectUrl);
  const page = await (browser.contexts()[0] ?? (await browser.newContext())).newPage();
  await page.goto(`${g.site.url}/logs`);
  expect(await page.title()).toBe('site /logs');

  const debug = await bb.sessions.debug(session.id);
  const liveToken = new URL(debug.debuggerFullscreenUrl).searchParams.get('token') ?? '';
  expect(liveToken.length).toBeGreaterThan(20);
  expect((await fetch(debug.debuggerFullscreenUrl)).status).toBe(200);

  const hbSession = await hb.sessions.create({});
  const hbToken = hbSession.token ?? '';
  await hb.sessions.get(hbSession.id);

  const uid = (await g.getSession(session.id)).metadata.uid ?? '';
  await waitFor('the sidecar to log the connect', async () =>
    (await podLogs(g.stack.namespace)).some((l) => l.includes('client connected')),
  );
  const pods = await podLogs(g.stack.namespace);

  await browser.close();
  await bb.sessions.update(session.id, { status: 'REQUEST_RELEASE' });
  await hb.sessions.stop(hbSession.id);

  const secrets: [string, string][] = [
    ['the API key', g.apiKey],
    ['the connect token', connectToken],
    ['the live-view token', liveToken],
    ['the Hyperbrowser session token', hbToken],
    ["the sidecar's session token", sessionToken(g.stack.sessionKey, uid)],
    ['the session key', g.stack.sessionKey],
  ];
  for (const [, value] of secrets) expect(value.length).toBeGreaterThan(15);

  const lines = [...readFileSync(logFile, 'utf8').split('\n'), ...pods.flatMap((p) => p.split('\n'))].filter(
    (l) => l.length > 0,
  );
  // The search can fail: lines were captured, at debug level, of the requests and upgrades that held them.
  const messages = lines.flatMap((l) => {
    try {
      return [(JSON.parse(l) as { msg?: string }).msg];
    } catch {
      return [];
    }
  });
  expect(messages).toContain('request served');
  expect(messages).toContain('websocket upgrade');
  expect(messages).toContain('client connected');

  for (const [what, value] of secrets) {
    const leaks = lines.filter((l) => l.includes(value));
    expect.soft(leaks, `${what} is in ${leaks.length} log line(s)`).toEqual([]);
  }
  expect(lines.some((l) => l.includes('[REDACTED]'))).toBe(true);
});
