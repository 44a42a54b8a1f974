import { type Request, type Response, Router } from 'express';
import { BROWSER_UPLOAD_PATHS, isTerminal } from '../../api/index.js';
import { sendSessionDownloads } from '../artifacts/downloads-zip.js';
import { receiveUpload } from '../artifacts/uploads.js';
import { queryInteger, queryString } from '../compat/fields.js';
import {
  hyperbrowserStatus,
  paginate,
  parseHyperbrowserCreate,
  parseStatusFilter,
  toHyperbrowserDownloads,
  toHyperbrowserSession,
  toHyperbrowserSessionDetail,
} from '../compat/hyperbrowser.js';
import { ApiError } from '../errors.js';
import { rateLimitHeaders } from '../quota.js';
import { parseExpiringToken, verifyExpiringToken } from '../tokens.js';
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
      const parsed = parseHyperbrowserCreate(req.body, {
        project,
        regions: deps.config.regions,
        artifactsKept: deps.artifacts !== undefined,
      });
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

  r.post('/api/session/:id/uploads', async (req: IdRequest, res: Response) => {
    const stored = await receiveUpload(req, await deps.sessions.owned(projectOf(res), req.params.id), deps);
    const filePath = `${BROWSER_UPLOAD_PATHS.hyperbrowser}/${stored.fileName}`;
    res.status(200).json({ message: `File uploaded to ${filePath}`, filePath, fileName: stored.fileName });
  });

  r.get('/api/session/:id/downloads-url', async (req: IdRequest, res: Response) => {
    const session = await deps.sessions.owned(projectOf(res), req.params.id);
    res
      .status(200)
      .json(
        toHyperbrowserDownloads(session, deps.artifacts !== undefined, () => deps.links.downloads(session)),
      );
  });

  // The link getDownloadsURL hands out: its token, not an API key, opens it (and only this session's zip).
  r.get('/artifacts/:id/downloads.zip', async (req: IdRequest, res: Response) => {
    const token = typeof req.query['token'] === 'string' ? req.query['token'] : '';
    const parsed = parseExpiringToken(token);
    const bad = () => new ApiError('UNAUTHORIZED', 'invalid or expired downloads link');
    if (!parsed || parsed.name !== req.params.id) throw bad();
    const session = await deps.cache.get(parsed);
    if (
      !session ||
      !verifyExpiringToken(deps.config.sessionKey, 'downloads', session, parsed, deps.clock.now())
    )
      throw bad();
    await sendSessionDownloads(res, deps.artifacts, session);
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
