import Browserbase from '@browserbasehq/sdk';
import { Hyperbrowser, HyperbrowserError } from '@hyperbrowser/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../src/gateway/gateway.js';
import { freePorts } from '../src/localcluster/control-plane.js';
import { createLogger } from '../src/shared/log.js';
import { waitFor } from '../src/testing/wait.js';
import { type GatewayStack, startGatewayStack } from './gateway-harness.js';

// The REST surfaces through the official SDKs, against a real API server and a real operator. Browser pods are
// kept off every node here (a node selector nothing has), so sessions stay Starting: these tests are about what
// the SDKs send and read, not about Chrome (gateway-cdp.test.ts covers that).

let g: GatewayStack;

beforeAll(async () => {
  g = await startGatewayStack({
    prefix: 'gwrest',
    pods: 'none',
    project: { concurrency: 20, maxQueued: 0, maxTimeout: 3600 },
    gateway: { createWaitMs: 1000 },
  });
});

afterAll(async () => {
  await g?.stop();
});

const bb = (apiKey = g.apiKey) => new Browserbase({ apiKey, baseURL: g.baseUrl });
const hb = (apiKey = g.apiKey) => new Hyperbrowser({ apiKey, baseUrl: g.baseUrl });

/** What an SDK threw, for asserting on what it surfaces. */
async function rejection(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected the call to fail');
}

/** Requests the gateway answered, by route pattern, method and status (from its own metrics). */
async function answered(route: string, method: string, status: number): Promise<number> {
  const metric = await g.gateway.metrics.requests.get();
  return (
    metric.values.find(
      (v) =>
        v.labels['route'] === route && v.labels['method'] === method && v.labels['status'] === String(status),
    )?.value ?? 0
  );
}

describe('Browserbase SDK against the gateway', () => {
  it('creates a session with every field the SDK type requires, infers the project, retrieves and releases it', async () => {
    const started = Date.now();
    const { data: created, response } = await bb()
      .sessions.create({
        api_timeout: 600,
        keepAlive: true,
        userMetadata: { suite: 'rest', run: { id: 'r1' } },
        browserSettings: { viewport: { width: 1024, height: 768 } },
      })
      .withResponse();
    console.log(`Browserbase create answered in ${Date.now() - started} ms with status ${created.status}`);
    expect(response.status).toBe(201);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('x-request-id')).toBeTruthy();
    expect(created).toMatchObject({
      projectId: g.project,
      keepAlive: true,
      status: 'PENDING',
      proxyBytes: 0,
      region: 'us-west-2',
      userMetadata: { suite: 'rest', run: { id: 'r1' } },
      signingKey: expect.any(String),
      seleniumRemoteUrl: `${g.baseUrl}/webdriver`,
    });
    expect(created.connectUrl).toBe(`ws://127.0.0.1:${g.gateway.port}/?signingKey=${created.signingKey}`);
    for (const field of ['id', 'createdAt', 'updatedAt', 'startedAt', 'expiresAt'] as const)
      expect(created[field]).toBeTruthy();
    expect(Date.parse(created.expiresAt) - Date.parse(created.startedAt)).toBeGreaterThanOrEqual(590_000);

    const spec = (await g.getSession(created.id)).spec;
    expect(spec).toMatchObject({
      project: g.project,
      timeout: 600,
      keepAlive: true,
      browser: { width: 1024, height: 768 },
    });

    const retrieved = await bb().sessions.retrieve(created.id);
    expect(retrieved).toMatchObject({ id: created.id, status: 'PENDING', connectUrl: created.connectUrl });

    const released = await bb().sessions.update(created.id, { status: 'REQUEST_RELEASE' });
    expect(released.status).toBe('COMPLETED');
    expect(released.endedAt).toBeTruthy();
    expect((await bb().sessions.retrieve(created.id)).status).toBe('COMPLETED');
    // Releasing again is harmless.
    expect((await bb().sessions.update(created.id, { status: 'REQUEST_RELEASE' })).status).toBe('COMPLETED');
  });

  it('releases with the older form on POST /v1/sessions ({sessionId, status})', async () => {
    const created = await bb().sessions.create({});
    const res = await fetch(`${g.baseUrl}/v1/sessions`, {
      method: 'POST',
      headers: { 'x-bb-api-key': g.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ sessionId: created.id, status: 'REQUEST_RELEASE' }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe('COMPLETED');
  });

  it('lists by status and by the user_metadata query language', async () => {
    const tag = `t${Date.now()}`;
    const a = await bb().sessions.create({ userMetadata: { tag, run: { kind: 'smoke' } } });
    const b = await bb().sessions.create({ userMetadata: { tag, run: { kind: 'full' } } });
    const c = await bb().sessions.create({ userMetadata: { tag, run: { kind: 'smoke', n: 1 } } });
    await bb().sessions.update(c.id, { status: 'REQUEST_RELEASE' });
    const other = await bb(g.otherApiKey).sessions.create({ userMetadata: { tag, run: { kind: 'smoke' } } });

    const ids = (list: { id: string }[]) => list.map((s) => s.id).sort();
    expect(ids(await bb().sessions.list({ q: `user_metadata['tag']:'${tag}'` }))).toEqual(
      [a.id, b.id, c.id].sort(),
    );
    expect(
      ids(
        await bb().sessions.list({
          q: `user_metadata['tag']:'${tag}' AND user_metadata['run']['kind']:'smoke'`,
        }),
      ),
    ).toEqual([a.id, c.id].sort());
    expect(
      ids(await bb().sessions.list({ q: `user_metadata['tag']:'${tag}'`, status: 'COMPLETED' })),
    ).toEqual([c.id]);
    expect(ids(await bb().sessions.list({ q: `user_metadata['tag']:'${tag}'`, status: 'PENDING' }))).toEqual(
      [a.id, b.id].sort(),
    );
    // Only strings compare equal, as Browserbase documents.
    expect(await bb().sessions.list({ q: `user_metadata['run']['n']:'1'` })).toEqual([]);
    // Another project's sessions never show.
    expect(ids(await bb(g.otherApiKey).sessions.list({ q: `user_metadata['tag']:'${tag}'` }))).toEqual([
      other.id,
    ]);

    const bad = await rejection(bb().sessions.list({ q: `user_metadata['tag'] '${tag}'` }));
    expect(bad).toBeInstanceOf(Browserbase.BadRequestError);
    expect(bad.message).toBe("400 q: expected ':', found ''' at position 21");
    const badStatus = await rejection(bb().sessions.list({ status: 'running' as never }));
    expect(badStatus.message).toBe(
      '400 status: must be one of PENDING, RUNNING, ERROR, TIMED_OUT, COMPLETED, got "running"',
    );
  });

  it('answers a bad or missing key with 401, and another project’s session with the same 404 as a missing one', async () => {
    const wrong = await rejection(bb('not-a-key').sessions.list());
    expect(wrong).toBeInstanceOf(Browserbase.AuthenticationError);
    expect(wrong.message).toBe('401 invalid API key');

    const missing = await fetch(`${g.baseUrl}/v1/sessions`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await missing.json()).toEqual({
      statusCode: 401,
      error: 'Unauthorized',
      message: 'missing API key: send it in the X-BB-API-Key header',
      code: 'UNAUTHORIZED',
    });

    const foreign = await bb(g.otherApiKey).sessions.create({});
    const notMine = await rejection(bb().sessions.retrieve(foreign.id));
    const absent = await rejection(bb().sessions.retrieve('00000000-0000-4000-8000-000000000000'));
    expect(notMine).toBeInstanceOf(Browserbase.NotFoundError);
    expect(notMine.message).toBe(`404 session ${foreign.id} not found`);
    expect(absent.message).toBe('404 session 00000000-0000-4000-8000-000000000000 not found');
    const releaseForeign = await rejection(bb().sessions.update(foreign.id, { status: 'REQUEST_RELEASE' }));
    expect(releaseForeign['status']).toBe(404);
    expect((await g.getSession(foreign.id)).spec.release).not.toBe(true);
  });

  it('names the field of a bad create, and refuses what it does not support', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ api_timeout: 30 }, '400 timeout: must be an integer from 60 to 3600, got 30'],
      [{ api_timeout: 7200 }, '400 timeout: must be an integer from 60 to 3600, got 7200'],
      [
        { projectId: 'someone-else' },
        `400 projectId: this API key belongs to project "${g.project}", not "someone-else"`,
      ],
      [
        { browserSettings: { viewport: { width: 'wide' } } },
        '400 browserSettings.viewport.width: must be an integer from 320 to 7680, got "wide"',
      ],
      [
        { userMetadata: { big: 'x'.repeat(600) } },
        '400 userMetadata: 610 characters serialized, at most 512',
      ],
      [{ proxies: true }, '400 proxies: proxies are not supported by browserfleet'],
    ];
    for (const [body, message] of cases) {
      const err = await rejection(bb().sessions.create(body as never));
      expect(err).toBeInstanceOf(Browserbase.BadRequestError);
      expect(err.message).toBe(message);
    }
  });

  it('answers an oversized body with 413', async () => {
    const err = await rejection(bb().sessions.create({ userMetadata: { blob: 'x'.repeat(100_000) } }));
    expect(err['status']).toBe(413);
    expect(err.message).toBe('413 body: larger than the limit of 65536 bytes');
    const hbErr = (await rejection(
      hb().sessions.create({ locales: ['x'.repeat(100_000)] as never }),
    )) as unknown as HyperbrowserError;
    expect(hbErr.statusCode).toBe(413);
  });

  it('carries the rate-limit headers on every answer', async () => {
    const { response } = await bb().sessions.list().withResponse();
    expect(Number(response.headers.get('x-ratelimit-limit'))).toBe(20);
    expect(Number(response.headers.get('x-ratelimit-remaining'))).toBeGreaterThan(0);
    expect(response.headers.get('x-ratelimit-reset')).toMatch(/^\d+$/);
    const unknown = await fetch(`${g.baseUrl}/v1/no-such-thing`, { headers: { 'x-bb-api-key': g.apiKey } });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('x-ratelimit-limit')).toBe('20');
    expect(unknown.headers.get('content-type')).toMatch(/^application\/json/);
    const unauthenticated = await fetch(`${g.baseUrl}/api/sessions`);
    expect(unauthenticated.headers.get('x-ratelimit-remaining')).toBe('0');
  });

  it('answers a WebDriver command without the session header at seleniumRemoteUrl with a 401 in WebDriver shape', async () => {
    const { seleniumRemoteUrl } = await bb().sessions.create({});
    const res = await fetch(`${seleniumRemoteUrl}/session`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(401);
    const body = (await res.json()) as { value: { error: string; message: string } };
    expect(body.value.message).toMatch(/x-bb-signing-key/);
  });
});

describe('Hyperbrowser SDK against the gateway', () => {
  it('creates a session whose wsEndpoint takes &keepAlive=true, gets it, lists it, stops it (idempotent)', async () => {
    const started = Date.now();
    const created = await hb().sessions.create({
      timeoutMinutes: 15,
      screen: { width: 1280, height: 720 },
      acceptCookies: true,
    });
    console.log(`Hyperbrowser create answered in ${Date.now() - started} ms with status ${created.status}`);
    expect(created).toMatchObject({
      teamId: g.project,
      status: 'active',
      token: expect.any(String),
      creditsUsed: null,
    });
    expect(created.wsEndpoint).toBe(`ws://127.0.0.1:${g.gateway.port}/?token=${created.token}`);
    expect(new URL(`${created.wsEndpoint}&keepAlive=true`).searchParams.get('keepAlive')).toBe('true');
    expect(created.liveUrl).toMatch(new RegExp(`^${g.baseUrl}/live/${created.id}\\?token=`));
    expect((await g.getSession(created.id)).spec).toMatchObject({
      timeout: 900,
      keepAlive: false,
      browser: { width: 1280, height: 720 },
    });

    const got = await hb().sessions.get(created.id);
    expect(got).toMatchObject({ id: created.id, status: 'active', wsEndpoint: created.wsEndpoint });
    expect(typeof got.createdAt).toBe('string');

    expect(await hb().sessions.stop(created.id)).toEqual({ success: true });
    expect(await hb().sessions.stop(created.id)).toEqual({ success: true });
    const stopped = await hb().sessions.get(created.id);
    expect(stopped.status).toBe('closed');
    expect(typeof stopped.endTime).toBe('number');
  });

  it('takes an empty create body and lists with status, page and limit', async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await hb().sessions.create()).id);
    const page1 = await hb().sessions.list({ status: 'active', page: 1, limit: 2 });
    expect(page1.page).toBe(1);
    expect(page1.perPage).toBe(2);
    expect(page1.sessions).toHaveLength(2);
    expect(page1.totalCount).toBeGreaterThanOrEqual(3);
    const all = await hb().sessions.list({ status: 'active', limit: 100 });
    expect(all.sessions.map((s) => s.id)).toEqual(expect.arrayContaining(ids));
    expect(all.sessions.every((s) => s.status === 'active')).toBe(true);
    // Newest first.
    expect(all.sessions.map((s) => s.id).slice(0, 3)).toEqual([...ids].reverse());
    // A closed one of our own, so that the closed list cannot pass by being empty.
    const [stoppedId] = ids;
    expect(await hb().sessions.stop(stoppedId ?? '')).toEqual({ success: true });
    const closed = await waitFor('the stopped session in the closed list', async () => {
      const list = await hb().sessions.list({ status: 'closed', limit: 100 });
      return list.sessions.some((s) => s.id === stoppedId) ? list : undefined;
    });
    expect(closed.sessions.every((s) => s.status === 'closed')).toBe(true);
    const active = await hb().sessions.list({ status: 'active', limit: 100 });
    expect(active.sessions.map((s) => s.id)).not.toContain(stoppedId);
    const err = (await rejection(hb().sessions.list({ limit: 1000 }))) as unknown as HyperbrowserError;
    expect(err.message).toBe('[Hyperbrowser]: limit: must be an integer from 1 to 100, got "1000"');
  });

  it('surfaces errors with status, code and request id', async () => {
    const wrong = (await rejection(hb('nope').sessions.list())) as unknown as HyperbrowserError;
    expect(wrong).toBeInstanceOf(HyperbrowserError);
    expect(wrong.statusCode).toBe(401);
    expect(wrong.message).toBe('[Hyperbrowser]: invalid API key');
    expect(wrong.code).toBe('UNAUTHORIZED');
    expect(wrong.requestId).toMatch(/^[0-9a-f-]{36}$/);

    const foreign = await hb(g.otherApiKey).sessions.create();
    const notMine = (await rejection(hb().sessions.get(foreign.id))) as unknown as HyperbrowserError;
    expect(notMine.statusCode).toBe(404);
    expect(notMine.message).toBe(`[Hyperbrowser]: session ${foreign.id} not found`);
    const stopForeign = (await rejection(hb().sessions.stop(foreign.id))) as unknown as HyperbrowserError;
    expect(stopForeign.statusCode).toBe(404);

    const bad = (await rejection(
      hb().sessions.create({ timeoutMinutes: 0 }),
    )) as unknown as HyperbrowserError;
    expect(bad.statusCode).toBe(400);
    expect(bad.code).toBe('INVALID_REQUEST');
    expect(bad.message).toBe('[Hyperbrowser]: timeoutMinutes: must be an integer from 1 to 60, got 0');
  });

  it('forgives a trailing slash or /api in the base URL', async () => {
    const created = await new Hyperbrowser({ apiKey: g.apiKey, baseUrl: `${g.baseUrl}/` }).sessions.create();
    expect(
      (await new Hyperbrowser({ apiKey: g.apiKey, baseUrl: `${g.baseUrl}/api` }).sessions.get(created.id)).id,
    ).toBe(created.id);
  });
});

describe('keys and metrics', () => {
  it('picks up a key added to the project’s Secret within moments', async () => {
    const { project } = await g.addProject({});
    const secret = `${project}-api-key`;
    const rotated = `bf_rotated_${Date.now()}`;
    await g.stack.client.mergePatch(`/api/v1/namespaces/${g.stack.namespace}/secrets/${secret}`, {
      data: { apiKey: Buffer.from(rotated).toString('base64') },
    });
    const created = await waitFor('the new key to work', () =>
      bb(rotated)
        .sessions.create({})
        .catch(() => undefined),
    );
    expect(created.projectId).toBe(project);
  });

  it('serves Prometheus metrics on its own port, with route patterns (never session ids) as labels', async () => {
    const text = await (await fetch(`http://127.0.0.1:${g.gateway.metricsPort}/metrics`)).text();
    expect(text).toContain(
      'browserfleet_gateway_http_requests_total{route="/v1/sessions",method="POST",status="201"}',
    );
    expect(text).toContain('browserfleet_gateway_session_create_seconds_bucket');
    expect(text).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-/);
    expect((await fetch(`http://127.0.0.1:${g.gateway.metricsPort}/readyz`)).status).toBe(200);
  });
});

describe('429 when the project is full, without a retry storm', () => {
  it('refuses a create past concurrency with no queue room; the Browserbase SDK does not retry it', async () => {
    const { project, apiKey } = await g.addProject({ concurrency: 1, maxQueued: 0 });
    const first = await bb(apiKey).sessions.create({});
    await g.waitPhase(first.id, ['Starting']);
    const before = await answered('/v1/sessions', 'POST', 429);
    const err = await rejection(bb(apiKey).sessions.create({}));
    expect(err).toBeInstanceOf(Browserbase.RateLimitError);
    expect(err.message).toBe(
      `429 project "${project}" is at its limit: 1 sessions running, starting or queued (concurrency 1, maxQueued 0)`,
    );
    const headers = err['headers'] as Record<string, string>;
    expect(headers['x-should-retry']).toBe('false');
    expect(Number(headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(headers['x-ratelimit-remaining']).toBe('0');
    expect(await answered('/v1/sessions', 'POST', 429)).toBe(before + 1);

    const hbErr = (await rejection(hb(apiKey).sessions.create())) as unknown as HyperbrowserError;
    expect(hbErr.statusCode).toBe(429);
    expect(hbErr.code).toBe('QUOTA_EXCEEDED');

    // Nothing was left behind by the refusals, and a release makes room again.
    const mine = await bb(apiKey).sessions.list();
    expect(mine.map((s) => s.id)).toEqual([first.id]);
    await bb(apiKey).sessions.update(first.id, { status: 'REQUEST_RELEASE' });
    expect((await bb(apiKey).sessions.create({})).status).toBe('PENDING');
  });

  it('applies the project’s creates-per-minute with the same 429', async () => {
    const { project, apiKey } = await g.addProject({ concurrency: 10, maxQueued: 0, createsPerMinute: 2 });
    const { response } = await bb(apiKey).sessions.create({}).withResponse();
    expect(response.headers.get('x-ratelimit-limit')).toBe('2');
    expect(response.headers.get('x-ratelimit-remaining')).toBe('1');
    await bb(apiKey).sessions.create({});
    const err = await rejection(bb(apiKey).sessions.create({}));
    expect(err['status']).toBe(429);
    expect(err.message).toMatch(
      new RegExp(`^429 project "${project}" allows 2 session creates per minute; try again in \\d+s$`),
    );
    const headers = err['headers'] as Record<string, string>;
    expect(headers['x-should-retry']).toBe('false');
    expect(headers['retry-after']).toBe(headers['x-ratelimit-reset']);
    expect(Number(headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(headers['retry-after'])).toBeLessThanOrEqual(60);
  });

  it('counts sessions created outside the gateway (kubectl) against the same quota', async () => {
    const { apiKey, project } = await g.addProject({ concurrency: 1, maxQueued: 0 });
    const direct = `direct-${Date.now()}`;
    await g.stack.client.create(
      `/apis/browserfleet.dev/v1alpha1/namespaces/${g.stack.namespace}/browsersessions`,
      {
        apiVersion: 'browserfleet.dev/v1alpha1',
        kind: 'BrowserSession',
        metadata: { name: direct, namespace: g.stack.namespace },
        spec: { project },
      },
    );
    await g.waitPhase(direct, ['Starting']);
    expect((await rejection(bb(apiKey).sessions.create({})))['status']).toBe(429);
  });

  it('two gateway replicas racing for the last place: one session, one 429, nothing leaked', async () => {
    const { apiKey } = await g.addProject({ concurrency: 1, maxQueued: 0 });
    const [port] = await freePorts(1, '127.0.0.1');
    const second = await startGateway(
      { ...g.config, listen: `127.0.0.1:${port}`, publicUrl: `http://127.0.0.1:${port}` },
      { kubeconfigPath: g.stack.kubeconfig, log: createLogger({ component: 'gateway-2' }) },
    );
    try {
      const results = await Promise.allSettled([
        bb(apiKey).sessions.create({}),
        new Browserbase({ apiKey, baseURL: `http://127.0.0.1:${port}` }).sessions.create({}),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect((lost[0]?.reason as { status?: number } | undefined)?.status).toBe(429);
      const winner = (won[0] as PromiseFulfilledResult<{ id: string }>).value.id;
      await waitFor('only the winner left', async () => {
        const list = await bb(apiKey).sessions.list();
        return list.length === 1 && list[0]?.id === winner;
      });
    } finally {
      await second.stop();
    }
  });
});
