import { z } from 'zod';
import { artifactEnvOverrides, artifactStoreConfigSchema } from '../shared/artifacts/config.js';
import {
  ConfigError,
  type Env,
  envOverrides,
  hostPort,
  intIn,
  loadConfig,
  parseConfig,
} from '../shared/config.js';

export { ConfigError as GatewayConfigError };

/** An http(s) origin: scheme, host and port, no path, query or fragment. */
const origin = z.string().refine((v) => {
  try {
    const url = new URL(v);
    return ['http:', 'https:'].includes(url.protocol) && url.pathname === '/' && !url.search && !url.hash;
  } catch {
    return false;
  }
}, 'must be an http(s) origin without path or query');

const fields = z.strictObject({
  /** host:port of the API, CDP and live-view server. */
  listen: hostPort.default('0.0.0.0:8080'),
  /** host:port of /healthz, /readyz and /metrics. */
  metricsListen: hostPort.default('0.0.0.0:8081'),
  /**
   * The origin clients reach the gateway at (http or https, no path); connectUrl, wsEndpoint and the
   * live-view links are built from it (ws/wss follows the scheme).
   */
  publicUrl: origin.default('http://127.0.0.1:8080'),
  /** HMAC key for session credentials; the same as the operator's (a Secret in a cluster). */
  sessionKey: z.string().default(''),
  /** Only serve sessions in this namespace; empty = all namespaces. */
  watchNamespace: z.string().default(''),
  /** Longest a create waits for the browser before answering PENDING (the Hyperbrowser SDK gives up at 30 s). */
  createWaitMs: intIn(0, 25_000).default(5000),
  /** Longest a release waits for the session to end before answering with its current status. */
  releaseWaitMs: intIn(0, 25_000).default(5000),
  /** Longest a CDP connect waits for a starting (or queued) session to become Running. */
  connectWaitMs: intIn(0, 600_000).default(60_000),
  /**
   * How often a proxied CDP connection's pod side is pinged; one left unanswered until the next ping closes the
   * connection (a deleted pod sends no FIN, and the client would otherwise wait for its own timeout).
   */
  upstreamPingMs: intIn(100, 600_000).default(5000),
  /** Largest request body accepted. */
  maxBodyBytes: intIn(1024, 16 * 1024 * 1024).default(64 * 1024),
  /** Largest file a session upload may be (streamed to the browser's pod, never held in memory). */
  uploadMaxBytes: intIn(1, 4 * 1024 * 1024 * 1024).default(100 * 1024 * 1024),
  /** SDK region name → spec.region (a node label value); empty = single region, nothing enforced. */
  regions: z.record(z.string(), z.string()).default({}),
  /** The Browserbase `region` reported for sessions without one. */
  defaultRegion: z.string().min(1).default('us-west-2'),
  /** How long API keys read from Secrets are trusted before they are read again. */
  apiKeyCacheSeconds: intIn(1, 3600).default(30),
  /** Lifetime of a live-view link when the caller does not ask for one. */
  liveViewTtlSeconds: intIn(1, 7 * 24 * 3600).default(3600),
  /** The S3-compatible store the artifact endpoints read (downloads); off by default. */
  artifacts: artifactStoreConfigSchema.prefault({}),
});

/** The gateway's config file (charts/browserfleet/templates/_config.tpl renders it). */
export const gatewayConfigSchema = fields.superRefine((c, ctx) => {
  if (c.sessionKey.length < 16)
    ctx.addIssue({
      code: 'custom',
      path: ['sessionKey'],
      message: 'must be at least 16 characters (set BF_SESSION_KEY)',
    });
});

export type GatewayConfig = z.output<typeof gatewayConfigSchema>;

/** Every field at its default; `sessionKey` is empty, which loading refuses. */
export const defaultGatewayConfig: GatewayConfig = fields.parse({});

/** The env a deployment injects: BF_SESSION_KEY from a Secret, the addresses from `make dev` or a chart. */
const ENV_OVERRIDES = {
  BF_SESSION_KEY: 'sessionKey',
  BF_GATEWAY_PUBLIC_URL: 'publicUrl',
  BF_GATEWAY_LISTEN: 'listen',
  BF_GATEWAY_METRICS_LISTEN: 'metricsListen',
  BF_WATCH_NAMESPACE: 'watchNamespace',
  ...artifactEnvOverrides('artifacts'),
};

/** Config = defaults, under the YAML file (BF_GATEWAY_CONFIG or --config), under the env overrides. */
export function loadGatewayConfig(env: Env = process.env, file?: string): GatewayConfig {
  return loadConfig(gatewayConfigSchema, {
    file: file ?? env['BF_GATEWAY_CONFIG'],
    overrides: envOverrides(env, ENV_OVERRIDES),
  });
}

/** Checks a config built in code (tests, benchmarks) as strictly as a file. */
export function validateGatewayConfig(c: GatewayConfig): GatewayConfig {
  return parseConfig(gatewayConfigSchema, c, '(in code)');
}

/** Public base URLs derived from publicUrl: http(s) for pages, ws(s) for CDP. */
export function publicBases(c: Pick<GatewayConfig, 'publicUrl'>): { http: string; ws: string } {
  const url = new URL(c.publicUrl);
  const http = `${url.protocol}//${url.host}`;
  return { http, ws: `${url.protocol === 'https:' ? 'wss:' : 'ws:'}//${url.host}` };
}
