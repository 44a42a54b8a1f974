import { chromium as playwright } from 'playwright-core';
import { Builder, By, until, type WebDriver } from 'selenium-webdriver';
import getLogInspector from 'selenium-webdriver/bidi/logInspector.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Chromedriver, startChromedriver } from '../../testing/chromedriver.js';
import { type LaunchedChromium, launchChromium } from '../../testing/chromium.js';
import { agentWithHeaders } from '../../testing/selenium.js';
import { testSidecarConfig } from '../../testing/sidecar-config.js';
import { FORM_CONSOLE_LINE, type SiteServer, startSite } from '../../testing/site-server.js';
import { waitFor } from '../../testing/wait.js';
import { createSidecar, type Sidecar } from '../sidecar.js';

/**
 * The sidecar's WebDriver door (ADR 0014) with a real Chromium, Debian's chromedriver and the official
 * selenium-webdriver client: the client drives the session's own Chrome, one WebDriver session at a time, which
 * counts as a connection from its new session to its quit() or its idle limit.
 */

const token = 'd2ViZHJpdmVyLXRlc3QtdG9rZW4tdmFsdWU';
const session = { namespace: 'team-a', name: 'webdriver-test', uid: '5b0e8f8a-3333-4000-8000-000000000001' };
const IDLE_MS = 1500;

let chrome: LaunchedChromium;
let driverServer: Chromedriver;
let site: SiteServer;
let sidecar: Sidecar;
let base = '';

function driver(opts: { bidi?: boolean; caps?: Record<string, unknown> } = {}): Promise<WebDriver> {
  const builder = new Builder()
    .forBrowser('chrome')
    .usingServer(`${base}/webdriver`)
    .usingHttpAgent(agentWithHeaders({ authorization: `Bearer ${token}` }));
  if (opts.bidi) builder.withCapabilities({ browserName: 'chrome', webSocketUrl: true });
  for (const [k, v] of Object.entries(opts.caps ?? {})) builder.getCapabilities().set(k, v);
  return builder.build();
}

const webdriverConnections = () => sidecar.state.snapshot().connectionsByLevel.webdriver;

describe('sidecar: WebDriver through chromedriver to the session Chrome', () => {
  beforeAll(async () => {
    [chrome, driverServer, site] = await Promise.all([
      launchChromium(),
      startChromedriver(),
      startSite('127.0.0.1'),
    ]);
    sidecar = createSidecar(
      testSidecarConfig(
        { chromeUrl: new URL(chrome.httpUrl), session, sessionToken: token },
        { webdriverUrl: driverServer.url, webdriverIdleMs: IDLE_MS },
      ),
    );
    const { port } = await sidecar.listen();
    base = `http://127.0.0.1:${port}`;
  }, 60_000);

  afterAll(async () => {
    await sidecar?.close();
    await Promise.all([chrome?.close(), driverServer?.close(), site?.close()]);
  });

  it('types into a form, reads the result and a screenshot; a CDP client sees the same page; quit() ends the connection', async () => {
    const d = await driver();
    expect(webdriverConnections()).toBe(1);
    expect(sidecar.state.snapshot().connections).toBe(1);
    await d.get(`${site.url}/form`);
    await d.findElement(By.id('name')).sendKeys('Selenium');
    await d.findElement(By.id('greet')).click();
    await d.wait(until.elementTextIs(d.findElement(By.id('greeting')), 'Hello, Selenium!'), 10_000);
    const png = Buffer.from(await d.takeScreenshot(), 'base64');
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');

    // The browser is the session's: a CDP client through the same sidecar finds the page Selenium filled in.
    const cdp = await playwright.connectOverCDP(
      `${base.replace('http', 'ws')}/devtools/browser?token=${token}`,
    );
    const pages = cdp.contexts().flatMap((c) => c.pages());
    const titles = await Promise.all(pages.map((p) => p.title()));
    expect(titles).toContain('Hello, Selenium!');
    await cdp.close();

    await d.quit();
    expect(webdriverConnections()).toBe(0);
    // quit() detaches: the session's Chrome still answers.
    expect((await fetch(`${chrome.httpUrl}/json/version`)).status).toBe(200);
  });

  it('a second new session while one is active is refused with a WebDriver error; after quit() one may start', async () => {
    const first = await driver();
    const second = await driver().catch((e: unknown) => e as Error);
    expect(second).toBeInstanceOf(Error);
    expect((second as Error).name).toBe('SessionNotCreatedError');
    expect((second as Error).message).toMatch(/already active on this browser session/);
    await first.quit();
    const third = await driver();
    await third.quit();
  });

  it.each([
    ['another browser', { browserName: 'firefox' }, /browserName: this session's browser is Chromium/],
    [
      'flags',
      { 'goog:chromeOptions': { args: ['--incognito'] } },
      /goog:chromeOptions\.args: .*already running/,
    ],
    ['a binary', { 'goog:chromeOptions': { binary: '/usr/bin/false' } }, /goog:chromeOptions\.binary/],
  ])(
    'capabilities asking for %s are refused with the reason, and nothing stays active',
    async (_what, caps, why) => {
      const body = { capabilities: { alwaysMatch: { browserName: 'chrome', ...caps }, firstMatch: [{}] } };
      const r = await fetch(`${base}/webdriver/session`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const answer = (await r.json()) as { value: { error: string; message: string } };
      expect(r.status).toBe(500);
      expect(answer.value.error).toBe('session not created');
      expect(answer.value.message).toMatch(why);
      expect(webdriverConnections()).toBe(0);
    },
  );

  it('a WebDriver session the client leaves without quit() ends after the idle limit', async () => {
    const d = await driver();
    const id = (await d.getSession()).getId();
    expect(webdriverConnections()).toBe(1);
    await waitFor('the idle WebDriver session to end', () => webdriverConnections() === 0, 20_000);
    expect(sidecar.state.snapshot().lastDisconnectedAt).toBeDefined();
    // chromedriver forgot it too: a command on it is an invalid session id.
    const r = await fetch(`${driverServer.url}session/${id}/url`);
    expect(((await r.json()) as { value: { error: string } }).value.error).toBe('invalid session id');
  });

  it('BiDi: the webSocketUrl points at the sidecar and carries console entries of the page', async () => {
    const d = await driver({ bidi: true });
    const caps = await d.getCapabilities();
    expect(String(caps.get('webSocketUrl'))).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/webdriver\/session\//);
    const inspector = await getLogInspector(d);
    const lines: string[] = [];
    await inspector.onConsoleEntry((entry: { text: string }) => lines.push(entry.text));
    await d.get(`${site.url}/form`);
    await waitFor('the page console line over BiDi', () => lines.includes(FORM_CONSOLE_LINE), 20_000);
    await inspector.close();
    await d.quit();
    expect(webdriverConnections()).toBe(0);
  });

  it('without a chromedriver in the pod a new session is a WebDriver error that says so, and CDP still works', async () => {
    const bare = createSidecar(
      testSidecarConfig({ chromeUrl: new URL(chrome.httpUrl), session, sessionToken: token }),
    );
    const { port } = await bare.listen();
    try {
      const r = await fetch(`http://127.0.0.1:${port}/webdriver/session`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{"capabilities":{}}',
      });
      expect(r.status).toBe(502);
      const answer = (await r.json()) as { value: { error: string; message: string } };
      expect(answer.value.error).toBe('unknown error');
      expect(answer.value.message).toMatch(
        /WebDriver server \(chromedriver\) did not answer: .*ECONNREFUSED/,
      );
      expect(bare.state.snapshot().connectionsByLevel.webdriver).toBe(0);
      expect((await fetch(`http://127.0.0.1:${port}/json/version?token=${token}`)).status).toBe(200);
    } finally {
      await bare.close();
    }
  }, 30_000);

  it('refuses WebDriver without the session credential: HTTP 401, and no BiDi socket', async () => {
    const r = await fetch(`${base}/webdriver/status`);
    expect(r.status).toBe(401);
    const wrong = await fetch(`${base}/webdriver/session`, {
      method: 'POST',
      headers: { authorization: 'Bearer not-the-token', 'content-type': 'application/json' },
      body: '{"capabilities":{}}',
    });
    expect(wrong.status).toBe(401);
    expect(webdriverConnections()).toBe(0);
  });
});
