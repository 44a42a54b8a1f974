import { randomUUID } from 'node:crypto';
import {
  API_VERSION,
  type BrowserProject,
  type BrowserSession,
  type BrowserSessionSpec,
  isTerminal,
  LABEL_MANAGED_BY,
  LABEL_PROJECT,
  MANAGED_BY,
  projectOf,
  sessionKey,
} from '../api/index.js';
import type { Clock } from '../shared/clock.js';
import { isInvalid, isNotFound, KubeApiError, type KubeClient, paths } from '../shared/kube/client.js';
import type { Logger } from '../shared/log.js';
import { isoTime } from './compat/fields.js';
import { ApiError } from './errors.js';
import { type CreateBudget, createBudget, RATE_WINDOW_MS, rateLimitHeaders } from './quota.js';
import type { SessionCache } from './session-cache.js';
import { isSessionName } from './tokens.js';

export const GATEWAY_FIELD_MANAGER = 'browserfleet-gateway';

export interface SessionServiceOptions {
  createWaitMs: number;
  releaseWaitMs: number;
}

/**
 * What the gateway does to sessions, dialect-free: create (with the early 429), read one of the caller's
 * project, list, release. It never decides lifecycle: the operator admits, runs and ends sessions.
 */
export class SessionService {
  /** Sessions this replica created that its cache has not shown yet, so back-to-back creates count them. */
  private readonly unseen = new Map<string, BrowserSession>();
  /** Creates of one project run one at a time here, so the early check and the write can't interleave. */
  private readonly createLocks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly client: KubeClient,
    private readonly cache: SessionCache,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly opts: SessionServiceOptions,
  ) {}

  /** The project's sessions, newest first. */
  projectSessions(project: BrowserProject): BrowserSession[] {
    const name = project.metadata.name ?? '';
    const namespace = project.spec.namespace;
    const byKey = new Map<string, BrowserSession>();
    for (const s of this.cache.list()) {
      if (s.metadata.namespace === namespace && projectOf(s) === name) byKey.set(sessionKey(s), s);
    }
    const now = this.clock.now();
    for (const [key, s] of this.unseen) {
      const created = Date.parse(isoTime(s.metadata.creationTimestamp) ?? '');
      if (
        byKey.has(key) ||
        this.cache.cached({ namespace: s.metadata.namespace ?? '', name: s.metadata.name ?? '' })
      ) {
        this.unseen.delete(key);
      } else if (!(created > now - RATE_WINDOW_MS)) {
        this.unseen.delete(key);
      } else if (s.metadata.namespace === namespace && projectOf(s) === name) {
        byKey.set(key, s);
      }
    }
    return [...byKey.values()].sort(newestFirst);
  }

  budget(project: BrowserProject): CreateBudget {
    return createBudget(project, this.projectSessions(project), this.clock.now());
  }

  /**
   * Creates a session and waits (bounded) for the operator's first word on it: Running or Queued answers at
   * once; a session the operator refuses for quota is deleted and becomes a 429, so a client never holds a
   * session that cannot run. Past the wait, the session is returned as it is (starting), never as an error.
   */
  async create(
    project: BrowserProject,
    spec: BrowserSessionSpec,
  ): Promise<{ session: BrowserSession; budget: CreateBudget }> {
    const name = project.metadata.name ?? '';
    const created = await this.serialized(name, async () => {
      const before = this.budget(project);
      if (before.refusal) {
        throw new ApiError(before.refusal.code, before.refusal.message, {
          ...rateLimitHeaders(before),
          'retry-after': String(before.refusal.retryAfterSeconds),
        });
      }
      const body: BrowserSession = {
        apiVersion: API_VERSION as BrowserSession['apiVersion'],
        kind: 'BrowserSession',
        metadata: {
          name: randomUUID(),
          namespace: project.spec.namespace,
          labels: { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_PROJECT]: name },
        },
        spec,
      };
      const session = await this.client
        .create<BrowserSession>(paths.sessions(project.spec.namespace), body, GATEWAY_FIELD_MANAGER)
        .catch((err: unknown) => {
          // The CRD's own validation is the last word on the spec; its message names the field.
          if (isInvalid(err))
            throw new ApiError('INVALID_REQUEST', apiServerMessage(err), {}, { cause: err });
          throw err;
        });
      this.unseen.set(sessionKey(session), session);
      return session;
    });
    const ref = { namespace: created.metadata.namespace ?? '', name: created.metadata.name ?? '' };
    const settled =
      (await this.cache.waitUntil(
        ref,
        (s) => isTerminal(s) || s.status?.phase === 'Running' || s.status?.phase === 'Queued',
        this.opts.createWaitMs,
        created,
      )) ?? created;
    if (settled.status?.phase === 'Failed' && settled.status.endReason === 'QuotaExceeded') {
      this.log.info('the operator refused a new session for quota; deleting it and answering 429', {
        project: name,
        session: ref.name,
      });
      await this.discard(settled);
      const budget = this.budget(project);
      throw new ApiError(
        'QUOTA_EXCEEDED',
        settled.status.conditions?.find((c) => c.type === 'Ended')?.message ??
          `project "${name}" is at its limit`,
        {
          ...rateLimitHeaders({ ...budget, remaining: 0 }),
          'retry-after': String(Math.max(1, budget.refusal?.retryAfterSeconds ?? 1)),
        },
      );
    }
    return { session: settled, budget: this.budget(project) };
  }

  /** A session of the caller's project, or 404 whether it is absent or another project's (never say which). */
  async owned(project: BrowserProject, id: string): Promise<BrowserSession> {
    const missing = new ApiError('SESSION_NOT_FOUND', `session ${id} not found`);
    if (!isSessionName(id)) throw missing;
    const s = await this.cache.get({ namespace: project.spec.namespace, name: id });
    if (!s || projectOf(s) !== project.metadata.name) throw missing;
    return s;
  }

  /** Asks the operator to end the session (idempotent) and waits, bounded, until it has. */
  async release(project: BrowserProject, id: string): Promise<BrowserSession> {
    const s = await this.owned(project, id);
    if (isTerminal(s)) return s;
    const ref = { namespace: s.metadata.namespace ?? '', name: s.metadata.name ?? '' };
    let patched: BrowserSession = s;
    if (!s.spec.release) {
      try {
        patched = await this.client.mergePatch<BrowserSession>(
          paths.session(ref.namespace, ref.name),
          { spec: { release: true } },
          GATEWAY_FIELD_MANAGER,
        );
      } catch (err) {
        if (isNotFound(err)) throw new ApiError('SESSION_NOT_FOUND', `session ${id} not found`);
        throw err;
      }
    }
    return (await this.cache.waitUntil(ref, isTerminal, this.opts.releaseWaitMs, patched)) ?? patched;
  }

  /** Removes a session that must not exist (refused for quota); if that fails it stays terminal, never running. */
  private async discard(s: BrowserSession): Promise<void> {
    try {
      await this.client.delete(paths.session(s.metadata.namespace ?? '', s.metadata.name ?? ''));
    } catch (err) {
      if (!isNotFound(err))
        this.log.warn('could not delete a session refused for quota; it stays Failed', {
          session: sessionKey(s),
          err,
        });
    }
    this.unseen.delete(sessionKey(s));
  }

  private serialized<T>(project: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.createLocks.get(project) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.createLocks.set(project, tail);
    void tail.then(() => {
      if (this.createLocks.get(project) === tail) this.createLocks.delete(project);
    });
    return run;
  }
}

/** Creation order, newest first: timestamps have one-second resolution, the creation revision breaks ties. */
function newestFirst(a: BrowserSession, b: BrowserSession): number {
  const ta = isoTime(a.metadata.creationTimestamp) ?? '';
  const tb = isoTime(b.metadata.creationTimestamp) ?? '';
  if (ta !== tb) return ta < tb ? 1 : -1;
  const ra = revision(a);
  const rb = revision(b);
  if (ra !== rb) return ra < rb ? 1 : -1;
  return (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
}

function revision(s: BrowserSession): bigint {
  try {
    return BigInt(s.status?.creationRevision ?? s.metadata.resourceVersion ?? '0');
  } catch {
    return 0n;
  }
}

/** The API server's explanation of a rejected object, without the request line the client prepends. */
function apiServerMessage(err: unknown): string {
  const body = err instanceof KubeApiError ? (err.body as { message?: unknown } | undefined) : undefined;
  return typeof body?.message === 'string' ? body.message : 'the session spec was rejected';
}
