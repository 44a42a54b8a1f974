import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { KubeApiError } from './kube/client.js';
import {
  createLogger,
  type LogLevel,
  logSettingsFromEnv,
  REDACTED,
  redact,
  scrubCredentials,
} from './log.js';

/** A logger whose lines land in memory, parsed. */
function captured(level: LogLevel = 'debug', base: Record<string, unknown> = {}) {
  const raw: string[] = [];
  const log = createLogger(base, { level, destination: { write: (s: string) => void raw.push(s) } });
  return {
    log,
    raw,
    lines: () => raw.map((s) => JSON.parse(s) as Record<string, unknown>),
  };
}

const API_KEY = 'bf_live_key_0123456789abcdefghij';
const TOKEN = 'ZGVmYXVsdC9zZXNzaW9uLTE.mac0123456789abcdefghijklmnop';

describe('createLogger', () => {
  it('writes one JSON object per line with level, time, base fields and the message', () => {
    const c = captured('info', { component: 'gateway' });
    c.log.info('gateway listening', { port: 8080 });
    expect(c.raw).toHaveLength(1);
    expect(c.raw[0]?.endsWith('\n')).toBe(true);
    const [line] = c.lines();
    expect(line).toMatchObject({ level: 'info', component: 'gateway', msg: 'gateway listening', port: 8080 });
    expect(Date.parse(String(line?.['time']))).not.toBeNaN();
  });

  it('honours the level: debug only when asked for, nothing at all when silent', () => {
    const info = captured('info');
    info.log.debug('hidden');
    info.log.warn('shown');
    expect(info.lines().map((l) => [l['level'], l['msg']])).toEqual([['warn', 'shown']]);

    const debug = captured('debug');
    debug.log.debug('shown');
    expect(debug.lines().map((l) => l['level'])).toEqual(['debug']);

    const silent = captured('silent');
    silent.log.error('hidden');
    expect(silent.raw).toEqual([]);
  });

  it('keeps child bindings and the fields of the call', () => {
    const c = captured('info', { component: 'operator' });
    c.log.child({ session: 's1' }).child({ attempt: 2 }).warn('reconcile failed; retrying with backoff');
    expect(c.lines()[0]).toMatchObject({ component: 'operator', session: 's1', attempt: 2 });
  });

  it('logs an error with its stack, its cause and a Kubernetes API error’s HTTP code and reason', () => {
    const c = captured();
    const kube = new KubeApiError(403, 'Forbidden', 'pods is forbidden: exceeded quota', {
      kind: 'Status',
      message: 'pods is forbidden: exceeded quota',
      code: 403,
    });
    const err = new Error('create pod failed', { cause: kube });
    c.log.error('reconcile failed', { err });
    const logged = c.lines()[0]?.['err'] as Record<string, unknown>;
    expect(logged['type']).toBe('Error');
    expect(logged['message']).toBe('create pod failed');
    expect(String(logged['stack'])).toMatch(/^Error: create pod failed\n\s+at .*log\.test\.ts/);
    const cause = logged['cause'] as Record<string, unknown>;
    expect(cause).toMatchObject({
      type: 'KubeApiError',
      message: 'pods is forbidden: exceeded quota',
      code: 403,
      reason: 'Forbidden',
    });
    expect(cause['body']).toEqual({
      kind: 'Status',
      message: 'pods is forbidden: exceeded quota',
      code: 403,
    });
    expect(String(cause['stack'])).toContain('log.test.ts');
  });

  it('appends to BF_LOG_FILE when set', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bf-log-'));
    const file = path.join(dir, 'nested', 'test.log');
    const saved = {
      BF_LOG: process.env['BF_LOG'],
      BF_LOG_FILE: process.env['BF_LOG_FILE'],
      BF_LOG_LEVEL: process.env['BF_LOG_LEVEL'],
    };
    try {
      process.env['BF_LOG_FILE'] = file;
      process.env['BF_LOG_LEVEL'] = 'debug';
      delete process.env['BF_LOG'];
      createLogger({ component: 'test' }).debug('to the file', { n: 1 });
      createLogger({ component: 'test' }).info('also to the file', { n: 2 });
      const lines = readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines.map((l) => [l.level, l.msg, l.n])).toEqual([
        ['debug', 'to the file', 1],
        ['info', 'also to the file', 2],
      ]);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('logSettingsFromEnv', () => {
  it('defaults to info on stderr', () => {
    expect(logSettingsFromEnv({})).toEqual({ level: 'info' });
  });

  it('reads BF_LOG_LEVEL, the older BF_LOG (silent still silences) and BF_LOG_FILE', () => {
    expect(logSettingsFromEnv({ BF_LOG_LEVEL: 'debug' })).toEqual({ level: 'debug' });
    expect(logSettingsFromEnv({ BF_LOG: 'silent' })).toEqual({ level: 'silent' });
    expect(logSettingsFromEnv({ BF_LOG: 'warn', BF_LOG_LEVEL: 'warn', BF_LOG_FILE: '/tmp/x.log' })).toEqual({
      level: 'warn',
      file: '/tmp/x.log',
    });
  });

  it('refuses an unknown level, naming the variable, and two variables that disagree', () => {
    expect(() => logSettingsFromEnv({ BF_LOG_LEVEL: 'verbose' })).toThrow(
      'BF_LOG_LEVEL: must be one of debug, info, warn, error, silent, not "verbose"',
    );
    expect(() => logSettingsFromEnv({ BF_LOG: 'quiet' })).toThrow(/^BF_LOG: must be one of/);
    expect(() => logSettingsFromEnv({ BF_LOG: 'silent', BF_LOG_LEVEL: 'debug' })).toThrow(
      'BF_LOG_LEVEL (debug) and BF_LOG (silent) disagree',
    );
  });
});

describe('redaction', () => {
  it('replaces credential headers of both SDK dialects, by name and at any depth', () => {
    const headers = {
      host: 'gw',
      authorization: `Bearer ${TOKEN}`,
      'x-bb-api-key': API_KEY,
      'X-API-Key': API_KEY,
      'x-hyperbrowser-token': TOKEN,
      'x-bb-signing-key': TOKEN,
      'x-browserfleet-token': TOKEN,
      cookie: `sid=${TOKEN}`,
      'set-cookie': [`sid=${TOKEN}`],
    };
    const out = redact({ headers, req: { headers }, deep: { a: { b: { headers } } } }) as {
      headers: unknown;
      req: { headers: unknown };
      deep: { a: { b: { headers: unknown } } };
    };
    for (const h of [out.headers, out.req.headers, out.deep.a.b.headers]) {
      expect(h).toEqual({
        host: 'gw',
        authorization: REDACTED,
        'x-bb-api-key': REDACTED,
        'X-API-Key': REDACTED,
        'x-hyperbrowser-token': REDACTED,
        'x-bb-signing-key': REDACTED,
        'x-browserfleet-token': REDACTED,
        cookie: REDACTED,
        'set-cookie': REDACTED,
      });
    }
  });

  it('replaces fields that hold tokens and keys, whatever their casing', () => {
    const out = redact({
      token: TOKEN,
      apiKey: API_KEY,
      api_key: API_KEY,
      signingKey: TOKEN,
      sessionKey: 'k',
      password: 'p',
      secret: 's',
      connectToken: TOKEN,
      config: { sessionKey: 'k', publicUrl: 'https://gw' },
      keys: [{ apiKey: API_KEY, project: 'p1' }],
    });
    expect(out).toEqual({
      token: REDACTED,
      apiKey: REDACTED,
      api_key: REDACTED,
      signingKey: REDACTED,
      sessionKey: REDACTED,
      password: REDACTED,
      secret: REDACTED,
      connectToken: REDACTED,
      config: { sessionKey: REDACTED, publicUrl: 'https://gw' },
      keys: [{ apiKey: REDACTED, project: 'p1' }],
    });
  });

  it('replaces a Secret’s data and stringData, also inside an error body, and keeps its metadata', () => {
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'default-api-key' },
      data: { apiKey: Buffer.from(API_KEY).toString('base64') },
      stringData: { other: API_KEY },
    };
    expect(redact({ object: secret })).toEqual({
      object: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'default-api-key' },
        data: REDACTED,
        stringData: REDACTED,
      },
    });
    const err = new KubeApiError(422, 'Invalid', 'Secret is invalid', secret);
    const out = JSON.stringify(redact({ err }));
    expect(out).not.toContain(API_KEY);
    expect(out).not.toContain(Buffer.from(API_KEY).toString('base64'));
    expect(out).toContain('default-api-key');
    // Other objects may have a `data` field that is not a secret.
    expect(redact({ report: { kind: 'Report', data: { pages: 2 } } })).toEqual({
      report: { kind: 'Report', data: { pages: 2 } },
    });
  });

  it('blanks credentials in URLs and bearer tokens inside any string', () => {
    const cases: [string, string][] = [
      [`wss://gw/?signingKey=${TOKEN}`, `wss://gw/?signingKey=${REDACTED}`],
      [
        `ws://gw/devtools/browser?token=${TOKEN}&keepAlive=true`,
        `ws://gw/devtools/browser?token=${REDACTED}&keepAlive=true`,
      ],
      [
        `wss://connect.example?apiKey=${API_KEY}&sessionId=s1`,
        `wss://connect.example?apiKey=${REDACTED}&sessionId=s1`,
      ],
      [`/live/s1?page=p&TOKEN=${TOKEN}#x`, `/live/s1?page=p&TOKEN=${REDACTED}#x`],
      [
        `connect to "ws://10.0.0.5:9222/devtools/browser/abc?token=${TOKEN}" failed: 401`,
        `connect to "ws://10.0.0.5:9222/devtools/browser/abc?token=${REDACTED}" failed: 401`,
      ],
      [`Authorization: Bearer ${TOKEN}`, `Authorization: Bearer ${REDACTED}`],
      ['/v1/sessions?status=RUNNING', '/v1/sessions?status=RUNNING'],
      ['mytoken=1 is not a query', 'mytoken=1 is not a query'],
    ];
    for (const [input, expected] of cases) expect(scrubCredentials(input)).toBe(expected);
    expect(redact({ url: new URL(`ws://gw/?token=${TOKEN}`) })).toEqual({
      url: `ws://gw/?token=${REDACTED}`,
    });
  });

  it('scrubs the messages, stacks and causes of errors that embed a CDP connect URL', () => {
    const inner = new Error(`Unexpected server response: 401 from ws://gw/?signingKey=${TOKEN}`);
    const err = new Error(`connect to wss://gw/?token=${TOKEN} failed`, { cause: inner });
    const c = captured();
    c.log.error(`cdp connect failed for ws://gw/?token=${TOKEN}`, { err });
    expect(c.raw.join('')).not.toContain(TOKEN);
    const line = c.lines()[0] as unknown as {
      msg: string;
      err: { message: string; stack: string; cause: { message: string } };
    };
    expect(line.msg).toBe(`cdp connect failed for ws://gw/?token=${REDACTED}`);
    expect(line.err.message).toBe(`connect to wss://gw/?token=${REDACTED} failed`);
    expect(line.err.stack).toContain(`?token=${REDACTED} failed\n`);
    expect(line.err.cause.message).toContain(`?signingKey=${REDACTED}`);
  });

  it('redacts child bindings too', () => {
    const c = captured('info');
    c.log.child({ apiKey: API_KEY, url: `/?token=${TOKEN}` }).info('bound');
    expect(c.raw.join('')).not.toContain(API_KEY);
    expect(c.raw.join('')).not.toContain(TOKEN);
    expect(c.lines()[0]).toMatchObject({ apiKey: REDACTED, url: `/?token=${REDACTED}` });
  });

  it('survives cycles and does not mistake a shared object for one', () => {
    const shared = { n: 1 };
    const cyclic: Record<string, unknown> = { shared, again: shared };
    cyclic['self'] = cyclic;
    expect(redact(cyclic)).toEqual({ shared: { n: 1 }, again: { n: 1 }, self: '[Circular]' });
    const loop = new Error('loop');
    loop.cause = loop;
    expect(redact({ err: loop })).toMatchObject({ err: { message: 'loop', cause: '[Circular]' } });
  });
});
