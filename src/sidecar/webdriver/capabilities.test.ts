import { describe, expect, it } from 'vitest';
import { attachCapabilities } from './capabilities.js';

const AT = '127.0.0.1:9222';

describe('attachCapabilities', () => {
  it.each([
    [
      'selenium-webdriver JS (alwaysMatch + firstMatch [{}])',
      { capabilities: { alwaysMatch: { browserName: 'chrome' }, firstMatch: [{}] } },
      {
        capabilities: {
          alwaysMatch: { browserName: 'chrome' },
          firstMatch: [{ 'goog:chromeOptions': { debuggerAddress: AT } }],
        },
      },
    ],
    [
      'no capabilities at all',
      {},
      { capabilities: { alwaysMatch: { 'goog:chromeOptions': { debuggerAddress: AT } } } },
    ],
    [
      'chromium is chrome, empty launch options are no request, other options pass',
      {
        capabilities: {
          alwaysMatch: {
            browserName: 'chromium',
            webSocketUrl: true,
            'goog:chromeOptions': { args: [], extensions: [], mobileEmulation: { deviceName: 'Pixel 7' } },
          },
        },
      },
      {
        capabilities: {
          alwaysMatch: {
            browserName: 'chrome',
            webSocketUrl: true,
            'goog:chromeOptions': { mobileEmulation: { deviceName: 'Pixel 7' }, debuggerAddress: AT },
          },
        },
      },
    ],
    [
      'an old client with desiredCapabilities only',
      { desiredCapabilities: { browserName: 'chrome' } },
      {
        capabilities: {
          alwaysMatch: { browserName: 'chrome', 'goog:chromeOptions': { debuggerAddress: AT } },
        },
      },
    ],
    [
      'firstMatch entries that cannot be had are skipped',
      { capabilities: { firstMatch: [{ browserName: 'firefox' }, { browserName: 'chrome' }] } },
      {
        capabilities: {
          alwaysMatch: {},
          firstMatch: [{ browserName: 'chrome', 'goog:chromeOptions': { debuggerAddress: AT } }],
        },
      },
    ],
  ])('%s', (_name, body, expected) => {
    expect(attachCapabilities(body, AT)).toEqual({ body: expected });
  });

  it.each([
    ['not an object', [], 400, 'invalid argument', /^body: must be a JSON object/],
    [
      'another browser',
      { capabilities: { alwaysMatch: { browserName: 'firefox' } } },
      500,
      'session not created',
      /alwaysMatch\.browserName: .*"firefox"/,
    ],
    [
      'flags',
      { capabilities: { alwaysMatch: { 'goog:chromeOptions': { args: ['--kiosk'] } } } },
      500,
      'session not created',
      /goog:chromeOptions\.args: the session's Chrome is already running/,
    ],
    [
      'a binary',
      { capabilities: { alwaysMatch: { 'goog:chromeOptions': { binary: '/opt/chrome' } } } },
      500,
      'session not created',
      /goog:chromeOptions\.binary/,
    ],
    [
      'its own debuggerAddress',
      { capabilities: { alwaysMatch: { 'goog:chromeOptions': { debuggerAddress: '10.0.0.1:9222' } } } },
      500,
      'session not created',
      /debuggerAddress/,
    ],
    [
      'preferences',
      {
        capabilities: {
          alwaysMatch: { 'goog:chromeOptions': { prefs: { 'download.default_directory': '/x' } } },
        },
      },
      500,
      'session not created',
      /prefs/,
    ],
    [
      'no firstMatch entry that can be had',
      { capabilities: { firstMatch: [{ browserName: 'safari' }] } },
      500,
      'session not created',
      /firstMatch\[0\]\.browserName/,
    ],
    [
      'an empty firstMatch',
      { capabilities: { firstMatch: [] } },
      400,
      'invalid argument',
      /firstMatch: must be a non-empty list/,
    ],
    [
      'chromeOptions that are not an object',
      { capabilities: { alwaysMatch: { 'goog:chromeOptions': 'x' } } },
      400,
      'invalid argument',
      /goog:chromeOptions: must be an object/,
    ],
  ])('refuses %s', (_name, body, status, error, message) => {
    const out = attachCapabilities(body, AT);
    if (!('refused' in out)) throw new Error('expected a refusal');
    expect(out.refused.status).toBe(status);
    expect(out.refused.error).toBe(error);
    expect(out.refused.message).toMatch(message);
  });
});
