import { describe, expect, it } from 'vitest';
import type { SessionPhase } from '../../api/index.js';
import { iso, project, running, session, T0 } from '../../testing/fixtures.js';
import { thrownBy } from '../../testing/thrown.js';
import { ApiError } from '../errors.js';
import {
  hyperbrowserStatus,
  paginate,
  parseHyperbrowserCreate,
  parseStatusFilter,
  toHyperbrowserDownloads,
  toHyperbrowserSession,
  toHyperbrowserSessionDetail,
} from './hyperbrowser.js';

const proj = project({ maxTimeout: 3600 }, 'team');
const ctx = { project: proj, regions: {} };

const errorOf = (fn: () => unknown): ApiError => thrownBy(fn, ApiError);

describe('hyperbrowserStatus (the decided wire mapping)', () => {
  it.each<[SessionPhase | undefined, string]>([
    [undefined, 'active'],
    ['Pending', 'active'],
    ['Queued', 'active'],
    ['Starting', 'active'],
    ['Running', 'active'],
    ['TimedOut', 'closed'],
    ['Completed', 'closed'],
    ['Failed', 'error'],
  ])('%s → %s', (phase, want) => {
    expect(hyperbrowserStatus(phase ? { status: { phase } } : {})).toBe(want);
  });
});

describe('parseHyperbrowserCreate', () => {
  it('maps what the SDK sends to the spec; there is no keepAlive create field', () => {
    const parsed = parseHyperbrowserCreate(
      {
        timeoutMinutes: 15,
        acceptCookies: true,
        screen: { width: 1280, height: 720 },
        useStealth: true,
        useProxy: false,
        locales: ['de-DE'],
        liveViewTtlSeconds: 120,
      },
      ctx,
    );
    expect(parsed).toEqual({
      spec: {
        project: 'team',
        keepAlive: false,
        timeout: 900,
        browser: { width: 1280, height: 720, locale: 'de-DE' },
        saveDownloads: false,
      },
      liveViewTtlSeconds: 120,
    });
  });

  it('takes an empty body (the SDK sends none for create())', () => {
    expect(parseHyperbrowserCreate(undefined, ctx)).toEqual({
      spec: { project: 'team', keepAlive: false, saveDownloads: false },
    });
  });

  it.each([
    [{ timeoutMinutes: 0 }, 'timeoutMinutes: must be an integer from 1 to 60, got 0'],
    [{ timeoutMinutes: 61 }, 'timeoutMinutes: must be an integer from 1 to 60, got 61'],
    [{ screen: { width: 'wide' } }, 'screen.width: must be an integer from 320 to 7680, got "wide"'],
    [{ screen: { height: 99999 } }, 'screen.height: must be an integer from 240 to 4320, got 99999'],
    [{ locales: 'en' }, 'locales: must be a list of strings, got "en"'],
    [{ locales: ['not a locale'] }, 'locales[0]: "not a locale" is not a language tag such as en-US'],
    [
      { region: 'moon' },
      'region: must be one of us, us-central, asia-south, us-dev, europe-west, us-west, us-east, got "moon"',
    ],
    ['text', 'body: must be a JSON object, got "text"'],
  ])('rejects %j naming the field', (body, message) => {
    const err = errorOf(() => parseHyperbrowserCreate(body, ctx));
    expect(err.status).toBe(400);
    expect(err.message).toBe(message);
  });

  it.each([
    [{ useProxy: true }, 'useProxy'],
    [{ proxyServer: 'http://p:1' }, 'useProxy'],
    [{ profile: { id: 'prof-1', persistChanges: true } }, 'profile'],
    [{ extensionIds: ['e'] }, 'extensionIds'],
    [{ browserArgs: ['--foo'] }, 'browserArgs'],
    [{ startFromSnapshot: { snapshotId: 's' } }, 'startFromSnapshot'],
  ])('refuses %j rather than silently dropping it', (body, field) => {
    const err = errorOf(() => parseHyperbrowserCreate(body, ctx));
    expect(err.code).toBe('UNSUPPORTED_FEATURE');
    expect(err.message.startsWith(`${field}: `)).toBe(true);
  });

  it('maps regions through the configured map', () => {
    expect(
      parseHyperbrowserCreate(
        { region: 'europe-west' },
        { project: proj, regions: { 'europe-west': 'eu-test' } },
      ).spec.region,
    ).toBe('eu-test');
  });

  it('validates the list status filter', () => {
    expect(parseStatusFilter('closed')).toBe('closed');
    expect(errorOf(() => parseStatusFilter('RUNNING')).message).toBe(
      'status: must be one of active, closed, error, close-error, got "RUNNING"',
    );
  });
});

describe('toHyperbrowserSession', () => {
  it('uses epoch milliseconds for start/end and ISO strings for created/updated', () => {
    const s = session(
      running(600, { phase: 'Completed', endReason: 'Disconnected', endedAt: iso(T0 + 60_000) }),
      { timeout: 600, browser: { width: 800, height: 600 } },
      { name: 'sid' },
    );
    expect(
      toHyperbrowserSessionDetail(s, 'http://gw/api/session/sid', {
        wsEndpoint: 'ws://gw/?token=t',
        token: 't',
        liveUrl: 'http://gw/live/sid?token=l',
        webdriverEndpoint: 'http://gw/webdriver',
      }),
    ).toEqual({
      id: 'sid',
      teamId: 'default',
      status: 'closed',
      startTime: T0,
      endTime: T0 + 60_000,
      createdAt: iso(T0),
      updatedAt: iso(T0 + 60_000),
      sessionUrl: 'http://gw/api/session/sid',
      launchState: { screen: { width: 800, height: 600 }, timeoutMinutes: 10 },
      creditsUsed: null,
      creditBreakdown: { creditsUsed: null, browserTimeCreditsUsed: null, proxyDataCreditsUsed: null },
      wsEndpoint: 'ws://gw/?token=t',
      token: 't',
      liveUrl: 'http://gw/live/sid?token=l',
      webdriverEndpoint: 'http://gw/webdriver',
    });
  });

  it('leaves out start and end until they happen', () => {
    const out = toHyperbrowserSession(session({ phase: 'Queued', queuePosition: 1 }), 'u');
    expect(out.status).toBe('active');
    expect(out.startTime).toBeUndefined();
    expect(out.endTime).toBeUndefined();
    expect(out.launchState).toBeNull();
  });
});

describe('paginate', () => {
  it.each([
    [1, 2, ['a', 'b'], 5],
    [3, 2, ['e'], 5],
    [4, 2, [], 5],
  ])('page %i of size %i', (page, perPage, want, total) => {
    expect(paginate(['a', 'b', 'c', 'd', 'e'], page, perPage)).toEqual({
      sessions: want,
      totalCount: total,
      page,
      perPage,
    });
  });
});

describe('saveDownloads and toHyperbrowserDownloads', () => {
  it('keeps downloads only when asked, as Hyperbrowser does, and refuses it without a store', () => {
    expect(parseHyperbrowserCreate({}, { ...ctx, artifactsKept: true }).spec.saveDownloads).toBe(false);
    expect(
      parseHyperbrowserCreate({ saveDownloads: true }, { ...ctx, artifactsKept: true }).spec.saveDownloads,
    ).toBe(true);
    const refused = errorOf(() => parseHyperbrowserCreate({ saveDownloads: true }, ctx));
    expect(refused.status).toBe(400);
    expect(refused.message).toMatch(/^saveDownloads: .*artifact store is off/);
  });

  const link = () => 'http://gw/artifacts/x/downloads.zip?token=t';
  const ended = (artifacts?: object) =>
    session(
      {
        ...running(),
        phase: 'Completed',
        endedAt: iso(T0 + 5000),
        ...(artifacts ? { artifacts } : {}),
      } as never,
      {
        saveDownloads: true,
      },
    );
  it.each([
    [
      'no store',
      session(running(), { saveDownloads: true }),
      false,
      { status: 'not_enabled', downloadsUrl: null },
    ],
    ['not asked for', session(running(), { saveDownloads: false }), true, { status: 'not_enabled' }],
    [
      'queued',
      session({ phase: 'Queued' }, { saveDownloads: true }),
      true,
      { status: 'pending', downloadsUrl: null },
    ],
    [
      'running',
      session(running(), { saveDownloads: true }),
      true,
      { status: 'in_progress', downloadsUrl: null },
    ],
    ['ended, flush not yet recorded', ended(), true, { status: 'in_progress' }],
    [
      'ended and stored',
      ended({ state: 'Stored', flushed: true }),
      true,
      { status: 'completed', downloadsUrl: link(), error: null },
    ],
    [
      'ended with a download cut off',
      ended({ state: 'Incomplete', flushed: true, message: '1 download(s) cut off: big.bin' }),
      true,
      { status: 'completed', downloadsUrl: link(), error: '1 download(s) cut off: big.bin' },
    ],
    [
      'ended with the store down',
      ended({ state: 'Failed', flushed: true, reason: 'Unreachable', message: 'refused' }),
      true,
      { status: 'failed', downloadsUrl: null, error: 'Unreachable: refused' },
    ],
  ])('%s', (_name, s, kept, want) => {
    expect(toHyperbrowserDownloads(s, kept, link)).toMatchObject(want);
  });
});
