import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Browserbase from '@browserbasehq/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserProject, BrowserSession } from '../../api/index.js';
import { type ObjectStore, startObjectStore } from '../../localcluster/object-store.js';
import { createS3ArtifactStore } from '../../shared/artifacts/s3-store.js';
import type { ArtifactStore } from '../../shared/artifacts/store.js';
import { systemClock } from '../../shared/clock.js';
import { createLogger } from '../../shared/log.js';
import { unzip } from '../../testing/zip.js';
import type { ApiKeyDirectory } from '../api-keys.js';
import { createGatewayApp } from '../app.js';
import { defaultGatewayConfig, type GatewayConfig } from '../config.js';
import { ApiError } from '../errors.js';
import { Links } from '../links.js';
import { createLiveView } from '../live-view/live-view.js';
import { createGatewayMetrics } from '../metrics.js';
import type { SessionCache } from '../session-cache.js';
import type { SessionService } from '../session-service.js';
import { createWebDriverGateway } from '../webdriver/webdriver-gateway.js';

/**
 * `GET /v1/sessions/:id/downloads` through the official Browserbase SDK, read from a real SeaweedFS. The
 * sessions and API keys are stand-ins (their behaviour is the cluster tests'); the store and the zip are real.
 */

const API_KEY = 'bf_unit_downloads_0123456789abcdef';
const project = { metadata: { name: 'team-a' }, spec: {} } as unknown as BrowserProject;
const ownSessions = new Set(['s-with-files', 's-without-files']);

let server: ObjectStore;
let store: ArtifactStore;
const servers: Server[] = [];

async function gateway(artifacts: ArtifactStore | undefined): Promise<Browserbase> {
  const config: GatewayConfig = { ...defaultGatewayConfig, sessionKey: 'unit-session-key-0123456789' };
  const log = createLogger({ component: 'gateway' }, { level: 'silent' });
  const metrics = createGatewayMetrics();
  const keys = { authenticate: async (key: string) => (key === API_KEY ? project : undefined) };
  const sessions = {
    budget: () => ({ limit: 0, remaining: 0, resetSeconds: 0 }),
    owned: async (_p: BrowserProject, id: string) => {
      if (!ownSessions.has(id)) throw new ApiError('SESSION_NOT_FOUND', `session ${id} not found`);
      return { metadata: { name: id, namespace: 'team-a' }, spec: { project: 'team-a' } } as BrowserSession;
    },
  };
  const app = createGatewayApp({
    config,
    keys: keys as unknown as ApiKeyDirectory,
    sessions: sessions as unknown as SessionService,
    cache: {} as SessionCache,
    links: new Links(config, systemClock),
    metrics,
    log,
    clock: systemClock,
    liveView: createLiveView({
      sessionKey: config.sessionKey,
      cache: {} as SessionCache,
      connectWaitMs: 1000,
      metrics,
      log,
      clock: systemClock,
    }),
    webdriver: createWebDriverGateway({
      sessionKey: config.sessionKey,
      keys: keys as unknown as ApiKeyDirectory,
      cache: {} as SessionCache,
      sessions: sessions as unknown as SessionService,
      links: new Links(config, systemClock),
      connectWaitMs: 1000,
      metrics,
      log,
      clock: systemClock,
    }),
    artifacts,
  });
  const http = app.listen(0, '127.0.0.1');
  await new Promise((r) => http.once('listening', r));
  servers.push(http);
  const baseURL = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return new Browserbase({ apiKey: API_KEY, baseURL, maxRetries: 0 });
}

beforeAll(async () => {
  server = await startObjectStore();
  store = createS3ArtifactStore({ ...server.s3, maxAttempts: 1, stallTimeoutMs: 1000 });
}, 120_000);
afterAll(async () => {
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  store?.close();
  await server?.stop();
});

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected the SDK to throw');
    },
    (err: unknown) => err as { status?: number; message: string },
  );

describe('GET /v1/sessions/:id/downloads', () => {
  it('gives the SDK a zip with exactly the stored downloads of that session', async () => {
    const bb = await gateway(store);
    const scope = { project: 'team-a', session: 's-with-files' };
    const pdf = randomBytes(100_000);
    await store.put(scope, 'downloads', 'report-1719265797164.pdf', pdf, pdf.length);
    await store.put(scope, 'downloads', 'data-1719265799001.csv', Buffer.from('a,b\n1,2\n'), 8);
    // Same session name under another project: not this caller's.
    await store.put(
      { project: 'team-b', session: 's-with-files' },
      'downloads',
      'theirs.txt',
      Buffer.from('x'),
      1,
    );

    const response = await bb.sessions.downloads.list('s-with-files');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/zip');
    const got = await unzip(Buffer.from(await response.arrayBuffer()));
    expect([...got.keys()].sort()).toEqual(['data-1719265799001.csv', 'report-1719265797164.pdf']);
    expect(got.get('report-1719265797164.pdf')?.equals(pdf)).toBe(true);
    expect(got.get('data-1719265799001.csv')?.toString()).toBe('a,b\n1,2\n');
  });

  it('answers an empty zip, not a 204, for a session without downloads', async () => {
    const bb = await gateway(store);
    const response = await bb.sessions.downloads.list('s-without-files');
    expect(response.status).toBe(200);
    expect((await unzip(Buffer.from(await response.arrayBuffer()))).size).toBe(0);
  });

  it('is a 404 for a session the caller does not own', async () => {
    const bb = await gateway(store);
    const err = await refusal(bb.sessions.downloads.list('someone-elses'));
    expect(err.status).toBe(404);
  });

  it('says 501, naming the setting, when artifacts are off', async () => {
    const bb = await gateway(undefined);
    const err = await refusal(bb.sessions.downloads.list('s-with-files'));
    expect(err.status).toBe(501);
    expect(err.message).toContain('artifacts.enabled');
  });

  it('answers 503 naming the store while it does not answer, and the zip again once it is back', async () => {
    const bb = await gateway(store);
    await server.interrupt();
    try {
      const err = await refusal(bb.sessions.downloads.list('s-with-files'));
      expect(err.status).toBe(503);
      expect(err.message).toContain(`the store did not answer`);
      expect(err.message).toContain(server.endpoint);
    } finally {
      await server.resume();
    }
    const response = await bb.sessions.downloads.list('s-with-files');
    expect((await unzip(Buffer.from(await response.arrayBuffer()))).size).toBe(2);
  });
});
