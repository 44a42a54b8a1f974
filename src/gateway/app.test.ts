import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../shared/clock.js';
import { KubeApiError } from '../shared/kube/client.js';
import { createLogger } from '../shared/log.js';
import type { ApiKeyDirectory } from './api-keys.js';
import { createGatewayApp } from './app.js';
import { defaultGatewayConfig, type GatewayConfig } from './config.js';
import { Links } from './links.js';
import { createLiveView } from './live-view/live-view.js';
import { createGatewayMetrics } from './metrics.js';
import type { SessionCache } from './session-cache.js';
import type { SessionService } from './session-service.js';
import { createWebDriverGateway } from './webdriver/webdriver-gateway.js';

const API_KEY = 'bf_unit_0123456789abcdefghijklmn';
const TOKEN = 'ZGVmYXVsdC9zLTE.0123456789abcdefghijklmnopqrstuv';

/**
 * The gateway app's error middleware, with a dependency that fails as the API server does. The key lookup is the
 * first thing every authenticated route does, so its failure is an internal error of the handler.
 */
describe('gateway app logging', () => {
  const lines: string[] = [];
  // Forbidden: the gateway's RBAC is wrong, a fault of the deployment and not the API server being away.
  const forbidden = () =>
    new Error('reading API key Secrets failed', {
      cause: new KubeApiError(403, 'Forbidden', 'secrets is forbidden', { kind: 'Status', code: 403 }),
    });
  let failure: () => Error = forbidden;
  let baseUrl = '';
  let close: () => Promise<void> = async () => {};

  beforeAll(async () => {
    const config: GatewayConfig = { ...defaultGatewayConfig, sessionKey: 'unit-session-key-0123456789' };
    const log = createLogger(
      { component: 'gateway' },
      { level: 'debug', destination: { write: (s: string) => void lines.push(s) } },
    );
    const metrics = createGatewayMetrics();
    const failingKeys = {
      authenticate: async () => {
        throw failure();
      },
    } as unknown as ApiKeyDirectory;
    // Never reached: authentication fails first.
    const cache = {} as SessionCache;
    const app = createGatewayApp({
      config,
      keys: failingKeys,
      sessions: {} as SessionService,
      cache,
      links: new Links(config, systemClock),
      metrics,
      log,
      clock: systemClock,
      liveView: createLiveView({
        sessionKey: config.sessionKey,
        cache,
        connectWaitMs: 1000,
        metrics,
        log,
        clock: systemClock,
      }),
      webdriver: createWebDriverGateway({
        sessionKey: config.sessionKey,
        keys: failingKeys,
        cache: cache,
        sessions: {} as SessionService,
        links: new Links(config, systemClock),
        connectWaitMs: 1000,
        metrics,
        log,
        clock: systemClock,
      }),
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => new Promise((r) => server.close(() => r()));
  });
  afterAll(() => close());

  const parsed = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

  it.each([
    ['Browserbase', '/v1/sessions', 'x-bb-api-key'],
    ['Hyperbrowser', '/api/sessions', 'x-api-key'],
  ])(
    'logs an internal error of a %s handler with its stack, its cause and the HTTP code',
    async (_, path, header) => {
      lines.length = 0;
      const res = await fetch(`${baseUrl}${path}?token=${TOKEN}`, {
        headers: { [header]: API_KEY, 'x-request-id': 'req-1', authorization: `Bearer ${TOKEN}` },
      });
      expect(res.status).toBe(500);
      expect(await res.json()).toMatchObject({ code: 'INTERNAL', message: 'internal error' });

      const failed = parsed().find((l) => l['msg'] === 'request failed');
      expect(failed).toMatchObject({
        level: 'error',
        component: 'gateway',
        requestId: 'req-1',
        method: 'GET',
      });
      const err = failed?.['err'] as { message: string; stack: string; cause: Record<string, unknown> };
      expect(err.message).toBe('reading API key Secrets failed');
      expect(err.stack).toMatch(/^Error: reading API key Secrets failed\n\s+at .*app\.test\.ts:\d+/);
      expect(err.cause).toMatchObject({
        type: 'KubeApiError',
        message: 'secrets is forbidden',
        code: 403,
        reason: 'Forbidden',
      });
      expect(String(err.cause['stack'])).toMatch(/\n\s+at .*app\.test\.ts:\d+/);

      // At debug level the request itself is logged, headers and URL included, without the credentials.
      const served = parsed().find((l) => l['msg'] === 'request served');
      expect(served).toMatchObject({
        status: 500,
        url: `${path}?token=[REDACTED]`,
        headers: { [header]: '[REDACTED]', authorization: '[REDACTED]' },
      });
      const all = lines.join('');
      expect(all).not.toContain(API_KEY);
      expect(all).not.toContain(TOKEN);
    },
  );

  // An API server restart: what the lookup got is the API server's 503, or no connection at all.
  it.each([
    [
      'a 503 of the API server',
      () =>
        new KubeApiError(503, 'ServiceUnavailable', 'the server is currently unable to handle the request', {
          kind: 'Status',
          code: 503,
        }),
    ],
    [
      'a refused connection',
      () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }),
    ],
  ])('answers %s under a lookup with 503 and retry-after, in both dialects', async (_, cause) => {
    failure = () => new Error('reading API key Secrets failed', { cause: cause() });
    try {
      for (const [path, header] of [
        ['/v1/sessions', 'x-bb-api-key'],
        ['/api/sessions', 'x-api-key'],
      ] as const) {
        lines.length = 0;
        const res = await fetch(`${baseUrl}${path}`, { headers: { [header]: API_KEY } });
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toBe('1');
        expect(res.headers.get('x-should-retry')).toBeNull();
        expect(await res.json()).toMatchObject({ code: 'API_UNAVAILABLE', statusCode: 503 });
        expect(parsed().find((l) => String(l['msg']).startsWith('request failed'))).toMatchObject({
          level: 'warn',
          msg: 'request failed: the cluster API is unavailable',
        });
      }
    } finally {
      failure = forbidden;
    }
  });
});
