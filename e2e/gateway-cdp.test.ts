import { describe } from 'vitest';
import { cdpSuite } from './gateway-cdp-suite.js';

// The whole path for real: the official SDKs create sessions through the gateway, real Chrome starts in its
// own pod network namespace on the suite's local node, and Playwright and Puppeteer connect through the
// gateway (which proxies to the pod IP) and drive a page this test serves.
//
// Skipped for now: on the suite's local node, Chrome in the browser pod exits with code 134 right after it
// starts (e2e/session-lifecycle.test.ts fails the same way), so every connect correctly gets 410 Gone. The
// same flows pass with the test playing the kubelet (gateway-cdp-loopback.test.ts). Enable by removing `.skip`.
describe.skip('gateway CDP flows on the local node', () => {
  cdpSuite('localnode', 'gwcdp');
});
