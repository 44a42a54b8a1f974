import { describe, expect, it } from 'vitest';
import { decidePreflight, type HostFacts } from './preflight.js';

const dev = { stateDir: '/src/.dev/node', podCIDR: '10.244.0.0/16', bridge: 'bf0' };
const quiet: HostFacts = {
  uid: 0,
  kubelets: [],
  interfaces: [
    { name: 'lo', addresses: [{ ip: '127.0.0.1', prefix: 8 }] },
    { name: 'eth0', addresses: [{ ip: '10.0.2.15', prefix: 8 }] },
  ],
  otherDevs: [],
  leftoverNode: false,
  busyPorts: [],
};

describe('decidePreflight', () => {
  it('goes on a quiet machine, even one whose own network contains the pod range', () => {
    expect(decidePreflight(quiet, dev)).toEqual({ kind: 'go' });
  });

  it('refuses beside another real node, naming its kubelet and how to take it down', () => {
    const v = decidePreflight(
      { ...quiet, kubelets: [{ pid: 42, stateDir: '/run/bf-suite-real-node' }] },
      dev,
    );
    expect(v).toEqual({
      kind: 'refuse',
      reasons: [
        'another real node is up on this machine: kubelet pid 42 from /run/bf-suite-real-node (take it down ' +
          'with hack/real-node.sh down /run/bf-suite-real-node, or wait for the run that holds ' +
          '/tmp/bf-cluster.lock); only one node can run per machine',
      ],
    });
  });

  it('refuses a kubelet it cannot place as well', () => {
    const v = decidePreflight({ ...quiet, kubelets: [{ pid: 7 }] }, dev);
    expect(v.kind).toBe('refuse');
    if (v.kind === 'refuse')
      expect(v.reasons[0]).toMatch(/^another real node is up on this machine: kubelet pid 7;/);
  });

  it('takes down the node a killed make dev of this checkout left, kubelet and all', () => {
    const left = {
      ...quiet,
      kubelets: [{ pid: 9, stateDir: dev.stateDir }],
      otherDevs: [],
    };
    expect(decidePreflight(left, dev)).toEqual({
      kind: 'take-down-leftover',
      why: 'the node of a make dev that did not stop (its kubelet pid 9 still runs)',
    });
    expect(decidePreflight({ ...quiet, leftoverNode: true }, dev).kind).toBe('take-down-leftover');
  });

  it('refuses while a make dev of this checkout runs, and never takes its node down', () => {
    const running = {
      ...quiet,
      kubelets: [{ pid: 9, stateDir: dev.stateDir }],
      otherDevs: [5],
    };
    expect(decidePreflight(running, dev)).toEqual({
      kind: 'refuse',
      reasons: ['make dev already runs from this checkout (pid 5); stop it first'],
    });
  });

  it('refuses without root, and when the bridge, the pod range or a port is taken', () => {
    const v = decidePreflight(
      {
        ...quiet,
        uid: 1000,
        interfaces: [
          ...quiet.interfaces,
          { name: 'bf0', addresses: [] },
          { name: 'bfbench0', addresses: [{ ip: '10.244.0.1', prefix: 16 }] },
        ],
        busyPorts: [8080, 8081],
      },
      dev,
    );
    expect(v).toEqual({
      kind: 'refuse',
      reasons: [
        'make dev runs a kubelet and containerd, which need root',
        "interface bf0 exists already: make dev's node creates it (another make dev, or a node of another stack?)",
        "interface bfbench0 has 10.244.0.1/16, an address in make dev's pod range 10.244.0.0/16 (another node " +
          'agent or a benchmark on this network?)',
        '127.0.0.1:8080 is in use (BF_DEV_GATEWAY_PORT picks another for the gateway)',
        '127.0.0.1:8081 is in use',
      ],
    });
  });
});
