import Browserbase from '@browserbasehq/sdk';
import { Hyperbrowser } from '@hyperbrowser/sdk';
import { chromium } from 'playwright-core';
import { Builder, By, until, type WebDriver } from 'selenium-webdriver';
import getLogInspector from 'selenium-webdriver/bidi/logInspector.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { WEBDRIVER_PORT } from '../src/api/index.js';
import { defaultConfig } from '../src/operator/config.js';
import { agentWithHeaders } from '../src/testing/selenium.js';
import { FORM_CONSOLE_LINE } from '../src/testing/site-server.js';
import { waitFor } from '../src/testing/wait.js';
import { type GatewayStack, startGatewayStack } from './gateway-harness.js';

/**
 * Selenium (issue 21) through the gateway to the session's own Chrome on the suite's real node, with the
 * official selenium-webdriver bindings set up as Browserbase's and Hyperbrowser's docs show: the remote URL from
 * the create answer, and the session's header added to every command by an http.Agent.
 */

const IDLE_SECONDS = 4;
let g: GatewayStack;
let bb: Browserbase;
let hb: Hyperbrowser;

function driverFor(url: string, headers: Record<string, string>, bidi = false): Promise<WebDriver> {
  const builder = new Builder()
    .forBrowser('chrome')
    .usingHttpAgent(agentWithHeaders(headers))
    .usingServer(url);
  if (bidi) builder.withCapabilities({ browserName: 'chrome', webSocketUrl: true });
  return builder.build();
}

/** Fills in the site's form and reads the answer back, as a Selenium test would; and a screenshot. */
async function fillForm(d: WebDriver, name: string): Promise<Buffer> {
  await d.get(`${g.site.url}/form`);
  await d.findElement(By.id('name')).sendKeys(name);
  await d.findElement(By.id('greet')).click();
  await d.wait(until.elementTextIs(d.findElement(By.id('greeting')), `Hello, ${name}!`), 20_000);
  return Buffer.from(await d.takeScreenshot(), 'base64');
}

async function webdriverConnections(name: string): Promise<number> {
  return (await g.getSession(name)).status?.webdriverConnections ?? 0;
}

describe.skipIf(inject('podNetworkHostIP') === '')('Selenium through the gateway', () => {
  beforeAll(async () => {
    g = await startGatewayStack({
      prefix: 'selenium',
      pods: 'node',
      operator: { webdriver: { ...defaultConfig.webdriver, idleSeconds: IDLE_SECONDS } },
    });
    bb = new Browserbase({ apiKey: g.apiKey, baseURL: g.baseUrl, maxRetries: 0 });
    hb = new Hyperbrowser({ apiKey: g.apiKey, baseUrl: g.baseUrl });
  }, 180_000);

  afterAll(async () => {
    await g?.stop();
  });

  it('Browserbase: seleniumRemoteUrl with x-bb-signing-key fills in a form; quit() ends the session Completed', async () => {
    const session = await bb.sessions.create({ projectId: g.project });
    const d = await driverFor(session.seleniumRemoteUrl, { 'x-bb-signing-key': session.signingKey });
    const png = await fillForm(d, 'Browserbase');
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(await d.getTitle()).toBe('Hello, Browserbase!');
    await waitFor(
      'the status to show the WebDriver connection',
      async () => (await webdriverConnections(session.id)) === 1,
    );
    await d.quit();
    const ended = await g.waitPhase(session.id, ['Completed', 'Failed']);
    expect(ended.status?.phase).toBe('Completed');
    expect(ended.status?.endReason).toBe('Disconnected');
    expect(ended.status?.webdriverConnections).toBe(0);
  });

  it('Hyperbrowser: webdriverEndpoint with x-hyperbrowser-token fills in a form; BiDi carries the page console', async () => {
    const session = await hb.sessions.create();
    expect(session.webdriverEndpoint).toBe(`${g.baseUrl}/webdriver`);
    const d = await driverFor(
      session.webdriverEndpoint ?? '',
      { 'x-hyperbrowser-token': session.token },
      true,
    );
    const caps = await d.getCapabilities();
    expect(String(caps.get('webSocketUrl'))).toMatch(
      new RegExp(`^${g.baseUrl.replace('http', 'ws')}/webdriver/session/`),
    );
    const inspector = await getLogInspector(d);
    const lines: string[] = [];
    await inspector.onConsoleEntry((entry: { text: string }) => lines.push(entry.text));
    await fillForm(d, 'Hyperbrowser');
    await waitFor('the page console line over BiDi', () => lines.includes(FORM_CONSOLE_LINE), 30_000);
    await inspector.close();
    await d.quit();
    const ended = await g.waitPhase(session.id, ['Completed', 'Failed']);
    expect(ended.status?.phase).toBe('Completed');
  });

  it('a Playwright client and a Selenium client on one keepAlive session see each other; quit() keeps it', async () => {
    const session = await bb.sessions.create({ projectId: g.project, keepAlive: true });
    const d = await driverFor(session.seleniumRemoteUrl, { 'x-bb-signing-key': session.signingKey });
    const browser = await chromium.connectOverCDP(session.connectUrl);
    try {
      await d.get(`${g.site.url}/form`);
      const pages = () => browser.contexts().flatMap((c) => c.pages());
      const seen = await waitFor('Playwright to see the page Selenium opened', () =>
        pages().find((p) => p.url() === `${g.site.url}/form`),
      );
      await seen.goto(`${g.site.url}/click`);
      expect(await d.getCurrentUrl()).toBe(`${g.site.url}/click`);
      expect(await d.getTitle()).toBe('clicks: 0');
      await waitFor(
        'two connections in the status',
        async () => (await g.getSession(session.id)).status?.connections === 2,
      );
    } finally {
      await d.quit();
      await browser.close();
    }
    await waitFor(
      'the WebDriver connection to be gone',
      async () => (await webdriverConnections(session.id)) === 0,
    );
    expect((await g.getSession(session.id)).status?.phase).toBe('Running');
    await bb.sessions.update(session.id, { status: 'REQUEST_RELEASE', projectId: g.project });
    await g.waitPhase(session.id, ['Completed']);
  });

  it("the older form: x-bb-api-key alone makes a session; with session-id it finds one, and another project's is 404", async () => {
    const d = await driverFor(`${g.baseUrl}/webdriver`, { 'x-bb-api-key': g.apiKey });
    await fillForm(d, 'implicit');
    const id = (await d.getSession()).getId();
    const name = id.slice(0, id.lastIndexOf('_'));
    expect((await g.getSession(name)).spec.project).toBe(g.project);
    await d.quit();
    expect((await g.waitPhase(name, ['Completed', 'Failed'])).status?.phase).toBe('Completed');

    const mine = await bb.sessions.create({ projectId: g.project, keepAlive: true });
    const withId = await driverFor(`${g.baseUrl}/webdriver`, {
      'x-bb-api-key': g.apiKey,
      'session-id': mine.id,
    });
    await withId.get(`${g.site.url}/click`);
    await withId.quit();
    const foreign = await fetch(`${g.baseUrl}/webdriver/session`, {
      method: 'POST',
      headers: { 'x-bb-api-key': g.otherApiKey, 'session-id': mine.id, 'content-type': 'application/json' },
      body: '{"capabilities":{}}',
    });
    expect(foreign.status).toBe(404);
    expect(((await foreign.json()) as { value: { error: string } }).value.error).toBe('invalid session id');
    await bb.sessions.update(mine.id, { status: 'REQUEST_RELEASE', projectId: g.project });
  });

  it('refuses a missing or wrong header (401) and a second new session; a client that never quits is ended after the idle limit', async () => {
    const session = await bb.sessions.create({ projectId: g.project });
    const post = (headers: Record<string, string>) =>
      fetch(`${g.baseUrl}/webdriver/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: '{"capabilities":{"alwaysMatch":{"browserName":"chrome"}}}',
      });
    const missing = await post({});
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as { value: { message: string } }).value.message).toMatch(
      /x-bb-signing-key/,
    );
    expect((await post({ 'x-bb-signing-key': `${session.signingKey}x` })).status).toBe(401);
    expect((await post({ 'x-hyperbrowser-token': 'not-a-token' })).status).toBe(401);
    const first = await post({ 'x-bb-signing-key': session.signingKey });
    expect(first.status).toBe(200);
    const refused = await post({ 'x-bb-signing-key': session.signingKey });
    expect(refused.status).toBe(500);
    expect(((await refused.json()) as { value: { error: string; message: string } }).value).toMatchObject({
      error: 'session not created',
      message: expect.stringMatching(/already active/),
    });
    // That first WebDriver session gets no quit(): past the idle limit it ends, and with it the session.
    const ended = await g.waitPhase(session.id, ['Completed', 'Failed']);
    expect(ended.status?.endReason).toBe('Disconnected');
  });

  it('chromedriver is not reachable from the pod network; the sidecar wants its credential', async () => {
    const session = await bb.sessions.create({ projectId: g.project, keepAlive: true });
    const running = await g.waitPhase(session.id, ['Running']);
    const ip = running.status?.podIP ?? '';
    const direct = await fetch(`http://${ip}:${WEBDRIVER_PORT}/status`).then(
      (r) => `HTTP ${r.status}`,
      (e: Error) => `refused: ${String((e.cause as Error | undefined)?.message ?? e.message)}`,
    );
    expect(direct).toMatch(/^refused: .*ECONNREFUSED/);
    const sidecar = await fetch(`http://${ip}:9223/webdriver/status`);
    expect(sidecar.status).toBe(401);
    await bb.sessions.update(session.id, { status: 'REQUEST_RELEASE', projectId: g.project });
  });
});
