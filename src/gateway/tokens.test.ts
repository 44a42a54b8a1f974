import { describe, expect, it } from 'vitest';
import { clientToken, sessionToken } from '../shared/credentials.js';
import { session } from '../testing/fixtures.js';
import {
  connectToken,
  expiringToken,
  liveToken,
  parseConnectToken,
  parseExpiringToken,
  verifyConnectToken,
  verifyExpiringToken,
  verifyLiveToken,
} from './tokens.js';

const KEY = 'test-key-0123456789abcdef';
const s = session(
  {},
  {},
  { name: '6f1c2d3e-0000-4000-8000-000000000001', namespace: 'team-a', uid: 'uid-a' },
);

describe('connect tokens', () => {
  it('name their session and verify against its UID', () => {
    const token = connectToken(KEY, s);
    const parsed = parseConnectToken(token);
    expect(parsed).toMatchObject({ namespace: 'team-a', name: s.metadata.name });
    expect(parsed && verifyConnectToken(KEY, s, parsed)).toBe(true);
    // Only the client credential: the pod's own token is a different HMAC.
    expect(token.endsWith(`.${clientToken(KEY, 'uid-a')}`)).toBe(true);
    expect(token).not.toContain(sessionToken(KEY, 'uid-a'));
  });

  it('fail for another key, a recreated session (new UID) and another session', () => {
    const parsed = parseConnectToken(connectToken(KEY, s));
    if (!parsed) throw new Error('unparsed');
    expect(verifyConnectToken('another-key-0123456789', s, parsed)).toBe(false);
    expect(verifyConnectToken(KEY, { ...s, metadata: { ...s.metadata, uid: 'uid-b' } }, parsed)).toBe(false);
    expect(verifyConnectToken(KEY, { ...s, metadata: { ...s.metadata, name: 'other' } }, parsed)).toBe(false);
  });

  it.each([
    '',
    'abc',
    'a.b.c',
    `${Buffer.from('no-slash').toString('base64url')}.mac`,
    `${Buffer.from('Bad_NS/x').toString('base64url')}.mac`,
    `${Buffer.from('ns/').toString('base64url')}.mac`,
    `${Buffer.from('ns/x').toString('base64url')}.`,
    '!!!.mac',
  ])('parse %j as nothing', (t) => {
    expect(parseConnectToken(t)).toBeUndefined();
  });
});

describe('live-view tokens', () => {
  const now = Date.parse('2026-05-01T00:00:00Z');
  const exp = Math.floor(now / 1000) + 60;

  it('verify until they expire', () => {
    const parsed = parseExpiringToken(liveToken(KEY, s, exp));
    if (!parsed) throw new Error('unparsed');
    expect(verifyLiveToken(KEY, s, parsed, now)).toBe(true);
    expect(verifyLiveToken(KEY, s, parsed, exp * 1000)).toBe(false);
  });

  it('cannot be stretched or used as a connect token', () => {
    const token = liveToken(KEY, s, exp);
    const [ref, , mac] = token.split('.');
    const stretched = parseExpiringToken(`${ref}.${exp + 3600}.${mac}`);
    if (!stretched) throw new Error('unparsed');
    expect(verifyLiveToken(KEY, s, stretched, now)).toBe(false);
    expect(parseConnectToken(token)).toBeUndefined();
    expect(parseExpiringToken(connectToken(KEY, s))).toBeUndefined();
  });
});

describe('downloads links', () => {
  const now = Date.parse('2026-05-01T00:00:00Z');
  const exp = Math.floor(now / 1000) + 60;

  it('open the downloads until they expire, and open no live view (nor does a live-view token open them)', () => {
    const parsed = parseExpiringToken(expiringToken(KEY, 'downloads', s, exp));
    if (!parsed) throw new Error('unparsed');
    expect(verifyExpiringToken(KEY, 'downloads', s, parsed, now)).toBe(true);
    expect(verifyExpiringToken(KEY, 'downloads', s, parsed, exp * 1000)).toBe(false);
    expect(verifyLiveToken(KEY, s, parsed, now)).toBe(false);
    const live = parseExpiringToken(liveToken(KEY, s, exp));
    if (!live) throw new Error('unparsed');
    expect(verifyExpiringToken(KEY, 'downloads', s, live, now)).toBe(false);
  });
});
