import { liveViewSuite } from './gateway-live-view-suite.js';

// Live view on the suite's local node: the gateway's screencast connection goes to the pod IP.
liveViewSuite('node', 'gwlive');
