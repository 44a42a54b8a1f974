import { describe, expect, it } from 'vitest';
import { iso, running, session, T0 } from '../testing/fixtures.js';
import { connectionFactsApply, finalConnectionFacts } from './connection-facts.js';

const reported = {
  keepAliveRequested: false,
  chromeReachable: true,
  reportBootId: 'boot-1',
  reportSeq: 7,
};

describe('finalConnectionFacts', () => {
  it.each([
    ['a live session, even with a client connected', running(300, { ...reported, connections: 1, pages: 1 })],
    [
      'an ended session that shows no connection and no page',
      {
        ...running(300, { ...reported, connections: 0, pages: 0 }),
        phase: 'TimedOut' as const,
        endedAt: iso(T0 + 300_100),
      },
    ],
  ])('writes nothing for %s', (_n, status) => {
    expect(finalConnectionFacts(session(status))).toBeUndefined();
  });

  it('closes a connection that was open when the session ended: 0 connections and pages, disconnected at the end', () => {
    const facts = finalConnectionFacts(
      session({
        ...running(300, { ...reported, connections: 1, pages: 2, lastConnectedAt: iso(T0 + 2000) }),
        phase: 'TimedOut',
        endReason: 'Expired',
        endedAt: iso(T0 + 300_100),
      }),
    );
    expect(facts).toEqual({
      connections: 0,
      webdriverConnections: 0,
      pages: 0,
      ...reported,
      lastConnectedAt: iso(T0 + 2000),
      lastDisconnectedAt: iso(T0 + 300_100),
    });
  });

  it('keeps the real disconnect time when only pages were left open', () => {
    const facts = finalConnectionFacts(
      session({
        ...running(300, {
          ...reported,
          connections: 0,
          pages: 1,
          lastConnectedAt: iso(T0 + 2000),
          lastDisconnectedAt: iso(T0 + 3000),
        }),
        phase: 'Completed',
        endReason: 'Disconnected',
        endedAt: iso(T0 + 4000),
      }),
    );
    expect(facts).toMatchObject({ connections: 0, pages: 0, lastDisconnectedAt: iso(T0 + 3000) });
  });

  it('never puts the disconnect before the connect it ends', () => {
    const facts = finalConnectionFacts(
      session({
        ...running(300, { ...reported, connections: 1, lastConnectedAt: iso(T0 + 5000) }),
        phase: 'Completed',
        endReason: 'Released',
        endedAt: iso(T0 + 4000),
      }),
    );
    expect(facts?.lastDisconnectedAt).toBe(iso(T0 + 5000));
  });
});

describe('connectionFactsApply', () => {
  it('leaves out unset fields and guards the write with the resourceVersion read', () => {
    expect(
      connectionFactsApply(
        { name: 's', namespace: 'ns', resourceVersion: '42' },
        { connections: 0, pages: 0, lastConnectedAt: undefined },
      ),
    ).toEqual({
      apiVersion: 'browserfleet.dev/v1alpha1',
      kind: 'BrowserSession',
      metadata: { name: 's', namespace: 'ns', resourceVersion: '42' },
      status: { connections: 0, pages: 0 },
    });
  });
});
