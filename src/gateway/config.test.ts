import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadGatewayConfig, publicBases } from './config.js';

const KEY = 'k'.repeat(32);

describe('loadGatewayConfig', () => {
  it('takes defaults, then the file, then the env', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bf-gw-config-'));
    const file = join(dir, 'gateway.yaml');
    writeFileSync(
      file,
      'publicUrl: https://browsers.example.test\nregions:\n  eu-central-1: eu\ncreateWaitMs: 1000\n',
    );
    const c = loadGatewayConfig({ BF_SESSION_KEY: KEY, BF_GATEWAY_LISTEN: '127.0.0.1:0' }, file);
    expect(c).toMatchObject({
      publicUrl: 'https://browsers.example.test',
      regions: { 'eu-central-1': 'eu' },
      createWaitMs: 1000,
      listen: '127.0.0.1:0',
      sessionKey: KEY,
    });
    expect(publicBases(c)).toEqual({
      http: 'https://browsers.example.test',
      ws: 'wss://browsers.example.test',
    });
  });

  it.each([
    [{}, 'config field "sessionKey" must be at least 16 characters (set BF_SESSION_KEY), got "<redacted>"'],
    [
      { BF_SESSION_KEY: KEY, BF_GATEWAY_PUBLIC_URL: 'ftp://x' },
      'config field "publicUrl" must be an http(s) origin without path or query, got "ftp://x"',
    ],
    [
      { BF_SESSION_KEY: KEY, BF_GATEWAY_PUBLIC_URL: 'http://x/prefix' },
      'config field "publicUrl" must be an http(s) origin without path or query, got "http://x/prefix"',
    ],
    [
      { BF_SESSION_KEY: KEY, BF_GATEWAY_LISTEN: '8080' },
      'config field "listen" must be host:port, got "8080"',
    ],
  ])('names the bad field: %j', (env, message) => {
    expect(() => loadGatewayConfig(env)).toThrow(message);
  });

  it('refuses unknown fields and out-of-range numbers in the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bf-gw-config-'));
    const unknown = join(dir, 'a.yaml');
    writeFileSync(unknown, 'publicURL: http://x\n');
    expect(() => loadGatewayConfig({ BF_SESSION_KEY: KEY }, unknown)).toThrow(
      'unknown config field "publicURL"',
    );
    const slow = join(dir, 'b.yaml');
    writeFileSync(slow, 'createWaitMs: 40000\n');
    expect(() => loadGatewayConfig({ BF_SESSION_KEY: KEY }, slow)).toThrow(
      'config field "createWaitMs" must be an integer in 0..25000, got 40000',
    );
  });
});
