import {
  API_VERSION,
  type BrowserSession,
  type BrowserSessionStatus,
  isTerminal,
  sessionKey,
  splitKey,
} from '../api/index.js';
import { isNotFound, type KubeClient, paths } from '../shared/kube/client.js';
import type { Informer } from '../shared/kube/informer.js';
import { runReconciler } from '../shared/kube/reconciler.js';
import { WorkQueue } from '../shared/kube/workqueue.js';
import type { Logger } from '../shared/log.js';

/** The single writer of the connection facts in BrowserSession.status (docs/adr/0001-connection-reports.md). */
export const REPORT_FIELD_MANAGER = 'browserfleet-connection-report';

/**
 * Every status field the report writer owns. An apply always carries all of them: server-side apply removes
 * a field its manager applied before and now leaves out.
 */
export type ConnectionFacts = Pick<
  BrowserSessionStatus,
  | 'connections'
  | 'webdriverConnections'
  | 'pages'
  | 'keepAliveRequested'
  | 'chromeReachable'
  | 'lastConnectedAt'
  | 'lastDisconnectedAt'
  | 'reportBootId'
  | 'reportSeq'
  | 'artifactsGeneration'
>;

/** The server-side apply body of the connection facts, written only against the version they were read from. */
export function connectionFactsApply(
  meta: { name: string; namespace: string; resourceVersion?: string | undefined },
  facts: ConnectionFacts,
): Record<string, unknown> {
  const status = Object.fromEntries(Object.entries(facts).filter(([, v]) => v !== undefined));
  return {
    apiVersion: API_VERSION,
    kind: 'BrowserSession',
    metadata: {
      name: meta.name,
      namespace: meta.namespace,
      ...(meta.resourceVersion ? { resourceVersion: meta.resourceVersion } : {}),
    },
    status,
  };
}

/**
 * The facts an ended session should show, when they differ from what it shows: its pod is gone or going, so
 * no client is connected and no page is open, and a client still connected at the end was disconnected by
 * it. The sidecar cannot report that (its pod is being deleted, and reports for an ended session are not
 * taken), so the report writer writes it. Undefined when there is nothing to write.
 */
export function finalConnectionFacts(s: BrowserSession): ConnectionFacts | undefined {
  if (!isTerminal(s)) return undefined;
  const st = s.status ?? {};
  const connections = st.connections ?? 0;
  const pages = st.pages ?? 0;
  if (connections === 0 && pages === 0) return undefined;
  let lastDisconnectedAt = st.lastDisconnectedAt;
  if (connections > 0) {
    // Cut off by the end; never before the connect it ends (an end time can precede a late report's).
    const endedAt = Date.parse(st.endedAt ?? '') || Date.parse(conditionTime(s) ?? '') || 0;
    const connectedAt = Date.parse(st.lastConnectedAt ?? '') || 0;
    const at = Math.max(endedAt, connectedAt, Date.parse(lastDisconnectedAt ?? '') || 0);
    if (at > 0) lastDisconnectedAt = new Date(at).toISOString();
  }
  return {
    connections: 0,
    webdriverConnections: 0,
    pages: 0,
    keepAliveRequested: st.keepAliveRequested,
    chromeReachable: st.chromeReachable,
    lastConnectedAt: st.lastConnectedAt,
    lastDisconnectedAt,
    reportBootId: st.reportBootId,
    reportSeq: st.reportSeq,
    // Server-side apply would drop a field this manager applied before and now leaves out.
    artifactsGeneration: st.artifactsGeneration,
  };
}

function conditionTime(s: BrowserSession): string | undefined {
  return s.status?.conditions?.find((c) => c.type === 'Ended')?.lastTransitionTime;
}

/**
 * Writes the final connection facts of ended sessions, under the report writer's field manager so that those
 * fields keep one writer. Level-triggered from the session cache: an end missed while the operator was down
 * is caught up when its caches sync (every session is queued at start).
 */
export class EndedConnectionFacts {
  private readonly queue = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 30_000 });
  private loop: Promise<void> | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly sessions: Informer<BrowserSession>,
    private readonly log: Logger,
  ) {
    sessions.onChange((s) => {
      if (finalConnectionFacts(s)) this.queue.add(sessionKey(s));
    });
  }

  start(): void {
    for (const s of this.sessions.list()) if (finalConnectionFacts(s)) this.queue.add(sessionKey(s));
    this.loop ??= runReconciler({
      name: 'connection-facts',
      queue: this.queue,
      reconcile: async (key) => {
        await this.sync(key);
        return undefined;
      },
      log: this.log,
    });
  }

  async stop(): Promise<void> {
    this.queue.shutDown();
    await this.loop;
  }

  private async sync(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const session = this.sessions.get(name, namespace);
    const facts = session && finalConnectionFacts(session);
    if (!facts) return;
    try {
      await this.client.apply(
        paths.sessionStatus(namespace, name),
        connectionFactsApply({ name, namespace, resourceVersion: session.metadata.resourceVersion }, facts),
        REPORT_FIELD_MANAGER,
      );
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
