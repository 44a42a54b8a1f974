import { cdpSuite } from './gateway-cdp-suite.js';

// The whole path for real: the official SDKs create sessions through the gateway, real Chrome starts in its
// own pod network namespace on the suite's local node, and Playwright and Puppeteer connect through the
// gateway (which proxies to the pod IP) and drive a page this test serves.
cdpSuite('node', 'gwcdp');
