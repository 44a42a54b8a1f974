import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { BrowserSession } from '../src/api/index.js';
import { repoRoot } from '../src/localcluster/tools.js';
import { childName } from '../src/operator/children.js';
import { isNotFound, paths } from '../src/shared/kube/client.js';
import { kubectl, uniqueName } from '../src/testing/cluster.js';
import { chromiumPids } from '../src/testing/processes.js';
import { type SessionStack, startSessionStack } from '../src/testing/stack.js';
import { waitFor } from '../src/testing/wait.js';

// The whole product, for real: kubectl apply of the example manifest, a real Chrome in its own pod network
// namespace, Playwright through the sidecar, and the operator ending the session when the client leaves.

let stack: SessionStack;
let site: http.Server;
let siteUrl: string;

beforeAll(async () => {
  stack = await startSessionStack({ prefix: 'e2e' });
  // The page Chrome visits is served where pods can reach it: the host side of the pod network (or loopback
  // on a real cluster run, where BF_TEST_SITE_HOST must name an address the cluster's pods can reach).
  const host = inject('podNetworkHostIP') || process.env['BF_TEST_SITE_HOST'] || '127.0.0.1';
  site = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(
      `<!doctype html><title>browserfleet e2e ${req.url}</title><button onclick="document.title='clicked'">go</button>`,
    );
  });
  await new Promise<void>((r) => site.listen(0, host, r));
  siteUrl = `http://${host}:${(site.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await stack?.stop();
  await new Promise((r) => site?.close(r));
});

const getSession = (name: string) => stack.client.get<BrowserSession>(paths.session(stack.namespace, name));

async function applyExample(overrides: Record<string, unknown> = {}): Promise<string> {
  const manifest = parse(
    readFileSync(path.join(repoRoot, 'examples/session.yaml'), 'utf8'),
  ) as BrowserSession;
  const name = uniqueName('example');
  manifest.metadata = { name, namespace: stack.namespace };
  manifest.spec = { ...manifest.spec, project: stack.project, ...overrides };
  await kubectl(['apply', '-f', '-'], stringify(manifest));
  return name;
}

async function waitPhase(name: string, phases: string[]): Promise<BrowserSession> {
  return waitFor(
    `session ${name} in ${phases.join('/')}`,
    async () => {
      const s = await getSession(name);
      return phases.includes(s.status?.phase ?? '') ? s : undefined;
    },
    90_000,
  );
}

async function podGone(name: string): Promise<boolean> {
  return stack.client.get(paths.pod(stack.namespace, childName(name))).then(
    () => false,
    (e: unknown) => isNotFound(e),
  );
}

describe('a session end to end', () => {
  it('kubectl apply → real Chrome → Playwright through the sidecar → disconnect ends it and Chrome is gone', async () => {
    const before = new Set(await chromiumPids());
    const applied = Date.now();
    const name = await applyExample();
    const running = await waitPhase(name, ['Running']);
    const connectUrl = running.status?.connectUrl ?? '';
    expect(connectUrl).toMatch(/^ws:\/\/10\.244\.\d+\.\d+:9223\//);
    const ours = (await chromiumPids()).filter((p) => !before.has(p));
    expect(ours.length).toBeGreaterThan(0);

    const browser = await chromium.connectOverCDP(connectUrl);
    console.log(
      `kubectl apply → CDP connected: ${Date.now() - applied} ms (startupLatencyMs ${running.status?.startupLatencyMs})`,
    );
    const context = browser.contexts()[0] ?? (await browser.newContext());
    const page = await context.newPage();
    await page.goto(`${siteUrl}/lifecycle`);
    expect(await page.title()).toBe('browserfleet e2e /lifecycle');
    await waitFor(
      'connection reported',
      async () => ((await getSession(name)).status?.connections ?? 0) >= 1,
    );
    await browser.close();

    const ended = await waitPhase(name, ['Completed']);
    expect(ended.status?.endReason).toBe('Disconnected');
    await waitFor('pod deleted', () => podGone(name));
    await waitFor('Chrome gone', async () => {
      const now = new Set(await chromiumPids());
      return ours.every((p) => !now.has(p));
    });
  });

  it('keep-alive: a reconnect sees the same page', async () => {
    const name = await applyExample({ keepAlive: true, timeout: 120 });
    const running = await waitPhase(name, ['Running']);
    const first = await chromium.connectOverCDP(running.status?.connectUrl ?? '');
    const page = await (first.contexts()[0] ?? (await first.newContext())).newPage();
    await page.goto(`${siteUrl}/kept`);
    await first.close();
    await waitFor('disconnect reported', async () => {
      const s = (await getSession(name)).status;
      return s?.lastDisconnectedAt !== undefined && s.connections === 0;
    });
    expect((await getSession(name)).status?.phase).toBe('Running');

    const second = await chromium.connectOverCDP(running.status?.connectUrl ?? '');
    const titles = await Promise.all(
      second
        .contexts()
        .flatMap((c) => c.pages())
        .map((p) => p.title()),
    );
    expect(titles).toContain('browserfleet e2e /kept');
    await second.close();
    await stack.client.mergePatch(paths.session(stack.namespace, name), { spec: { release: true } });
    expect((await waitPhase(name, ['Completed'])).status?.endReason).toBe('Released');
    await waitFor('pod deleted', () => podGone(name));
  });

  it('expiry kills Chrome on time, and deleting a BrowserSession kills its Chrome', async () => {
    const expiring = await applyExample({ timeout: 5 });
    const deleted = await applyExample({ timeout: 300 });
    await waitPhase(expiring, ['Running']);
    await waitPhase(deleted, ['Running']);
    await kubectl(['delete', 'browsersession', '-n', stack.namespace, deleted]);
    await waitFor('deleted session pod gone', () => podGone(deleted));

    const ended = await waitPhase(expiring, ['TimedOut']);
    expect(ended.status?.endReason).toBe('NeverConnected');
    expect(ended.status?.endedAt).toBe(ended.status?.expiresAt);
    await waitFor('expired session pod gone', () => podGone(expiring));
  });
});
