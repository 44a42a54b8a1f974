import Browserbase from '@browserbasehq/sdk';
import { Hyperbrowser } from '@hyperbrowser/sdk';
import { chromium } from 'playwright-core';
import puppeteer from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../src/testing/wait.js';
import { type GatewayStack, type PodRuntime, startGatewayStack } from './gateway-harness.js';

/**
 * The connect flows through the gateway, driven by the official SDKs, Playwright and Puppeteer against real
 * Chrome, with pods on the suite's nodes (the product path: the gateway proxies to a pod IP in the pod
 * network).
 */
export function cdpSuite(pods: Exclude<PodRuntime, 'none'>, prefix: string): void {
  let g: GatewayStack;

  beforeAll(async () => {
    g = await startGatewayStack({ prefix, pods, project: { concurrency: 10, maxQueued: 10 } });
  });

  afterAll(async () => {
    await g?.stop();
  });

  const bb = () => new Browserbase({ apiKey: g.apiKey, baseURL: g.baseUrl });
  const hb = () => new Hyperbrowser({ apiKey: g.apiKey, baseUrl: g.baseUrl });

  async function connectionsReported(id: string, atLeast: number): Promise<void> {
    await waitFor(
      `${atLeast} connection(s) reported for ${id}`,
      async () => ((await g.getSession(id)).status?.connections ?? 0) >= atLeast,
    );
  }

  async function disconnectReported(id: string): Promise<void> {
    await waitFor(`disconnect reported for ${id}`, async () => {
      const st = (await g.getSession(id)).status;
      return st?.lastDisconnectedAt !== undefined && st.connections === 0;
    });
  }

  describe('Browserbase SDK + CDP through the gateway', () => {
    it('create → Playwright connectOverCDP → navigate → release → COMPLETED', async () => {
      const t0 = Date.now();
      const session = await bb().sessions.create({ userMetadata: { suite: 'cdp' } });
      const created = Date.now();
      const browser = await chromium.connectOverCDP(session.connectUrl);
      console.log(
        `create ${created - t0} ms (status ${session.status}), then connectOverCDP ${Date.now() - created} ms`,
      );
      expect(session.connectUrl.startsWith(`ws://127.0.0.1:${g.gateway.port}/`)).toBe(true);
      const page = await (browser.contexts()[0] ?? (await browser.newContext())).newPage();
      await page.goto(`${g.site.url}/bb-playwright`);
      expect(await page.title()).toBe('site /bb-playwright');
      expect((await bb().sessions.retrieve(session.id)).status).toBe('RUNNING');
      await connectionsReported(session.id, 1);

      const debug = await bb().sessions.debug(session.id);
      expect(debug.pages.map((p) => p.url)).toContain(`${g.site.url}/bb-playwright`);
      expect(debug.debuggerFullscreenUrl).toMatch(new RegExp(`^${g.baseUrl}/live/${session.id}\\?token=`));

      const disconnected = new Promise<void>((resolve) => browser.once('disconnected', () => resolve()));
      const released = await bb().sessions.update(session.id, { status: 'REQUEST_RELEASE' });
      expect(released.status).toBe('COMPLETED');
      await disconnected;
      const after = await bb().sessions.retrieve(session.id);
      expect(after.status).toBe('COMPLETED');
      expect(after.endedAt).toBeTruthy();
    });

    it('create → Puppeteer connect → navigate → disconnect ends a session without keepAlive', async () => {
      const session = await bb().sessions.create({});
      const browser = await puppeteer.connect({
        browserWSEndpoint: session.connectUrl,
        defaultViewport: null,
      });
      const page = await browser.newPage();
      await page.goto(`${g.site.url}/bb-puppeteer`);
      expect(await page.title()).toBe('site /bb-puppeteer');
      await connectionsReported(session.id, 1);
      await browser.disconnect();
      await waitFor(
        'COMPLETED after the disconnect',
        async () => (await bb().sessions.retrieve(session.id)).status === 'COMPLETED',
      );
      expect((await g.getSession(session.id)).status?.endReason).toBe('Disconnected');
    });

    it('keepAlive: true keeps the session across a disconnect; a reconnect finds the same page', async () => {
      const session = await bb().sessions.create({ keepAlive: true, api_timeout: 300 });
      const first = await chromium.connectOverCDP(session.connectUrl);
      const page = await (first.contexts()[0] ?? (await first.newContext())).newPage();
      await page.goto(`${g.site.url}/kept-bb`);
      await first.close();
      await disconnectReported(session.id);

      const second = await chromium.connectOverCDP(session.connectUrl);
      const urls = second.contexts().flatMap((c) => c.pages().map((p) => p.url()));
      expect(urls).toContain(`${g.site.url}/kept-bb`);
      expect((await bb().sessions.retrieve(session.id)).status).toBe('RUNNING');
      await second.close();
      expect((await bb().sessions.update(session.id, { status: 'REQUEST_RELEASE' })).status).toBe(
        'COMPLETED',
      );
    });

    it('an http connectUrl works too: the gateway answers /json/version with its own websocket URL', async () => {
      const session = await bb().sessions.create({ keepAlive: true });
      const httpUrl = session.connectUrl.replace(/^ws:/, 'http:');
      const version = (await (await fetch(`${httpUrl.replace('/?', '/json/version?')}`)).json()) as Record<
        string,
        string
      >;
      expect(version['Browser']).toMatch(/Chrome/);
      expect(version['webSocketDebuggerUrl']).toBe(
        `ws://127.0.0.1:${g.gateway.port}/devtools/browser?token=${session.signingKey}`,
      );
      const browser = await chromium.connectOverCDP(httpUrl);
      const page = await (browser.contexts()[0] ?? (await browser.newContext())).newPage();
      await page.goto(`${g.site.url}/over-http`);
      expect(await page.title()).toBe('site /over-http');
      await browser.close();
      await bb().sessions.update(session.id, { status: 'REQUEST_RELEASE' });
    });

    it("Browserbase's Connect API: ?apiKey= alone creates a session; ?apiKey=&sessionId= joins one", async () => {
      const before = new Set((await bb().sessions.list()).map((s) => s.id));
      const browser = await chromium.connectOverCDP(`ws://127.0.0.1:${g.gateway.port}/?apiKey=${g.apiKey}`);
      const page = await (browser.contexts()[0] ?? (await browser.newContext())).newPage();
      await page.goto(`${g.site.url}/implicit`);
      const created = (await bb().sessions.list({ status: 'RUNNING' })).filter((s) => !before.has(s.id));
      expect(created).toHaveLength(1);
      const id = created[0]?.id ?? '';
      expect(created[0]?.keepAlive).toBe(false);

      const joined = await chromium.connectOverCDP(
        `ws://127.0.0.1:${g.gateway.port}/?apiKey=${g.apiKey}&sessionId=${id}`,
      );
      expect(joined.contexts().flatMap((c) => c.pages().map((p) => p.url()))).toContain(
        `${g.site.url}/implicit`,
      );
      await joined.close();
      await browser.close();
      await waitFor(
        'the implicit session ends when its clients leave',
        async () => (await bb().sessions.retrieve(id)).status === 'COMPLETED',
      );
    });

    it('refuses a bad token with 401 and another project’s session with 404, as the client sees them', async () => {
      const err401 = await chromium
        .connectOverCDP(`ws://127.0.0.1:${g.gateway.port}/?signingKey=forged.token`)
        .catch((e: Error) => e);
      expect(String(err401)).toContain('401 Unauthorized');
      const foreign = await new Browserbase({ apiKey: g.otherApiKey, baseURL: g.baseUrl }).sessions.create(
        {},
      );
      const err404 = await chromium
        .connectOverCDP(`ws://127.0.0.1:${g.gateway.port}/?apiKey=${g.apiKey}&sessionId=${foreign.id}`)
        .catch((e: Error) => e);
      expect(String(err404)).toContain('404 Not Found');
      const refused = await fetch(`http://127.0.0.1:${g.gateway.port}/json/version?signingKey=forged.token`);
      expect(refused.status).toBe(401);
      expect(await refused.json()).toMatchObject({ statusCode: 401, message: 'invalid session token' });
      await new Browserbase({ apiKey: g.otherApiKey, baseURL: g.baseUrl }).sessions.update(foreign.id, {
        status: 'REQUEST_RELEASE',
      });
    });
  });

  describe('Hyperbrowser SDK + CDP through the gateway', () => {
    it('create → Playwright connectOverCDP(wsEndpoint) → navigate → stop → closed', async () => {
      const session = await hb().sessions.create({ screen: { width: 1280, height: 720 } });
      const browser = await chromium.connectOverCDP(session.wsEndpoint);
      const page = await (browser.contexts()[0] ?? (await browser.newContext())).newPage();
      await page.goto(`${g.site.url}/hb-playwright`);
      expect(await page.title()).toBe('site /hb-playwright');
      // The screen size reaches Chrome as its window size (pod flags), which only a real node applies.
      if (g.pods === 'node') expect(await page.evaluate('[outerWidth, outerHeight]')).toEqual([1280, 720]);
      expect((await hb().sessions.get(session.id)).status).toBe('active');
      const disconnected = new Promise<void>((resolve) => browser.once('disconnected', () => resolve()));
      expect(await hb().sessions.stop(session.id)).toEqual({ success: true });
      await disconnected;
      await waitFor('closed', async () => (await hb().sessions.get(session.id)).status === 'closed');
    });

    it('create → Puppeteer connect → navigate; a disconnect without &keepAlive=true stops the session', async () => {
      const session = await hb().sessions.create();
      const browser = await puppeteer.connect({
        browserWSEndpoint: session.wsEndpoint,
        defaultViewport: null,
      });
      const page = await browser.newPage();
      await page.goto(`${g.site.url}/hb-puppeteer`);
      expect(await page.title()).toBe('site /hb-puppeteer');
      await connectionsReported(session.id, 1);
      await browser.disconnect();
      await waitFor(
        'closed after the disconnect',
        async () => (await hb().sessions.get(session.id)).status === 'closed',
      );
    });

    it('&keepAlive=true on the wsEndpoint keeps the session across the disconnect', async () => {
      const session = await hb().sessions.create();
      const first = await chromium.connectOverCDP(`${session.wsEndpoint}&keepAlive=true`);
      const page = await (first.contexts()[0] ?? (await first.newContext())).newPage();
      await page.goto(`${g.site.url}/kept-hb`);
      await first.close();
      await disconnectReported(session.id);
      expect((await g.getSession(session.id)).status?.keepAliveRequested).toBe(true);

      const second = await puppeteer.connect({
        browserWSEndpoint: session.wsEndpoint,
        defaultViewport: null,
      });
      const urls = (await second.pages()).map((p) => p.url());
      expect(urls).toContain(`${g.site.url}/kept-hb`);
      expect((await hb().sessions.get(session.id)).status).toBe('active');
      await second.disconnect();
      expect(await hb().sessions.stop(session.id)).toEqual({ success: true });
      await waitFor('closed', async () => (await hb().sessions.get(session.id)).status === 'closed');
    });
  });
}
