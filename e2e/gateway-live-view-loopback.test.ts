import { liveViewSuite } from './gateway-live-view-suite.js';

// Live view with the test playing the kubelet on loopback (real sidecar and Chromium, no node agent).
liveViewSuite('loopback', 'gwlivelo');
