import { describe, expect, it } from 'vitest';
import type { BrowserSessionStatus } from '../../api/index.js';
import { iso, running, session, T0 } from '../../testing/fixtures.js';
import { logSource } from './session-logs.js';

const ended = (extra: BrowserSessionStatus = {}): BrowserSessionStatus => ({
  ...running(300),
  podIP: '10.245.0.9',
  phase: 'Completed',
  endReason: 'Released',
  endedAt: iso(T0 + 10_000),
  ...extra,
});
const stored = { state: 'Stored' as const, flushed: true, logs: { stored: true, entries: 3, bytes: 900 } };

describe('logSource: where a session’s CDP log is read from, or why not', () => {
  it.each([
    ['a running session', session({ ...running(300), podIP: '10.245.0.9' }), true, 'sidecar'],
    ['a running session, no store', session({ ...running(300), podIP: '10.245.0.9' }), false, 'sidecar'],
    ['a session whose browser never ran', session({ phase: 'Queued' }), true, 'empty'],
    [
      'logSession: false',
      session({ ...running(300), podIP: '10.245.0.9' }, { logSession: false }),
      true,
      'empty',
    ],
    ['ended, its log stored', session(ended({ artifacts: stored })), true, 'store'],
    ['ended, the flush not recorded, its pod there', session(ended()), true, 'sidecar'],
    [
      'ended, the flush not recorded, no pod',
      session(ended({ podIP: undefined as never })),
      true,
      'refused ARTIFACTS_UNAVAILABLE',
    ],
    [
      'ended, the store failed at the flush',
      session(
        ended({ artifacts: { state: 'Failed', flushed: true, reason: 'Unreachable', message: 'down' } }),
      ),
      true,
      'refused ARTIFACTS_FAILED',
    ],
    [
      'ended, its pod gone before the flush',
      session(
        ended({ artifacts: { state: 'Incomplete', flushed: true, reason: 'PodGone', message: 'gone' } }),
      ),
      true,
      'refused ARTIFACTS_FAILED',
    ],
    ['ended, no store kept anything', session(ended()), false, 'refused NOT_IMPLEMENTED'],
  ])('%s: %s', (_name, s, storeConfigured, want) => {
    const source = logSource(s, storeConfigured);
    expect(source.kind === 'refused' ? `refused ${source.code}` : source.kind).toBe(want);
  });

  it('says why a flush failed, in the store’s words', () => {
    const s = session(
      ended({
        artifacts: { state: 'Failed', flushed: true, reason: 'Unreachable', message: 'connection refused' },
      }),
    );
    expect(logSource(s, true)).toMatchObject({
      message: "logs: the session's CDP log was not stored when it ended (Unreachable): connection refused",
    });
  });
});
