import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  ContainerConfigError,
  type EnvSources,
  expandVars,
  type PodFacts,
  resolveContainerEnv,
} from './container-env.js';

const facts: PodFacts = {
  podIP: '10.244.0.7',
  hostIP: '10.244.0.1',
  allocatable: { cpu: 8, memory: 16 * 2 ** 30, 'ephemeral-storage': 100 * 2 ** 30 },
};

const sources: EnvSources = {
  configMap: async (_ns, name) => (name === 'cm' ? { A: 'from-cm', 'bad key': 'x', B: 'b' } : undefined),
  secret: async (_ns, name) => (name === 'sec' ? { TOKEN: 's3cret' } : undefined),
};

function pod(container: V1Container): V1Pod {
  return {
    metadata: {
      name: 'p1',
      namespace: 'ns1',
      uid: 'uid-1',
      labels: { app: 'web' },
      annotations: { 'example.com/x': 'y' },
    },
    spec: { nodeName: 'node-a', serviceAccountName: 'sa', containers: [container] },
  };
}

describe('expandVars', () => {
  const lookup = (n: string) => ({ A: 'x', B: 'y' })[n];
  it.each([
    ['$(A)', 'x'],
    ['pre-$(A)-$(B)-post', 'pre-x-y-post'],
    ['$(MISSING)', '$(MISSING)'],
    ['$$(A)', '$(A)'],
    ['$$', '$'],
    ['cost: $5', 'cost: $5'],
    ['$(A', '$(A'],
    ['trailing $', 'trailing $'],
  ])('%s → %s', (input, want) => {
    expect(expandVars(input, lookup)).toBe(want);
  });
});

describe('resolveContainerEnv', () => {
  it('resolves downward-API fields and expands earlier variables', async () => {
    const c: V1Container = {
      name: 'main',
      env: [
        { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        { name: 'UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
        { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
        { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: 'ANN', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['example.com/x']" } } },
        { name: 'URL', value: 'http://$(POD_IP):9223/$(LATER)' },
        { name: 'LATER', value: 'l' },
      ],
    };
    const env = await resolveContainerEnv(pod(c), c, facts, sources);
    expect(Object.fromEntries(env)).toEqual({
      POD_IP: '10.244.0.7',
      POD_NAME: 'p1',
      NS: 'ns1',
      UID: 'uid-1',
      NODE: 'node-a',
      HOST_IP: '10.244.0.1',
      APP: 'web',
      ANN: 'y',
      URL: 'http://10.244.0.7:9223/$(LATER)',
      LATER: 'l',
    });
  });

  it('resolves resource fields, falling back to node allocatable for unset limits and rounding up', async () => {
    const c: V1Container = {
      name: 'main',
      resources: { requests: { cpu: '250m', memory: '64Mi' }, limits: { memory: '1Gi' } },
      env: [
        { name: 'CPU_REQ', valueFrom: { resourceFieldRef: { resource: 'requests.cpu' } } },
        { name: 'CPU_REQ_M', valueFrom: { resourceFieldRef: { resource: 'requests.cpu', divisor: '1m' } } },
        { name: 'CPU_LIM', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
        {
          name: 'MEM_LIM_MI',
          valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } },
        },
        { name: 'MEM_REQ', valueFrom: { resourceFieldRef: { resource: 'requests.memory' } } },
      ],
    };
    const env = await resolveContainerEnv(pod(c), c, facts, sources);
    expect(Object.fromEntries(env)).toEqual({
      CPU_REQ: '1',
      CPU_REQ_M: '250',
      CPU_LIM: '8',
      MEM_LIM_MI: '1024',
      MEM_REQ: String(64 * 2 ** 20),
    });
  });

  it('reads envFrom and key references, skipping invalid names, later entries winning', async () => {
    const c: V1Container = {
      name: 'main',
      envFrom: [
        { configMapRef: { name: 'cm' }, prefix: 'CM_' },
        { secretRef: { name: 'missing', optional: true } },
      ],
      env: [
        { name: 'CM_A', value: 'overridden' },
        { name: 'T', valueFrom: { secretKeyRef: { name: 'sec', key: 'TOKEN' } } },
        { name: 'OPT', valueFrom: { configMapKeyRef: { name: 'cm', key: 'nope', optional: true } } },
      ],
    };
    const env = await resolveContainerEnv(pod(c), c, facts, sources);
    expect(Object.fromEntries(env)).toEqual({ CM_A: 'overridden', CM_B: 'b', T: 's3cret' });
  });

  it('fails with a config error for a missing required source', async () => {
    const c: V1Container = {
      name: 'main',
      env: [{ name: 'T', valueFrom: { secretKeyRef: { name: 'absent', key: 'k' } } }],
    };
    await expect(resolveContainerEnv(pod(c), c, facts, sources)).rejects.toBeInstanceOf(ContainerConfigError);
    const d: V1Container = {
      name: 'main',
      env: [{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'spec.nope' } } }],
    };
    await expect(resolveContainerEnv(pod(d), d, facts, sources)).rejects.toThrow(/unsupported fieldRef/);
  });
});
