import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, defaultConfig, loadConfig, operatorConfigSchema } from './config.js';

const KEY = 'k'.repeat(32);
const dir = mkdtempSync(join(tmpdir(), 'bf-operator-config-'));
const file = (name: string, yaml: string) => {
  const path = join(dir, name);
  writeFileSync(path, yaml);
  return path;
};

describe('operator loadConfig', () => {
  it('applies the defaults, and they pass the schema themselves', () => {
    const c = loadConfig({ BF_SESSION_KEY: KEY, HOSTNAME: 'op-0' });
    expect(c).toEqual({ ...defaultConfig, sessionKey: KEY, identity: `op-0-${process.pid}` });
    expect(c.workers).toBe(16);
    expect(c.chrome.resources).toEqual({
      requests: { cpu: '500m', memory: '1Gi' },
      limits: { memory: '2Gi' },
    });
    expect(operatorConfigSchema.parse(c)).toEqual(c);
  });

  it('merges the file over the defaults field by field, and the env over the file', () => {
    const path = file(
      'merge.yaml',
      [
        'namespace: from-file',
        'chrome: { image: acme/chrome:1, resources: { limits: { memory: 4Gi } } }',
        'leaderElection: { leaseDurationSeconds: 30 }',
      ].join('\n'),
    );
    const c = loadConfig({ BF_SESSION_KEY: KEY, BF_NAMESPACE: 'from-env', BF_REPORT_URL: '' }, path);
    expect(c.namespace).toBe('from-env');
    expect(c.reportUrl).toBe('');
    expect(c.chrome).toEqual({
      ...defaultConfig.chrome,
      image: 'acme/chrome:1',
      resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '4Gi' } },
    });
    expect(c.leaderElection).toEqual({ ...defaultConfig.leaderElection, leaseDurationSeconds: 30 });
  });

  it.each([
    ['chrome:\n  imag: x\n', 'chrome.imag: unknown key (known: image, flags, resources, shmSize)'],
    [
      'leaderElection: { enable: false }\n',
      'leaderElection.enable: unknown key (known: enabled, leaseName, leaseDurationSeconds, renewDeadlineSeconds, retryPeriodSeconds)',
    ],
    ['workers: "16"\n', 'workers: Invalid input: expected number, received string'],
    ['workers: 100\n', 'workers: Too big: expected number to be <=64'],
    ['chrome: { flags: [--a, 3] }\n', 'chrome.flags[1]: Invalid input: expected string, received number'],
    ['tolerations: [oops]\n', 'tolerations[0]: Invalid input: expected record, received string'],
    ['connectUrlHost: pod\n', 'connectUrlHost: Invalid option: expected one of "podIP"|"service"'],
    ['metricsListen: "8081"\n', 'metricsListen: must be host:port'],
    ['podLabels: { team: 7 }\n', 'podLabels.team: Invalid input: expected string, received number'],
  ])('refuses %j, naming the path', (yaml, message) => {
    const path = file('bad.yaml', yaml);
    expect(() => loadConfig({ BF_SESSION_KEY: KEY }, path)).toThrow(
      new ConfigError(`config ${path}: ${message}`),
    );
  });

  it('checks resources as Kubernetes quantities', () => {
    const path = file(
      'res.yaml',
      'sidecar: { resources: { requests: { cpu: half } } }\nchrome: { shmSize: 1GB }\n',
    );
    expect(() => loadConfig({ BF_SESSION_KEY: KEY }, path)).toThrow(
      [
        `config ${path}: chrome.shmSize: must be a Kubernetes quantity such as "1Gi"`,
        `config ${path}: sidecar.resources.requests.cpu: must be a Kubernetes quantity such as "500m" or "1Gi"`,
      ].join('\n'),
    );
  });

  it('takes plain numbers as quantities, as the chart and the API server do', () => {
    const path = file('num.yaml', 'chrome: { resources: { requests: { cpu: 1 }, limits: { cpu: 1.5 } } }\n');
    expect(loadConfig({ BF_SESSION_KEY: KEY }, path).chrome.resources).toEqual({
      requests: { cpu: '1' },
      limits: { cpu: '1.5' },
    });
    const bad = file('bool.yaml', 'chrome: { resources: { limits: { cpu: true } } }\n');
    expect(() => loadConfig({ BF_SESSION_KEY: KEY }, bad)).toThrow(
      `config ${bad}: chrome.resources.limits.cpu: must be a Kubernetes quantity such as "500m" or "1Gi"`,
    );
  });

  it('applies the cross-field rules', () => {
    expect(() => loadConfig({})).toThrow(
      'config (no file): sessionKey: must be at least 16 characters (set BF_SESSION_KEY)',
    );
    const path = file('le.yaml', 'leaderElection: { leaseDurationSeconds: 10, renewDeadlineSeconds: 10 }\n');
    expect(() => loadConfig({ BF_SESSION_KEY: KEY }, path)).toThrow(
      `config ${path}: leaderElection.renewDeadlineSeconds: must be less than leaseDurationSeconds (10)`,
    );
  });

  it('names the variable when an env override is wrong', () => {
    expect(() => loadConfig({ BF_SESSION_KEY: 'short' })).toThrow(
      'config (no file): sessionKey (from BF_SESSION_KEY): must be at least 16 characters',
    );
  });

  it('refuses a file that is not a mapping, and one that does not parse', () => {
    const list = file('list.yaml', '- a\n');
    expect(() => loadConfig({ BF_SESSION_KEY: KEY }, list)).toThrow(
      `config ${list}: (root): must be a mapping`,
    );
    const broken = file('broken.yaml', 'a: [\n');
    expect(() => loadConfig({ BF_SESSION_KEY: KEY }, broken)).toThrow(`config ${broken}: `);
  });

  it('reads the file BF_OPERATOR_CONFIG names', () => {
    const path = file('env.yaml', 'workers: 3\n');
    expect(loadConfig({ BF_SESSION_KEY: KEY, BF_OPERATOR_CONFIG: path }).workers).toBe(3);
  });
});
