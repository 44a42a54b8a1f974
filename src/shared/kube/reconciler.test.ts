import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../clock.js';
import type { Logger } from '../log.js';
import { KubeApiError } from './client.js';
import { type Outcome, runReconciler } from './reconciler.js';
import { WorkQueue } from './workqueue.js';

const BASE_MS = 100;
const apiError = (code: number, reason = '', retryAfterSeconds?: number) =>
  new KubeApiError(
    code,
    reason,
    `PATCH /x: ${code}`,
    { message: `${reason} from the server` },
    retryAfterSeconds,
  );

/** One scripted step of a key's passes: a requeue-after (or undefined), or an error to throw. */
type Step = number | undefined | Error;

const running: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of running.splice(0)) await stop();
});

/** The real WorkQueue on a fake clock, driven by runReconciler with a scripted reconcile. */
function harness(script: Record<string, Step[]>) {
  const clock = new FakeClock();
  const queue = new WorkQueue({ clock, baseDelayMs: BASE_MS, maxDelayMs: 10_000 });
  const passes: { key: string; at: number }[] = [];
  const outcomes: Outcome[] = [];
  const logged: { level: string; msg: string }[] = [];
  const log: Logger = {
    debug: (msg) => logged.push({ level: 'debug', msg }),
    info: (msg) => logged.push({ level: 'info', msg }),
    warn: (msg) => logged.push({ level: 'warn', msg }),
    error: (msg) => logged.push({ level: 'error', msg }),
    child: () => log,
  };
  const reconcile = async (key: string) => {
    passes.push({ key, at: clock.now() });
    const step = script[key]?.shift();
    if (step instanceof Error) throw step;
    return step;
  };
  const done = runReconciler({
    name: 'test',
    queue,
    reconcile,
    log,
    instrument: () => (outcome) => outcomes.push(outcome),
  });
  running.push(async () => {
    queue.shutDown();
    await done;
  });
  /** Lets the worker run every pass that is due now. */
  const settle = async () => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };
  /** Pass times of a key, relative to the start. */
  const times = (key: string) => passes.filter((p) => p.key === key).map((p) => p.at - start);
  const start = clock.now();
  return { clock, queue, passes, outcomes, logged, settle, times };
}

describe('runReconciler', () => {
  it('wakes a key at the deadline its pass asked for, once', async () => {
    const h = harness({ a: [5000, undefined] });
    h.queue.add('a');
    await h.settle();
    h.clock.advance(4999);
    await h.settle();
    expect(h.times('a')).toEqual([0]);
    h.clock.advance(1);
    await h.settle();
    h.clock.advance(60_000);
    await h.settle();
    expect(h.times('a')).toEqual([0, 5000]);
    expect(h.outcomes).toEqual(['done', 'done']);
  });

  it('serves a key again at once after a conflict, and backs off when it conflicts again in a row', async () => {
    const h = harness({ a: [apiError(409, 'Conflict'), apiError(409, 'Conflict'), undefined] });
    h.queue.add('a');
    await h.settle();
    expect(h.times('a')).toEqual([0, 0]); // the retry needed no time to pass
    h.clock.advance(BASE_MS - 1);
    await h.settle();
    expect(h.times('a')).toHaveLength(2);
    h.clock.advance(1);
    await h.settle();
    expect(h.times('a')).toEqual([0, 0, BASE_MS]);
    expect(h.outcomes).toEqual(['conflict', 'conflict', 'done']);
    // The first conflict is routine: no warning for it.
    expect(h.logged.filter((l) => l.level === 'warn')).toHaveLength(1);
  });

  it('backs off exponentially on 5xx and network errors, and forgets the failures on success', async () => {
    const network = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const h = harness({ a: [apiError(503), apiError(500), network, undefined] });
    h.queue.add('a');
    await h.settle();
    for (let i = 0; i < 10; i++) {
      h.clock.advance(100);
      await h.settle();
    }
    expect(h.times('a')).toEqual([0, BASE_MS, 3 * BASE_MS, 7 * BASE_MS]);
    expect(h.outcomes).toEqual(['unavailable', 'unavailable', 'unavailable', 'done']);
    expect(h.queue.numRequeues('a')).toBe(0);
  });

  it("waits at least the server's Retry-After on 429, and backs off when it gave none", async () => {
    const h = harness({ a: [apiError(429, 'TooManyRequests', 2), undefined], b: [apiError(429), undefined] });
    h.queue.add('a');
    h.queue.add('b');
    await h.settle();
    h.clock.advance(BASE_MS);
    await h.settle();
    h.clock.advance(1999 - BASE_MS);
    await h.settle();
    expect(h.times('a')).toEqual([0]);
    expect(h.times('b')).toEqual([0, BASE_MS]);
    h.clock.advance(1);
    await h.settle();
    expect(h.times('a')).toEqual([0, 2000]);
    expect(h.outcomes.filter((o) => o === 'throttled')).toHaveLength(2);
  });

  it('does not requeue a key whose object is gone (404)', async () => {
    const h = harness({ a: [apiError(404, 'NotFound')] });
    h.queue.add('a');
    await h.settle();
    h.clock.advance(600_000);
    await h.settle();
    expect(h.times('a')).toEqual([0]);
    expect(h.queue.delayedCount).toBe(0);
    expect(h.queue.length).toBe(0);
    expect(h.outcomes).toEqual(['notFound']);
    expect(h.logged.filter((l) => l.level !== 'info')).toEqual([]);
  });

  it('logs a refusal (403, 422) as an error and does not retry the same request', async () => {
    const h = harness({ a: [apiError(403, 'Forbidden')], b: [apiError(422, 'Invalid')] });
    h.queue.add('a');
    h.queue.add('b');
    await h.settle();
    h.clock.advance(600_000);
    await h.settle();
    expect(h.passes).toHaveLength(2);
    expect(h.queue.delayedCount).toBe(0);
    expect(h.outcomes).toEqual(['refused', 'refused']);
    expect(h.logged.filter((l) => l.level === 'error')).toHaveLength(2);
  });

  it('keeps serving other keys while one backs off', async () => {
    const h = harness({ a: [apiError(500), undefined], b: [undefined] });
    h.queue.add('a');
    h.queue.add('b');
    await h.settle();
    expect(h.passes.map((p) => p.key)).toEqual(['a', 'b']);
  });
});
