import type { V1Pod } from '@kubernetes/client-node';
import type { BrowserProject, BrowserSession, BrowserSessionStatus } from '../api/index.js';
import { defaultConfig, type OperatorConfig } from '../operator/config.js';

// Builders for the pure-logic tests: readable fixtures, no cluster.

export const T0 = Date.parse('2026-03-01T12:00:00.000Z');
export const iso = (ms: number) => new Date(ms).toISOString();

export const testConfig: OperatorConfig = {
  ...defaultConfig,
  sessionKey: 'test-key-0123456789abcdef',
  identity: 'test',
  disconnectGraceMs: 1000,
};

export function project(spec: Partial<BrowserProject['spec']> = {}, name = 'default'): BrowserProject {
  return {
    apiVersion: 'browserfleet.dev/v1alpha1',
    kind: 'BrowserProject',
    metadata: { name, generation: 1 },
    spec: {
      namespace: 'team-a',
      concurrency: 10,
      maxQueued: 10,
      defaultTimeout: 300,
      maxTimeout: 3600,
      ttlSecondsAfterFinished: 3600,
      ...spec,
    },
  };
}

let counter = 0;
export function session(
  status: BrowserSessionStatus = {},
  spec: Partial<BrowserSession['spec']> = {},
  meta: Partial<BrowserSession['metadata']> = {},
): BrowserSession {
  counter++;
  return {
    apiVersion: 'browserfleet.dev/v1alpha1',
    kind: 'BrowserSession',
    metadata: {
      name: `s${counter}`,
      namespace: 'team-a',
      uid: `uid-${counter}`,
      generation: 1,
      resourceVersion: String(1000 + counter),
      creationTimestamp: new Date(T0) as never,
      ...meta,
    },
    spec: { project: 'default', keepAlive: false, release: false, ...spec },
    ...(Object.keys(status).length > 0 ? { status } : {}),
  };
}

export function pod(
  opts: { ready?: boolean; ip?: string; chromeExit?: number; phase?: string; deleting?: boolean } = {},
): V1Pod {
  return {
    metadata: { name: 'browser-x', ...(opts.deleting ? { deletionTimestamp: new Date(T0) } : {}) },
    status: {
      phase: opts.phase ?? 'Running',
      ...(opts.ip ? { podIP: opts.ip } : {}),
      conditions: [{ type: 'Ready', status: opts.ready ? 'True' : 'False' }],
      containerStatuses: [
        {
          name: 'chrome',
          image: 'browserfleet/chrome:dev',
          imageID: '',
          ready: opts.chromeExit === undefined,
          restartCount: 0,
          state:
            opts.chromeExit === undefined
              ? { running: { startedAt: new Date(T0) } }
              : { terminated: { exitCode: opts.chromeExit, reason: 'Error', message: 'crashed' } },
        },
      ],
    },
  };
}

/** Status of a session admitted at T0 with the given timeout, Running since T0+1s. */
export function running(timeoutSeconds = 300, extra: BrowserSessionStatus = {}): BrowserSessionStatus {
  return {
    phase: 'Running',
    startedAt: iso(T0),
    readyAt: iso(T0 + 1000),
    expiresAt: iso(T0 + timeoutSeconds * 1000),
    timeoutSeconds,
    podName: 'browser-x',
    serviceName: 'browser-x',
    podIP: '10.244.0.2',
    ...extra,
  };
}
