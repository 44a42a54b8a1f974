import express, { type NextFunction, type Request, type Response } from 'express';
import { type BrowserSession, isTerminal } from '../api/index.js';
import { type ConnectionReport, parseConnectionReport, ReportFormatError } from '../api/report.js';
import { sessionToken, tokensEqual } from '../shared/credentials.js';
import { isConflict, isNotFound, type KubeClient, paths } from '../shared/kube/client.js';
import type { Logger } from '../shared/log.js';
import { connectionFactsApply, REPORT_FIELD_MANAGER } from './connection-facts.js';
import type { OperatorMetrics } from './metrics.js';

class ReportError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * POST /v1/report: a sidecar's level state for its own session. The bearer token is the session's HMAC
 * credential, so a browser pod can only ever speak for its own session, and it needs no Kubernetes rights.
 */
export function createReportApp(deps: {
  client: KubeClient;
  sessionKey: string;
  metrics: OperatorMetrics;
  log: Logger;
}) {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '8kb' }));
  app.post('/v1/report', async (req: Request, res: Response) => {
    const report = parseReport(req.body);
    const auth = req.header('authorization') ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!token || !tokensEqual(token, sessionToken(deps.sessionKey, report.uid))) {
      throw new ReportError(401, 'invalid session credential');
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await apply(deps.client, report);
        deps.metrics.reports.inc({ result });
        res.status(result === 'stale' ? 409 : 204).end();
        return;
      } catch (err) {
        if (!isConflict(err) || attempt >= 3) throw err; // another replica wrote in between: re-read and retry
      }
    }
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    // The body parser's own refusals (bad JSON, too large, an encoding or charset it cannot read) carry their
    // 4xx status; anything else unexpected is ours.
    const parserStatus = (err as { status?: unknown; expose?: unknown } | null)?.status;
    const status =
      err instanceof ReportError
        ? err.status
        : typeof parserStatus === 'number' && parserStatus >= 400 && parserStatus < 500
          ? parserStatus
          : 500;
    if (status >= 500) deps.log.error('report failed', { err });
    deps.metrics.reports.inc({ result: String(status) });
    res.status(status).json({ message: status >= 500 ? 'internal error' : (err as Error).message });
  });
  return app;
}

function parseReport(body: unknown): ConnectionReport {
  try {
    return parseConnectionReport(body);
  } catch (err) {
    if (err instanceof ReportFormatError) throw new ReportError(400, err.message);
    throw err;
  }
}

async function apply(client: KubeClient, r: ConnectionReport): Promise<'applied' | 'stale' | 'ignored'> {
  let session: BrowserSession;
  try {
    session = await client.get<BrowserSession>(paths.session(r.namespace, r.name));
  } catch (err) {
    if (isNotFound(err)) throw new ReportError(404, 'no such session');
    throw err;
  }
  if (session.metadata.uid !== r.uid) throw new ReportError(404, 'no such session');
  if (isTerminal(session)) return 'ignored';
  const st = session.status ?? {};
  if (st.reportBootId === r.bootId && (st.reportSeq ?? -1) >= r.seq) return 'stale';
  await client.apply(
    paths.sessionStatus(r.namespace, r.name),
    connectionFactsApply(
      { name: r.name, namespace: r.namespace, resourceVersion: session.metadata.resourceVersion },
      {
        connections: r.connections,
        webdriverConnections: r.webdriverConnections,
        pages: r.pages,
        keepAliveRequested: r.keepAliveRequested,
        chromeReachable: r.chromeReachable,
        lastConnectedAt: r.lastConnectedAt,
        lastDisconnectedAt: r.lastDisconnectedAt,
        reportBootId: r.bootId,
        reportSeq: r.seq,
        artifactsGeneration: r.artifactsGeneration,
      },
    ),
    REPORT_FIELD_MANAGER,
  );
  return 'applied';
}
