import { afterEach, describe, expect, it } from 'vitest';
import { type ReportReceiver, startReportReceiver } from '../testing/report-receiver.js';
import { waitFor } from '../testing/wait.js';
import { ConnectionState } from './connection-state.js';
import { Reporter, type ReporterOptions } from './reporter.js';

const session = { namespace: 'team-a', name: 's1', uid: '0d9c4c1e-1111-4000-8000-00000000abcd' };
const sessionToken = 'c2Vzc2lvbi10b2tlbg';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(answer?: ReportReceiver['answer'], options: Partial<ReporterOptions> = {}) {
  const receiver = await startReportReceiver(answer);
  cleanups.push(() => receiver.close());
  const state = new ConnectionState();
  const reporter = new Reporter({
    url: receiver.url,
    sessionToken,
    session,
    state,
    // Long enough that only changes and retries cause requests, unless a test asks otherwise.
    intervalMs: 3_600_000,
    backoffMinMs: 20,
    backoffMaxMs: 200,
    ...options,
  });
  cleanups.push(() => reporter.close());
  return { receiver, state, reporter };
}

const delivered = (receiver: ReportReceiver) => receiver.received.filter((r) => r.status < 300);

describe('Reporter', { timeout: 60_000 }, () => {
  it('sends the level state on every change with increasing seq under one bootId', async () => {
    const { receiver, state, reporter } = await setup();
    await waitFor('the initial report', () => delivered(receiver).length === 1);
    expect(receiver.received[0]?.report).toMatchObject({
      ...session,
      seq: 1,
      connections: 0,
      pages: 0,
      keepAliveRequested: false,
      chromeReachable: false,
    });
    expect(receiver.received[0]?.authorization).toBe(`Bearer ${sessionToken}`);

    state.clientConnected('browser', false);
    await waitFor('a report with 1 connection', () =>
      delivered(receiver).find((r) => r.report.connections === 1),
    );
    state.clientDisconnected('browser');
    const last = await waitFor('a report with the disconnect', () =>
      delivered(receiver).find((r) => r.report.connections === 0 && r.report.lastDisconnectedAt),
    );
    expect(Date.parse(last.report.lastDisconnectedAt ?? '')).toBeGreaterThanOrEqual(
      Date.parse(last.report.lastConnectedAt ?? ''),
    );

    const seqs = receiver.received.map((r) => r.report.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(new Set(receiver.received.map((r) => r.report.bootId))).toEqual(
      new Set([reporter.status().bootId]),
    );
  });

  it('retries after 503 until the receiver takes the newest state', async () => {
    const { receiver, state, reporter } = await setup((n) => (n < 3 ? 503 : 204));
    state.clientConnected('page', true);
    state.setPages(2);
    await waitFor('a delivered report', () => reporter.status().lastDeliveredSeq > 0);
    expect(receiver.received.slice(0, 3).map((r) => r.status)).toEqual([503, 503, 503]);
    const accepted = delivered(receiver).at(-1)?.report;
    expect(accepted).toMatchObject({ connections: 1, pages: 2, keepAliveRequested: true });
    expect(accepted?.seq).toBe(reporter.status().lastDeliveredSeq);
    expect(reporter.status().failures).toBe(3);
  });

  it('keeps retrying while the receiver is unreachable', async () => {
    const receiver = await startReportReceiver();
    const url = receiver.url;
    await receiver.close();
    const state = new ConnectionState();
    const reporter = new Reporter({ url, sessionToken, session, state, backoffMinMs: 10, backoffMaxMs: 20 });
    cleanups.push(() => reporter.close());
    await waitFor('repeated failures', () => reporter.status().failures >= 3);
    expect(reporter.status().lastDeliveredSeq).toBe(0);
    expect(reporter.status().retryScheduled || reporter.status().inFlight).toBe(true);
  });

  it('treats 409 (receiver already has newer) as delivered', async () => {
    const { reporter } = await setup(() => 409);
    await waitFor('the first report to be settled', () => reporter.status().lastDeliveredSeq === 1);
    const status = reporter.status();
    expect(status).toMatchObject({ failures: 0, retryScheduled: false, inFlight: false });
  });

  it('keeps at most one report in flight and folds changes made meanwhile into the next', async () => {
    let release: (() => void) | undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { receiver, state, reporter } = await setup(async (n) => {
      if (n === 0) await held;
      return 204;
    });
    await waitFor('the first report in flight', () => reporter.status().inFlight);
    for (let i = 0; i < 5; i++) state.clientConnected('browser', false);
    release?.();
    await waitFor('the folded report', () => delivered(receiver).find((r) => r.report.connections === 5));
    expect(receiver.received.map((r) => r.report.connections)).toEqual([0, 5]);
    expect(receiver.maxConcurrent).toBe(1);
  });

  it('re-sends the state periodically without changes', async () => {
    const { receiver } = await setup(undefined, { intervalMs: 50 });
    await waitFor('periodic reports', () => receiver.received.length >= 3);
    const [a, b, c] = receiver.received.map((r) => r.report);
    expect([a?.connections, b?.connections, c?.connections]).toEqual([0, 0, 0]);
  });

  it('sends the final state on close', async () => {
    const { receiver, state, reporter } = await setup();
    await waitFor('the initial report', () => delivered(receiver).length === 1);
    state.clientConnected('browser', false);
    state.clientDisconnected('browser');
    await reporter.close();
    const last = receiver.received.at(-1)?.report;
    expect(last?.connections).toBe(0);
    expect(last?.lastDisconnectedAt).toBeDefined();
    expect(last?.seq).toBe(Math.max(...receiver.received.map((r) => r.report.seq)));
  });
});
