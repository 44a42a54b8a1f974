import { cdpSuite } from './gateway-cdp-suite.js';

// The same connect flows with the test playing the kubelet on loopback: real sidecar and real Chromium per
// pod, bound to a 127.x.y.z pod address. Independent of the local node agent (and of BF_TEST_NO_NODE).
cdpSuite('loopback', 'gwcdplo');
