import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { formatCidr, isPrivateCidr, parseCidr } from '../shared/cidr.js';
import type { ImageRule } from './images.js';
import { isQuantity } from './quantity.js';

export interface LocalnodeConfig {
  /** Name of the Node object this agent registers and runs pods for. */
  nodeName: string;
  /** Kubeconfig file; empty = KUBECONFIG or in-cluster. */
  kubeconfig: string;
  /** Pod addresses; the first host address is the bridge (and the node's address seen from pods). */
  podCIDR: string;
  /** Host bridge name (at most 15 characters). */
  bridge: string;
  /** Base state directory; this node's state is `<stateDir>/<nodeName>`. */
  stateDir: string;
  /**
   * Machine-wide directory shared by all agents: who runs which node (so a dead agent's leftovers are reaped by
   * the next one) and short symlinks to pod directories, which is what containers see as their paths (Unix
   * socket paths must stay under 108 bytes).
   */
  runDir: string;
  /** browserfleet checkout whose `dist/main.js` runs for the browserfleet/browserfleet image. */
  checkoutDir: string;
  allocatable: { cpu: string; memory: string; pods: number };
  /** Run no processes at all: every pod is reported Running and Ready with an address (for scale tests). */
  simulate: boolean;
  /** The node's InternalIP and pods' hostIP; default: the bridge address (127.0.0.1 when simulating). */
  nodeIP: string;
  labels: Record<string, string>;
  /** Taints the Node is registered with (for example to keep other pods off a test node). */
  taints: { key: string; value?: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' }[];
  /** Extra image mappings, tried before the built-in ones. */
  images: ImageRule[];
  restartBackoff: { initialSeconds: number; maxSeconds: number };
  /** Upper bound on each pod's grace period when the agent shuts down. */
  shutdownGracePeriodSeconds: number;
  leaseDurationSeconds: number;
  nodeStatusIntervalSeconds: number;
  /** Pods reconciled in parallel. */
  workers: number;
  /**
   * Also stand in for kube-proxy and the cluster DNS (src/localnode/service-proxy.ts, cluster-dns.ts), so that
   * pods reach Services and the API server by their cluster addresses and names. At most one agent per
   * machine and cluster may do this.
   */
  serviceProxy: boolean;
  /** The cluster's service range; empty = read from the API server's ServiceCIDR `kubernetes`. */
  serviceCIDR: string;
  clusterDomain: string;
  ipPath: string;
  setprivPath: string;
}

export class ConfigError extends Error {}

const here = fileURLToPath(new URL('.', import.meta.url));

function findBinary(name: string): string {
  for (const dir of ['/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  return name;
}

export function defaultConfig(): LocalnodeConfig {
  return {
    nodeName: 'localnode',
    kubeconfig: '',
    podCIDR: '10.244.0.0/16',
    bridge: 'bf0',
    stateDir: '/run/browserfleet-localnode',
    runDir: '/run/bfl',
    // src/localnode/ or dist/localnode/ → the checkout root
    checkoutDir: join(here, '..', '..'),
    allocatable: { cpu: '8', memory: '16Gi', pods: 110 },
    simulate: false,
    nodeIP: '',
    labels: {},
    taints: [],
    images: [],
    restartBackoff: { initialSeconds: 10, maxSeconds: 300 },
    shutdownGracePeriodSeconds: 10,
    leaseDurationSeconds: 40,
    nodeStatusIntervalSeconds: 60,
    workers: 16,
    serviceProxy: false,
    serviceCIDR: '',
    clusterDomain: 'cluster.local',
    ipPath: findBinary('ip'),
    setprivPath: findBinary('setpriv'),
  };
}

type Env = Record<string, string | undefined>;

/** Settings a process manager or `make dev` typically sets per machine, by environment variable. */
const ENV_OVERRIDES: [string, string][] = [
  ['BF_LOCALNODE_NODE_NAME', 'nodeName'],
  ['BF_LOCALNODE_KUBECONFIG', 'kubeconfig'],
  ['BF_LOCALNODE_POD_CIDR', 'podCIDR'],
  ['BF_LOCALNODE_BRIDGE', 'bridge'],
  ['BF_LOCALNODE_STATE_DIR', 'stateDir'],
  ['BF_LOCALNODE_CHECKOUT_DIR', 'checkoutDir'],
  ['BF_LOCALNODE_CPU', 'allocatable.cpu'],
  ['BF_LOCALNODE_MEMORY', 'allocatable.memory'],
  ['BF_LOCALNODE_PODS', 'allocatable.pods'],
  ['BF_LOCALNODE_SIMULATE', 'simulate'],
  ['BF_LOCALNODE_NODE_IP', 'nodeIP'],
  ['BF_LOCALNODE_SERVICE_PROXY', 'serviceProxy'],
];

const FLAGS: Record<string, string> = {
  '--node-name': 'nodeName',
  '--kubeconfig': 'kubeconfig',
  '--pod-cidr': 'podCIDR',
  '--bridge': 'bridge',
  '--state-dir': 'stateDir',
  '--checkout-dir': 'checkoutDir',
  '--simulate': 'simulate',
};

/**
 * Config = defaults, then the YAML file (`--config` or BF_LOCALNODE_CONFIG), then BF_LOCALNODE_* variables,
 * then flags. KUBECONFIG is used when nothing else names a kubeconfig. Every field is validated; an error
 * names the field and what it should be.
 */
export function loadConfig(argv: readonly string[] = [], env: Env = process.env): LocalnodeConfig {
  const flags = parseFlags(argv);
  const file = flags.get('--config') ?? env['BF_LOCALNODE_CONFIG'];
  let fromFile: unknown = {};
  if (file) {
    try {
      fromFile = parse(readFileSync(file, 'utf8')) ?? {};
    } catch (e) {
      throw new ConfigError(`cannot read config file ${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const config = mergeConfig(defaultConfig(), fromFile, '') as LocalnodeConfig;
  for (const [name, field] of ENV_OVERRIDES) {
    const v = env[name];
    if (v !== undefined && v !== '') setField(config, field, v);
  }
  for (const [flag, field] of Object.entries(FLAGS)) {
    const v = flags.get(flag);
    if (v !== undefined) setField(config, field, v);
  }
  if (!config.kubeconfig && env['KUBECONFIG']) config.kubeconfig = env['KUBECONFIG'];
  return validateConfig(config);
}

function parseFlags(argv: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (name !== '--config' && !(name in FLAGS)) {
      throw new ConfigError(`unknown flag "${arg}" (known: --config, ${Object.keys(FLAGS).join(', ')})`);
    }
    if (eq > 0) out.set(name, arg.slice(eq + 1));
    else if (name === '--simulate') out.set(name, 'true');
    else {
      const value = argv[++i];
      if (value === undefined) throw new ConfigError(`flag ${name} needs a value`);
      out.set(name, value);
    }
  }
  return out;
}

/** Env and flag values are strings; they are converted to the type the default has. */
function setField(config: LocalnodeConfig, field: string, value: string): void {
  const parts = field.split('.');
  let target = config as unknown as Record<string, unknown>;
  for (const p of parts.slice(0, -1)) target = target[p] as Record<string, unknown>;
  const key = parts[parts.length - 1] as string;
  const current = target[key];
  if (typeof current === 'number') {
    if (!/^\d+$/.test(value))
      throw new ConfigError(`config field "${field}" must be a whole number, got "${value}"`);
    target[key] = Number(value);
  } else if (typeof current === 'boolean') {
    if (!['true', 'false', '1', '0'].includes(value)) {
      throw new ConfigError(`config field "${field}" must be true or false, got "${value}"`);
    }
    target[key] = value === 'true' || value === '1';
  } else {
    target[key] = value;
  }
}

const FREE_FORM = new Set(['labels', 'images', 'taints']);

function mergeConfig(base: unknown, over: unknown, at: string): unknown {
  if (over === null || over === undefined) return base;
  if (isPlainObject(base) && !FREE_FORM.has(at)) {
    if (!isPlainObject(over)) throw new ConfigError(`config field "${at || '(root)'}" must be a mapping`);
    for (const [k, v] of Object.entries(over)) {
      const field = at ? `${at}.${k}` : k;
      if (!(k in base)) throw new ConfigError(`unknown config field "${field}"`);
      base[k] = mergeConfig(base[k], v, field);
    }
    return base;
  }
  return over;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function validateConfig(c: LocalnodeConfig): LocalnodeConfig {
  const fail = (field: string, want: string, got: unknown): never => {
    throw new ConfigError(`config field "${field}" must be ${want}, got ${JSON.stringify(got)}`);
  };
  const str = (field: string, v: unknown) => {
    if (typeof v !== 'string' || v === '') fail(field, 'a non-empty string', v);
  };
  const int = (field: string, v: unknown, min: number, max: number) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      fail(field, `an integer in ${min}..${max}`, v);
  };
  if (typeof c.nodeName !== 'string' || c.nodeName.length > 63 || !DNS_SUBDOMAIN.test(c.nodeName)) {
    fail('nodeName', 'a lowercase DNS name of at most 63 characters', c.nodeName);
  }
  if (typeof c.kubeconfig !== 'string') fail('kubeconfig', 'a file path', c.kubeconfig);
  if (c.kubeconfig && !existsSync(c.kubeconfig)) fail('kubeconfig', 'an existing file', c.kubeconfig);
  try {
    const cidr = parseCidr(c.podCIDR);
    if (!isPrivateCidr(cidr)) fail('podCIDR', 'inside 10/8, 172.16/12, 192.168/16 or 100.64/10', c.podCIDR);
    c.podCIDR = formatCidr(cidr);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    fail('podCIDR', `an IPv4 CIDR between /8 and /30 (${e instanceof Error ? e.message : ''})`, c.podCIDR);
  }
  if (typeof c.bridge !== 'string' || !/^[a-zA-Z][a-zA-Z0-9_-]{0,14}$/.test(c.bridge)) {
    fail('bridge', 'an interface name of at most 15 letters, digits, "-" or "_"', c.bridge);
  }
  str('stateDir', c.stateDir);
  if (!c.stateDir.startsWith('/')) fail('stateDir', 'an absolute path', c.stateDir);
  str('runDir', c.runDir);
  if (!c.runDir.startsWith('/') || c.runDir.length > 32) {
    fail('runDir', 'an absolute path of at most 32 characters', c.runDir);
  }
  str('checkoutDir', c.checkoutDir);
  for (const r of ['cpu', 'memory'] as const) {
    const v = c.allocatable?.[r];
    if (typeof v !== 'string' || !isQuantity(v))
      fail(`allocatable.${r}`, 'a Kubernetes quantity such as "8" or "16Gi"', v);
  }
  int('allocatable.pods', c.allocatable.pods, 1, 1_000_000);
  if (typeof c.simulate !== 'boolean') fail('simulate', 'true or false', c.simulate);
  if (typeof c.nodeIP !== 'string') fail('nodeIP', 'an IPv4 address or empty', c.nodeIP);
  if (c.nodeIP && !/^(\d{1,3}\.){3}\d{1,3}$/.test(c.nodeIP))
    fail('nodeIP', 'an IPv4 address or empty', c.nodeIP);
  if (!isPlainObject(c.labels) || Object.values(c.labels).some((v) => typeof v !== 'string')) {
    fail('labels', 'a mapping of strings', c.labels);
  }
  if (!Array.isArray(c.taints)) fail('taints', 'a list of {key, value?, effect}', c.taints);
  c.taints.forEach((t, i) => {
    if (!isPlainObject(t)) fail(`taints[${i}]`, 'a mapping', t);
    str(`taints[${i}].key`, t.key);
    if (t.value !== undefined && typeof t.value !== 'string') fail(`taints[${i}].value`, 'a string', t.value);
    if (!['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(t.effect)) {
      fail(`taints[${i}].effect`, 'NoSchedule, PreferNoSchedule or NoExecute', t.effect);
    }
  });
  if (!Array.isArray(c.images)) fail('images', 'a list of {repository, entrypoint, cmd?}', c.images);
  c.images.forEach((r, i) => {
    if (!isPlainObject(r)) fail(`images[${i}]`, 'a mapping', r);
    str(`images[${i}].repository`, r.repository);
    const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
    if (!strings(r.entrypoint) || r.entrypoint.length === 0) {
      fail(`images[${i}].entrypoint`, 'a non-empty list of strings', r.entrypoint);
    }
    if (r.cmd !== undefined && !strings(r.cmd)) fail(`images[${i}].cmd`, 'a list of strings', r.cmd);
  });
  int('restartBackoff.initialSeconds', c.restartBackoff.initialSeconds, 0, 3600);
  int('restartBackoff.maxSeconds', c.restartBackoff.maxSeconds, c.restartBackoff.initialSeconds, 86_400);
  int('shutdownGracePeriodSeconds', c.shutdownGracePeriodSeconds, 0, 3600);
  int('leaseDurationSeconds', c.leaseDurationSeconds, 4, 3600);
  int('nodeStatusIntervalSeconds', c.nodeStatusIntervalSeconds, 1, 3600);
  int('workers', c.workers, 1, 256);
  if (typeof c.serviceProxy !== 'boolean') fail('serviceProxy', 'true or false', c.serviceProxy);
  if (c.serviceProxy && c.simulate)
    fail('serviceProxy', 'false when simulate is true (no pod network)', true);
  if (typeof c.serviceCIDR !== 'string') fail('serviceCIDR', 'an IPv4 CIDR or empty', c.serviceCIDR);
  if (c.serviceCIDR) {
    try {
      c.serviceCIDR = formatCidr(parseCidr(c.serviceCIDR));
    } catch (e) {
      fail('serviceCIDR', `an IPv4 CIDR (${e instanceof Error ? e.message : ''})`, c.serviceCIDR);
    }
  }
  if (typeof c.clusterDomain !== 'string' || !DNS_SUBDOMAIN.test(c.clusterDomain)) {
    fail('clusterDomain', 'a lowercase DNS name', c.clusterDomain);
  }
  str('ipPath', c.ipPath);
  str('setprivPath', c.setprivPath);
  return c;
}
