import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Browserbase from '@browserbasehq/sdk';
import { Hyperbrowser } from '@hyperbrowser/sdk';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type LaunchedChromium, launchChromium } from '../src/testing/chromium.js';
import { waitFor } from '../src/testing/wait.js';
import { type GatewayStack, type PodRuntime, startGatewayStack } from './gateway-harness.js';

/** Where screenshots of the live view go; printed in the test output. */
const ARTIFACTS = process.env['BF_TEST_ARTIFACTS'] ?? path.join(tmpdir(), 'browserfleet-test-artifacts');

/**
 * The live view, looked at by a real headless Chromium (the "viewer"): the debug URL's page shows the
 * session's page, a click on the picture reaches the page, and the viewer counts as a connection.
 */
export function liveViewSuite(pods: Exclude<PodRuntime, 'none'>, prefix: string): void {
  let g: GatewayStack;
  let viewer: LaunchedChromium;
  let viewerBrowser: Browser;

  beforeAll(async () => {
    g = await startGatewayStack({ prefix, pods });
    viewer = await launchChromium();
    viewerBrowser = await chromium.connectOverCDP(viewer.wsEndpoint);
    mkdirSync(ARTIFACTS, { recursive: true });
  });

  afterAll(async () => {
    await viewerBrowser?.close();
    await viewer?.close();
    await g?.stop();
  });

  it('shows the session’s page, passes a click through, and holds the session open while watched', async () => {
    const bb = new Browserbase({ apiKey: g.apiKey, baseURL: g.baseUrl });
    const session = await bb.sessions.create({});
    const client = await chromium.connectOverCDP(session.connectUrl);
    const page = await (client.contexts()[0] ?? (await client.newContext())).newPage();
    await page.goto(`${g.site.url}/click`);
    expect(await page.title()).toBe('clicks: 0');

    const debug = await bb.sessions.debug(session.id);
    const target = debug.pages.find((p) => p.url === `${g.site.url}/click`);
    expect(target).toBeDefined();
    const view = await viewerBrowser.newPage({ viewport: { width: 900, height: 700 } });
    await view.goto(target?.debuggerFullscreenUrl ?? '');
    await waitFor(
      'a frame in the live view',
      async () => Number(await view.evaluate('document.body.dataset.frames')) > 0,
    );
    await waitFor(
      'the frame decoded',
      async () => ((await view.evaluate('document.getElementById("screen").naturalWidth')) as number) > 0,
    );

    const shot = path.join(ARTIFACTS, `live-view-${pods}-${session.id}.png`);
    await view.screenshot({ path: shot });
    console.log(`live view screenshot: ${shot}`);
    // The session's page is one big green button: away from its label, the picture must be that green.
    const [r, gr, b] = (await view.evaluate(`(() => {
      const img = document.getElementById('screen');
      const c = document.createElement('canvas');
      c.width = img.naturalWidth; c.height = img.naturalHeight;
      const ctx = c.getContext('2d');
      ctx.drawImage(img, 0, 0);
      return Array.from(ctx.getImageData(c.width >> 2, c.height >> 2, 1, 1).data);
    })()`)) as number[];
    console.log(`live view pixel at a quarter: rgb(${r}, ${gr}, ${b})`);
    expect(Math.abs((r ?? 0) - 0x22)).toBeLessThan(24);
    expect(Math.abs((gr ?? 0) - 0xaa)).toBeLessThan(24);
    expect(Math.abs((b ?? 0) - 0x77)).toBeLessThan(24);
    await waitFor(
      'the viewer counted as a connection',
      async () => ((await g.getSession(session.id)).status?.connections ?? 0) >= 2,
    );

    const framesBefore = Number(await view.evaluate('document.body.dataset.frames'));
    await view.click('#screen');
    await waitFor('the click reached the session’s page', async () => (await page.title()) === 'clicks: 1');
    // The page repainted ("clicked 1"): the screencast sends it without being asked.
    await waitFor(
      'a new frame after the click',
      async () => Number(await view.evaluate('document.body.dataset.frames')) > framesBefore,
    );
    const after = path.join(ARTIFACTS, `live-view-${pods}-${session.id}-after-click.png`);
    await view.screenshot({ path: after });
    console.log(`live view screenshot after the click: ${after}`);
    await view.keyboard.press('Tab');

    // The viewer alone keeps a session without keepAlive open; when it leaves, the session ends.
    await client.close();
    await waitFor(
      'only the viewer connected',
      async () => (await g.getSession(session.id)).status?.connections === 1,
    );
    expect((await bb.sessions.retrieve(session.id)).status).toBe('RUNNING');
    await view.close();
    await waitFor(
      'the session ends when the viewer leaves',
      async () => (await bb.sessions.retrieve(session.id)).status === 'COMPLETED',
    );
  });

  it('gives Hyperbrowser a liveUrl that works, and refuses a forged or foreign link', async () => {
    const hb = new Hyperbrowser({ apiKey: g.apiKey, baseUrl: g.baseUrl });
    const session = await hb.sessions.create({ liveViewTtlSeconds: 600 });
    const client = await chromium.connectOverCDP(`${session.wsEndpoint}&keepAlive=true`);
    const page = await (client.contexts()[0] ?? (await client.newContext())).newPage();
    await page.goto(`${g.site.url}/hb-live`);
    const view = await viewerBrowser.newPage();
    await view.goto(session.liveUrl ?? '');
    await waitFor(
      'a frame in the live view',
      async () => Number(await view.evaluate('document.body.dataset.frames')) > 0,
    );
    expect(await view.evaluate('document.getElementById("url").textContent')).toMatch(/^http/);
    await view.close();

    const forged = await fetch(`${g.baseUrl}/live/${session.id}?token=${session.token}`);
    expect(forged.status).toBe(401);
    expect(await forged.json()).toMatchObject({
      statusCode: 401,
      message: 'invalid or expired live-view link',
    });
    const other = await new Hyperbrowser({ apiKey: g.otherApiKey, baseUrl: g.baseUrl }).sessions.create();
    const wrongSession = (session.liveUrl ?? '').replace(`/live/${session.id}`, `/live/${other.id}`);
    expect((await fetch(wrongSession)).status).toBe(401);
    await client.close();
    await hb.sessions.stop(session.id);
    await new Hyperbrowser({ apiKey: g.otherApiKey, baseUrl: g.baseUrl }).sessions.stop(other.id);
  });
}
