import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { SidecarConfig } from '../sidecar/config.js';

/**
 * A sidecar's config for a test on loopback: any free ports, no operator to report to, fresh download and
 * upload folders, the CDP log on; the test names its Chrome, session and token.
 */
export function testSidecarConfig(
  base: Pick<SidecarConfig, 'chromeUrl' | 'session' | 'sessionToken'>,
  overrides: Partial<SidecarConfig> = {},
): SidecarConfig {
  return {
    host: '127.0.0.1',
    listenPort: 0,
    metricsPort: 0,
    reportUrl: '',
    downloadDir: mkdtempSync(path.join(tmpdir(), 'bf-downloads-')),
    uploadDir: mkdtempSync(path.join(tmpdir(), 'bf-uploads-')),
    cdpLog: true,
    downloadCapBytes: 0,
    // Nothing listens there unless the test starts a chromedriver and names its URL.
    webdriverUrl: new URL('http://127.0.0.1:9'),
    webdriverIdleMs: 300_000,
    reportIntervalMs: 3_600_000,
    clientPingIntervalMs: 20_000,
    ...base,
    ...overrides,
  };
}
