import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { V1Pod } from '@kubernetes/client-node';
import {
  API_VERSION,
  type BrowserProject,
  type BrowserSession,
  CDP_PORT,
  FINALIZER_ARTIFACTS,
  projectOf,
  sessionKey,
  splitKey,
} from '../api/index.js';
import { CDP_LOG_ARTIFACT, type SessionScope } from '../shared/artifacts/keys.js';
import { type ArtifactStore, ArtifactStoreError } from '../shared/artifacts/store.js';
import type { Clock, Timer } from '../shared/clock.js';
import { sessionToken } from '../shared/credentials.js';
import { isNotFound, type KubeClient, paths } from '../shared/kube/client.js';
import type { Informer } from '../shared/kube/informer.js';
import { runReconciler } from '../shared/kube/reconciler.js';
import { WorkQueue } from '../shared/kube/workqueue.js';
import type { Logger } from '../shared/log.js';
import {
  type ArtifactStatus,
  type ArtifactWork,
  artifactWork,
  type CopyOutcome,
  expiredArtifacts,
  keepsDownloads,
  keepsLog,
  keptForRetention,
  type SidecarManifest,
  summarize,
} from './artifact-plan.js';
import { childName } from './children.js';
import { canonicalJson } from './status-patch.js';

/** The single writer of `status.artifacts` (ADR 0012). */
export const ARTIFACTS_FIELD_MANAGER = 'browserfleet-artifacts';
/** The owner of the artifacts finalizer entry in metadata.finalizers. */
const FINALIZER_FIELD_MANAGER = 'browserfleet-artifacts-finalizer';

/** A failed copy while the session runs is tried again after this long (the sidecar keeps the files). */
const RETRY_MS = 5000;
/** A sidecar that did not answer at the end is asked again this soon, while the flush has time left. */
const FLUSH_RETRY_MS = 250;
/** The least time an end's flush gets, even when the collector reaches it late; the pod may be gone by then. */
const MIN_FLUSH_MS = 2000;

export interface ArtifactCollectorOptions {
  client: KubeClient;
  sessions: Informer<BrowserSession>;
  pods: Informer<V1Pod>;
  /** For each project's artifactRetentionSeconds. */
  projects: Informer<BrowserProject>;
  store: ArtifactStore;
  /** The HMAC key the session credentials are derived from: the sidecar's port takes the session's own. */
  sessionKey: string;
  flushTimeoutSeconds: number;
  concurrency: number;
  /** How often projects that keep artifacts past their sessions are swept (artifactRetentionSeconds). */
  retentionSweepSeconds: number;
  clock: Clock;
  log: Logger;
  /** The sidecar's port (the pod's CDP port); tests of the collector alone may point it elsewhere. */
  sidecarPort?: number;
}

class SidecarError extends Error {}

/**
 * Copies each session's artifacts from its sidecar into the object store (ADR 0012): while the session runs,
 * whenever the sidecar reports a new generation; at its end, once, bounded by the flush timeout (seal, copy
 * the rest, record the outcome), after which the session controller deletes the pod. Level-triggered from the
 * caches: a pass decides from the session and its pod alone, and what the store lists is what is stored.
 * Every file is streamed from the sidecar's answer into the store, never held in memory.
 */
export class ArtifactCollector {
  private readonly queue: WorkQueue;
  private loop: Promise<void> | undefined;
  private sweepTimer: Timer | undefined;
  private sweeping: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly o: ArtifactCollectorOptions) {
    this.queue = new WorkQueue({ clock: o.clock, baseDelayMs: 200, maxDelayMs: 30_000 });
    o.sessions.onChange((s) => this.consider(s));
    o.pods.onChange((pod) => {
      const owner = pod.metadata?.ownerReferences?.find((r) => r.controller && r.kind === 'BrowserSession');
      if (owner) this.queue.add(`${pod.metadata?.namespace}/${owner.name}`);
    });
  }

  start(): void {
    for (const s of this.o.sessions.list()) this.consider(s);
    this.loop ??= runReconciler({
      name: 'artifacts',
      queue: this.queue,
      reconcile: (key) => this.sync(key),
      workers: this.o.concurrency,
      log: this.o.log,
    });
    this.scheduleSweep();
  }

  private scheduleSweep(): void {
    if (this.stopped) return;
    this.sweepTimer = this.o.clock.setTimeout(() => {
      this.sweeping = this.sweep()
        .catch((err: unknown) => this.o.log.warn('the retention sweep failed; it runs again', { err }))
        .finally(() => this.scheduleSweep());
    }, this.o.retentionSweepSeconds * 1000);
  }

  /**
   * Deletes the artifacts of sessions that are gone and whose project's retention has passed. Only projects
   * that set artifactRetentionSeconds are swept: without it, artifacts go with their session (the finalizer).
   */
  async sweep(): Promise<void> {
    for (const project of this.o.projects.list()) {
      const retention = project.spec.artifactRetentionSeconds;
      const name = project.metadata.name ?? '';
      if (retention === undefined || !name) continue;
      const live = new Set(
        this.o.sessions
          .list()
          .filter((s) => projectOf(s) === name)
          .map((s) => s.metadata.name ?? ''),
      );
      const stored = await this.o.store.listSessions(name);
      for (const session of expiredArtifacts(stored, live, retention, this.o.clock.now())) {
        const count = await this.o.store.deleteSession({ project: name, session });
        this.o.log.info('session artifacts deleted: past the project’s retention', {
          project: name,
          session,
          count,
          retentionSeconds: retention,
        });
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.sweepTimer !== undefined) this.o.clock.clearTimeout(this.sweepTimer);
    this.queue.shutDown();
    await Promise.all([this.loop, this.sweeping]);
  }

  private consider(s: BrowserSession): void {
    if (this.work(s).kind !== 'idle') this.queue.add(sessionKey(s), { urgent: true });
  }

  private work(s: BrowserSession): ArtifactWork {
    const pod = this.o.pods.get(childName(s.metadata.name ?? ''), s.metadata.namespace);
    return artifactWork(s, pod, this.o.flushTimeoutSeconds);
  }

  private async sync(key: string): Promise<number | undefined> {
    const { namespace, name } = splitKey(key);
    const cached = this.o.sessions.get(name, namespace);
    if (!cached) return undefined;
    // A copy: the pass records the finalizer it adds on it, and the cache's objects are never changed here.
    const session = structuredClone(cached);
    const work = this.work(session);
    if (work.kind === 'idle') return undefined;
    const scope: SessionScope = { project: projectOf(session), session: name };
    const before = session.status?.artifacts;
    if (work.kind === 'delete') {
      await this.deleteArtifacts(session, scope);
      return undefined;
    }
    let outcome: CopyOutcome;
    if (work.kind === 'pod-gone') {
      const gone = {
        reason: 'PodGone',
        message:
          'the browser pod was gone before the end could be flushed; what was stored during the session is kept',
      };
      outcome = await this.storedNow(scope).then(
        ({ stored }): CopyOutcome => ({ stored, final: true, failure: gone }),
        (err: unknown): CopyOutcome => ({
          final: true,
          failure: this.failureOf(err, new AbortController().signal),
        }),
      );
    } else {
      const final = work.kind === 'flush';
      const budget = final ? Math.max(MIN_FLUSH_MS, work.deadline - this.o.clock.now()) : 60_000;
      outcome = await this.copy(session, scope, work.podIP, final, AbortSignal.timeout(budget));
    }
    // A refused or cut connection at the end is tried again while the flush has time: the pod is kept until
    // then, and giving up at once would lose what a second try would store.
    if (
      work.kind === 'flush' &&
      outcome.failure?.reason === 'SidecarUnreachable' &&
      this.o.clock.now() + FLUSH_RETRY_MS < work.deadline
    ) {
      this.o.log.info('the sidecar did not answer the flush; trying again', {
        session: key,
        message: outcome.failure.message,
      });
      return FLUSH_RETRY_MS;
    }
    const status = summarize(before, outcome, this.o.clock.now());
    await this.write(session, status);
    if (outcome.failure)
      this.o.log.warn('artifacts not all stored', {
        session: key,
        final: outcome.final,
        reason: outcome.failure.reason,
        message: outcome.failure.message,
      });
    return outcome.failure && !outcome.final ? RETRY_MS : undefined;
  }

  /** One pass: the manifest (or the seal's, at the end), then every complete file the store does not hold. */
  private async copy(
    session: BrowserSession,
    scope: SessionScope,
    podIP: string,
    final: boolean,
    signal: AbortSignal,
  ): Promise<CopyOutcome> {
    const base = `http://${podIP.includes(':') ? `[${podIP}]` : podIP}:${this.o.sidecarPort ?? CDP_PORT}`;
    const authorization = `Bearer ${sessionToken(this.o.sessionKey, session.metadata.uid ?? '')}`;
    const sidecar = async (path: string, method = 'GET') => {
      const res = await fetch(`${base}${path}`, { method, headers: { authorization }, signal }).catch(
        (err: unknown) => {
          throw new SidecarError(`the sidecar did not answer ${method} ${path}: ${describe(err)}`);
        },
      );
      if (!res.ok) {
        await res.body?.cancel();
        throw new SidecarError(`the sidecar answered ${method} ${path} with HTTP ${res.status}`);
      }
      return res;
    };
    let manifest: SidecarManifest | undefined;
    let stored: Map<string, number> | undefined;
    try {
      const res = await sidecar(
        final ? '/artifacts/v1/seal' : '/artifacts/v1/manifest',
        final ? 'POST' : 'GET',
      );
      manifest = (await res.json()) as SidecarManifest;
      stored = (await this.storedNow(scope)).stored;
      for (const d of keepsDownloads(session) ? manifest.downloads : []) {
        if (d.state !== 'complete' || stored.get(d.name) === d.bytes) continue;
        await this.holdForDeletion(session);
        const file = await sidecar(`/artifacts/v1/files/downloads/${encodeURIComponent(d.name)}`);
        if (!file.body) throw new SidecarError(`the sidecar sent no body for ${d.name}`);
        const body = Readable.fromWeb(file.body as unknown as WebReadableStream<Uint8Array>);
        await this.o.store.put(scope, 'downloads', d.name, body, d.bytes, 'application/octet-stream');
        stored.set(d.name, d.bytes);
      }
      const logs = final && keepsLog(session) ? await this.storeLog(session, scope, sidecar) : undefined;
      return { manifest, stored, logs, final };
    } catch (err) {
      return { manifest, stored, final, failure: this.failureOf(err, signal) };
    }
  }

  /**
   * The end's CDP log, streamed from the sidecar into the store as the Browserbase array it already is (its
   * length from the sidecar's Content-Length; its counts from the sidecar's headers).
   */
  private async storeLog(
    session: BrowserSession,
    scope: SessionScope,
    sidecar: (path: string) => Promise<globalThis.Response>,
  ): Promise<NonNullable<ArtifactStatus['logs']>> {
    const res = await sidecar('/artifacts/v1/logs');
    const count = (header: string) => Number(res.headers.get(header) ?? 0) || 0;
    const entries = count('x-cdp-log-entries');
    const dropped = count('x-cdp-log-dropped');
    const bytes = Number(res.headers.get('content-length'));
    if (res.headers.get('x-cdp-log') !== 'on' || !res.body || !Number.isInteger(bytes)) {
      await res.body?.cancel();
      return { stored: false, entries: 0, bytes: 0, dropped };
    }
    await this.holdForDeletion(session);
    const body = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
    await this.o.store.put(scope, 'logs', CDP_LOG_ARTIFACT, body, bytes, 'application/json');
    return { stored: true, entries, bytes, dropped };
  }

  /**
   * Puts the finalizer on before the session's first artifact is stored, so that deleting the session deletes
   * its artifacts too (sessions that never store one never get it). Server-side apply of that one entry:
   * finalizers are a set, so the entry is this manager's and no other writer's finalizer is touched, and no
   * resourceVersion is needed (a session whose status just changed would make a guarded write conflict).
   */
  private async holdForDeletion(session: BrowserSession): Promise<void> {
    if (session.metadata.finalizers?.includes(FINALIZER_ARTIFACTS)) return;
    const written = await this.applyFinalizer(session, [FINALIZER_ARTIFACTS]);
    session.metadata.finalizers = written.metadata.finalizers;
  }

  /**
   * The session is being deleted: its artifacts go first, then the finalizer; unless its project keeps them
   * past the session (artifactRetentionSeconds), when the sweep deletes them later. A store outage retries with
   * backoff.
   */
  private async deleteArtifacts(session: BrowserSession, scope: SessionScope): Promise<void> {
    const retention = this.o.projects.get(scope.project)?.spec.artifactRetentionSeconds;
    const kept = keptForRetention(session, retention, this.o.clock.now());
    const count = kept ? 0 : await this.o.store.deleteSession(scope);
    const { name, namespace } = session.metadata;
    // An apply to an object that is gone would create it: the cache may still hold a session whose finalizer an
    // earlier pass already gave up (and which the API server then deleted), so the live object is read first.
    const live = await this.o.client
      .get<BrowserSession>(paths.session(namespace ?? '', name ?? ''))
      .catch((err: unknown) => {
        if (isNotFound(err)) return undefined;
        throw err;
      });
    if (
      live?.metadata.uid !== session.metadata.uid ||
      !live?.metadata.finalizers?.includes(FINALIZER_ARTIFACTS)
    )
      return;
    try {
      // Applying without the entry gives it up; no other manager owns it, so it goes.
      await this.applyFinalizer(session, []);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (kept)
      this.o.log.info('session deleted; its artifacts are kept for the project’s retention', {
        session: `${namespace}/${name}`,
        retentionSeconds: retention,
      });
    else
      this.o.log.info('session artifacts deleted with the session', {
        session: `${namespace}/${name}`,
        count,
      });
  }

  private applyFinalizer(session: BrowserSession, finalizers: string[]): Promise<BrowserSession> {
    const { name, namespace } = session.metadata;
    return this.o.client.apply<BrowserSession>(
      paths.session(namespace ?? '', name ?? ''),
      {
        apiVersion: API_VERSION,
        kind: 'BrowserSession',
        metadata: { name, namespace, ...(finalizers.length > 0 ? { finalizers } : {}) },
      },
      FINALIZER_FIELD_MANAGER,
    );
  }

  private async storedNow(scope: SessionScope): Promise<{ stored: Map<string, number> }> {
    const listed = await this.o.store.list(scope, 'downloads');
    return { stored: new Map(listed.map((a) => [a.name, a.bytes])) };
  }

  private failureOf(err: unknown, signal: AbortSignal): { reason: string; message: string } {
    if (signal.aborted)
      return {
        reason: 'FlushTimeout',
        message: `the flush did not finish within its time (artifacts.flushTimeoutSeconds: ${this.o.flushTimeoutSeconds})`,
      };
    if (err instanceof ArtifactStoreError)
      return { reason: err.reason, message: `the artifact store: ${err.message}` };
    if (err instanceof SidecarError) return { reason: 'SidecarUnreachable', message: err.message };
    // Anything else (the API server refusing the finalizer, say) is not the store's failure.
    return { reason: 'CopyFailed', message: describe(err) };
  }

  /** Server-side apply of `status.artifacts` under its own field manager; only when something but the time changed. */
  private async write(session: BrowserSession, status: ArtifactStatus): Promise<void> {
    const before = session.status?.artifacts;
    if (before && sameButTime(before, status)) return;
    const { name, namespace } = session.metadata;
    try {
      await this.o.client.apply(
        paths.sessionStatus(namespace ?? '', name ?? ''),
        {
          apiVersion: API_VERSION,
          kind: 'BrowserSession',
          metadata: { name, namespace },
          status: { artifacts: status },
        },
        ARTIFACTS_FIELD_MANAGER,
      );
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}

function sameButTime(a: ArtifactStatus, b: ArtifactStatus): boolean {
  return canonicalJson({ ...a, updatedAt: undefined }) === canonicalJson({ ...b, updatedAt: undefined });
}

function describe(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return [e.message, e.cause?.code ?? e.cause?.message].filter(Boolean).join(': ') || String(err);
}
