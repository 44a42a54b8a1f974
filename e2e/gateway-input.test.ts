import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { BB_BROWSER_SETTINGS_FIELDS, BB_CREATE_FIELDS } from '../src/gateway/compat/browserbase.js';
import { HB_CREATE_FIELDS } from '../src/gateway/compat/hyperbrowser.js';
import { deeplyNestedJson, fuzzParams } from '../src/testing/fuzz.js';
import { type GatewayStack, startGatewayStack } from './gateway-harness.js';

// Hostile input against the gateway's REST dialects and its CDP connect, with a real API server and operator:
// every answer is a 2xx, or a 4xx in the dialect's error shape naming the field or the problem; never a 5xx,
// a crash or a hang. Browser pods are kept off every node (sessions stay Starting); the project admits two
// sessions and queues one, so fuzzed creates get 429 after a few instead of piling up.

let g: GatewayStack;
let startingId = '';

beforeAll(async () => {
  g = await startGatewayStack({
    prefix: 'gwinput',
    pods: 'none',
    project: { concurrency: 2, maxQueued: 1, maxTimeout: 3600 },
    gateway: { createWaitMs: 300, releaseWaitMs: 300, connectWaitMs: 300 },
  });
  const created = await send('POST', '/v1/sessions', { json: { keepAlive: true } });
  expect(created.status).toBe(201);
  startingId = (created.body as { id: string }).id;
});

afterAll(async () => {
  await g?.stop();
});

interface Answer {
  status: number;
  contentType: string;
  body: unknown;
}

interface SendOptions {
  headers?: Record<string, string>;
  json?: unknown;
  body?: string | Uint8Array;
  apiKey?: string | null;
}

/** One request, bounded in time: an answer that takes longer than 15 s is a hang, whatever the cause. */
async function send(method: string, path: string, o: SendOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...o.headers };
  const apiKey = o.apiKey === undefined ? g.apiKey : o.apiKey;
  if (apiKey !== null) headers[path.startsWith('/api') ? 'x-api-key' : 'x-bb-api-key'] = apiKey;
  let body = o.body;
  if (o.json !== undefined) {
    body = JSON.stringify(o.json);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${g.baseUrl}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: kept as text for the assertion to show
  }
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: parsed };
}

/** The error shape both SDKs parse, with a message that says what was wrong. */
function expectErrorShape(a: Answer, method: string): void {
  if (method === 'HEAD') return;
  expect(a.contentType).toMatch(/^application\/json/);
  const body = a.body as { statusCode?: unknown; message?: unknown; code?: unknown; error?: unknown };
  expect(body.statusCode).toBe(a.status);
  expect(typeof body.code).toBe('string');
  expect(typeof body.error).toBe('string');
  expect(typeof body.message).toBe('string');
  expect((body.message as string).length).toBeGreaterThan(0);
}

function message(a: Answer): string {
  return (a.body as { message?: string }).message ?? '';
}

async function sessionCount(): Promise<number> {
  const list = await send('GET', '/v1/sessions');
  return (list.body as unknown[]).length;
}

describe('issue 18 regressions', () => {
  it.each([
    ['GET', '/v1/sessions/%ZZ'],
    ['GET', '/v1/sessions/%E0%A4%A/debug'],
    ['POST', '/v1/sessions/%ZZ'],
    ['GET', '/api/session/%ZZ'],
    ['PUT', '/api/session/%ZZ/stop'],
    ['GET', '/live/%ZZ'],
  ])('%s %s (a malformed percent-escape) is a 400, not a 500', async (method, path) => {
    const a = await send(method, path, method === 'GET' ? {} : { json: { status: 'REQUEST_RELEASE' } });
    expect(a.status).toBe(400);
    expectErrorShape(a, method);
    expect(a.body).toMatchObject({ code: 'INVALID_REQUEST' });
    expect(message(a)).toMatch(/^path: .*malformed percent-escape/);
  });

  it('a body that says content-encoding gzip but is not gzip is a 400, not a 500', async () => {
    const a = await send('POST', '/v1/sessions', {
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: '{"timeout":600}',
    });
    expect(a.status).toBe(400);
    expect(message(a)).toBe('body: not encoded as its content-encoding header says');
  });

  it('a real gzip body is read', async () => {
    const a = await send('POST', '/v1/sessions', {
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync('{"timeout":59}'),
    });
    expect(a.status).toBe(400);
    expect(message(a)).toMatch(/^timeout: must be an integer from 60 to 3600, got 59/);
  });

  it('userMetadata nested 5,000 levels deep (30 KB) is a 400 naming userMetadata, not a 500', async () => {
    const body = `{"userMetadata":${deeplyNestedJson(5000)}}`;
    expect(body.length).toBeGreaterThan(30_000);
    const a = await send('POST', '/v1/sessions', { headers: { 'content-type': 'application/json' }, body });
    expect(a.status).toBe(400);
    expect(message(a)).toMatch(/^userMetadata: nested more than 256 levels deep/);
  });

  it.each([
    ['text/plain', 'text/plain'],
    ['form-encoded', 'application/x-www-form-urlencoded'],
    ['no content type', undefined],
  ])('a JSON body sent as %s is refused with 415, and no session is created', async (_what, type) => {
    const before = await sessionCount();
    for (const [path, json] of [
      ['/v1/sessions', { timeout: 600 }],
      ['/api/session', { timeoutMinutes: 10 }],
    ] as const) {
      const a = await send('POST', path, {
        ...(type ? { headers: { 'content-type': type } } : {}),
        body: new TextEncoder().encode(JSON.stringify(json)),
      });
      expect(a.status).toBe(415);
      expectErrorShape(a, 'POST');
      expect(a.body).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
      expect(message(a)).toBe(
        `content-type: a request body must be application/json, got ${type ? JSON.stringify(type) : 'none'}`,
      );
    }
    expect(await sessionCount()).toBe(before);
  });

  it('misspelled fields are refused by name instead of dropped', async () => {
    const bb = await send('POST', '/v1/sessions', { json: { keepalive: true } });
    expect(bb.status).toBe(400);
    expect(message(bb)).toBe('unknown field "keepalive" (did you mean "keepAlive"?)');
    const hb = await send('POST', '/api/session', { json: { timeoutMinute: 10 } });
    expect(hb.status).toBe(400);
    expect(message(hb)).toBe('unknown field "timeoutMinute" (did you mean "timeoutMinutes"?)');
  });
});

const MALFORMED = ['%ZZ', '%E0%A4%A', '%', '%%', '%C0%AF', '%00', '%2F..%2F', '..', '%FF%FE'];
const ids = () =>
  fc.oneof(
    fc.constant(startingId),
    fc.uuid(),
    fc.constantFrom(...MALFORMED),
    fc.string({ maxLength: 40 }).map(encodeURIComponent),
    fc
      .string({ unit: 'binary', maxLength: 20 })
      .map((s) => encodeURI(s.replace(/[\uD800-\uDFFF]/g, '')).replaceAll('#', '%23')),
  );
const value = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(null, true, 0, -1, 60, 600, 21601, 1e308, '', 'none', 'us-west-2', 'REQUEST_RELEASE'),
);
const shaped = (keys: readonly string[]) =>
  fc.dictionary(
    fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...keys) }, fc.string({ maxLength: 10 })),
    value,
    {
      maxKeys: 5,
    },
  );
const query = fc
  .array(
    fc.tuple(
      fc.constantFrom('status', 'q', 'expiresIn', 'liveViewTtlSeconds', 'page', 'limit', 'x', '%ZZ'),
      fc.oneof(
        fc.string({ maxLength: 20 }),
        fc.constantFrom('RUNNING', 'active', "user_metadata['a']:'b'", '0', '-1', '%ZZ'),
      ),
    ),
    { maxLength: 3 },
  )
  .map((pairs) =>
    pairs.length ? `?${pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}` : '',
  );

const route = fc.oneof(
  ids().map((id) => ['GET', `/v1/sessions/${id}`]),
  ids().map((id) => ['POST', `/v1/sessions/${id}`]),
  ids().map((id) => ['GET', `/v1/sessions/${id}/debug`]),
  fc.constant(['POST', '/v1/sessions']),
  fc.constant(['GET', '/v1/sessions']),
  fc.constant(['POST', '/api/session']),
  ids().map((id) => ['GET', `/api/session/${id}`]),
  ids().map((id) => ['PUT', `/api/session/${id}/stop`]),
  fc.constant(['GET', '/api/sessions']),
  fc.constant(['GET', '/api/sessions/active-count']),
  ids().map((id) => ['GET', `/live/${id}`]),
  fc.constantFrom(
    ['GET', '/json/version'],
    ['GET', '/json/list'],
    ['GET', '/'],
    ['GET', '/api/api/sessions'],
  ),
  fc.string({ maxLength: 30 }).map((p) => ['GET', `/${encodeURI(p.replace(/[\uD800-\uDFFF]/g, ''))}`]),
);

const request = fc.record({
  route,
  method: fc.option(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'), { freq: 4 }),
  query,
  key: fc.constantFrom('valid', 'valid', 'valid', 'other', 'invalid', 'missing'),
  contentType: fc.constantFrom(
    'application/json',
    'application/json',
    'application/json; charset=utf-8',
    'application/json; charset=utf-16',
    'application/merge-patch+json',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'garbage',
    undefined,
  ),
  encoding: fc.constantFrom(
    undefined,
    undefined,
    undefined,
    'gzip',
    'gzip-bogus',
    'deflate',
    'br',
    'identity',
    'x-zip',
  ),
  body: fc.option(
    fc.oneof(
      shaped(BB_CREATE_FIELDS).map((v) => JSON.stringify(v)),
      fc
        .record(
          { browserSettings: shaped(BB_BROWSER_SETTINGS_FIELDS), keepAlive: fc.boolean() },
          { requiredKeys: [] },
        )
        .map((v) => JSON.stringify(v)),
      shaped(HB_CREATE_FIELDS).map((v) => JSON.stringify(v)),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.integer({ min: 100, max: 10_000 }).map((d) => `{"userMetadata":${deeplyNestedJson(d)}}`),
      fc.integer({ min: 100, max: 30_000 }).map((d) => `${'['.repeat(d)}${']'.repeat(d)}`),
      fc.string({ maxLength: 100 }),
      fc.constant(`{"userMetadata":"${'x'.repeat(70 * 1024)}"}`),
    ),
    { freq: 3 },
  ),
});

describe('REST dialects under fuzzing (fixed seed; BF_FUZZ_SEED / BF_FUZZ_RUNS)', () => {
  it('answers every request with a 2xx or a 4xx in the error shape, in bounded time', async () => {
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const [routeMethod, path] = r.route as [string, string];
        const method = r.method ?? routeMethod;
        const headers: Record<string, string> = {};
        if (r.contentType && r.body !== null) headers['content-type'] = r.contentType;
        let body: string | Uint8Array | undefined =
          r.body === null || method === 'GET' || method === 'HEAD'
            ? undefined
            : new TextEncoder().encode(r.body);
        if (body !== undefined && r.encoding) {
          headers['content-encoding'] = r.encoding === 'gzip-bogus' ? 'gzip' : r.encoding;
          if (r.encoding === 'gzip') body = gzipSync(body);
        }
        const apiKey =
          r.key === 'valid'
            ? g.apiKey
            : r.key === 'other'
              ? g.otherApiKey
              : r.key === 'invalid'
                ? 'bf_nope'
                : null;
        const a = await send(method, `${path}${r.query}`, { headers, apiKey, ...(body ? { body } : {}) });
        expect(
          a.status,
          `${method} ${path}${r.query} answered ${a.status}: ${JSON.stringify(a.body)}`,
        ).toBeLessThan(500);
        expect(a.status).toBeGreaterThanOrEqual(200);
        if (a.status >= 400) expectErrorShape(a, method);
      }),
      fuzzParams('gateway REST', 400),
    );
    // Still up, and still serving.
    expect((await send('GET', '/v1/sessions')).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${g.gateway.metricsPort}/healthz`)).status).toBe(200);
  });
});

/** A websocket upgrade's outcome: the HTTP status it was refused with, or 101 when it opened. */
function connect(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, handshakeTimeout: 15_000 });
    ws.once('open', () => {
      ws.terminate();
      resolve({ status: 101, body: '' });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString('utf8');
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', (err) => reject(err));
  });
}

describe('CDP connect URL under fuzzing (fixed seed; BF_FUZZ_SEED / BF_FUZZ_RUNS)', () => {
  it('refuses every bad path and credential with a 4xx in the error shape', async () => {
    const credential = fc.oneof(
      fc.string({ maxLength: 60 }).map((s) => `signingKey=${encodeURIComponent(s)}`),
      fc.string({ maxLength: 60 }).map((s) => `token=${encodeURIComponent(s)}`),
      fc.constantFrom(
        'signingKey=',
        'token=%ZZ',
        'signingKey=ZGVmYXVsdC9zLTE.0123456789abcdefghijklmnopqrstuv',
      ),
      // A valid key with an id that is not a session of its project; without any id it would create one.
      ids()
        .filter((id) => id !== startingId)
        .map((id) => `apiKey=${encodeURIComponent(g.apiKey)}&sessionId=${id}`),
      fc.string({ maxLength: 30 }).map((s) => `apiKey=${encodeURIComponent(s)}`),
      fc.constant(''),
    );
    const path = fc.oneof(
      fc.constantFrom(
        '/',
        '/devtools/browser',
        '/devtools/page/ABC',
        '/devtools/page/%ZZ',
        '/v1/sessions',
        '/live/x/ws',
      ),
      // A fragment is no part of what a client sends.
      fc
        .string({ maxLength: 20 })
        .map((p) => `/${encodeURI(p.replace(/[\uD800-\uDFFF]/g, '')).replaceAll('#', '%23')}`),
      ids().map((id) => `/live/${id}/ws`),
    );
    const extra = fc.constantFrom('', '&keepAlive=true', '&keepAlive=%ZZ', '&sessionId=');
    await fc.assert(
      fc.asyncProperty(path, credential, extra, fc.boolean(), async (p, cred, more, bearer) => {
        const headers: Record<string, string> = bearer ? { authorization: 'Bearer not-a-token' } : {};
        const url = `ws://127.0.0.1:${g.gateway.port}${p}?${cred}${more}`;
        const a = await connect(url, headers);
        expect(a.status, `${url} answered ${a.status}: ${a.body}`).toBeGreaterThanOrEqual(400);
        expect(a.status).toBeLessThan(500);
        const body = JSON.parse(a.body) as { statusCode: number; message: string; code: string };
        expect(body.statusCode).toBe(a.status);
        expect(body.message.length).toBeGreaterThan(0);
      }),
      fuzzParams('CDP connect', 200),
    );
  });
});
