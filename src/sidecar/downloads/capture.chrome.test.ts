import { createHash } from 'node:crypto';
import { type Browser, chromium as playwright } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type LaunchedChromium, launchChromium } from '../../testing/chromium.js';
import { testSidecarConfig } from '../../testing/sidecar-config.js';
import { downloadBytes, type SiteServer, SLOW_DOWNLOAD, startSite } from '../../testing/site-server.js';
import { waitFor } from '../../testing/wait.js';
import { createSidecar, type Sidecar } from '../sidecar.js';
import type { ArtifactManifest } from './ledger.js';

const token = 'ZG93bmxvYWQtY2FwdHVyZS10ZXN0LXRva2Vu';
const auth = { authorization: `Bearer ${token}` };

let chrome: LaunchedChromium;
let site: SiteServer;
let sidecar: Sidecar;
let base: string;
let browser: Browser | undefined;

async function manifest(): Promise<ArtifactManifest> {
  const res = await fetch(`${base}/artifacts/v1/manifest`, { headers: auth });
  expect(res.status).toBe(200);
  return (await res.json()) as ArtifactManifest;
}

function complete(m: ArtifactManifest, suggested: string) {
  const [stem, ext] = suggested.split('.');
  const pattern = new RegExp(`^${stem}-\\d+(-\\d+)?\\.${ext}$`);
  return m.downloads.filter((d) => d.state === 'complete' && pattern.test(d.name));
}

/** A raw CDP client, as Puppeteer-like tools are: it creates a context and never sets a download behaviour. */
async function rawContextDownload(url: string): Promise<void> {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/devtools/browser?token=${token}`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let id = 0;
  const call = (method: string, params: object) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const mine = ++id;
      const onMessage = (data: WebSocket.RawData) => {
        const msg = JSON.parse(data.toString()) as { id?: number; result?: object; error?: object };
        if (msg.id !== mine) return;
        ws.off('message', onMessage);
        if (msg.error) reject(new Error(JSON.stringify(msg.error)));
        else resolve(msg.result as Record<string, unknown>);
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id: mine, method, params }));
    });
  const { browserContextId } = await call('Target.createBrowserContext', {});
  await call('Target.createTarget', { url, browserContextId });
  // The client leaves once the file is complete; its context (and the download) would go with it earlier.
  await waitFor(
    "the raw client's download",
    async () => complete(await manifest(), 'report.pdf').length >= 3,
  );
  ws.close();
}

beforeAll(async () => {
  [chrome, site] = await Promise.all([launchChromium(), startSite('127.0.0.1')]);
  sidecar = createSidecar(
    testSidecarConfig({
      chromeUrl: new URL(chrome.httpUrl),
      session: { namespace: 'team-a', name: 'downloads', uid: '5b0e8f8a-2222-4000-8000-0000000000d1' },
      sessionToken: token,
    }),
  );
  const { port } = await sidecar.listen();
  base = `http://127.0.0.1:${port}`;
  await waitFor("Chrome's first tab", async () => {
    const targets = (await (await fetch(`${chrome.httpUrl}/json/list`)).json()) as { type: string }[];
    return targets.some((t) => t.type === 'page');
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await sidecar?.close();
  await Promise.all([chrome?.close(), site?.close()]);
});

describe('download capture through the CDP proxy', () => {
  it('keeps every download of the default context, of a new context and of a raw client, with its bytes', async () => {
    browser = await playwright.connectOverCDP(`${base}?token=${token}`);
    const defaultContext = browser.contexts()[0];
    if (!defaultContext) throw new Error('no default context');
    const page = await defaultContext.newPage();
    await page.goto(`${site.url}/offer`);
    // Playwright still gets its download events: it asked for them.
    const [first] = await Promise.all([page.waitForEvent('download'), page.click('#attachment')]);
    expect(first.suggestedFilename()).toBe('report.pdf');
    const [second] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    expect(second.suggestedFilename()).toBe('notes.txt');

    const context = await browser.newContext();
    const other = await context.newPage();
    await other.goto(`${site.url}/offer`);
    await Promise.all([other.waitForEvent('download'), other.click('#attachment')]);

    await waitFor('both reports and the notes', async () => {
      const m = await manifest();
      return complete(m, 'report.pdf').length === 2 && complete(m, 'notes.txt').length === 1;
    });
    await rawContextDownload(`${site.url}/files/report.pdf`);

    const m = await manifest();
    expect(m.downloads.filter((d) => d.state !== 'complete')).toEqual([]);
    expect(m.generation).toBeGreaterThanOrEqual(4);
    for (const d of m.downloads) {
      const served = downloadBytes(d.name.startsWith('report') ? 'report.pdf' : 'notes.txt');
      expect(d.bytes).toBe(served.length);
      expect(d.sha256).toBe(createHash('sha256').update(served).digest('hex'));
      const res = await fetch(`${base}/artifacts/v1/files/downloads/${encodeURIComponent(d.name)}`, {
        headers: auth,
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('etag')).toBe(`"${d.sha256}"`);
      expect(Buffer.from(await res.arrayBuffer()).equals(served)).toBe(true);
    }
  });

  it('serves artifacts only to the session credential, and only complete files by valid names', async () => {
    expect((await fetch(`${base}/artifacts/v1/manifest`)).status).toBe(401);
    expect(
      (await fetch(`${base}/artifacts/v1/manifest`, { headers: { authorization: 'Bearer x' } })).status,
    ).toBe(401);
    expect((await fetch(`${base}/artifacts/v1/files/downloads/missing.pdf`, { headers: auth })).status).toBe(
      404,
    );
    expect((await fetch(`${base}/artifacts/v1/files/downloads/a%2Fb.pdf`, { headers: auth })).status).toBe(
      400,
    );
    expect((await fetch(`${base}/artifacts/v1/seal`, { headers: auth })).status).toBe(405);
    expect((await fetch(`${base}/artifacts/v1/manifest`, { method: 'POST', headers: auth })).status).toBe(
      405,
    );
  });

  it('after the seal, no download starts in any context, whatever a client asks', async () => {
    if (!browser) throw new Error('the first test did not connect');
    const before = await manifest();
    const res = await fetch(`${base}/artifacts/v1/seal`, { method: 'POST', headers: auth });
    expect(res.status).toBe(200);
    const sealed = (await res.json()) as ArtifactManifest;
    expect(sealed.sealed).toBe(true);
    expect(sealed.downloads).toEqual(before.downloads);
    // Idempotent.
    const again = (await (
      await fetch(`${base}/artifacts/v1/seal`, { method: 'POST', headers: auth })
    ).json()) as ArtifactManifest;
    expect(again).toEqual(sealed);

    // A new context (Playwright asks for downloads in it) and the default one: Chrome refuses the download.
    const context = await browser.newContext();
    for (const page of [await context.newPage(), await browser.contexts()[0]?.newPage()]) {
      if (!page) throw new Error('no page');
      await page.goto(`${site.url}/offer`);
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#attachment')]);
      expect(await download.failure()).toBe('canceled');
    }
    const after = await manifest();
    expect(after.downloads).toEqual(before.downloads);
    // The end's flush reads the CDP log after the seal: the client's own download settings are in it.
    await browser.close();
    const log = await fetch(`${base}/artifacts/v1/logs`, { headers: auth });
    expect(log.status).toBe(200);
    const methods = ((await log.json()) as { method: string }[]).map((e) => e.method);
    expect(methods).toContain('Browser.setDownloadBehavior');
  });
});

describe('the session’s download cap', { timeout: 60_000 }, () => {
  it('cancels the download that takes the session past its cap and every later one, and says so in the manifest', async () => {
    const own = await launchChromium();
    const report = downloadBytes('report.pdf').length;
    // Room for the report and less than the first bytes of the stalled big.bin.
    const cap = report + SLOW_DOWNLOAD.sent / 2;
    const capped = createSidecar(
      testSidecarConfig(
        {
          chromeUrl: new URL(own.httpUrl),
          session: { namespace: 'team-a', name: 'capped', uid: '5b0e8f8a-2222-4000-8000-0000000000d2' },
          sessionToken: token,
        },
        { downloadCapBytes: cap },
      ),
    );
    try {
      const { port } = await capped.listen();
      const at = `http://127.0.0.1:${port}`;
      const read = async () =>
        (await (await fetch(`${at}/artifacts/v1/manifest`, { headers: auth })).json()) as ArtifactManifest;
      const b = await playwright.connectOverCDP(`${at}/?token=${token}`);
      const page = await (b.contexts()[0] ?? (await b.newContext())).newPage();
      await page.goto(`${site.url}/offer`);
      const [first] = await Promise.all([page.waitForEvent('download'), page.click('#attachment')]);
      expect(await first.failure()).toBeNull();
      await waitFor('the first file kept', async () => complete(await read(), 'report.pdf').length === 1);
      // big.bin's first bytes take the session past the cap while it still downloads: Chrome cancels it.
      const [second] = await Promise.all([page.waitForEvent('download'), page.click('#slow')]);
      expect(await second.failure()).toBe('canceled');
      // Anything after is cancelled as it begins (a small file may finish first; it is not kept either way).
      await page.click('#download');
      const m = await waitFor('the cap recorded for all three', async () => {
        const got = await read();
        return got.downloads.length === 3 ? got : undefined;
      });
      expect(m).toMatchObject({ capBytes: cap, capReached: true });
      expect(m.downloads.map((d) => [d.state, d.cancelledBy ?? null])).toEqual([
        ['complete', null],
        ['cancelled', 'cap'],
        ['cancelled', 'cap'],
      ]);
      await b.close();
    } finally {
      await capped.close();
      await own.close();
    }
  });
});
