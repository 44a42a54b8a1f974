import { type Clock, systemClock, type Timer } from '../clock.js';

export interface WorkQueueOptions {
  clock?: Clock;
  /** First retry delay after a failure; doubles per consecutive failure of the same key. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/** A FIFO with O(1) push and shift (Array#shift copies the whole array, which at 10,000 keys adds up). */
class Fifo {
  private items: string[] = [];
  private head = 0;

  push(key: string): void {
    this.items.push(key);
  }

  shift(): string | undefined {
    if (this.head >= this.items.length) return undefined;
    const key = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return key;
  }
}

/**
 * A rate-limited work queue with client-go semantics: a key is queued at most once however often it is
 * added, a key being processed is never handed out again until done() (re-adds meanwhile are remembered and
 * served after), failures back off exponentially per key, and addAfter() merges delayed adds so that only the
 * earliest wake-up per key is kept.
 *
 * Two lanes: urgent keys are served before all others, first in first out. Work that others wait on (a
 * session's own deadlines, its pod turning Ready, the head of a project's queue) must not wait behind a backlog
 * of thousands of new sessions. A waiting key can be made urgent; it is never made less urgent.
 */
export class WorkQueue {
  private readonly clock: Clock;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly urgentLane = new Fifo();
  private readonly normalLane = new Fifo();
  /** Keys in a lane, with whether they are urgent; lane entries that disagree with this are stale. */
  private readonly waiting = new Map<string, boolean>();
  private readonly processing = new Set<string>();
  /** Keys added again while being processed, served after done(). */
  private readonly again = new Map<string, boolean>();
  private readonly failures = new Map<string, number>();
  private readonly delayed = new Map<string, { at: number; timer: Timer; urgent: boolean }>();
  private waiters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;

  constructor(opts: WorkQueueOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.baseDelayMs = opts.baseDelayMs ?? 5;
    this.maxDelayMs = opts.maxDelayMs ?? 60_000;
  }

  add(key: string, opts: { urgent?: boolean } = {}): void {
    if (this.shuttingDown) return;
    const urgent = opts.urgent === true;
    if (this.processing.has(key)) {
      this.again.set(key, (this.again.get(key) ?? false) || urgent);
      return;
    }
    const queued = this.waiting.get(key);
    if (queued !== undefined) {
      if (urgent && !queued) {
        this.waiting.set(key, true);
        this.urgentLane.push(key);
      }
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) {
      this.processing.add(key);
      waiter(key);
      return;
    }
    this.waiting.set(key, urgent);
    (urgent ? this.urgentLane : this.normalLane).push(key);
  }

  /** Adds the key after `ms`; an earlier pending wake-up for the same key wins (and urgency is kept). */
  addAfter(key: string, ms: number, opts: { urgent?: boolean } = {}): void {
    if (this.shuttingDown) return;
    const existing = this.delayed.get(key);
    const urgent = opts.urgent === true || existing?.urgent === true;
    if (ms <= 0) {
      this.add(key, { urgent });
      return;
    }
    const at = this.clock.now() + ms;
    if (existing && existing.at <= at) {
      existing.urgent = urgent;
      return;
    }
    if (existing) this.clock.clearTimeout(existing.timer);
    const timer = this.clock.setTimeout(() => {
      const d = this.delayed.get(key);
      this.delayed.delete(key);
      this.add(key, { urgent: d?.urgent === true });
    }, ms);
    if (typeof timer === 'object' && timer && 'unref' in timer) (timer as { unref: () => void }).unref();
    this.delayed.set(key, { at, timer, urgent });
  }

  /** Re-adds a failed key after its backoff delay, or after `atLeastMs` if that is longer (a Retry-After). */
  addRateLimited(key: string, opts: { atLeastMs?: number } = {}): void {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    this.addAfter(key, Math.max(this.backoffMs(n), opts.atLeastMs ?? 0));
  }

  backoffMs(failures: number): number {
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(failures, 30));
  }

  /** Clears the failure count of a key after a success. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Resolves with the next key, or undefined once the queue is shut down and drained. */
  get(): Promise<string | undefined> {
    const key = this.next();
    if (key !== undefined) return Promise.resolve(key);
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    const urgent = this.again.get(key);
    if (urgent === undefined) return;
    this.again.delete(key);
    this.add(key, { urgent });
  }

  get length(): number {
    return this.waiting.size;
  }

  /** Keys waiting for a delayed add. */
  get delayedCount(): number {
    return this.delayed.size;
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const d of this.delayed.values()) this.clock.clearTimeout(d.timer);
    this.delayed.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  private next(): string | undefined {
    for (const [lane, urgent] of [
      [this.urgentLane, true],
      [this.normalLane, false],
    ] as const) {
      for (let key = lane.shift(); key !== undefined; key = lane.shift()) {
        if (this.waiting.get(key) !== urgent) continue; // stale: made urgent, or already served
        this.waiting.delete(key);
        this.processing.add(key);
        return key;
      }
    }
    return undefined;
  }
}
