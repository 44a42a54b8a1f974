import { execFile } from 'node:child_process';
import path from 'node:path';
import Browserbase from '@browserbasehq/sdk';
import { Hyperbrowser } from '@hyperbrowser/sdk';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { BrowserSession } from '../src/api/index.js';
import { type ObjectStore, startObjectStore } from '../src/localcluster/object-store.js';
import { createS3ArtifactStore } from '../src/shared/artifacts/s3-store.js';
import type { ArtifactStore } from '../src/shared/artifacts/store.js';
import { sessionToken } from '../src/shared/credentials.js';
import { isNotFound, paths } from '../src/shared/kube/client.js';
import { repoRoot } from '../src/shared/repo-root.js';
import { downloadBytes, SLOW_DOWNLOAD } from '../src/testing/site-server.js';
import { TEST_SESSION_KEY } from '../src/testing/stack.js';
import { waitFor } from '../src/testing/wait.js';
import { unzip } from '../src/testing/zip.js';
import { type GatewayStack, startGatewayStack } from './gateway-harness.js';

/**
 * Downloads outlive the browser pod (issue 15, ADR 0012): pods on the suite's real node, the operator's collector
 * copying from each sidecar into a real SeaweedFS, the gateway reading the zip from it, and the official
 * Browserbase SDK and Playwright as a user has them. Every session here ends and loses its pod before its files
 * are read.
 */

let store: ObjectStore;
let g: GatewayStack;
let bb: Browserbase;
/** The test's own view of the bucket, beside the operator's and the gateway's. */
let reader: ArtifactStore;

type Artifacts = NonNullable<NonNullable<BrowserSession['status']>['artifacts']>;

async function podGone(id: string): Promise<void> {
  await waitFor('the browser pod deleted', () =>
    g.stack.client.get(paths.pod(g.stack.namespace, `browser-${id}`)).then(
      () => false,
      (err: unknown) => isNotFound(err),
    ),
  );
}

async function flushed(id: string): Promise<Artifacts> {
  return waitFor('the end flushed', async () => {
    const a = (await g.getSession(id)).status?.artifacts;
    return a?.flushed ? a : undefined;
  });
}

/** A browser on the session that downloaded the test site's attachment, once the collector has stored it. */
async function attachmentStored(connectUrl: string, id: string): Promise<Browser> {
  const browser = await chromium.connectOverCDP(connectUrl);
  const page = await (browser.contexts()[0] ?? (await browser.newContext())).newPage();
  await page.goto(`${g.site.url}/offer`);
  await page.click('#attachment');
  await waitFor(
    'the download stored',
    async () => ((await g.getSession(id)).status?.artifacts?.downloads?.stored ?? 0) >= 1,
  );
  return browser;
}

async function sessionDeleted(id: string): Promise<void> {
  await g.stack.client.delete(paths.session(g.stack.namespace, id));
  await waitFor('the session deleted', () =>
    g.getSession(id).then(
      () => false,
      (err: unknown) => isNotFound(err),
    ),
  );
}

/** What the sidecar lists right now, asked as the collector asks (the session's own credential). */
async function sidecarManifest(id: string): Promise<{ downloads: { name: string; state: string }[] }> {
  const s = await g.getSession(id);
  const res = await fetch(`http://${s.status?.podIP}:9223/artifacts/v1/manifest`, {
    headers: { authorization: `Bearer ${sessionToken(TEST_SESSION_KEY, s.metadata.uid ?? '')}` },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { downloads: { name: string; state: string }[] };
}

describe.skipIf(inject('podNetworkHostIP') === '')('artifacts: downloads kept in a real object store', () => {
  beforeAll(async () => {
    store = await startObjectStore();
    const artifacts = { enabled: true, s3: store.s3 };
    g = await startGatewayStack({
      prefix: 'artifacts',
      pods: 'node',
      operator: {
        artifacts,
        artifactCollector: { flushTimeoutSeconds: 10, concurrency: 2, retentionSweepSeconds: 1 },
      },
      gateway: { artifacts },
    });
    bb = new Browserbase({ apiKey: g.apiKey, baseURL: g.baseUrl, maxRetries: 0 });
    reader = createS3ArtifactStore(store.s3);
  }, 180_000);

  afterAll(async () => {
    reader?.close();
    await g?.stop();
    await store?.stop();
  });

  it('files downloaded in the default context and in a newContext() outlive the pod: the SDK’s zip has their bytes', async () => {
    const session = await bb.sessions.create({});
    const browser = await chromium.connectOverCDP(session.connectUrl);
    const page = await (browser.contexts()[0] ?? (await browser.newContext())).newPage();
    await page.goto(`${g.site.url}/offer`);
    await page.click('#attachment');
    const other = await browser.newContext();
    const page2 = await other.newPage();
    await page2.goto(`${g.site.url}/offer`);
    await page2.click('#download');
    // Copied while the session runs (the sidecar's report moves artifactsGeneration; the collector follows).
    await waitFor(
      'both downloads stored during the session',
      async () => ((await g.getSession(session.id)).status?.artifacts?.downloads?.stored ?? 0) >= 2,
    );
    expect((await g.getSession(session.id)).status?.artifacts?.state).toBe('Collecting');
    await browser.close(); // the last client leaves: the session ends
    await g.waitPhase(session.id, ['Completed']);
    await podGone(session.id);

    expect(await flushed(session.id)).toMatchObject({
      state: 'Stored',
      downloads: { stored: 2, partial: 0, cancelled: 0 },
    });
    const zip = await unzip(Buffer.from(await (await bb.sessions.downloads.list(session.id)).arrayBuffer()));
    const names = [...zip.keys()].sort();
    expect(names).toHaveLength(2);
    // Browserbase's stored names: the file's own name with a Unix-millisecond suffix before the extension.
    expect(names[0]).toMatch(/^notes-\d{13}\.txt$/);
    expect(names[1]).toMatch(/^report-\d{13}\.pdf$/);
    expect(zip.get(names[0] ?? '')?.equals(downloadBytes('notes.txt'))).toBe(true);
    expect(zip.get(names[1] ?? '')?.equals(downloadBytes('report.pdf'))).toBe(true);

    // Another project's key does not see this session or its files.
    const stranger = new Browserbase({ apiKey: g.otherApiKey, baseURL: g.baseUrl, maxRetries: 0 });
    await expect(stranger.sessions.downloads.list(session.id)).rejects.toMatchObject({ status: 404 });

    // Deleting the session deletes its artifacts first (the finalizer the collector put on with the first file).
    const scope = { project: g.project, session: session.id };
    expect((await g.getSession(session.id)).metadata.finalizers).toContain('browserfleet.dev/artifacts');
    // Its two files and its CDP log.
    expect((await reader.list(scope)).map((a) => a.kind)).toEqual(['downloads', 'downloads', 'logs']);
    await sessionDeleted(session.id);
    expect(await reader.list(scope)).toEqual([]);
  });

  it('bb.sessions.logs.list has the test’s Page.navigate with its URL, during the session and after its pod is gone, and never a credential', async () => {
    const session = await bb.sessions.create({});
    const browser = await chromium.connectOverCDP(session.connectUrl);
    const page = await (browser.contexts()[0] ?? (await browser.newContext())).newPage();
    const url = `${g.site.url}/offer?logged=1`;
    await page.goto(url);
    const navigations = (log: Browserbase.Sessions.SessionLog[]) =>
      log.filter((e) => e.method === 'Page.navigate' && e.request?.params['url'] === url);
    // While the browser runs: from its sidecar.
    const live = await bb.sessions.logs.list(session.id);
    expect(navigations(live)).toHaveLength(1);
    expect(navigations(live)[0]).toMatchObject({ pageId: expect.any(Number), sessionId: expect.any(String) });
    expect(navigations(live)[0]?.response?.result['frameId']).toEqual(expect.any(String));
    await browser.close();
    await g.waitPhase(session.id, ['Completed']);
    await podGone(session.id);
    const artifacts = await flushed(session.id);
    expect(artifacts).toMatchObject({ state: 'Stored', logs: { stored: true, dropped: 0 } });
    // After the pod: from the store, the same entries and more (everything up to the end).
    const kept = await bb.sessions.logs.list(session.id);
    expect(navigations(kept)).toEqual(navigations(live));
    expect(kept.length).toBe(artifacts.logs?.entries);
    const text = JSON.stringify(kept);
    const s = await g.getSession(session.id);
    const connectToken = new URL(session.connectUrl).searchParams.get('signingKey') ?? '';
    for (const secret of [g.apiKey, connectToken, sessionToken(TEST_SESSION_KEY, s.metadata.uid ?? '')]) {
      expect(secret.length).toBeGreaterThan(10);
      expect(text).not.toContain(secret);
    }
    // Another project's key gets a 404, as for everything of the session.
    const stranger = new Browserbase({ apiKey: g.otherApiKey, baseURL: g.baseUrl, maxRetries: 0 });
    await expect(stranger.sessions.logs.list(session.id)).rejects.toMatchObject({ status: 404 });
  });

  it('logSession: false records nothing, and the session’s log is an empty list', async () => {
    const session = await bb.sessions.create({ browserSettings: { logSession: false } });
    expect((await g.getSession(session.id)).spec.logSession).toBe(false);
    const browser = await chromium.connectOverCDP(session.connectUrl);
    const page = await (browser.contexts()[0] ?? (await browser.newContext())).newPage();
    await page.goto(`${g.site.url}/offer`);
    expect(await bb.sessions.logs.list(session.id)).toEqual([]);
    await browser.close();
    await g.waitPhase(session.id, ['Completed']);
    expect(await bb.sessions.logs.list(session.id)).toEqual([]);
  });

  it('Hyperbrowser: saveDownloads keeps them, and getDownloadsURL gives a link to the same zip once the session ends', async () => {
    const hb = new Hyperbrowser({ apiKey: g.apiKey, baseUrl: g.baseUrl });
    const plain = await hb.sessions.create({});
    expect((await hb.sessions.getDownloadsURL(plain.id)).status).toBe('not_enabled');
    await hb.sessions.stop(plain.id);

    const session = await hb.sessions.create({ saveDownloads: true });
    const browser = await attachmentStored(`${session.wsEndpoint}&keepAlive=true`, session.id);
    expect(await hb.sessions.getDownloadsURL(session.id)).toMatchObject({
      status: 'in_progress',
      downloadsUrl: null,
    });
    await browser.close();
    await hb.sessions.stop(session.id);
    const done = await waitFor('downloads completed', async () => {
      const d = await hb.sessions.getDownloadsURL(session.id);
      return d.status === 'completed' ? d : undefined;
    });
    // A plain URL: no API key, as the SDK's users fetch it.
    const res = await fetch(done.downloadsUrl ?? '');
    expect(res.status).toBe(200);
    const zip = await unzip(Buffer.from(await res.arrayBuffer()));
    expect([...zip.values()].map((b) => b.equals(downloadBytes('report.pdf')))).toEqual([true]);
    // The link opens this session's zip only.
    const forged = (done.downloadsUrl ?? '').replace(
      encodeURIComponent(session.id),
      encodeURIComponent(plain.id),
    );
    expect((await fetch(forged)).status).toBe(401);
  });

  it('a download still running at the release is listed as cut off, never lost silently', async () => {
    const session = await bb.sessions.create({ keepAlive: true });
    const browser = await chromium.connectOverCDP(session.connectUrl);
    const page = await (browser.contexts()[0] ?? (await browser.newContext())).newPage();
    await page.goto(`${g.site.url}/offer`);
    await page.click('#attachment');
    await page.click('#slow');
    await waitFor('the slow download running in Chrome', async () =>
      (await sidecarManifest(session.id)).downloads.some(
        (d) => d.name === 'big.bin' && d.state === 'in-progress',
      ),
    );
    expect((await bb.sessions.update(session.id, { status: 'REQUEST_RELEASE' })).status).toBe('COMPLETED');
    await browser.close().catch(() => undefined);

    const artifacts = await flushed(session.id);
    expect(artifacts).toMatchObject({
      state: 'Incomplete',
      reason: 'DownloadsCutOff',
      downloads: { stored: 1, partial: 1 },
    });
    expect(artifacts.message).toContain('big.bin');
    await podGone(session.id);
    // The finished one is there; the cut-off one is not, and the status said so.
    const zip = await unzip(Buffer.from(await (await bb.sessions.downloads.list(session.id)).arrayBuffer()));
    expect([...zip.keys()]).toEqual([expect.stringMatching(/^report-\d{13}\.pdf$/)]);
    expect(SLOW_DOWNLOAD.sent).toBeLessThan(SLOW_DOWNLOAD.announced);
  });

  it('the chart’s helm test script reads the ended session’s downloads from the store, and fails naming a store that is down', async () => {
    // The same script the chart's test pod runs (charts/browserfleet/files/helm-test.mjs), here against this stack.
    const helmTest = () =>
      new Promise<{ code: number; out: string }>((resolve) => {
        execFile(
          process.execPath,
          [path.join(repoRoot, 'charts/browserfleet/files/helm-test.mjs')],
          {
            env: {
              ...process.env,
              GATEWAY_URL: g.baseUrl,
              API_KEY: g.apiKey,
              ARTIFACTS: 'on',
              TIMEOUT_SECONDS: '60',
            },
          },
          (err, stdout, stderr) =>
            resolve({ code: err ? Number(err.code ?? 1) : 0, out: `${stdout}${stderr}` }),
        );
      });
    const ok = await helmTest();
    expect(ok.out).toMatch(/the object store answered: the session's downloads are a zip of 22 bytes/);
    expect(ok.code).toBe(0);
    await store.interrupt();
    try {
      const down = await helmTest();
      expect(down.code).toBe(1);
      expect(down.out).toMatch(
        /helm test failed: GET \/v1\/sessions\/\S+\/downloads: HTTP 503 .*could not be stored \(Unreachable\)/,
      );
    } finally {
      await store.resume();
    }
  });

  it('the store stopped mid-session: the session still ends on time, its status says why, downloads answer 503', async () => {
    const session = await bb.sessions.create({ keepAlive: true });
    const browser = await chromium.connectOverCDP(session.connectUrl);
    const page = await (browser.contexts()[0] ?? (await browser.newContext())).newPage();
    await page.goto(`${g.site.url}/offer`);
    await store.interrupt();
    try {
      await page.click('#attachment');
      await waitFor('the download complete in the sidecar', async () =>
        (await sidecarManifest(session.id)).downloads.some((d) => d.state === 'complete'),
      );
      // Ended when asked (the gateway answers the release once the session is terminal): the end does not
      // wait on the store.
      expect((await bb.sessions.update(session.id, { status: 'REQUEST_RELEASE' })).status).toBe('COMPLETED');
      await browser.close().catch(() => undefined);
      const artifacts = await flushed(session.id);
      expect(artifacts).toMatchObject({ state: 'Failed', reason: 'Unreachable' });
      expect(artifacts.message).toMatch(/artifact store/);
      await podGone(session.id);
      const refused = await bb.sessions.downloads.list(session.id).then(
        () => undefined,
        (err: unknown) => err as { status?: number; message?: string },
      );
      expect(refused?.status).toBe(503);
      expect(refused?.message).toContain('could not be stored (Unreachable)');
      // The CDP log went with it, and its endpoint says so too (not an empty list).
      const noLog = await bb.sessions.logs.list(session.id).then(
        () => undefined,
        (err: unknown) => err as { status?: number; message?: string },
      );
      expect(noLog?.status).toBe(503);
      expect(noLog?.message).toContain('CDP log was not stored when it ended (Unreachable)');
    } finally {
      await store.resume();
    }
  });

  it('a project’s artifactRetentionSeconds keeps the artifacts past the deleted session, then the sweep deletes them', async () => {
    const project = paths.project(g.project);
    await g.stack.client.mergePatch(project, { spec: { artifactRetentionSeconds: 4 } });
    try {
      const session = await bb.sessions.create({});
      const browser = await attachmentStored(session.connectUrl, session.id);
      await browser.close();
      expect(await flushed(session.id)).toMatchObject({ state: 'Stored' });
      const scope = { project: g.project, session: session.id };
      await sessionDeleted(session.id);
      // The session is gone, its artifacts are not: the retention has not passed.
      expect((await reader.list(scope)).map((a) => a.kind)).toEqual(['downloads', 'logs']);
      // The sweep (every second here) deletes them once it has.
      await waitFor('the artifacts swept', async () => (await reader.list(scope)).length === 0, 30_000, 250);
    } finally {
      await g.stack.client.mergePatch(project, { spec: { artifactRetentionSeconds: null } });
    }
  });
});
