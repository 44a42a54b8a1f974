/**
 * What the operator has written for a session and not yet seen in its caches (the "expectations" of
 * Kubernetes' own ReplicaSet and Job controllers). A watch delivers a session's status write and its pod's
 * creation separately and in either order, so a reconcile woken by one of them would otherwise plan from a
 * cache that still lacks the other and write it again: a status patch refused with 409, a create answered
 * AlreadyExists, a delete answered NotFound. Each costs the API server as much as a useful request; at
 * thousands of sessions they were a fifth of the operator's traffic.
 *
 * Expectations only ever hold back a write the cache will shortly show to be done, and each expires after
 * `ttlMs`, so a lost event can delay a session by that much at worst, never strand it.
 */

export type ChildKind = 'Pod' | 'Service';

/** A child as the cache shows it. */
export type ChildState = 'absent' | 'present' | 'deleting';

export interface Observed {
  /** The cached session's resourceVersion. */
  sessionVersion: string | undefined;
  pod: ChildState;
  service: ChildState;
}

export interface Written {
  /**
   * The resourceVersion of the session the status write was planned from. A reconcile that writes status
   * twice (a session ended by a refused pod in the pass that admitted it) reports both: the cache is stale
   * while it shows either.
   */
  statusFrom?: string | undefined;
  created?: readonly ChildKind[];
  deleted?: readonly ChildKind[];
}

export interface Pending {
  /** The cache still shows the session as it was before this operator's own status write. */
  staleSession: boolean;
  created: ReadonlySet<ChildKind>;
  deleted: ReadonlySet<ChildKind>;
}

interface Entry {
  /** Versions of the session this operator has written over; empty once the cache shows another. */
  statusFrom: Set<string>;
  statusAt: number;
  created: Map<ChildKind, number>;
  deleted: Map<ChildKind, number>;
}

const NOTHING: Pending = { staleSession: false, created: new Set(), deleted: new Set() };

export class Expectations {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly ttlMs: number) {}

  /** Records the writes of one reconcile of `key` that the API server accepted. */
  wrote(key: string, w: Written, now: number): void {
    const e: Entry = this.entries.get(key) ?? {
      statusFrom: new Set(),
      statusAt: 0,
      created: new Map(),
      deleted: new Map(),
    };
    if (w.statusFrom !== undefined) {
      e.statusFrom.add(w.statusFrom);
      e.statusAt = now;
    }
    for (const kind of w.created ?? []) e.created.set(kind, now);
    for (const kind of w.deleted ?? []) e.deleted.set(kind, now);
    this.entries.set(key, e);
  }

  /** What is still expected, given what the caches show now; whatever they show done (or has expired) is dropped. */
  pending(key: string, o: Observed, now: number): Pending {
    const e = this.entries.get(key);
    if (!e) return NOTHING;
    const live = (at: number) => now - at < this.ttlMs;
    if (!e.statusFrom.has(o.sessionVersion ?? '') || !live(e.statusAt)) e.statusFrom.clear();
    const state = (kind: ChildKind) => (kind === 'Pod' ? o.pod : o.service);
    for (const [kind, at] of e.created) if (state(kind) !== 'absent' || !live(at)) e.created.delete(kind);
    for (const [kind, at] of e.deleted) if (state(kind) !== 'present' || !live(at)) e.deleted.delete(kind);
    if (e.statusFrom.size === 0 && e.created.size === 0 && e.deleted.size === 0) {
      this.entries.delete(key);
      return NOTHING;
    }
    return {
      staleSession: e.statusFrom.size > 0,
      created: new Set(e.created.keys()),
      deleted: new Set(e.deleted.keys()),
    };
  }

  forget(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}

export function childState(obj: { metadata?: { deletionTimestamp?: unknown } } | undefined): ChildState {
  if (!obj) return 'absent';
  return obj.metadata?.deletionTimestamp ? 'deleting' : 'present';
}
