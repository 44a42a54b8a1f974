import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { containerPathMappings, PodLayout, rewritePaths } from './pod-layout.js';

const layout = PodLayout.of('/state/pods', 'uid-1');

describe('containerPathMappings', () => {
  const container: V1Container = {
    name: 'chrome',
    volumeMounts: [
      { name: 'dshm', mountPath: '/dev/shm' },
      { name: 'tmp', mountPath: '/tmp/' },
      { name: 'data', mountPath: '/data', subPath: 'profiles' },
      { name: 'host', mountPath: '/host' },
    ],
  };
  const pod: V1Pod = {
    spec: {
      containers: [container],
      volumes: [
        { name: 'dshm', emptyDir: { medium: 'Memory' } },
        { name: 'tmp', emptyDir: {} },
        { name: 'data', emptyDir: {} },
        { name: 'host', hostPath: { path: '/srv/shared' } },
      ],
    },
  };

  it('maps volumes into the pod directory, hostPath to itself, and leaves /dev/shm alone', () => {
    const m = Object.fromEntries(
      containerPathMappings(pod, container, layout).map((x) => [x.containerPath, x.hostPath]),
    );
    expect(m).toEqual({
      '/tmp': '/state/pods/uid-1/volumes/tmp',
      '/data': '/state/pods/uid-1/volumes/data/profiles',
      '/host': '/srv/shared',
      '/dev/termination-log': '/state/pods/uid-1/containers/chrome/termination-log',
    });
  });

  it('gives a container without a /tmp volume a private /tmp', () => {
    const c: V1Container = { name: 'x', terminationMessagePath: '/msg' };
    const m = containerPathMappings({ spec: { containers: [c] } }, c, layout);
    expect(m).toContainEqual({ containerPath: '/tmp', hostPath: '/state/pods/uid-1/containers/x/tmp' });
    expect(m).toContainEqual({
      containerPath: '/msg',
      hostPath: '/state/pods/uid-1/containers/x/termination-log',
    });
  });
});

describe('rewritePaths', () => {
  const mappings = [
    { containerPath: '/data/deep', hostPath: '/D2' },
    { containerPath: '/data', hostPath: '/D' },
    { containerPath: '/tmp', hostPath: '/T' },
    { containerPath: '/dev/termination-log', hostPath: '/TL' },
  ];
  it.each([
    ['--user-data-dir=/tmp/chrome-profile', '--user-data-dir=/T/chrome-profile'],
    ['/data', '/D'],
    ['/data/deep/x', '/D2/x'],
    ['/database', '/database'],
    ['/var/tmp/x', '/var/tmp/x'],
    ['http://host/data', 'http://host/data'],
    ['echo bye > /dev/termination-log; exit 3', 'echo bye > /TL; exit 3'],
    ['cp /tmp/a /data/b', 'cp /T/a /D/b'],
    ["'/tmp'", "'/T'"],
    ['PATH=/usr/bin:/tmp/bin', 'PATH=/usr/bin:/T/bin'],
    ['/tmpfile', '/tmpfile'],
  ])('%s → %s', (input, want) => {
    expect(rewritePaths(input, mappings)).toBe(want);
  });
});
