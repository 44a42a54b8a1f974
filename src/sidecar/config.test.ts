import { describe, expect, it } from 'vitest';
import { ConfigError } from '../shared/config.js';
import { sidecarConfigFromEnv } from './config.js';

const complete = {
  BF_LISTEN_PORT: '9223',
  BF_CHROME_URL: 'http://127.0.0.1:9222',
  BF_METRICS_PORT: '9224',
  BF_SESSION_NAMESPACE: 'team-a',
  BF_SESSION_NAME: 's1',
  BF_SESSION_UID: '6a1f0f5e-0000-4000-8000-000000000001',
  BF_SESSION_TOKEN: 'tok',
  BF_REPORT_URL: 'http://operator.browserfleet-system.svc:8443/v1/connection-reports',
};

describe('sidecarConfigFromEnv', () => {
  it('reads the env contract', () => {
    const config = sidecarConfigFromEnv(complete);
    expect(config).toMatchObject({
      host: '0.0.0.0',
      listenPort: 9223,
      metricsPort: 9224,
      session: { namespace: 'team-a', name: 's1', uid: complete.BF_SESSION_UID },
      sessionToken: 'tok',
      reportUrl: complete.BF_REPORT_URL,
    });
    expect(config.chromeUrl.host).toBe('127.0.0.1:9222');
  });

  it('records the CDP log unless BF_CDP_LOG is off, and refuses anything else', () => {
    expect(sidecarConfigFromEnv(complete).cdpLog).toBe(true);
    expect(sidecarConfigFromEnv({ ...complete, BF_CDP_LOG: 'off' }).cdpLog).toBe(false);
    expect(() => sidecarConfigFromEnv({ ...complete, BF_CDP_LOG: 'no' })).toThrow(/BF_CDP_LOG/);
  });

  it('treats an empty or absent BF_REPORT_URL as "do not report"', () => {
    expect(sidecarConfigFromEnv({ ...complete, BF_REPORT_URL: '' }).reportUrl).toBe('');
    const { BF_REPORT_URL: _, ...withoutReportUrl } = complete;
    expect(sidecarConfigFromEnv(withoutReportUrl).reportUrl).toBe('');
  });

  it.each([
    'BF_LISTEN_PORT',
    'BF_CHROME_URL',
    'BF_METRICS_PORT',
    'BF_SESSION_NAMESPACE',
    'BF_SESSION_NAME',
    'BF_SESSION_UID',
    'BF_SESSION_TOKEN',
  ])('names %s when it is missing', (name) => {
    expect(() => sidecarConfigFromEnv({ ...complete, [name]: undefined })).toThrow(name);
    expect(() => sidecarConfigFromEnv({ ...complete, [name]: '  ' })).toThrow(name);
  });

  it.each([
    ['BF_LISTEN_PORT', 'http'],
    ['BF_METRICS_PORT', '70000'],
    ['BF_CHROME_URL', '127.0.0.1:9222'],
    ['BF_CHROME_URL', 'ws://127.0.0.1:9222'],
    ['BF_REPORT_URL', 'not a url'],
  ])('names %s when it holds %j', (name, value) => {
    expect(() => sidecarConfigFromEnv({ ...complete, [name]: value })).toThrow(name);
  });
});

describe('sidecar config errors', () => {
  it('name every bad variable, one line each', () => {
    expect(() =>
      sidecarConfigFromEnv({ ...complete, BF_LISTEN_PORT: 'http', BF_SESSION_UID: undefined }),
    ).toThrow(
      new ConfigError(
        [
          'config environment: BF_LISTEN_PORT: must be a TCP port number (0-65535)',
          'config environment: BF_SESSION_UID: required, not set (string)',
        ].join('\n'),
      ),
    );
  });
});

describe('BF_DOWNLOAD_DIR', () => {
  it("defaults to the pod's download volume and takes an absolute path", () => {
    expect(sidecarConfigFromEnv(complete).downloadDir).toBe('/var/run/browserfleet/downloads');
    expect(sidecarConfigFromEnv({ ...complete, BF_DOWNLOAD_DIR: '/data/dl' }).downloadDir).toBe('/data/dl');
  });

  it('refuses a relative path, naming the variable', () => {
    expect(() => sidecarConfigFromEnv({ ...complete, BF_DOWNLOAD_DIR: 'downloads' })).toThrow(
      /BF_DOWNLOAD_DIR/,
    );
  });
});
