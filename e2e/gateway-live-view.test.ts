import { describe } from 'vitest';
import { liveViewSuite } from './gateway-live-view-suite.js';

// Live view on the suite's local node: the gateway's screencast connection goes to the pod IP.
//
// Skipped for now, for the reason given in gateway-cdp.test.ts (Chrome exits with code 134 in local-node pods);
// gateway-live-view-loopback.test.ts runs the same checks. Enable by removing `.skip`.
describe.skip('live view on the local node', () => {
  liveViewSuite('localnode', 'gwlive');
});
