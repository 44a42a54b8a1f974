import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The gateway's metrics. Routes are the Express route patterns (bounded), never raw paths; session ids are
 * never labels. Projects are, as in the operator: their number is small and set by the platform team.
 */
export function createGatewayMetrics() {
  const registry = new Registry();
  return {
    registry,
    requests: new Counter({
      name: 'browserfleet_gateway_http_requests_total',
      help: 'HTTP requests answered, by route pattern, method and status',
      labelNames: ['route', 'method', 'status'],
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: 'browserfleet_gateway_http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by route pattern',
      labelNames: ['route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    createLatency: new Histogram({
      name: 'browserfleet_gateway_session_create_seconds',
      help: 'Time to answer a session create, by SDK dialect and outcome',
      labelNames: ['dialect', 'outcome'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13],
      registers: [registry],
    }),
    openConnections: new Gauge({
      name: 'browserfleet_gateway_open_connections',
      help: 'Open proxied websockets, by kind (cdp, live)',
      labelNames: ['kind'],
      registers: [registry],
    }),
    connects: new Counter({
      name: 'browserfleet_gateway_connects_total',
      help: 'Websocket connects, by kind and outcome (the HTTP status of a refusal, or "ok")',
      labelNames: ['kind', 'outcome'],
      registers: [registry],
    }),
    connectWait: new Histogram({
      name: 'browserfleet_gateway_connect_wait_seconds',
      help: 'Time a connect waited for its session to become Running',
      buckets: [0, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers: [registry],
    }),
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
