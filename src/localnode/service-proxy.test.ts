import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { serviceAddresses, serviceBackends } from './service-proxy.js';

const service = (spec: V1Service['spec']): V1Service => ({
  metadata: { name: 'web', namespace: 'ns' },
  spec,
});

const slice = (
  ports: { name?: string; port: number; protocol?: string }[],
  endpoints: { addresses: string[]; ready?: boolean }[],
  addressType = 'IPv4',
): V1EndpointSlice => ({
  addressType,
  ports,
  endpoints: endpoints.map((e) => ({
    addresses: e.addresses,
    ...(e.ready === undefined ? {} : { conditions: { ready: e.ready } }),
  })),
});

describe('serviceBackends', () => {
  it('maps each service port to the ready endpoints of the slice port with its name', () => {
    const svc = service({
      clusterIP: '10.96.0.10',
      ports: [
        { name: 'http', port: 80, targetPort: 'web' },
        { name: 'metrics', port: 9090 },
      ],
    });
    const got = serviceBackends(svc, [
      slice(
        [
          { name: 'http', port: 8080 },
          { name: 'metrics', port: 9100 },
        ],
        [
          { addresses: ['10.244.0.2'] },
          { addresses: ['10.244.0.3'], ready: true },
          { addresses: ['10.244.0.4'], ready: false },
        ],
      ),
      slice([{ name: 'http', port: 8081 }], [{ addresses: ['10.244.0.5'] }]),
    ]);
    expect(got.get(80)).toEqual([
      { ip: '10.244.0.2', port: 8080 },
      { ip: '10.244.0.3', port: 8080 },
      { ip: '10.244.0.5', port: 8081 },
    ]);
    expect(got.get(9090)).toEqual([
      { ip: '10.244.0.2', port: 9100 },
      { ip: '10.244.0.3', port: 9100 },
    ]);
  });

  it('an unnamed single port matches the slice port with no name; UDP and IPv6 are not served', () => {
    const svc = service({
      clusterIP: '10.96.0.11',
      ports: [{ port: 53, protocol: 'UDP' }, { port: 80 }],
    });
    const got = serviceBackends(svc, [
      slice([{ port: 8080 }, { port: 5353, protocol: 'UDP' }], [{ addresses: ['10.244.0.7'] }]),
      slice([{ port: 8080 }], [{ addresses: ['fd00::7'] }], 'IPv6'),
    ]);
    expect([...got.keys()]).toEqual([80]);
    expect(got.get(80)).toEqual([{ ip: '10.244.0.7', port: 8080 }]);
  });

  it('a port with no endpoints has no backends (connections to it are refused)', () => {
    expect(serviceBackends(service({ clusterIP: '10.96.0.12', ports: [{ port: 80 }] }), []).get(80)).toEqual(
      [],
    );
  });
});

describe('serviceAddresses', () => {
  const ready = [
    slice(
      [{ port: 80 }],
      [
        { addresses: ['10.244.0.9'] },
        { addresses: ['10.244.0.3'] },
        { addresses: ['10.244.0.4'], ready: false },
      ],
    ),
  ];

  it('a Service with a cluster IP resolves to it, whatever its endpoints', () => {
    expect(serviceAddresses(service({ clusterIP: '10.96.0.20' }), ready)).toEqual(['10.96.0.20']);
  });

  it('a headless Service resolves to its ready endpoints', () => {
    expect(serviceAddresses(service({ clusterIP: 'None' }), ready)).toEqual(['10.244.0.3', '10.244.0.9']);
  });

  it('an ExternalName Service gives no addresses', () => {
    expect(serviceAddresses(service({ type: 'ExternalName', externalName: 'example.com' }), ready)).toEqual(
      [],
    );
  });
});
