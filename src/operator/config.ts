import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { HEADLESS_CHROME_FLAGS } from '../shared/chrome-flags.js';

export interface OperatorConfig {
  /** Namespace of the operator itself (its Lease lives here). */
  namespace: string;
  /** Only reconcile sessions in this namespace; empty = all namespaces. */
  watchNamespace: string;
  /** Identity in leader election; defaults to the host name plus pid. */
  identity: string;
  workers: number;
  /** HMAC key for session credentials (a Secret in a cluster). */
  sessionKey: string;
  chrome: {
    image: string;
    /** Extra Chromium flags; the operator adds the DevTools, window and profile flags itself. */
    flags: string[];
    resources: { requests?: Record<string, string>; limits?: Record<string, string> };
    shmSize: string;
  };
  sidecar: {
    image: string;
    resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  };
  /** Node label a session's spec.region selects on. */
  regionLabel: string;
  /** How long a non-keep-alive session may sit at zero connections before it ends (absorbs reconnect flaps). */
  disconnectGraceMs: number;
  /** Slack added to the pod's activeDeadlineSeconds over the session timeout; the kubelet's backstop only. */
  podDeadlineSlackSeconds: number;
  /** How the in-cluster connectUrl addresses the pod: its IP (works without cluster DNS) or its Service. */
  connectUrlHost: 'podIP' | 'service';
  /** Where sidecars send connection reports; empty disables reporting. */
  reportUrl: string;
  /** Listen address of the report endpoint (host:port). */
  reportListen: string;
  /** Listen address of /healthz, /readyz and /metrics (host:port). */
  metricsListen: string;
  leaderElection: {
    enabled: boolean;
    leaseName: string;
    leaseDurationSeconds: number;
    renewDeadlineSeconds: number;
    retryPeriodSeconds: number;
  };
  /** Periodic full resync, a safety net for missed wake-ups (level-triggered anyway). */
  resyncSeconds: number;
  /** Extra labels and annotations for browser pods. */
  podLabels: Record<string, string>;
  podAnnotations: Record<string, string>;
  nodeSelector: Record<string, string>;
  tolerations: unknown[];
  /** Pod affinity rules for browser pods, as in a pod spec. */
  affinity: Record<string, unknown>;
  /** Names of Secrets to pull the browser pod's images with. */
  imagePullSecrets: string[];
  priorityClassName: string;
}

export const defaultConfig: OperatorConfig = {
  namespace: 'browserfleet-system',
  watchNamespace: '',
  identity: '',
  // Reconciles wait on the API server far more than they compute; more in flight is more throughput.
  workers: 16,
  sessionKey: '',
  chrome: {
    image: 'browserfleet/chrome:dev',
    flags: [...HEADLESS_CHROME_FLAGS, '--disable-dev-shm-usage'],
    resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '2Gi' } },
    shmSize: '1Gi',
  },
  sidecar: {
    image: 'browserfleet/browserfleet:dev',
    resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
  },
  regionLabel: 'topology.kubernetes.io/region',
  disconnectGraceMs: 1000,
  podDeadlineSlackSeconds: 30,
  connectUrlHost: 'podIP',
  reportUrl: '',
  reportListen: '0.0.0.0:8082',
  metricsListen: '0.0.0.0:8081',
  leaderElection: {
    enabled: true,
    leaseName: 'browserfleet-operator',
    leaseDurationSeconds: 15,
    renewDeadlineSeconds: 10,
    retryPeriodSeconds: 2,
  },
  resyncSeconds: 300,
  podLabels: {},
  podAnnotations: {},
  nodeSelector: {},
  tolerations: [],
  affinity: {},
  imagePullSecrets: [],
  priorityClassName: '',
};

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

/**
 * Config = defaults, then the YAML file (BF_OPERATOR_CONFIG or --config), then env overrides for the
 * settings a deployment typically injects (BF_SESSION_KEY from a Secret, BF_NAMESPACE from the downward API).
 * Every field is checked; an error names the field and what it should be.
 */
export function loadConfig(env: Env = process.env, file?: string): OperatorConfig {
  const path = file ?? env['BF_OPERATOR_CONFIG'];
  const fromFile: unknown = path ? parse(readFileSync(path, 'utf8')) : {};
  const merged = deepMerge(structuredClone(defaultConfig), fromFile ?? {}, '') as OperatorConfig;
  const overrides: [string, keyof OperatorConfig][] = [
    ['BF_NAMESPACE', 'namespace'],
    ['BF_WATCH_NAMESPACE', 'watchNamespace'],
    ['BF_SESSION_KEY', 'sessionKey'],
    ['BF_REPORT_URL', 'reportUrl'],
    ['BF_IDENTITY', 'identity'],
  ];
  for (const [name, key] of overrides) {
    const v = env[name];
    if (v !== undefined) (merged as unknown as Record<string, unknown>)[key] = v;
  }
  if (!merged.identity) merged.identity = `${env['HOSTNAME'] ?? 'operator'}-${process.pid}`;
  validate(merged);
  return merged;
}

function deepMerge(base: unknown, over: unknown, at: string): unknown {
  if (over === null || over === undefined) return base;
  if (isPlainObject(base) && isPlainObject(over)) {
    for (const [k, v] of Object.entries(over)) {
      const field = at ? `${at}.${k}` : k;
      if (!(k in base) && !isFreeForm(at)) throw new ConfigError(`unknown config field "${field}"`);
      base[k] = deepMerge(base[k], v, field);
    }
    return base;
  }
  return over;
}

const isFreeForm = (at: string) =>
  ['podLabels', 'podAnnotations', 'nodeSelector', 'affinity'].includes(at) ||
  at.endsWith('resources.requests') ||
  at.endsWith('resources.limits');

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function validate(c: OperatorConfig): void {
  const fail = (field: string, want: string, got: unknown) => {
    throw new ConfigError(`config field "${field}" must be ${want}, got ${JSON.stringify(got)}`);
  };
  const str = (field: string, v: unknown, nonEmpty = false) => {
    if (typeof v !== 'string' || (nonEmpty && v === ''))
      fail(field, nonEmpty ? 'a non-empty string' : 'a string', v);
  };
  const int = (field: string, v: unknown, min: number, max: number) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      fail(field, `an integer in ${min}..${max}`, v);
  };
  const hostPort = (field: string, v: unknown) => {
    if (typeof v !== 'string' || !/^[^\s:]*:\d{1,5}$/.test(v)) fail(field, 'host:port', v);
  };
  str('namespace', c.namespace, true);
  str('watchNamespace', c.watchNamespace);
  int('workers', c.workers, 1, 64);
  str('sessionKey', c.sessionKey, true);
  if (c.sessionKey.length < 16)
    fail('sessionKey', 'at least 16 characters (set BF_SESSION_KEY)', '<redacted>');
  str('chrome.image', c.chrome.image, true);
  if (!Array.isArray(c.chrome.flags) || c.chrome.flags.some((f) => typeof f !== 'string'))
    fail('chrome.flags', 'a list of strings', c.chrome.flags);
  str('chrome.shmSize', c.chrome.shmSize, true);
  str('sidecar.image', c.sidecar.image, true);
  str('regionLabel', c.regionLabel, true);
  int('disconnectGraceMs', c.disconnectGraceMs, 0, 60_000);
  int('podDeadlineSlackSeconds', c.podDeadlineSlackSeconds, 0, 3600);
  if (c.connectUrlHost !== 'podIP' && c.connectUrlHost !== 'service')
    fail('connectUrlHost', '"podIP" or "service"', c.connectUrlHost);
  str('reportUrl', c.reportUrl);
  hostPort('reportListen', c.reportListen);
  hostPort('metricsListen', c.metricsListen);
  const le = c.leaderElection;
  int('leaderElection.leaseDurationSeconds', le.leaseDurationSeconds, 2, 600);
  int('leaderElection.renewDeadlineSeconds', le.renewDeadlineSeconds, 1, le.leaseDurationSeconds - 1);
  int('leaderElection.retryPeriodSeconds', le.retryPeriodSeconds, 1, le.renewDeadlineSeconds);
  int('resyncSeconds', c.resyncSeconds, 10, 86_400);
  if (!Array.isArray(c.imagePullSecrets) || c.imagePullSecrets.some((n) => typeof n !== 'string' || n === ''))
    fail('imagePullSecrets', 'a list of Secret names', c.imagePullSecrets);
}

export function splitHostPort(hp: string): { host: string; port: number } {
  const i = hp.lastIndexOf(':');
  return { host: hp.slice(0, i) || '0.0.0.0', port: Number(hp.slice(i + 1)) };
}
