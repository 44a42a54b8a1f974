import { type BrowserSession, sessionKey } from '../api/index.js';
import { isNotFound, type KubeClient, paths } from '../shared/kube/client.js';
import type { Informer } from '../shared/kube/informer.js';
import type { SessionRef } from './tokens.js';

/**
 * Reads of BrowserSessions: the informer's cache first, the API on a miss (a session another gateway replica
 * created a moment ago), and waits that wake on watch events rather than polling.
 */
export class SessionCache {
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(
    readonly informer: Informer<BrowserSession>,
    private readonly client: KubeClient,
  ) {
    informer.onChange((s) => {
      for (const wake of this.waiters.get(sessionKey(s)) ?? []) wake();
    });
  }

  /** Calls `handler` with every session the watch adds, changes or deletes (deleted: no longer cached). */
  onChange(handler: (s: BrowserSession) => void): void {
    this.informer.onChange(handler);
  }

  cached(ref: SessionRef): BrowserSession | undefined {
    return this.informer.get(ref.name, ref.namespace);
  }

  async get(ref: SessionRef): Promise<BrowserSession | undefined> {
    const hit = this.cached(ref);
    if (hit) return hit;
    try {
      return await this.client.get<BrowserSession>(paths.session(ref.namespace, ref.name));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  list(): readonly BrowserSession[] {
    return this.informer.list();
  }

  /**
   * Resolves with the session once `done(session)` holds, or with the latest known state when `timeoutMs`
   * passes or `signal` aborts. `initial` stands in until the cache has the object (it was just created).
   * Resolves undefined when the session is deleted meanwhile.
   */
  waitUntil(
    ref: SessionRef,
    done: (s: BrowserSession) => boolean,
    timeoutMs: number,
    initial?: BrowserSession,
    signal?: AbortSignal,
  ): Promise<BrowserSession | undefined> {
    const key = `${ref.namespace}/${ref.name}`;
    let seen = false;
    const latest = (): BrowserSession | undefined => {
      const s = this.cached(ref);
      if (s) seen = true;
      return s ?? (seen ? undefined : initial);
    };
    const first = latest();
    if (!first || done(first) || timeoutMs <= 0 || signal?.aborted) return Promise.resolve(first);
    return new Promise((resolve) => {
      const set = this.waiters.get(key) ?? new Set<() => void>();
      this.waiters.set(key, set);
      const finish = (s: BrowserSession | undefined) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        set.delete(check);
        if (set.size === 0) this.waiters.delete(key);
        resolve(s);
      };
      const check = () => {
        const s = latest();
        if (!s || done(s)) finish(s);
      };
      const onAbort = () => finish(latest());
      const timer = setTimeout(() => finish(latest()), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      set.add(check);
      // The object may have changed between the first look and subscribing.
      check();
    });
  }
}
