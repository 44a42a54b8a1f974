import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  defaultGatewayConfig,
  GatewayConfigError,
  loadGatewayConfig,
  publicBases,
  validateGatewayConfig,
} from './config.js';

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

  it('applies the defaults, and they pass the schema themselves', () => {
    const c = loadGatewayConfig({ BF_SESSION_KEY: KEY });
    expect(c).toEqual({ ...defaultGatewayConfig, sessionKey: KEY });
    expect(c).toMatchObject({ listen: '0.0.0.0:8080', createWaitMs: 5000, regions: {} });
    expect(validateGatewayConfig(c)).toEqual(c);
  });

  it.each([
    [{}, 'config (no file): sessionKey: must be at least 16 characters (set BF_SESSION_KEY)'],
    [
      { BF_SESSION_KEY: KEY, BF_GATEWAY_PUBLIC_URL: 'ftp://x' },
      'config (no file): publicUrl (from BF_GATEWAY_PUBLIC_URL): must be an http(s) origin without path or query',
    ],
    [
      { BF_SESSION_KEY: KEY, BF_GATEWAY_PUBLIC_URL: 'http://x/prefix' },
      'config (no file): publicUrl (from BF_GATEWAY_PUBLIC_URL): must be an http(s) origin without path or query',
    ],
    [
      { BF_SESSION_KEY: KEY, BF_GATEWAY_LISTEN: '8080' },
      'config (no file): listen (from BF_GATEWAY_LISTEN): must be host:port',
    ],
  ])('names the bad field: %j', (env, message) => {
    expect(() => loadGatewayConfig(env)).toThrow(new GatewayConfigError(message));
  });

  it.each([
    [
      'publicURL: http://x\n',
      'publicURL: unknown key (known: listen, metricsListen, publicUrl, sessionKey, watchNamespace, createWaitMs, releaseWaitMs, connectWaitMs, upstreamPingMs, maxBodyBytes, uploadMaxBytes, regions, defaultRegion, apiKeyCacheSeconds, liveViewTtlSeconds, artifacts)',
    ],
    ['createWaitMs: 40000\n', 'createWaitMs: Too big: expected number to be <=25000'],
    ['createWaitMs: soon\n', 'createWaitMs: Invalid input: expected number, received string'],
    ['regions: { eu: 1 }\n', 'regions.eu: Invalid input: expected string, received number'],
    ['regions: [eu]\n', 'regions: Invalid input: expected record, received array'],
    ['artifacts: { enabled: true }\n', 'artifacts.s3.bucket: required when artifacts are enabled'],
    [
      'artifacts: { s3: { bucket: b, pathStyle: true } }\n',
      'artifacts.s3.pathStyle: unknown key (known: endpoint, bucket, region, forcePathStyle, prefix, accessKeyId, secretAccessKey, stallTimeoutMs, maxAttempts)',
    ],
  ])('refuses %j in the file, naming the path', (yaml, message) => {
    const dir = mkdtempSync(join(tmpdir(), 'bf-gw-config-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, yaml);
    expect(() => loadGatewayConfig({ BF_SESSION_KEY: KEY }, file)).toThrow(
      new GatewayConfigError(`config ${file}: ${message}`),
    );
  });

  it('takes the artifact store from the file and its credentials from the env (a Secret)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bf-gw-config-'));
    const file = join(dir, 'gateway.yaml');
    writeFileSync(
      file,
      'artifacts:\n  enabled: true\n  s3: { endpoint: "http://127.0.0.1:8333", bucket: artifacts, forcePathStyle: true }\n',
    );
    const c = loadGatewayConfig(
      {
        BF_SESSION_KEY: KEY,
        BF_ARTIFACTS_S3_ACCESS_KEY_ID: 'AKID',
        BF_ARTIFACTS_S3_SECRET_ACCESS_KEY: 'shh',
      },
      file,
    );
    expect(c.artifacts).toMatchObject({
      enabled: true,
      s3: { bucket: 'artifacts', forcePathStyle: true, accessKeyId: 'AKID', secretAccessKey: 'shh' },
    });
    expect(() =>
      loadGatewayConfig({ BF_SESSION_KEY: KEY, BF_ARTIFACTS_S3_ACCESS_KEY_ID: 'AKID' }, file),
    ).toThrow('artifacts.s3.secretAccessKey: set both accessKeyId and secretAccessKey, or neither');
  });
});
