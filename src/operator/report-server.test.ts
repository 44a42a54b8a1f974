import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient } from '../shared/kube/client.js';
import { createLogger } from '../shared/log.js';
import { createOperatorMetrics } from './metrics.js';
import { createReportApp } from './report-server.js';

// A body is checked before anything is read from the API server, so no client is needed: any call fails.
const noClient = new Proxy({} as KubeClient, {
  get: () => () => Promise.reject(new Error('the report endpoint called the API server')),
});

describe('POST /v1/report with a bad body', () => {
  let url = '';
  let close = () => {};
  beforeAll(async () => {
    const app = createReportApp({
      client: noClient,
      sessionKey: 'k'.repeat(32),
      metrics: createOperatorMetrics(),
      log: createLogger({ component: 'test' }),
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/report`;
    close = () => server.close();
  });
  afterAll(() => close());

  it.each([
    [{ namespace: 'a', name: 'b', uid: 'c', bootId: 'd', seq: 'one', connections: 0, pages: 0 }, 'seq: '],
    [{ namespace: 'a', name: 'b', uid: 'c', bootId: 'd', seq: 1, connections: 0 }, 'pages: '],
  ])('answers 400 naming the field: %j', async (body, field) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer x' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(new RegExp(`^${field}`));
  });
});
