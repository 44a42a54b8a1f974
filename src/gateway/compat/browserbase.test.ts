import { describe, expect, it } from 'vitest';
import type { SessionPhase } from '../../api/index.js';
import { iso, project, running, session, T0 } from '../../testing/fixtures.js';
import { thrownBy } from '../../testing/thrown.js';
import { ApiError } from '../errors.js';
import {
  browserbaseStatus,
  isLegacyRelease,
  parseBrowserbaseCreate,
  parseBrowserbaseUpdate,
  parseStatusFilter,
  toBrowserbaseDebug,
  toBrowserbaseSession,
  toBrowserbaseSessionWithLinks,
} from './browserbase.js';

const proj = project({ maxTimeout: 3600, defaultTimeout: 300 }, 'default');
const ctx = { project: proj, regions: {} };

const errorOf = (fn: () => unknown): ApiError => thrownBy(fn, ApiError);

describe('browserbaseStatus (the decided wire mapping)', () => {
  it.each<[SessionPhase | undefined, string]>([
    [undefined, 'PENDING'],
    ['Pending', 'PENDING'],
    ['Queued', 'PENDING'],
    ['Starting', 'PENDING'],
    ['Running', 'RUNNING'],
    ['TimedOut', 'TIMED_OUT'],
    ['Completed', 'COMPLETED'],
    ['Failed', 'ERROR'],
  ])('%s → %s', (phase, want) => {
    expect(browserbaseStatus(phase ? { status: { phase } } : {})).toBe(want);
  });
});

describe('parseBrowserbaseCreate', () => {
  it('maps what the SDK sends to the spec', () => {
    const spec = parseBrowserbaseCreate(
      {
        projectId: 'default',
        timeout: 600,
        keepAlive: true,
        userMetadata: { run: 'smoke', nested: { a: 'b' } },
        browserSettings: { viewport: { width: 1280, height: 720 }, blockAds: true, solveCaptchas: false },
        proxies: false,
      },
      ctx,
    );
    expect(spec).toEqual({
      project: 'default',
      keepAlive: true,
      timeout: 600,
      userMetadata: { run: 'smoke', nested: { a: 'b' } },
      browser: { width: 1280, height: 720 },
    });
  });

  it('turns the CDP log off only for logSession: false (on by default, as on Browserbase)', () => {
    const logSession = (v: unknown) =>
      parseBrowserbaseCreate({ browserSettings: { logSession: v } }, ctx).logSession;
    expect(logSession(false)).toBe(false);
    expect(logSession(true)).toBeUndefined();
    expect(logSession(undefined)).toBeUndefined();
    expect(errorOf(() => logSession('no')).message).toBe(
      'browserSettings.logSession: must be true or false, got "no"',
    );
  });

  it('infers the project from the key when projectId is absent, and defaults keepAlive to false', () => {
    expect(parseBrowserbaseCreate(undefined, ctx)).toEqual({ project: 'default', keepAlive: false });
    expect(parseBrowserbaseCreate({}, ctx)).toEqual({ project: 'default', keepAlive: false });
  });

  it.each([
    [{ timeout: 59 }, 'timeout: must be an integer from 60 to 3600, got 59'],
    // The project's maxTimeout (3600) caps Browserbase's own 21600.
    [{ timeout: 3601 }, 'timeout: must be an integer from 60 to 3600, got 3601'],
    [{ timeout: 'ten' }, 'timeout: must be an integer from 60 to 3600, got "ten"'],
    [{ timeout: 90.5 }, 'timeout: must be an integer from 60 to 3600, got 90.5'],
    [{ keepAlive: 'yes' }, 'keepAlive: must be true or false, got "yes"'],
    [{ projectId: 'other' }, 'projectId: this API key belongs to project "default", not "other"'],
    [{ userMetadata: 'x' }, 'userMetadata: must be a JSON object'],
    [{ userMetadata: { k: 'x'.repeat(600) } }, 'userMetadata: 608 characters serialized, at most 512'],
    [
      { userMetadata: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 1])) },
      'userMetadata: at most 64 top-level keys',
    ],
    [
      { browserSettings: { viewport: { width: 50 } } },
      'browserSettings.viewport.width: must be an integer from 320 to 7680, got 50',
    ],
    [{ browserSettings: { viewport: 'big' } }, 'browserSettings.viewport: must be an object, got "big"'],
    [
      { region: 'mars-1' },
      'region: must be one of us-west-2, us-east-1, eu-central-1, ap-southeast-1, got "mars-1"',
    ],
    [{ proxies: 'yes' }, 'proxies: must be true, false or a list'],
    [[1, 2], 'body: must be a JSON object, got an array'],
  ])('rejects %j naming the field', (body, message) => {
    const err = errorOf(() => parseBrowserbaseCreate(body, ctx));
    expect(err.code).toBe('INVALID_REQUEST');
    expect(err.status).toBe(400);
    expect(err.message).toBe(message);
  });

  it.each([
    [{ proxies: true }, 'proxies'],
    [{ proxies: [{ type: 'browserbase' }] }, 'proxies'],
    [{ browserSettings: { context: { id: 'ctx-1', persist: true } } }, 'browserSettings.context'],
    [{ extensionId: 'ext' }, 'extensionId'],
  ])('refuses %j rather than silently dropping it', (body, field) => {
    const err = errorOf(() => parseBrowserbaseCreate(body, ctx));
    expect(err.code).toBe('UNSUPPORTED_FEATURE');
    expect(err.status).toBe(400);
    expect(err.message.startsWith(`${field}: `)).toBe(true);
  });

  it('accepts proxies that ask for no proxy', () => {
    expect(parseBrowserbaseCreate({ proxies: [{ type: 'none' }] }, ctx).project).toBe('default');
  });

  it('maps regions through the configured map', () => {
    const regions = { 'eu-central-1': 'eu-test', 'us-west-2': '' };
    expect(parseBrowserbaseCreate({ region: 'eu-central-1' }, { project: proj, regions }).region).toBe(
      'eu-test',
    );
    expect(
      parseBrowserbaseCreate({ region: 'us-west-2' }, { project: proj, regions }).region,
    ).toBeUndefined();
    expect(
      errorOf(() => parseBrowserbaseCreate({ region: 'us-east-1' }, { project: proj, regions })).message,
    ).toBe('region: "us-east-1" is not served here; served regions: eu-central-1, us-west-2');
    // Single-region install: any valid region is accepted, none enforced.
    expect(parseBrowserbaseCreate({ region: 'us-east-1' }, ctx).region).toBeUndefined();
  });
});

describe('release bodies', () => {
  it('accepts REQUEST_RELEASE and nothing else', () => {
    expect(parseBrowserbaseUpdate({ status: 'REQUEST_RELEASE' }, 'default')).toEqual({
      status: 'REQUEST_RELEASE',
    });
    expect(errorOf(() => parseBrowserbaseUpdate({ status: 'RUNNING' }, 'default')).message).toBe(
      'status: must be "REQUEST_RELEASE", got "RUNNING"',
    );
    expect(errorOf(() => parseBrowserbaseUpdate({}, 'default')).message).toBe(
      'status: must be "REQUEST_RELEASE"',
    );
  });

  it('tells the older release form on POST /v1/sessions from a create', () => {
    expect(isLegacyRelease({ sessionId: 'abc', status: 'REQUEST_RELEASE' })).toBe(true);
    expect(isLegacyRelease({ status: 'REQUEST_RELEASE' })).toBe(false);
    expect(isLegacyRelease({ projectId: 'p', keepAlive: true })).toBe(false);
  });

  it('validates the list status filter', () => {
    expect(parseStatusFilter('RUNNING')).toBe('RUNNING');
    expect(parseStatusFilter('')).toBeUndefined();
    expect(errorOf(() => parseStatusFilter('running')).message).toBe(
      'status: must be one of PENDING, RUNNING, ERROR, TIMED_OUT, COMPLETED, got "running"',
    );
  });
});

describe('toBrowserbaseSession', () => {
  const wire = {
    project: proj,
    regions: { 'eu-central-1': 'eu-test' },
    defaultRegion: 'us-west-2',
    now: T0 + 5000,
  };

  it('gives every field the SDK type requires for a running session', () => {
    const s = session(
      running(600, { lastConnectedAt: iso(T0 + 2000) }),
      { keepAlive: true, userMetadata: { run: 'x' }, region: 'eu-test' },
      { name: 'abc' },
    );
    const out = toBrowserbaseSessionWithLinks(s, wire, {
      connectUrl: 'ws://gw/?signingKey=t',
      seleniumRemoteUrl: 'http://gw/webdriver',
      signingKey: 't',
    });
    expect(out).toEqual({
      id: 'abc',
      createdAt: iso(T0),
      updatedAt: iso(T0 + 2000),
      startedAt: iso(T0),
      expiresAt: iso(T0 + 600_000),
      status: 'RUNNING',
      keepAlive: true,
      projectId: 'default',
      proxyBytes: 0,
      region: 'eu-central-1',
      userMetadata: { run: 'x' },
      connectUrl: 'ws://gw/?signingKey=t',
      seleniumRemoteUrl: 'http://gw/webdriver',
      signingKey: 't',
    });
  });

  it('estimates expiresAt before admission and reports the end of a finished session', () => {
    const pending = toBrowserbaseSession(session({}, { timeout: 120 }), wire);
    expect(pending.status).toBe('PENDING');
    expect(pending.startedAt).toBe(iso(T0));
    expect(pending.expiresAt).toBe(iso(T0 + 5000 + 120_000));
    expect(pending.region).toBe('us-west-2');
    expect(pending.endedAt).toBeUndefined();

    const refused = toBrowserbaseSession(
      session({ phase: 'Failed', endReason: 'QuotaExceeded', endedAt: iso(T0 + 1000) }),
      wire,
    );
    expect(refused.status).toBe('ERROR');
    expect(refused.endedAt).toBe(iso(T0 + 1000));
    expect(refused.expiresAt).toBe(iso(T0 + 1000));

    const done = toBrowserbaseSession(
      session(running(300, { phase: 'Completed', endReason: 'Released', endedAt: iso(T0 + 9000) })),
      wire,
    );
    expect(done).toMatchObject({
      status: 'COMPLETED',
      endedAt: iso(T0 + 9000),
      expiresAt: iso(T0 + 300_000),
      updatedAt: iso(T0 + 9000),
    });
  });
});

describe('toBrowserbaseDebug', () => {
  it('lists page targets with live-view links', () => {
    const live = (page: string | undefined, full: boolean) =>
      `http://gw/live/s?page=${page ?? ''}&full=${full}`;
    const debug = toBrowserbaseDebug(
      [
        { id: 'P1', type: 'page', url: 'http://a/', title: 'A' },
        { id: 'W1', type: 'service_worker', url: 'http://a/sw.js', title: '' },
        { id: 'P2', type: 'page', url: 'about:blank', title: '', faviconUrl: 'http://a/f.ico' },
      ],
      'ws://gw/devtools/browser?token=t',
      live,
    );
    expect(debug).toEqual({
      debuggerFullscreenUrl: 'http://gw/live/s?page=&full=true',
      debuggerUrl: 'http://gw/live/s?page=&full=false',
      wsUrl: 'ws://gw/devtools/browser?token=t',
      pages: [
        {
          id: 'P1',
          url: 'http://a/',
          title: 'A',
          faviconUrl: '',
          debuggerUrl: live('P1', false),
          debuggerFullscreenUrl: live('P1', true),
        },
        {
          id: 'P2',
          url: 'about:blank',
          title: '',
          faviconUrl: 'http://a/f.ico',
          debuggerUrl: live('P2', false),
          debuggerFullscreenUrl: live('P2', true),
        },
      ],
    });
  });
});
