import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export interface GatewayConfig {
  /** host:port of the API, CDP and live-view server. */
  listen: string;
  /** host:port of /healthz, /readyz and /metrics. */
  metricsListen: string;
  /**
   * The origin clients reach the gateway at (http or https, no path); connectUrl, wsEndpoint and the live-view
   * links are built from it (ws/wss follows the scheme).
   */
  publicUrl: string;
  /** HMAC key for session credentials; the same as the operator's (a Secret in a cluster). */
  sessionKey: string;
  /** Only serve sessions in this namespace; empty = all namespaces. */
  watchNamespace: string;
  /** Longest a create waits for the browser before answering PENDING (the Hyperbrowser SDK gives up at 30 s). */
  createWaitMs: number;
  /** Longest a release waits for the session to end before answering with its current status. */
  releaseWaitMs: number;
  /** Longest a CDP connect waits for a starting (or queued) session to become Running. */
  connectWaitMs: number;
  /** Largest request body accepted. */
  maxBodyBytes: number;
  /** SDK region name → spec.region (a node label value); empty = single region, nothing enforced. */
  regions: Record<string, string>;
  /** The Browserbase `region` reported for sessions without one. */
  defaultRegion: string;
  /** How long API keys read from Secrets are trusted before they are read again. */
  apiKeyCacheSeconds: number;
  /** Lifetime of a live-view link when the caller does not ask for one. */
  liveViewTtlSeconds: number;
}

export const defaultGatewayConfig: GatewayConfig = {
  listen: '0.0.0.0:8080',
  metricsListen: '0.0.0.0:8081',
  publicUrl: 'http://127.0.0.1:8080',
  sessionKey: '',
  watchNamespace: '',
  createWaitMs: 5000,
  releaseWaitMs: 5000,
  connectWaitMs: 60_000,
  maxBodyBytes: 64 * 1024,
  regions: {},
  defaultRegion: 'us-west-2',
  apiKeyCacheSeconds: 30,
  liveViewTtlSeconds: 3600,
};

export class GatewayConfigError extends Error {}

type Env = Record<string, string | undefined>;

/**
 * Config = defaults, then the YAML file (BF_GATEWAY_CONFIG or --config), then the env a deployment injects
 * (BF_SESSION_KEY from a Secret, BF_GATEWAY_PUBLIC_URL, BF_GATEWAY_LISTEN, BF_WATCH_NAMESPACE). Every field is
 * checked; an error names the field and what it should be.
 */
export function loadGatewayConfig(env: Env = process.env, file?: string): GatewayConfig {
  const path = file ?? env['BF_GATEWAY_CONFIG'];
  const fromFile: unknown = path ? parse(readFileSync(path, 'utf8')) : {};
  const config: GatewayConfig = structuredClone(defaultGatewayConfig);
  if (fromFile !== null && fromFile !== undefined) {
    if (typeof fromFile !== 'object' || Array.isArray(fromFile))
      throw new GatewayConfigError('config file must hold a mapping');
    for (const [k, v] of Object.entries(fromFile)) {
      if (!(k in config)) throw new GatewayConfigError(`unknown config field "${k}"`);
      (config as unknown as Record<string, unknown>)[k] = v;
    }
  }
  const overrides: [string, keyof GatewayConfig][] = [
    ['BF_SESSION_KEY', 'sessionKey'],
    ['BF_GATEWAY_PUBLIC_URL', 'publicUrl'],
    ['BF_GATEWAY_LISTEN', 'listen'],
    ['BF_GATEWAY_METRICS_LISTEN', 'metricsListen'],
    ['BF_WATCH_NAMESPACE', 'watchNamespace'],
  ];
  for (const [name, key] of overrides) {
    const v = env[name];
    if (v !== undefined) (config as unknown as Record<string, unknown>)[key] = v;
  }
  validateGatewayConfig(config);
  return config;
}

export function validateGatewayConfig(c: GatewayConfig): void {
  const fail = (field: string, want: string, got: unknown): never => {
    throw new GatewayConfigError(`config field "${field}" must be ${want}, got ${JSON.stringify(got)}`);
  };
  const int = (field: keyof GatewayConfig, min: number, max: number) => {
    const v = c[field];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      fail(field, `an integer in ${min}..${max}`, v);
  };
  const hostPort = (field: keyof GatewayConfig) => {
    const v = c[field];
    if (typeof v !== 'string' || !/^[^\s:]*:\d{1,5}$/.test(v)) fail(field, 'host:port', v);
  };
  hostPort('listen');
  hostPort('metricsListen');
  let url: URL | undefined;
  try {
    url = new URL(c.publicUrl);
  } catch {
    fail('publicUrl', 'an http(s) URL', c.publicUrl);
  }
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.pathname !== '/' || url.search || url.hash) {
    fail('publicUrl', 'an http(s) origin without path or query', c.publicUrl);
  }
  if (typeof c.sessionKey !== 'string' || c.sessionKey.length < 16) {
    fail('sessionKey', 'at least 16 characters (set BF_SESSION_KEY)', '<redacted>');
  }
  if (typeof c.watchNamespace !== 'string') fail('watchNamespace', 'a string', c.watchNamespace);
  int('createWaitMs', 0, 25_000);
  int('releaseWaitMs', 0, 25_000);
  int('connectWaitMs', 0, 600_000);
  int('maxBodyBytes', 1024, 16 * 1024 * 1024);
  int('apiKeyCacheSeconds', 1, 3600);
  int('liveViewTtlSeconds', 1, 7 * 24 * 3600);
  if (typeof c.regions !== 'object' || c.regions === null || Array.isArray(c.regions)) {
    fail('regions', 'a mapping of SDK region to node label value', c.regions);
  }
  for (const [k, v] of Object.entries(c.regions))
    if (typeof v !== 'string') fail(`regions.${k}`, 'a string', v);
  if (typeof c.defaultRegion !== 'string' || c.defaultRegion === '')
    fail('defaultRegion', 'a non-empty string', c.defaultRegion);
}

/** Public base URLs derived from publicUrl: http(s) for pages, ws(s) for CDP. */
export function publicBases(c: Pick<GatewayConfig, 'publicUrl'>): { http: string; ws: string } {
  const url = new URL(c.publicUrl);
  const http = `${url.protocol}//${url.host}`;
  return { http, ws: `${url.protocol === 'https:' ? 'wss:' : 'ws:'}//${url.host}` };
}
