import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { BrowserSession } from '../src/api/index.js';
import { childName } from '../src/operator/children.js';
import { isNotFound, paths } from '../src/shared/kube/client.js';
import { repoRoot } from '../src/shared/repo-root.js';
import { launchChromium } from '../src/testing/chromium.js';
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
  // Not just idle connections: a connection Chrome opened ahead of a request (a preconnect) counts as busy, and
  // plain close() would wait for it forever.
  await new Promise((r) => {
    site?.close(r);
    site?.closeAllConnections();
  });
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
    // The sidecar's port on the pod's own address (whatever range the cluster gives pods).
    const podIP = running.status?.podIP ?? '';
    expect(podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(connectUrl.startsWith(`ws://${podIP}:9223/`)).toBe(true);
    const ours = (await chromiumPids()).filter((p) => !before.has(p));
    expect(ours.length).toBeGreaterThan(0);

    const browser = await chromium.connectOverCDP(connectUrl);
    const connectedMs = Date.now() - applied;
    // The same run's baseline: a bare Chrome from spawn to DevTools listening.
    const bareStart = Date.now();
    const bare = await launchChromium();
    const bareMs = Date.now() - bareStart;
    await bare.close();
    const pod = await stack.client
      .get<V1Pod>(paths.pod(stack.namespace, childName(name)))
      .catch(() => undefined);
    const since = (t: unknown) => (t ? `${Date.parse(String(t)) - applied} ms` : '-');
    const cond = (type: string) => pod?.status?.conditions?.find((c) => c.type === type)?.lastTransitionTime;
    console.log(
      `kubectl apply → CDP connected: ${connectedMs} ms; bare Chrome start → DevTools listening: ${bareMs} ms (same run)\n` +
        `  admitted ${since(running.status?.startedAt)}, scheduled ${since(cond('PodScheduled'))}, ` +
        `containers started ${since(pod?.status?.containerStatuses?.[0]?.state?.running?.startedAt)}, ` +
        `pod Ready ${since(cond('Ready'))}, session Running ${since(running.status?.readyAt)}`,
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
    const expiring = await applyExample({ timeout: 30 });
    const deleted = await applyExample({ timeout: 300 });
    await waitPhase(expiring, ['Running']);
    await waitPhase(deleted, ['Running']);
    await kubectl(['delete', 'browsersession', '-n', stack.namespace, deleted]);
    await waitFor('deleted session pod gone', () => podGone(deleted));

    const ended = await waitPhase(expiring, ['TimedOut']);
    expect(ended.status?.endReason).toBe('NeverConnected');
    // The real end time, so the status shows how late the expiry was.
    expect(Date.parse(ended.status?.endedAt ?? '')).toBeGreaterThanOrEqual(
      Date.parse(ended.status?.expiresAt ?? ''),
    );
    await waitFor('expired session pod gone', () => podGone(expiring));
  });
});

describe('the disconnect rules with a real sidecar', () => {
  it('a keep-alive connection (?keepAlive=true) keeps a non-keep-alive session across its disconnect', async () => {
    const name = await applyExample({ keepAlive: false, timeout: 120 });
    const running = await waitPhase(name, ['Running']);
    const browser = await chromium.connectOverCDP(`${running.status?.connectUrl}&keepAlive=true`);
    const page = await (browser.contexts()[0] ?? (await browser.newContext())).newPage();
    await page.goto(`${siteUrl}/per-connection`);
    await browser.close();
    await waitFor('disconnect reported', async () => {
      const s = (await getSession(name)).status;
      return s?.keepAliveRequested === true && s.connections === 0 && s.lastDisconnectedAt !== undefined;
    });
    await new Promise((r) => setTimeout(r, 1500)); // past the 500 ms grace: it must still be running
    expect((await getSession(name)).status?.phase).toBe('Running');
    await stack.client.mergePatch(paths.session(stack.namespace, name), { spec: { release: true } });
    await waitFor('pod deleted', () => podGone(name));
  });

  it('a disconnect while the operator is down still ends the session on its return, with the right endedAt', async () => {
    const name = await applyExample({ keepAlive: false, timeout: 120 });
    const running = await waitPhase(name, ['Running']);
    const browser = await chromium.connectOverCDP(running.status?.connectUrl ?? '');
    await waitFor(
      'connection reported',
      async () => ((await getSession(name)).status?.connections ?? 0) >= 1,
    );
    await stack.stopOperator();
    await browser.close();
    const disconnectedAt = Date.now();
    await new Promise((r) => setTimeout(r, 2000));
    await stack.startOperator();
    const ended = await waitPhase(name, ['Completed']);
    expect(ended.status?.endReason).toBe('Disconnected');
    const last = Date.parse(ended.status?.lastDisconnectedAt ?? '');
    expect(Math.abs(last - disconnectedAt)).toBeLessThan(2000); // the sidecar's own clock, not the report time
    expect(ended.status?.endedAt).toBe(new Date(last + 500).toISOString());
    await waitFor('pod deleted', () => podGone(name));
  });

  // On a real cluster (BF_TEST_KUBECONFIG) the test cannot reach into the pod to kill its Chrome: skipped, visibly.
  it.skipIf(!inject('localControlPlane'))(
    'a session whose Chrome exits ends as Failed, saying so',
    async () => {
      const name = await applyExample({ timeout: 120 });
      await waitPhase(name, ['Running']);
      const before = await chromiumPids();
      // The pod's Chrome is the chromium process whose profile dir is in this pod's state directory.
      const { execFileSync } = await import('node:child_process');
      const pids = before.filter((p) => {
        try {
          return (
            readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('--remote-debugging-port=9222') &&
            execFileSync('ip', ['netns', 'identify', String(p)], { encoding: 'utf8' }).trim() !== ''
          );
        } catch {
          return false;
        }
      });
      const session = await getSession(name);
      const podIP = session.status?.podIP ?? '';
      const target = pids.find((p) => {
        const ns = execFileSync('ip', ['netns', 'identify', String(p)], { encoding: 'utf8' }).trim();
        return execFileSync('ip', ['-n', ns, '-4', 'addr'], { encoding: 'utf8' }).includes(`${podIP}/`);
      });
      expect(target, 'Chrome of the session').toBeDefined();
      process.kill(target ?? 0, 'SIGKILL');
      const ended = await waitPhase(name, ['Failed']);
      expect(ended.status?.endReason).toBe('PodFailed');
      expect(ended.status?.conditions?.find((c) => c.type === 'Ended')?.message).toMatch(/Chrome exited/);
    },
  );
});
