import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { formatCidr, isPrivateCidr, parseCidr } from '../shared/cidr.js';
import {
  ConfigError,
  type Env,
  envOverrides,
  loadConfig as loadConfigWith,
  type Override,
  parseConfig,
  parseFlags,
} from '../shared/config.js';
import { isQuantity } from '../shared/quantity.js';

export { ConfigError };

const here = fileURLToPath(new URL('.', import.meta.url));

function findBinary(name: string): string {
  for (const dir of ['/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  return name;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const nonEmpty = z.string().min(1);
const absolutePath = nonEmpty.refine((v) => v.startsWith('/'), 'must be an absolute path');
const quantity = z.string().refine(isQuantity, 'must be a Kubernetes quantity such as "8" or "16Gi"');
const ipv4OrEmpty = z.string().regex(/^((\d{1,3}\.){3}\d{1,3})?$/, 'must be an IPv4 address or empty');

/** An IPv4 CIDR, normalized to its network address. */
const cidr = (opts: { privateOnly?: boolean; orEmpty?: boolean }) =>
  z.string().transform((v, ctx) => {
    if (v === '' && opts.orEmpty) return '';
    try {
      const c = parseCidr(v);
      if (opts.privateOnly && !isPrivateCidr(c)) {
        ctx.addIssue({ code: 'custom', message: 'must be inside 10/8, 172.16/12, 192.168/16 or 100.64/10' });
        return z.NEVER;
      }
      return formatCidr(c);
    } catch (e) {
      ctx.addIssue({
        code: 'custom',
        message: `must be an IPv4 CIDR between /8 and /30 (${e instanceof Error ? e.message : ''})`,
      });
      return z.NEVER;
    }
  });

const fields = z.strictObject({
  /** Name of the Node object this agent registers and runs pods for. */
  nodeName: z
    .string()
    .max(63)
    .regex(DNS_SUBDOMAIN, 'must be a lowercase DNS name of at most 63 characters')
    .default('localnode'),
  /** Kubeconfig file; empty = KUBECONFIG or in-cluster. */
  kubeconfig: z
    .string()
    .refine((v) => v === '' || existsSync(v), 'must be an existing file')
    .default(''),
  /** Pod addresses; the first host address is the bridge (and the node's address seen from pods). */
  podCIDR: cidr({ privateOnly: true }).default('10.244.0.0/16'),
  /** Host bridge name (at most 15 characters). */
  bridge: z
    .string()
    .regex(
      /^[a-zA-Z][a-zA-Z0-9_-]{0,14}$/,
      'must be an interface name of at most 15 letters, digits, "-" or "_"',
    )
    .default('bf0'),
  /** Base state directory; this node's state is `<stateDir>/<nodeName>`. */
  stateDir: absolutePath.default('/run/browserfleet-localnode'),
  /**
   * Machine-wide directory shared by all agents: who runs which node (so a dead agent's leftovers are reaped by
   * the next one) and short symlinks to pod directories, which is what containers see as their paths (Unix
   * socket paths must stay under 108 bytes).
   */
  runDir: absolutePath.refine((v) => v.length <= 32, 'must be at most 32 characters').default('/run/bfl'),
  /** browserfleet checkout whose `dist/main.js` runs for the browserfleet/browserfleet image. */
  // src/localnode/ or dist/localnode/ → the checkout root
  checkoutDir: nonEmpty.default(() => join(here, '..', '..')),
  allocatable: z
    .strictObject({
      cpu: quantity.default('8'),
      memory: quantity.default('16Gi'),
      pods: z.number().int().min(1).max(1_000_000).default(110),
    })
    .prefault({}),
  /** Run no processes at all: every pod is reported Running and Ready with an address (for scale tests). */
  simulate: z.boolean().default(false),
  /** The node's InternalIP and pods' hostIP; default: the bridge address (127.0.0.1 when simulating). */
  nodeIP: ipv4OrEmpty.default(''),
  labels: z.record(z.string(), z.string()).default({}),
  /** Taints the Node is registered with (for example to keep other pods off a test node). */
  taints: z
    .array(
      z.strictObject({
        key: nonEmpty,
        value: z.string().optional(),
        effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']),
      }),
    )
    .default([]),
  /** Extra image mappings, tried before the built-in ones. */
  images: z
    .array(
      z.strictObject({
        repository: nonEmpty,
        entrypoint: z.array(z.string()).min(1),
        cmd: z.array(z.string()).optional(),
      }),
    )
    .default([]),
  restartBackoff: z
    .strictObject({
      initialSeconds: z.number().int().min(0).max(3600).default(10),
      maxSeconds: z.number().int().min(0).max(86_400).default(300),
    })
    .prefault({}),
  /** Upper bound on each pod's grace period when the agent shuts down. */
  shutdownGracePeriodSeconds: z.number().int().min(0).max(3600).default(10),
  leaseDurationSeconds: z.number().int().min(4).max(3600).default(40),
  nodeStatusIntervalSeconds: z.number().int().min(1).max(3600).default(60),
  /** Pods reconciled in parallel. */
  workers: z.number().int().min(1).max(256).default(16),
  /**
   * Also stand in for kube-proxy and the cluster DNS (src/localnode/service-proxy.ts, cluster-dns.ts), so that
   * pods reach Services and the API server by their cluster addresses and names. At most one agent per
   * machine and cluster may do this.
   */
  serviceProxy: z.boolean().default(false),
  /** The cluster's service range; empty = read from the API server's ServiceCIDR `kubernetes`. */
  serviceCIDR: cidr({ orEmpty: true }).default(''),
  clusterDomain: z.string().regex(DNS_SUBDOMAIN, 'must be a lowercase DNS name').default('cluster.local'),
  ipPath: nonEmpty.default(() => findBinary('ip')),
  setprivPath: nonEmpty.default(() => findBinary('setpriv')),
});

/** The node agent's config file. */
export const localnodeConfigSchema = fields.superRefine((c, ctx) => {
  if (c.restartBackoff.maxSeconds < c.restartBackoff.initialSeconds)
    ctx.addIssue({
      code: 'custom',
      path: ['restartBackoff', 'maxSeconds'],
      message: `must be at least initialSeconds (${c.restartBackoff.initialSeconds})`,
    });
  if (c.serviceProxy && c.simulate)
    ctx.addIssue({
      code: 'custom',
      path: ['serviceProxy'],
      message: 'must be false when simulate is true (no pod network)',
    });
});

export type LocalnodeConfig = z.output<typeof localnodeConfigSchema>;

export function defaultConfig(): LocalnodeConfig {
  return fields.parse({});
}

/** Settings a process manager or `make dev` typically sets per machine, by environment variable. */
const ENV_OVERRIDES = {
  BF_LOCALNODE_NODE_NAME: 'nodeName',
  BF_LOCALNODE_KUBECONFIG: 'kubeconfig',
  BF_LOCALNODE_POD_CIDR: 'podCIDR',
  BF_LOCALNODE_BRIDGE: 'bridge',
  BF_LOCALNODE_STATE_DIR: 'stateDir',
  BF_LOCALNODE_CHECKOUT_DIR: 'checkoutDir',
  BF_LOCALNODE_CPU: 'allocatable.cpu',
  BF_LOCALNODE_MEMORY: 'allocatable.memory',
  BF_LOCALNODE_PODS: 'allocatable.pods',
  BF_LOCALNODE_SIMULATE: 'simulate',
  BF_LOCALNODE_NODE_IP: 'nodeIP',
  BF_LOCALNODE_SERVICE_PROXY: 'serviceProxy',
};

/** Flag → field; `--config` names the file. */
const FLAGS = {
  'node-name': 'nodeName',
  kubeconfig: 'kubeconfig',
  'pod-cidr': 'podCIDR',
  bridge: 'bridge',
  'state-dir': 'stateDir',
  'checkout-dir': 'checkoutDir',
  simulate: 'simulate',
} as const;

/**
 * Config = defaults, then the YAML file (`--config` or BF_LOCALNODE_CONFIG), then BF_LOCALNODE_* variables
 * (empty ones count as unset), then flags. KUBECONFIG is used when nothing else names a kubeconfig.
 */
export function loadConfig(argv: readonly string[] = [], env: Env = process.env): LocalnodeConfig {
  const flags = parseFlags(argv, {
    config: { type: 'string' },
    ...Object.fromEntries(
      Object.keys(FLAGS).map((f) => [
        f,
        { type: f === 'simulate' ? ('boolean' as const) : ('string' as const) },
      ]),
    ),
  }) as Record<string, string | boolean | undefined>;
  const setEnv = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const overrides: Override[] = [...envOverrides(setEnv, ENV_OVERRIDES)];
  for (const [flag, path] of Object.entries(FLAGS)) {
    const value = flags[flag];
    if (value !== undefined) overrides.push({ from: `--${flag}`, path, value });
  }
  const file = (flags['config'] as string | undefined) ?? env['BF_LOCALNODE_CONFIG'];
  const config = loadConfigWith(localnodeConfigSchema, { file, overrides });
  const fallback = env['KUBECONFIG'];
  if (config.kubeconfig || !fallback) return config;
  return parseConfig(
    localnodeConfigSchema,
    { ...config, kubeconfig: fallback },
    file ?? '(no file)',
    new Map([['kubeconfig', 'KUBECONFIG']]),
  );
}

/** Checks (and normalizes) a config built in code, as strictly as a file. */
export function validateConfig(c: LocalnodeConfig): LocalnodeConfig {
  return parseConfig(localnodeConfigSchema, c, '(in code)');
}
