import { describe, expect, it } from 'vitest';
import {
  implicitWebDriverId,
  readWebDriverCredential,
  splitWebDriverId,
  webdriverRoute,
} from './webdriver-ids.js';

describe('readWebDriverCredential', () => {
  it.each([
    ['Browserbase signing key', { 'x-bb-signing-key': 'tok' }, { kind: 'token', token: 'tok' }],
    ['Hyperbrowser token', { 'x-hyperbrowser-token': ' tok ' }, { kind: 'token', token: 'tok' }],
    ['bearer', { authorization: 'Bearer tok' }, { kind: 'token', token: 'tok' }],
    [
      'API key and session id',
      { 'x-bb-api-key': 'k', 'session-id': 's1' },
      { kind: 'apiKey', apiKey: 'k', sessionId: 's1' },
    ],
    ['API key only', { 'x-bb-api-key': 'k' }, { kind: 'apiKey', apiKey: 'k', sessionId: undefined }],
    [
      'the signing key wins over an API key',
      { 'x-bb-api-key': 'k', 'x-bb-signing-key': 'tok' },
      { kind: 'token', token: 'tok' },
    ],
    ['nothing', {}, undefined],
    ['empty headers', { 'x-bb-signing-key': ' ', 'x-bb-api-key': '' }, undefined],
  ])('%s', (_name, headers, expected) => {
    expect(readWebDriverCredential(headers)).toEqual(expected);
  });
});

describe('implicit WebDriver ids', () => {
  it('carry the session name and split back', () => {
    const id = implicitWebDriverId('3f2a-uuid-like-name', 'abcdef0123');
    expect(splitWebDriverId(id)).toEqual({ sessionName: '3f2a-uuid-like-name', webdriverId: 'abcdef0123' });
  });
  it.each(['abcdef0123', '_abc', 'abc_'])('%s is not one', (id) => {
    expect(splitWebDriverId(id)).toBeUndefined();
  });
});

describe('webdriverRoute', () => {
  it.each([
    ['/session', undefined, '/session'],
    ['/status', undefined, '/status'],
    ['/session/abc', 'abc', ''],
    ['/session/abc/element/1/click', 'abc', '/element/1/click'],
    ['/session/a%5Fb/url', 'a_b', '/url'],
  ])('%s', (path, sessionId, rest) => {
    expect(webdriverRoute(path)).toEqual({ sessionId, rest });
  });
});
