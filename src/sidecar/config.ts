export interface SessionIdentity {
  namespace: string;
  name: string;
  uid: string;
}

export interface SidecarConfig {
  /** Address the CDP proxy binds; 0.0.0.0 in a pod, 127.0.0.1 in tests. */
  host: string;
  listenPort: number;
  metricsPort: number;
  /** Chrome's DevTools HTTP root, e.g. http://127.0.0.1:9222. */
  chromeUrl: URL;
  session: SessionIdentity;
  sessionToken: string;
  /** Empty: reporting is off (local runs without an operator). */
  reportUrl: string;
  reportIntervalMs: number;
  /** Idle client legs get a ws ping this often, so intermediate proxies don't drop quiet sockets. */
  clientPingIntervalMs: number;
}

type Env = Record<string, string | undefined>;

function required(env: Env, name: string): string {
  const value = env[name]?.trim();
  if (!value) throw new Error(`sidecar: environment variable ${name} is required`);
  return value;
}

function port(env: Env, name: string): number {
  const raw = required(env, name);
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new Error(`sidecar: ${name} must be a TCP port number (0-65535), got "${raw}"`);
  }
  return value;
}

function httpUrl(name: string, raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`sidecar: ${name} must be an absolute URL, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`sidecar: ${name} must be an http(s) URL, got "${raw}"`);
  }
  return url;
}

/** Reads the env contract the operator puts on the sidecar container; throws naming the first bad variable. */
export function sidecarConfigFromEnv(env: Env): SidecarConfig {
  const chromeUrl = httpUrl('BF_CHROME_URL', required(env, 'BF_CHROME_URL'));
  if (chromeUrl.protocol !== 'http:') throw new Error('sidecar: BF_CHROME_URL must be an http:// URL');
  const reportUrl = env['BF_REPORT_URL']?.trim() ?? '';
  if (reportUrl) httpUrl('BF_REPORT_URL', reportUrl);
  return {
    host: '0.0.0.0',
    listenPort: port(env, 'BF_LISTEN_PORT'),
    metricsPort: port(env, 'BF_METRICS_PORT'),
    chromeUrl,
    session: {
      namespace: required(env, 'BF_SESSION_NAMESPACE'),
      name: required(env, 'BF_SESSION_NAME'),
      uid: required(env, 'BF_SESSION_UID'),
    },
    sessionToken: required(env, 'BF_SESSION_TOKEN'),
    reportUrl,
    reportIntervalMs: 10_000,
    clientPingIntervalMs: 20_000,
  };
}
