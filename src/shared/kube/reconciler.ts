import type { Logger } from '../log.js';
import { classifyError, type ErrorClass } from './client.js';
import type { WorkQueue } from './workqueue.js';

/**
 * One level-triggered pass for one key. It returns when it wants to be woken again (its own deadline: an
 * expiry, a grace period), or undefined; it throws what it cannot handle itself.
 */
export type Reconcile = (key: string) => Promise<number | undefined>;

/** How a pass ended: done, or the class of the error it threw. */
export type Outcome = 'done' | ErrorClass['kind'];

export interface ReconcilerOptions {
  /** Names the loop in its logs. */
  name: string;
  queue: WorkQueue;
  reconcile: Reconcile;
  /** Keys reconciled at once (the queue never hands one key to two workers). */
  workers?: number;
  log: Logger;
  /** Called as a pass starts; the function it returns is called with the pass's outcome (for metrics). */
  instrument?: (key: string) => (outcome: Outcome) => void;
}

/**
 * The worker loop every controller here shares: take a key, reconcile it, and requeue it by what the
 * outcome means (see ErrorClass):
 * - done: failures forgotten; woken again at the deadline it asked for, in the urgent lane, so that a key's
 *   own deadlines are kept on time whatever the backlog.
 * - notFound: nothing to retry; the object's deletion reaches the caches as an event.
 * - conflict: queued again at once, with no backoff: the next pass reads the caches afresh. A second
 *   conflict in a row backs off, so a cache that lags behind does not spin the loop.
 * - throttled: backoff, and at least the server's Retry-After.
 * - unavailable: backoff.
 * - refused: logged as an error and not retried; the API server would refuse the same request again. The
 *   next change of the object, or the periodic resync, tries again. A reconciler that can tell the user
 *   why (a session whose pod is refused) catches refusals itself; what reaches here is a bug or a policy.
 *
 * Resolves once the queue is shut down and every worker has finished its pass.
 */
export async function runReconciler(o: ReconcilerOptions): Promise<void> {
  const { queue, log } = o;
  /** Keys whose last pass ended in a conflict, so the next conflict in a row backs off instead. */
  const conflicted = new Set<string>();

  const requeue = (key: string, cls: ErrorClass, err: unknown) => {
    if (cls.kind !== 'conflict') conflicted.delete(key);
    const fields = { controller: o.name, key, err, retries: queue.numRequeues(key) };
    switch (cls.kind) {
      case 'notFound':
        queue.forget(key);
        return;
      case 'conflict':
        if (!conflicted.has(key)) {
          conflicted.add(key);
          queue.add(key); // served again right after this pass is done
          return;
        }
        log.warn('reconcile conflicted again; retrying with backoff', fields);
        queue.addRateLimited(key);
        return;
      case 'throttled':
        log.warn('reconcile throttled; retrying with backoff', { ...fields, retryAfterMs: cls.retryAfterMs });
        queue.addRateLimited(key, cls.retryAfterMs === undefined ? {} : { atLeastMs: cls.retryAfterMs });
        return;
      case 'unavailable':
        log.warn('reconcile failed; retrying with backoff', fields);
        queue.addRateLimited(key);
        return;
      case 'refused':
        queue.forget(key);
        log.error('reconcile refused by the API server; not retrying', {
          ...fields,
          code: cls.code,
          reason: cls.reason,
        });
        return;
    }
  };

  const worker = async () => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      const finished = o.instrument?.(key);
      let outcome: Outcome = 'done';
      try {
        const requeueAfterMs = await o.reconcile(key);
        queue.forget(key);
        conflicted.delete(key);
        if (requeueAfterMs !== undefined) queue.addAfter(key, requeueAfterMs, { urgent: true });
      } catch (err) {
        const cls = classifyError(err);
        outcome = cls.kind;
        requeue(key, cls, err);
      } finally {
        queue.done(key);
        finished?.(outcome);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.workers ?? 1) }, worker));
}
