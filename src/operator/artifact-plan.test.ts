import { describe, expect, it } from 'vitest';
import type { BrowserSessionStatus } from '../api/index.js';
import { iso, pod, project, running, session, T0, testConfig } from '../testing/fixtures.js';
import {
  artifactWork,
  type CopyOutcome,
  expiredArtifacts,
  keptForRetention,
  type SidecarManifest,
  summarize,
} from './artifact-plan.js';
import { planSession } from './plan.js';

const ended = (extra: BrowserSessionStatus = {}): BrowserSessionStatus => ({
  ...running(300),
  phase: 'Completed',
  endReason: 'Released',
  endedAt: iso(T0 + 10_000),
  ...extra,
});
const live = pod({ ready: true, ip: '10.245.0.9' });

describe('artifactWork: what the collector does for a session', () => {
  it.each([
    ['a running session whose sidecar reported nothing new', session(running()), live, 'idle'],
    [
      'a running session with a newer generation than stored',
      session(running(300, { artifactsGeneration: 3, artifacts: { state: 'Collecting', generation: 2 } })),
      live,
      'copy',
    ],
    [
      'a starting session (no browser yet)',
      session({ phase: 'Starting', artifactsGeneration: 1 }),
      live,
      'idle',
    ],
    ['an ended session with its pod', session(ended()), live, 'flush'],
    ['an ended session whose pod is gone', session(ended()), undefined, 'pod-gone'],
    [
      'an ended session that never had a browser',
      session({ phase: 'Completed', endReason: 'Released', endedAt: iso(T0) }),
      undefined,
      'idle',
    ],
    [
      'an ended session whose flush is recorded',
      session(ended({ artifacts: { state: 'Stored', flushed: true } })),
      live,
      'idle',
    ],
    [
      'a running session that keeps no downloads (its log is stored at the end)',
      session(running(300, { artifactsGeneration: 3 }), { saveDownloads: false }),
      live,
      'idle',
    ],
    [
      'an ended session that keeps its log but no downloads',
      session(ended(), { saveDownloads: false }),
      live,
      'flush',
    ],
    [
      'an ended session that keeps neither',
      session(ended(), { saveDownloads: false, logSession: false }),
      live,
      'idle',
    ],
    [
      'a session being deleted that holds the finalizer',
      session(
        ended(),
        {},
        { deletionTimestamp: new Date(T0) as never, finalizers: ['browserfleet.dev/artifacts'] },
      ),
      undefined,
      'delete',
    ],
    [
      'a session being deleted without it (nothing was stored)',
      session(ended(), {}, { deletionTimestamp: new Date(T0) as never }),
      live,
      'idle',
    ],
  ])('%s: %s', (_name, s, p, kind) => {
    expect(artifactWork(s, p, 5).kind).toBe(kind);
  });

  it('bounds the flush by the end plus the flush timeout', () => {
    expect(artifactWork(session(ended()), live, 5)).toEqual({
      kind: 'flush',
      podIP: '10.245.0.9',
      deadline: T0 + 15_000,
    });
  });
});

const manifest = (downloads: SidecarManifest['downloads'], generation = 4): SidecarManifest => ({
  generation,
  sealed: true,
  downloads,
});
const done = (name: string, bytes: number) => ({ name, bytes, sha256: 'x', state: 'complete' as const });

describe('summarize: status.artifacts from one pass', () => {
  const cases: [string, CopyOutcome, Partial<ReturnType<typeof summarize>>][] = [
    [
      'during the session: Collecting, counts so far, generation moved',
      { manifest: manifest([done('a-1.pdf', 10)]), stored: new Map([['a-1.pdf', 10]]), final: false },
      {
        state: 'Collecting',
        generation: 4,
        flushed: false,
        downloads: { stored: 1, bytes: 10, partial: 0, cancelled: 0 },
      },
    ],
    [
      'the end with everything stored: Stored',
      {
        manifest: manifest([done('a-1.pdf', 10), { name: 'b.zip', bytes: 3, state: 'cancelled' }]),
        stored: new Map([['a-1.pdf', 10]]),
        final: true,
      },
      { state: 'Stored', flushed: true, downloads: { stored: 1, bytes: 10, partial: 0, cancelled: 1 } },
    ],
    [
      'the end with the CDP log stored: Stored, the log counted',
      {
        manifest: manifest([]),
        stored: new Map(),
        logs: { stored: true, entries: 12, bytes: 3456, dropped: 0 },
        final: true,
      },
      {
        state: 'Stored',
        message: '0 download(s), 0 bytes; CDP log of 12 command(s)',
        logs: { stored: true, entries: 12, bytes: 3456, dropped: 0 },
      },
    ],
    [
      'the end after the cap cancelled downloads: Incomplete, DownloadCapReached, naming them',
      {
        manifest: {
          ...manifest([
            done('a-1.bin', 90),
            { name: 'b.bin', bytes: 20, state: 'cancelled', cancelledBy: 'cap' },
          ]),
          capBytes: 100,
          capReached: true,
        },
        stored: new Map([['a-1.bin', 90]]),
        final: true,
      },
      {
        state: 'Incomplete',
        reason: 'DownloadCapReached',
        message:
          "1 download(s) past the session's cap of 100 bytes (the project's maxDownloadBytes) were cancelled: b.bin",
        downloads: { stored: 1, bytes: 90, partial: 0, cancelled: 1 },
      },
    ],
    [
      'the end with a download cut off: Incomplete, DownloadsCutOff, named',
      {
        manifest: manifest([done('a-1.pdf', 10), { name: 'big.bin', bytes: 4096, state: 'partial' }]),
        stored: new Map([['a-1.pdf', 10]]),
        final: true,
      },
      {
        state: 'Incomplete',
        reason: 'DownloadsCutOff',
        downloads: { stored: 1, bytes: 10, partial: 1, cancelled: 0 },
      },
    ],
    [
      'the store down at the end: Failed with its reason, the counts kept from before',
      {
        manifest: manifest([done('a-1.pdf', 10)]),
        final: true,
        failure: { reason: 'Unreachable', message: 'the artifact store: connection refused' },
      },
      {
        state: 'Failed',
        reason: 'Unreachable',
        generation: 2,
        downloads: { stored: 0, bytes: 0, partial: 0, cancelled: 0 },
      },
    ],
    [
      'the flush cut by its timeout: Incomplete, FlushTimeout, naming what was not stored',
      {
        manifest: manifest([done('a-1.pdf', 10), done('c-2.txt', 5)]),
        stored: new Map([['a-1.pdf', 10]]),
        final: true,
        failure: { reason: 'FlushTimeout', message: 'the flush did not finish' },
      },
      {
        state: 'Incomplete',
        reason: 'FlushTimeout',
        message: 'the flush did not finish (not stored: c-2.txt)',
      },
    ],
    [
      'a copy during the session that failed: still Collecting, generation not moved (tried again)',
      {
        manifest: manifest([done('a-1.pdf', 10)]),
        final: false,
        failure: { reason: 'SidecarUnreachable', message: 'no answer' },
      },
      { state: 'Collecting', reason: 'SidecarUnreachable', generation: 2, flushed: false },
    ],
  ];
  it.each(cases)('%s', (_name, outcome, want) => {
    const before = { state: 'Collecting' as const, generation: 2, downloads: { stored: 0, bytes: 0 } };
    expect(summarize(before, outcome, T0)).toMatchObject({ ...want, updatedAt: iso(T0) });
  });
});

describe('planSession with artifacts kept: the pod waits for the end’s flush, at most its timeout', () => {
  const config = {
    ...testConfig,
    artifacts: { ...testConfig.artifacts, enabled: true },
    artifactCollector: { flushTimeoutSeconds: 5, concurrency: 1, retentionSweepSeconds: 60 },
  };
  const plan = (s: ReturnType<typeof session>, p: typeof live | undefined, now: number) =>
    planSession({ session: s, pod: p, project: project(), now }, { config, token: 't' });

  it('keeps the pod of a session that just ended and wakes at the deadline', () => {
    const p = plan(session(ended()), live, T0 + 11_000);
    expect(p.deletePod).toBeUndefined();
    expect(p.requeueAfterMs).toBe(4000);
  });

  it('deletes the pod once the flush is recorded', () => {
    const p = plan(session(ended({ artifacts: { state: 'Stored', flushed: true } })), live, T0 + 11_000);
    expect(p.deletePod).toBe(true);
  });

  it('deletes the pod at the deadline whatever the flush', () => {
    expect(plan(session(ended()), live, T0 + 15_000).deletePod).toBe(true);
  });

  it('keeps the pod when the session ends in this very pass (released)', () => {
    const p = plan(session(running(300), { release: true }), live, T0 + 2000);
    expect(p.status.phase).toBe('Completed');
    expect(p.deletePod).toBeUndefined();
    expect(p.requeueAfterMs).toBe(5000);
  });

  it('does not wait without artifacts kept', () => {
    const p = planSession(
      { session: session(ended()), pod: live, project: project(), now: T0 + 11_000 },
      { config: testConfig, token: 't' },
    );
    expect(p.deletePod).toBe(true);
  });
});

describe('retention: artifacts kept past their session', () => {
  it.each([
    ['no retention: they go with the session', undefined, T0 + 20_000, false],
    ['within the retention after the end', 60, T0 + 20_000, true],
    ['past it', 60, T0 + 70_001, false],
    ['retention 0: nothing past the session', 0, T0 + 10_001, false],
  ])('keptForRetention: %s', (_name, retention, now, want) => {
    expect(keptForRetention(session(ended()), retention, now)).toBe(want);
  });

  it('keptForRetention: a session deleted before it ended counts from now', () => {
    expect(keptForRetention(session(running()), 60, T0 + 5000)).toBe(true);
  });

  it('expiredArtifacts: sessions that are gone and whose newest artifact is older than the retention', () => {
    const stored = [
      { session: 'gone-old', artifacts: 2, newestAt: new Date(T0) },
      { session: 'gone-new', artifacts: 1, newestAt: new Date(T0 + 50_000) },
      { session: 'alive-old', artifacts: 3, newestAt: new Date(T0) },
    ];
    expect(expiredArtifacts(stored, new Set(['alive-old']), 60, T0 + 60_000)).toEqual(['gone-old']);
    expect(expiredArtifacts(stored, new Set(), 60, T0 + 110_000)).toEqual([
      'gone-old',
      'gone-new',
      'alive-old',
    ]);
  });
});
