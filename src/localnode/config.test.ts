import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, defaultConfig, loadConfig, validateConfig } from './config.js';

let dir: string;
let kubeconfig: string;

describe('loadConfig', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'localnode-config-'));
    kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, 'apiVersion: v1\nkind: Config\n');
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('has usable defaults', () => {
    const c = loadConfig([], {});
    expect(c).toMatchObject({
      nodeName: 'localnode',
      podCIDR: '10.244.0.0/16',
      bridge: 'bf0',
      simulate: false,
      allocatable: { cpu: '8', memory: '16Gi', pods: 110 },
    });
    expect(c.ipPath).toMatch(/\/ip$/);
  });

  it('layers file, environment and flags, in that order', async () => {
    const file = join(dir, 'layers.yaml');
    await writeFile(
      file,
      [
        'nodeName: from-file',
        'podCIDR: 10.77.0.9/24',
        'allocatable: { cpu: "2", pods: 20 }',
        'labels: { zone: a }',
        'images:',
        '  - repository: acme/tool',
        '    entrypoint: [/usr/bin/tool]',
      ].join('\n'),
    );
    const c = loadConfig(['--config', file, '--node-name=from-flag', '--simulate'], {
      BF_LOCALNODE_NODE_NAME: 'from-env',
      BF_LOCALNODE_PODS: '30',
      BF_LOCALNODE_MEMORY: '4Gi',
      KUBECONFIG: kubeconfig,
    });
    expect(c).toMatchObject({
      nodeName: 'from-flag',
      podCIDR: '10.77.0.0/24',
      allocatable: { cpu: '2', memory: '4Gi', pods: 30 },
      simulate: true,
      labels: { zone: 'a' },
      kubeconfig,
      images: [{ repository: 'acme/tool', entrypoint: ['/usr/bin/tool'] }],
    });
  });

  it.each([
    [{ BF_LOCALNODE_NODE_NAME: 'Upper_Case' }, /nodeName/],
    [{ BF_LOCALNODE_POD_CIDR: '8.8.8.0/24' }, /podCIDR.*10\/8/],
    [{ BF_LOCALNODE_POD_CIDR: '10.1.0.0/31' }, /podCIDR/],
    [{ BF_LOCALNODE_BRIDGE: 'a-very-long-bridge-name' }, /bridge/],
    [{ BF_LOCALNODE_CPU: 'lots' }, /allocatable\.cpu/],
    [{ BF_LOCALNODE_PODS: '-1' }, /allocatable\.pods/],
    [{ BF_LOCALNODE_SIMULATE: 'maybe' }, /simulate/],
    [{ BF_LOCALNODE_KUBECONFIG: '/does/not/exist' }, /kubeconfig/],
    [{ BF_LOCALNODE_STATE_DIR: 'relative/dir' }, /stateDir/],
  ])('refuses %j', (env, message) => {
    expect(() => loadConfig([], env)).toThrow(message);
  });

  it('names unknown fields, wrong types and unknown flags with their path', async () => {
    const file = join(dir, 'typo.yaml');
    await writeFile(file, 'allocatable:\n  cpus: "4"\n');
    expect(() => loadConfig(['--config', file], {})).toThrow(
      new ConfigError(`config ${file}: allocatable.cpus: unknown key (known: cpu, memory, pods)`),
    );
    await writeFile(file, 'workers: many\n');
    expect(() => loadConfig(['--config', file], {})).toThrow(
      new ConfigError(`config ${file}: workers: Invalid input: expected number, received string`),
    );
    expect(() => loadConfig(['--nodename', 'x'], {})).toThrow(ConfigError);
    expect(() => loadConfig(['--nodename', 'x'], {})).toThrow(/flags: Unknown option '--nodename'/);
    expect(() => loadConfig(['stray'], {})).toThrow(/flags: Unexpected argument 'stray'/);
    await writeFile(file, 'taints: [{ key: k, effect: NoSchedule, efect: x }]\n');
    expect(() => loadConfig(['--config', file], {})).toThrow(
      new ConfigError(`config ${file}: taints[0].efect: unknown key (known: key, value, effect)`),
    );
    await writeFile(file, 'taints: [{ key: k, effect: Sometimes }]\n');
    expect(() => loadConfig(['--config', file], {})).toThrow(/taints\[0\]\.effect/);
    await writeFile(file, 'images: [{ repository: x/y, entrypoint: [] }]\n');
    expect(() => loadConfig(['--config', file], {})).toThrow(/images\[0\]\.entrypoint/);
  });

  it('coerces env values to the field type, and names the variable when it cannot', () => {
    expect(loadConfig([], { BF_LOCALNODE_PODS: '30', BF_LOCALNODE_SIMULATE: '1' })).toMatchObject({
      allocatable: { pods: 30 },
      simulate: true,
    });
    expect(() => loadConfig([], { BF_LOCALNODE_PODS: 'lots' })).toThrow(
      new ConfigError(
        'config (no file): allocatable.pods (from BF_LOCALNODE_PODS): Invalid input: expected number, received string',
      ),
    );
    expect(() => loadConfig(['--node-name', 'Bad_Name'], {})).toThrow(/nodeName \(from --node-name\)/);
  });

  it('checks the default values with the same rules as given ones', () => {
    expect(validateConfig(defaultConfig())).toEqual(defaultConfig());
  });
});
