import { describe, expect, it } from 'vitest';
import { realNodeEnv } from './real-node.js';

const base = { stateDir: '/tmp/node-state', kubeconfigPath: '/tmp/admin.kubeconfig' };

describe('realNodeEnv', () => {
  it('passes only the options given, under the names hack/real-node.sh reads', () => {
    expect(realNodeEnv(base)).toEqual({});
    expect(
      realNodeEnv({
        ...base,
        name: 'node-a',
        bridge: 'bfa0',
        podCIDR: '10.124.0.0/16',
        clusterDNS: '10.97.0.10',
        images: ['docker.io/browserfleet/chrome:dev', 'docker.io/browserfleet/browserfleet:dev'],
        imageStore: '',
      }),
    ).toEqual({
      BF_NODE_NAME: 'node-a',
      BF_NODE_BRIDGE: 'bfa0',
      BF_NODE_POD_CIDR: '10.124.0.0/16',
      BF_NODE_CLUSTER_DNS: '10.97.0.10',
      BF_NODE_IMAGES: 'docker.io/browserfleet/chrome:dev docker.io/browserfleet/browserfleet:dev',
      BF_NODE_IMAGE_STORE: '',
    });
    expect(realNodeEnv({ ...base, imageStore: '/var/cache/node-a' })).toEqual({
      BF_NODE_IMAGE_STORE: '/var/cache/node-a',
    });
    expect(
      realNodeEnv({
        ...base,
        labels: { 'topology.kubernetes.io/region': 'real-node', tier: '' },
        taints: [
          { key: 'browserfleet.dev/real-node', value: 'true', effect: 'NoSchedule' },
          { key: 'dedicated', effect: 'NoExecute' },
        ],
        kubeProxy: false,
      }),
    ).toEqual({
      BF_NODE_LABELS: 'topology.kubernetes.io/region=real-node,tier=',
      BF_NODE_TAINTS: 'browserfleet.dev/real-node=true:NoSchedule,dedicated:NoExecute',
      BF_NODE_KUBE_PROXY: '0',
    });
    expect(realNodeEnv({ ...base, kubeProxy: true })).toEqual({ BF_NODE_KUBE_PROXY: '1' });
    expect(realNodeEnv({ ...base, dns: false })).toEqual({ BF_NODE_DNS: '0' });
    expect(realNodeEnv({ ...base, dns: true })).toEqual({ BF_NODE_DNS: '1' });
  });

  it.each([
    [{ stateDir: 'relative/dir' }, /stateDir/],
    [{ stateDir: '/' }, /stateDir/],
    [{ kubeconfigPath: '' }, /kubeconfigPath/],
    [{ name: 'Node_A' }, /name must be a DNS label/],
    [{ bridge: 'a-bridge-name-too-long' }, /bridge/],
    [{ podCIDR: '10.123.1.0/24' }, /podCIDR/],
    [{ podCIDR: '10.300.0.0/16' }, /podCIDR/],
    [{ clusterDNS: '10.96.0' }, /clusterDNS/],
    [{ images: [] }, /images/],
    [{ images: ['two words'] }, /images/],
    [{ imageStore: 'cache' }, /imageStore/],
    [{ labels: { 'a b': 'x' } }, /labels/],
    [{ labels: { region: 'a,b' } }, /labels/],
    [{ taints: [{ key: 'k', value: 'v:NoSchedule', effect: 'NoSchedule' as const }] }, /taints/],
    [{ taints: [{ key: 'k', effect: 'Sometimes' as 'NoSchedule' }] }, /effect/],
  ])('refuses %o naming the field', (bad, message) => {
    expect(() => realNodeEnv({ ...base, ...bad })).toThrow(message);
  });
});
