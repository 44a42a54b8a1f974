import { z } from 'zod';
import { artifactEnvOverrides, artifactStoreConfigSchema } from '../shared/artifacts/config.js';
import { HEADLESS_CHROME_FLAGS } from '../shared/chrome-flags.js';
import {
  ConfigError,
  type Env,
  envOverrides,
  hostPort,
  intIn,
  loadConfig as loadConfigWith,
} from '../shared/config.js';
import { isQuantity } from '../shared/quantity.js';

export { ConfigError };

/**
 * A Kubernetes quantity. The chart's values schema allows plain numbers (`cpu: 1`) as the API server does;
 * they become their string form, which is what a pod spec holds.
 */
const quantity = (message: string) =>
  z
    .union([z.string(), z.number().min(0)], { error: message })
    .transform(String)
    .refine(isQuantity, message);

const quantities = z.record(z.string(), quantity('must be a Kubernetes quantity such as "500m" or "1Gi"'));

/** A container's requests and limits; each map given in the file replaces the default one as a whole. */
const resources = (requests: Record<string, string>, limits: Record<string, string>) =>
  z.strictObject({ requests: quantities.default(requests), limits: quantities.default(limits) }).prefault({});

const fields = z.strictObject({
  /** Namespace of the operator itself (its Lease lives here). */
  namespace: z.string().min(1).default('browserfleet-system'),
  /** Only reconcile sessions in this namespace; empty = all namespaces. */
  watchNamespace: z.string().default(''),
  /** Identity in leader election; empty = the host name plus pid. */
  identity: z.string().default(''),
  // Reconciles wait on the API server far more than they compute; more in flight is more throughput.
  workers: intIn(1, 64).default(16),
  /** HMAC key for session credentials (a Secret in a cluster); required, checked below. */
  sessionKey: z.string().default(''),
  chrome: z
    .strictObject({
      image: z.string().min(1).default('browserfleet/chrome:dev'),
      /** Extra Chromium flags; the operator adds the DevTools, window and profile flags itself. */
      flags: z.array(z.string()).default([...HEADLESS_CHROME_FLAGS, '--disable-dev-shm-usage']),
      resources: resources({ cpu: '500m', memory: '1Gi' }, { memory: '2Gi' }),
      shmSize: quantity('must be a Kubernetes quantity such as "1Gi"').default('1Gi'),
    })
    .prefault({}),
  sidecar: z
    .strictObject({
      image: z.string().min(1).default('browserfleet/browserfleet:dev'),
      resources: resources({ cpu: '50m', memory: '64Mi' }, { memory: '256Mi' }),
    })
    .prefault({}),
  /** The pod's chromedriver (ADR 0014): runs from the Chrome image, attached to the session's Chrome. */
  webdriver: z
    .strictObject({
      resources: resources({ cpu: '10m', memory: '32Mi' }, { memory: '256Mi' }),
      /**
       * A WebDriver session that sends no command for this long is ended (HTTP has no disconnect), which ends a
       * keepAlive:false browser session like a CDP client's disconnect; Selenium Grid's default is the same.
       */
      idleSeconds: intIn(1, 86_400).default(300),
    })
    .prefault({}),
  /** Node label a session's spec.region selects on. */
  regionLabel: z.string().min(1).default('topology.kubernetes.io/region'),
  /** How long a non-keep-alive session may sit at zero connections before it ends (absorbs reconnect flaps). */
  disconnectGraceMs: intIn(0, 60_000).default(1000),
  /**
   * How long a browser pod's node may be NotReady or unreachable before its sessions end Failed/NodeLost (a
   * node whose Node object is gone is lost at once). Longer than a kubelet restart, so that one keeps them;
   * the default is the node controller's own grace for a silent node.
   */
  nodeLostGraceSeconds: intIn(0, 3600).default(40),
  /** Slack added to the pod's activeDeadlineSeconds over the session timeout; the kubelet's backstop only. */
  podDeadlineSlackSeconds: intIn(0, 3600).default(30),
  /** How the in-cluster connectUrl addresses the pod: its IP (works without cluster DNS) or its Service. */
  connectUrlHost: z.enum(['podIP', 'service']).default('podIP'),
  /** Where sidecars send connection reports; empty disables reporting. */
  reportUrl: z.string().default(''),
  /** Listen address of the report endpoint (host:port). */
  reportListen: hostPort.default('0.0.0.0:8082'),
  /** Listen address of /healthz, /readyz and /metrics (host:port). */
  metricsListen: hostPort.default('0.0.0.0:8081'),
  leaderElection: z
    .strictObject({
      enabled: z.boolean().default(true),
      leaseName: z.string().min(1).default('browserfleet-operator'),
      leaseDurationSeconds: intIn(2, 600).default(15),
      renewDeadlineSeconds: intIn(1, 599).default(10),
      retryPeriodSeconds: intIn(1, 599).default(2),
    })
    .prefault({}),
  /** Periodic full resync, a safety net for missed wake-ups (level-triggered anyway). */
  resyncSeconds: intIn(10, 86_400).default(300),
  /** Extra labels and annotations for browser pods. */
  podLabels: z.record(z.string(), z.string()).default({}),
  podAnnotations: z.record(z.string(), z.string()).default({}),
  nodeSelector: z.record(z.string(), z.string()).default({}),
  /** Tolerations of browser pods, as in a pod spec. */
  tolerations: z.array(z.record(z.string(), z.unknown())).default([]),
  /** Pod affinity rules for browser pods, as in a pod spec. */
  affinity: z.record(z.string(), z.unknown()).default({}),
  /** Names of Secrets to pull the browser pod's images with. */
  imagePullSecrets: z.array(z.string().min(1)).default([]),
  priorityClassName: z.string().default(''),
  /** The S3-compatible store the collector copies sessions' artifacts into (ADR 0012); off by default. */
  artifacts: artifactStoreConfigSchema.prefault({}),
  artifactCollector: z
    .strictObject({
      /**
       * How long an ended session's pod waits for the end's flush (its last downloads stored) before it is
       * deleted anyway; 0: no wait (only what was copied during the session is kept).
       */
      flushTimeoutSeconds: intIn(0, 300).default(5),
      /** Sessions whose artifacts are copied at once. */
      concurrency: intIn(1, 64).default(4),
      /** How often projects with artifactRetentionSeconds are swept for artifacts past their retention. */
      retentionSweepSeconds: intIn(1, 86400).default(60),
    })
    .prefault({}),
});

/** The operator's config file (charts/browserfleet/templates/_config.tpl renders it). */
export const operatorConfigSchema = fields.superRefine((c, ctx) => {
  if (c.sessionKey.length < 16)
    ctx.addIssue({
      code: 'custom',
      path: ['sessionKey'],
      message: 'must be at least 16 characters (set BF_SESSION_KEY)',
    });
  const le = c.leaderElection;
  if (le.renewDeadlineSeconds >= le.leaseDurationSeconds)
    ctx.addIssue({
      code: 'custom',
      path: ['leaderElection', 'renewDeadlineSeconds'],
      message: `must be less than leaseDurationSeconds (${le.leaseDurationSeconds})`,
    });
  if (le.retryPeriodSeconds > le.renewDeadlineSeconds)
    ctx.addIssue({
      code: 'custom',
      path: ['leaderElection', 'retryPeriodSeconds'],
      message: `must be at most renewDeadlineSeconds (${le.renewDeadlineSeconds})`,
    });
});

export type OperatorConfig = z.output<typeof operatorConfigSchema>;

/** Every field at its default; `sessionKey` is empty, which loadConfig refuses. */
export const defaultConfig: OperatorConfig = fields.parse({});

/** Settings a deployment typically injects: BF_SESSION_KEY from a Secret, BF_NAMESPACE from the downward API. */
const ENV_OVERRIDES = {
  BF_NAMESPACE: 'namespace',
  BF_WATCH_NAMESPACE: 'watchNamespace',
  BF_SESSION_KEY: 'sessionKey',
  BF_REPORT_URL: 'reportUrl',
  BF_IDENTITY: 'identity',
  ...artifactEnvOverrides('artifacts'),
};

/** Config = defaults, under the YAML file (BF_OPERATOR_CONFIG or --config), under the env overrides. */
export function loadConfig(env: Env = process.env, file?: string): OperatorConfig {
  const config = loadConfigWith(operatorConfigSchema, {
    file: file ?? env['BF_OPERATOR_CONFIG'],
    overrides: envOverrides(env, ENV_OVERRIDES),
  });
  if (!config.identity) config.identity = `${env['HOSTNAME'] ?? 'operator'}-${process.pid}`;
  return config;
}

export function splitHostPort(hp: string): { host: string; port: number } {
  const i = hp.lastIndexOf(':');
  return { host: hp.slice(0, i) || '0.0.0.0', port: Number(hp.slice(i + 1)) };
}
