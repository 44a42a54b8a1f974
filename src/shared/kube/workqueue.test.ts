import { describe, expect, it } from 'vitest';
import { FakeClock } from '../clock.js';
import { WorkQueue } from './workqueue.js';

const drain = async (q: WorkQueue): Promise<string[]> => {
  const out: string[] = [];
  while (q.length > 0) {
    const k = await q.get();
    if (k === undefined) break;
    out.push(k);
    q.done(k);
  }
  return out;
};

describe('WorkQueue', () => {
  it('merges duplicate adds of a waiting key', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    q.add('b');
    q.add('a');
    expect(await drain(q)).toEqual(['a', 'b']);
  });

  it('never hands out a key that is being processed; a re-add is served after done()', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    const first = await q.get();
    q.add('a');
    expect(q.length).toBe(0);
    q.done(first as string);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
  });

  it('wakes a waiting worker when a key arrives', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    const pending = q.get();
    q.add('x');
    expect(await pending).toBe('x');
  });

  it('keeps only the earliest delayed add per key', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('a', 1000);
    q.addAfter('a', 500);
    q.addAfter('a', 2000);
    expect(q.delayedCount).toBe(1);
    clock.advance(499);
    expect(q.length).toBe(0);
    clock.advance(1);
    expect(q.length).toBe(1);
    clock.advance(5000);
    expect(q.length).toBe(1);
  });

  it.each([
    [0, 5],
    [1, 10],
    [2, 20],
    [10, 5120],
    [30, 60_000],
  ])('backs off exponentially per key: %i failures -> %i ms', (failures, ms) => {
    const q = new WorkQueue({ clock: new FakeClock(), baseDelayMs: 5, maxDelayMs: 60_000 });
    expect(q.backoffMs(failures)).toBe(ms);
  });

  it('retries a failing key after its backoff and forgets failures on success', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, baseDelayMs: 100 });
    q.addRateLimited('a');
    q.addRateLimited('a');
    expect(q.numRequeues('a')).toBe(2);
    clock.advance(99);
    expect(q.length).toBe(0);
    clock.advance(1);
    expect(q.length).toBe(1);
    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
  });

  it('shutDown releases waiting workers and drops delayed adds', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    const pending = q.get();
    q.addAfter('later', 1000);
    q.shutDown();
    expect(await pending).toBeUndefined();
    clock.advance(2000);
    expect(q.length).toBe(0);
    q.add('after-shutdown');
    expect(q.length).toBe(0);
  });
});

describe('WorkQueue urgent lane', () => {
  it('serves urgent keys first, in their order, and can make a waiting key urgent', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    q.add('b');
    q.add('c');
    q.add('c', { urgent: true });
    q.add('z', { urgent: true });
    q.add('a'); // not made less urgent, not queued twice
    expect(q.length).toBe(4);
    expect(await drain(q)).toEqual(['c', 'z', 'a', 'b']);
  });

  it('keeps the urgency of a key re-added while it is processed, and of a delayed add', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.add('a');
    const a = (await q.get()) as string;
    q.add('a', { urgent: true });
    q.add('b');
    q.done(a);
    q.addAfter('c', 100, { urgent: true });
    q.addAfter('c', 200); // later and not urgent: the earlier, urgent wake-up stays
    clock.advance(100);
    expect(await drain(q)).toEqual(['a', 'c', 'b']);
  });
});
