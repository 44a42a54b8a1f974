import type Browserbase from '@browserbasehq/sdk';
import type { CreateSessionParams, ScreenConfig } from '@hyperbrowser/sdk/types';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { project } from '../../testing/fixtures.js';
import { deeplyNested, fuzzParams } from '../../testing/fuzz.js';
import { thrownBy } from '../../testing/thrown.js';
import { ApiError } from '../errors.js';
import {
  BB_BROWSER_SETTINGS_FIELDS,
  BB_CREATE_FIELDS,
  type BB_VIEWPORT_FIELDS,
  parseBrowserbaseCreate,
  parseBrowserbaseUpdate,
} from './browserbase.js';
import { HB_CREATE_FIELDS, type HB_SCREEN_FIELDS, parseHyperbrowserCreate } from './hyperbrowser.js';
import { parseMetadataQuery, QueryError } from './metadata-query.js';

// What a create body may hold: every key an SDK can send stays accepted; any other key is refused by name.

const proj = project({ maxTimeout: 3600, defaultTimeout: 300 }, 'default');
const ctx = { project: proj, regions: {} };

const errorOf = (fn: () => unknown): ApiError => thrownBy(fn, ApiError);

// The lists must equal the pinned SDKs' own types: the compiler fails here when an SDK upgrade adds a field.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type BbCreate = Browserbase.SessionCreateParams;
type BbWireKeys = Exclude<keyof BbCreate, 'api_timeout'> | 'timeout';
const bbCreate: Same<(typeof BB_CREATE_FIELDS)[number], BbWireKeys> = true;
const bbSettings: Same<
  (typeof BB_BROWSER_SETTINGS_FIELDS)[number],
  keyof NonNullable<BbCreate['browserSettings']>
> = true;
const bbViewport: Same<
  (typeof BB_VIEWPORT_FIELDS)[number],
  keyof NonNullable<NonNullable<BbCreate['browserSettings']>['viewport']>
> = true;
const hbCreate: Same<(typeof HB_CREATE_FIELDS)[number], keyof CreateSessionParams> = true;
const hbScreen: Same<(typeof HB_SCREEN_FIELDS)[number], keyof ScreenConfig> = true;

describe('unknown fields on create', () => {
  it('the field lists are the SDK types', () => {
    expect([bbCreate, bbSettings, bbViewport, hbCreate, hbScreen]).toEqual([true, true, true, true, true]);
  });

  it.each([
    [{ keepalive: true }, 'unknown field "keepalive" (did you mean "keepAlive"?)'],
    [{ timout: 600 }, 'unknown field "timout" (did you mean "timeout"?)'],
    [{ userMetaData: {} }, 'unknown field "userMetaData" (did you mean "userMetadata"?)'],
    [{ somethingElse: 1 }, 'unknown field "somethingElse"'],
    [
      { browserSettings: { viewPort: { width: 800 } } },
      'unknown field "browserSettings.viewPort" (did you mean "browserSettings.viewport"?)',
    ],
    [
      { browserSettings: { viewport: { widht: 800 } } },
      'unknown field "browserSettings.viewport.widht" (did you mean "browserSettings.viewport.width"?)',
    ],
    [{ proxies: [{ type: 'none', domain: 'x' }] }, 'unknown field "proxies[0].domain"'],
    [
      { proxySettings: { caCertificate: [] } },
      'unknown field "proxySettings.caCertificate" (did you mean "proxySettings.caCertificates"?)',
    ],
  ])('Browserbase %j → 400 %s', (body, message) => {
    const err = errorOf(() => parseBrowserbaseCreate(body, ctx));
    expect(err.status).toBe(400);
    expect(err.message).toBe(message);
  });

  it.each([
    [{ timeoutMinute: 10 }, 'unknown field "timeoutMinute" (did you mean "timeoutMinutes"?)'],
    [{ keepAlive: true }, 'unknown field "keepAlive"'],
    [
      { screen: { width: 800, hieght: 600 } },
      'unknown field "screen.hieght" (did you mean "screen.height"?)',
    ],
    [{ profile: { id: null, persist: true } }, 'unknown field "profile.persist"'],
  ])('Hyperbrowser %j → 400 %s', (body, message) => {
    const err = errorOf(() => parseHyperbrowserCreate(body, ctx));
    expect(err.status).toBe(400);
    expect(err.message).toBe(message);
  });

  it('the update and the older release form name their unknown fields too', () => {
    expect(
      errorOf(() => parseBrowserbaseUpdate({ status: 'REQUEST_RELEASE', sessionID: 'x' }, 'default')).message,
    ).toBe('unknown field "sessionID"');
  });

  it.each(BB_CREATE_FIELDS)('Browserbase field %s, as the SDK can send it, is still accepted', (field) => {
    expect(() => parseBrowserbaseCreate({ [field]: null }, ctx)).not.toThrow();
  });

  it.each(BB_BROWSER_SETTINGS_FIELDS)('Browserbase browserSettings.%s is still accepted', (field) => {
    expect(() => parseBrowserbaseCreate({ browserSettings: { [field]: null } }, ctx)).not.toThrow();
  });

  it.each(HB_CREATE_FIELDS)('Hyperbrowser field %s, as the SDK can send it, is still accepted', (field) => {
    expect(() => parseHyperbrowserCreate({ [field]: null }, ctx)).not.toThrow();
  });
});

describe('userMetadata nested deeper than it can be measured', () => {
  it('is a 400 naming userMetadata, not a stack overflow (5,000 levels, 30 KB)', () => {
    const userMetadata = deeplyNested(5000) as Record<string, unknown>;
    const err = errorOf(() => parseBrowserbaseCreate({ userMetadata }, ctx));
    expect(err.status).toBe(400);
    expect(err.message).toBe(
      'userMetadata: nested more than 256 levels deep, so over 512 characters serialized',
    );
  });

  it('metadata that fits is still measured exactly', () => {
    const err = errorOf(() => parseBrowserbaseCreate({ userMetadata: { a: 'x'.repeat(600) } }, ctx));
    expect(err.message).toBe('userMetadata: 608 characters serialized, at most 512');
  });
});

/** A refusal names its field (`field: why`, `unknown field "x"`) and is a 4xx, never anything else thrown. */
function expectNamedRefusal(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError;
    expect(e.status).toBeGreaterThanOrEqual(400);
    expect(e.status).toBeLessThan(500);
    expect(e.message).toMatch(/^(?:[A-Za-z][\w.[\]]*: |unknown field ")/);
  }
}

const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(null, true, false, 0, -1, 59, 60, 21600, 1e308, '', 'none', 'us', 'us-west-2'),
  fc.integer({ min: 0, max: 20_000 }).map((d) => deeplyNested(d)),
);
/** An object whose keys are mostly the dialect's own, with random values, and now and then a stranger. */
const shaped = (keys: readonly string[]) =>
  fc.dictionary(
    fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...keys) }, fc.string({ maxLength: 12 })),
    anyValue,
    {
      maxKeys: 6,
    },
  );

describe('create parsers under fuzzing (fixed seed; BF_FUZZ_SEED / BF_FUZZ_RUNS)', () => {
  it('Browserbase create: a spec or a 4xx naming the field, for any JSON body', () => {
    const body = fc.oneof(
      anyValue,
      shaped(BB_CREATE_FIELDS),
      fc.record(
        {
          browserSettings: shaped(BB_BROWSER_SETTINGS_FIELDS),
          proxies: fc.array(shaped(['type', 'server'])),
        },
        { requiredKeys: [] },
      ),
    );
    fc.assert(
      fc.property(body, (b) => expectNamedRefusal(() => parseBrowserbaseCreate(b, ctx))),
      fuzzParams('parseBrowserbaseCreate', 2000),
    );
  });

  it('Hyperbrowser create: a spec or a 4xx naming the field, for any JSON body', () => {
    fc.assert(
      fc.property(fc.oneof(anyValue, shaped(HB_CREATE_FIELDS)), (b) =>
        expectNamedRefusal(() => parseHyperbrowserCreate(b, ctx)),
      ),
      fuzzParams('parseHyperbrowserCreate', 2000),
    );
  });

  it('Browserbase update: a release or a 4xx naming the field', () => {
    fc.assert(
      fc.property(fc.oneof(anyValue, shaped(['status', 'projectId'])), (b) =>
        expectNamedRefusal(() => parseBrowserbaseUpdate(b, 'default')),
      ),
      fuzzParams('parseBrowserbaseUpdate', 1000),
    );
  });

  it('the session query language: clauses or a QueryError with a position, for any string', () => {
    const query = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.stringMatching(
        /^user_metadata(\[['"][a-z\\'"]{0,4}['"]?\]){0,3}\s*:?\s*['"]?[a-z]{0,4}['"]?( AND .{0,10})?$/,
      ),
    );
    fc.assert(
      fc.property(query, (q) => {
        try {
          expect(Array.isArray(parseMetadataQuery(q))).toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(QueryError);
        }
      }),
      fuzzParams('parseMetadataQuery', 2000),
    );
  });
});
