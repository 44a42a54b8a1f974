import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { Direction } from '../shared/ws/ws-pipe.js';
import type { ConnectionLevel } from './connection-state.js';

/**
 * The sidecar's Prometheus metrics, on a Registry of its own (never the global one, so tests can build
 * several sidecars in one process). One pod is one session, so no label ever names a session.
 */
export function createSidecarMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'browserfleet_sidecar_' });
  const labelNames = ['level'] as const;
  const openConnections = new Gauge({
    name: 'browserfleet_sidecar_open_connections',
    help: 'Client websockets currently proxied to Chrome',
    labelNames,
    registers: [registry],
  });
  const connects = new Counter({
    name: 'browserfleet_sidecar_client_connects_total',
    help: 'Client websockets accepted and joined to Chrome',
    labelNames,
    registers: [registry],
  });
  const disconnects = new Counter({
    name: 'browserfleet_sidecar_client_disconnects_total',
    help: 'Client websockets closed',
    labelNames,
    registers: [registry],
  });
  const bytes = new Counter({
    name: 'browserfleet_sidecar_proxied_bytes_total',
    help: 'Websocket payload bytes relayed',
    labelNames: ['direction'],
    registers: [registry],
  });
  const messages = new Counter({
    name: 'browserfleet_sidecar_proxied_messages_total',
    help: 'Websocket messages relayed',
    labelNames: ['direction'],
    registers: [registry],
  });
  const authFailures = new Counter({
    name: 'browserfleet_sidecar_auth_failures_total',
    help: 'Requests and upgrades refused for a missing or wrong session token',
    registers: [registry],
  });
  const reportAttempts = new Counter({
    name: 'browserfleet_sidecar_report_attempts_total',
    help: 'Connection reports sent to the operator',
    registers: [registry],
  });
  const reportFailures = new Counter({
    name: 'browserfleet_sidecar_report_failures_total',
    help: 'Connection reports that failed (network error or non-2xx other than 409)',
    registers: [registry],
  });
  const openPages = new Gauge({
    name: 'browserfleet_sidecar_open_pages',
    help: 'Page targets open in Chrome',
    registers: [registry],
  });
  const chromeReachable = new Gauge({
    name: 'browserfleet_sidecar_chrome_reachable',
    help: "1 while the sidecar's own CDP connection to Chrome is open",
    registers: [registry],
  });

  // Children bound once: the relay path counts every message, and a label lookup per message is waste.
  // The sidecar's upstream is Chrome: the label values name it, as dashboards already read them.
  const relay = {
    client_to_upstream: {
      bytes: bytes.labels('client_to_chrome'),
      messages: messages.labels('client_to_chrome'),
    },
    upstream_to_client: {
      bytes: bytes.labels('chrome_to_client'),
      messages: messages.labels('chrome_to_client'),
    },
  } satisfies Record<Direction, unknown>;
  for (const level of ['browser', 'page', 'webdriver'] satisfies ConnectionLevel[]) {
    openConnections.labels(level).set(0);
    connects.labels(level).inc(0);
    disconnects.labels(level).inc(0);
  }

  return {
    registry,
    connected(level: ConnectionLevel) {
      openConnections.labels(level).inc();
      connects.labels(level).inc();
    },
    disconnected(level: ConnectionLevel) {
      openConnections.labels(level).dec();
      disconnects.labels(level).inc();
    },
    relayed(direction: Direction, byteCount: number) {
      relay[direction].bytes.inc(byteCount);
      relay[direction].messages.inc();
    },
    authFailed: () => authFailures.inc(),
    reportAttempted: () => reportAttempts.inc(),
    reportFailed: () => reportFailures.inc(),
    setPages: (n: number) => openPages.set(n),
    setChromeReachable: (up: boolean) => chromeReachable.set(up ? 1 : 0),
  };
}

export type SidecarMetrics = ReturnType<typeof createSidecarMetrics>;
