import { type Request, type Response, Router } from 'express';
import { isTerminal } from '../../api/index.js';
import { queryInteger, queryString } from '../compat/fields.js';
import {
  hyperbrowserStatus,
  paginate,
  parseHyperbrowserCreate,
  parseStatusFilter,
  toHyperbrowserSession,
  toHyperbrowserSessionDetail,
} from '../compat/hyperbrowser.js';
import { rateLimitHeaders } from '../quota.js';
import { projectOf, type RouteDeps, requireProject } from './context.js';
import { timedCreate } from './create-timing.js';

type IdRequest = Request<{ id: string }>;

const DEFAULT_PAGE_SIZE = 10;
const MAX_PAGE_SIZE = 100;

/** The Hyperbrowser surface (`/api/...`, `x-api-key`), as @hyperbrowser/sdk 0.9x calls it. */
export function hyperbrowserRoutes(deps: RouteDeps): Router {
  const r = Router();
  r.use('/api', requireProject(deps, 'x-api-key'));

  r.post('/api/session', async (req: Request, res: Response) => {
    const project = projectOf(res);
    const { session, liveViewTtlSeconds } = await timedCreate(deps.metrics, 'hyperbrowser', async () => {
      const parsed = parseHyperbrowserCreate(req.body, { project, regions: deps.config.regions });
      const created = await deps.sessions.create(project, parsed.spec);
      res.set(rateLimitHeaders(created.budget));
      return { session: created.session, liveViewTtlSeconds: parsed.liveViewTtlSeconds };
    });
    res
      .status(200)
      .json(
        toHyperbrowserSessionDetail(
          session,
          deps.links.sessionRecord(session),
          deps.links.hyperbrowser(session, liveViewTtlSeconds),
        ),
      );
  });

  r.get('/api/session/:id', async (req: IdRequest, res: Response) => {
    const session = await deps.sessions.owned(projectOf(res), req.params.id);
    const ttl = queryInteger(req.query, 'liveViewTtlSeconds', 1, 7 * 24 * 3600);
    res
      .status(200)
      .json(
        toHyperbrowserSessionDetail(
          session,
          deps.links.sessionRecord(session),
          deps.links.hyperbrowser(session, ttl),
        ),
      );
  });

  // Idempotent, as Hyperbrowser documents: stopping a stopped session succeeds.
  r.put('/api/session/:id/stop', async (req: IdRequest, res: Response) => {
    await deps.sessions.release(projectOf(res), req.params.id);
    res.status(200).json({ success: true });
  });

  r.get('/api/sessions/active-count', async (_req: Request, res: Response) => {
    const active = deps.sessions.projectSessions(projectOf(res)).filter((s) => !isTerminal(s)).length;
    res.status(200).json({ activeSessionsCount: active });
  });

  r.get('/api/sessions', async (req: Request, res: Response) => {
    const status = parseStatusFilter(queryString(req.query, 'status'));
    const page = queryInteger(req.query, 'page', 1, 1_000_000) ?? 1;
    const perPage = queryInteger(req.query, 'limit', 1, MAX_PAGE_SIZE) ?? DEFAULT_PAGE_SIZE;
    const sessions = deps.sessions
      .projectSessions(projectOf(res))
      .filter((s) => status === undefined || hyperbrowserStatus(s) === status);
    const items = sessions.map((s) => toHyperbrowserSession(s, deps.links.sessionRecord(s)));
    res.status(200).json(paginate(items, page, perPage));
  });

  return r;
}
