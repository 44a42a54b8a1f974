import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient } from '../shared/kube/client.js';
import { createLogger } from '../shared/log.js';
import { fuzzParams } from '../testing/fuzz.js';
import { createOperatorMetrics } from './metrics.js';
import { createReportApp } from './report-server.js';

// The report endpoint under hostile input: whatever arrives, the answer is a 4xx with a message, never a 5xx,
// a crash or a hang. Every generated credential is wrong, so the API server is never reached: any call fails.
const noClient = new Proxy({} as KubeClient, {
  get: () => () => Promise.reject(new Error('the report endpoint called the API server')),
});

let url = '';
let close = () => {};
beforeAll(async () => {
  const app = createReportApp({
    client: noClient,
    sessionKey: 'k'.repeat(32),
    metrics: createOperatorMetrics(),
    log: createLogger({ component: 'test' }, { level: 'silent' }),
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => server.close();
});
afterAll(() => close());

async function post(path: string, init: RequestInit): Promise<{ status: number; message: unknown }> {
  const res = await fetch(`${url}${path}`, { method: 'POST', signal: AbortSignal.timeout(5000), ...init });
  const text = await res.text();
  let message: unknown;
  try {
    message = (JSON.parse(text) as { message?: unknown }).message;
  } catch {
    message = undefined;
  }
  return { status: res.status, message };
}

const report = fc.record(
  {
    namespace: fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 1 })),
    name: fc.string(),
    uid: fc.string(),
    bootId: fc.string(),
    seq: fc.oneof(fc.integer(), fc.double(), fc.string()),
    connections: fc.oneof(fc.nat(), fc.integer({ min: -5, max: -1 })),
    pages: fc.nat(),
    keepAliveRequested: fc.jsonValue({ maxDepth: 1 }),
    lastConnectedAt: fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.string(),
    ),
    chromeReachable: fc.boolean(),
  },
  { requiredKeys: [] },
);

describe('POST /v1/report under fuzzing (fixed seed; BF_FUZZ_SEED / BF_FUZZ_RUNS)', () => {
  it('answers every body, header and encoding with a 4xx and a message', async () => {
    const request = fc.record({
      body: fc.oneof(
        report.map((r) => JSON.stringify(r)),
        fc.jsonValue().map((v) => JSON.stringify(v)),
        fc.string({ maxLength: 200 }),
        fc.integer({ min: 1, max: 20_000 }).map((d) => `${'['.repeat(d)}${']'.repeat(d)}`),
        fc.integer({ min: 8000, max: 20_000 }).map((n) => `"${'x'.repeat(n)}"`),
      ),
      contentType: fc.constantFrom(
        'application/json',
        'application/json; charset=latin1',
        'text/plain',
        undefined,
      ),
      encoding: fc.constantFrom(undefined, 'gzip', 'gzip-bogus', 'deflate', 'br', 'compress'),
      authorization: fc.oneof(
        fc.constant(undefined),
        fc.string().map((s) => `Bearer ${s}`),
        fc.string(),
      ),
    });
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const headers: Record<string, string> = {};
        if (r.contentType) headers['content-type'] = r.contentType;
        if (r.authorization !== undefined)
          headers['authorization'] = r.authorization.replace(/[^\x20-\x7e]/g, '');
        let body: string | Uint8Array = r.body;
        if (r.encoding === 'gzip') {
          headers['content-encoding'] = 'gzip';
          body = gzipSync(r.body);
        } else if (r.encoding === 'gzip-bogus') headers['content-encoding'] = 'gzip';
        else if (r.encoding) headers['content-encoding'] = r.encoding;
        const res = await post('/v1/report', { headers, body });
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(typeof res.message).toBe('string');
      }),
      fuzzParams('POST /v1/report', 200),
    );
  });

  it.each([
    ['a body over the 8 KB limit', { 'content-type': 'application/json' }, `"${'x'.repeat(9000)}"`, 413],
    [
      'a body that is not the gzip it says',
      { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      '{}',
      400,
    ],
    [
      'an encoding nobody supports',
      { 'content-type': 'application/json', 'content-encoding': 'compress' },
      '{}',
      415,
    ],
  ])('%s is a 4xx, not a 500', async (_what, headers, body, status) => {
    const res = await post('/v1/report', { headers, body });
    expect(res.status).toBe(status);
    expect(typeof res.message).toBe('string');
  });
});
