import { type Request, type Response, Router } from 'express';
import { BROWSER_UPLOAD_PATHS, type BrowserSession } from '../../api/index.js';
import { sendSessionDownloads } from '../artifacts/downloads-zip.js';
import { sendSessionLogs } from '../artifacts/session-logs.js';
import { receiveUpload } from '../artifacts/uploads.js';
import {
  BB_LEGACY_RELEASE_FIELDS,
  browserbaseStatus,
  type DevtoolsTarget,
  isLegacyRelease,
  parseBrowserbaseCreate,
  parseBrowserbaseUpdate,
  parseStatusFilter,
  toBrowserbaseDebug,
  toBrowserbaseSession,
  toBrowserbaseSessionWithLinks,
  type WireOptions,
} from '../compat/browserbase.js';
import { queryInteger, queryString } from '../compat/fields.js';
import {
  type MetadataClause,
  matchesMetadata,
  parseMetadataQuery,
  QueryError,
} from '../compat/metadata-query.js';
import { callBrowser } from '../connect-auth.js';
import { ApiError } from '../errors.js';
import { podEndpoint, podJson } from '../pod-client.js';
import { rateLimitHeaders } from '../quota.js';
import { projectOf, type RouteDeps, requireProject } from './context.js';
import { timedCreate } from './create-timing.js';

type IdRequest = Request<{ id: string }>;

/** The Browserbase surface (`/v1/...`, `X-BB-API-Key`), as @browserbasehq/sdk 2.x calls it. */
export function browserbaseRoutes(deps: RouteDeps): Router {
  const r = Router();
  r.use('/v1', requireProject(deps, 'X-BB-API-Key'));
  const wire = (res: Response): WireOptions => ({
    project: projectOf(res),
    regions: deps.config.regions,
    defaultRegion: deps.config.defaultRegion,
    now: deps.clock.now(),
  });
  const withLinks = (s: BrowserSession, res: Response) =>
    toBrowserbaseSessionWithLinks(s, wire(res), deps.links.browserbase(s));

  r.post('/v1/sessions', async (req: Request, res: Response) => {
    const project = projectOf(res);
    // Browserbase's earlier docs release with {sessionId, status} on this path.
    if (isLegacyRelease(req.body)) {
      const id = req.body.sessionId;
      if (typeof id !== 'string') throw new ApiError('INVALID_REQUEST', 'sessionId: must be a string');
      parseBrowserbaseUpdate(req.body, project.metadata.name ?? '', BB_LEGACY_RELEASE_FIELDS);
      const session = await deps.sessions.release(project, id);
      res.status(200).json(withLinks(session, res));
      return;
    }
    const session = await timedCreate(deps.metrics, 'browserbase', async () => {
      const spec = parseBrowserbaseCreate(req.body, { project, regions: deps.config.regions });
      const created = await deps.sessions.create(project, spec);
      res.set(rateLimitHeaders(created.budget));
      return created.session;
    });
    res.status(201).json(withLinks(session, res));
  });

  r.get('/v1/sessions', async (req: Request, res: Response) => {
    const status = parseStatusFilter(queryString(req.query, 'status'));
    const q = queryString(req.query, 'q');
    let clauses: MetadataClause[] = [];
    if (q !== undefined && q !== '') {
      try {
        clauses = parseMetadataQuery(q);
      } catch (err) {
        if (err instanceof QueryError) throw new ApiError('INVALID_REQUEST', `q: ${err.message}`);
        throw err;
      }
    }
    const options = wire(res);
    const sessions = deps.sessions
      .projectSessions(projectOf(res))
      .filter(
        (s) =>
          (status === undefined || browserbaseStatus(s) === status) &&
          matchesMetadata(s.spec.userMetadata, clauses),
      );
    res.status(200).json(sessions.map((s) => toBrowserbaseSession(s, options)));
  });

  r.get('/v1/sessions/:id', async (req: IdRequest, res: Response) => {
    const session = await deps.sessions.owned(projectOf(res), req.params.id);
    res.status(200).json(withLinks(session, res));
  });

  r.post('/v1/sessions/:id', async (req: IdRequest, res: Response) => {
    const project = projectOf(res);
    parseBrowserbaseUpdate(req.body, project.metadata.name ?? '');
    const session = await deps.sessions.release(project, req.params.id);
    res.status(200).json(withLinks(session, res));
  });

  r.get('/v1/sessions/:id/debug', async (req: IdRequest, res: Response) => {
    const session = await deps.sessions.owned(projectOf(res), req.params.id);
    const ttlSeconds = queryInteger(req.query, 'expiresIn', 1, 7 * 24 * 3600);
    const running = session.status?.phase === 'Running' && session.status.podIP && !session.spec.release;
    // A session that is ending answers as an ended one does: no pages, whichever side of the race it is on.
    const targets = running
      ? await callBrowser(session, deps.cache, deps.clock, () =>
          podJson<DevtoolsTarget[]>(podEndpoint(deps.config.sessionKey, session), '/json/list'),
        ).catch((err: unknown) => {
          if (err instanceof ApiError && err.code === 'SESSION_ENDED') return [];
          throw err;
        })
      : [];
    const debug = toBrowserbaseDebug(targets, deps.links.cdp(session), (pageId, fullscreen) =>
      deps.links.live(session, { pageId, fullscreen, ttlSeconds }),
    );
    res.status(200).json(debug);
  });

  r.post('/v1/sessions/:id/uploads', async (req: IdRequest, res: Response) => {
    const stored = await receiveUpload(req, await deps.sessions.owned(projectOf(res), req.params.id), deps);
    // Browserbase documents where it lands: /tmp/.uploads/<name> in the browser's file system.
    res.status(200).json({
      message: `File uploaded successfully to ${BROWSER_UPLOAD_PATHS.browserbase}/${stored.fileName} (${stored.bytes} bytes)`,
    });
  });

  // Browserbase's own sample polls this after browser.close(), so it answers for ended sessions alike; a session
  // without downloads gets an empty zip, never a 204 (the SDK turns that into null).
  r.get('/v1/sessions/:id/downloads', async (req: IdRequest, res: Response) => {
    const session = await deps.sessions.owned(projectOf(res), req.params.id);
    await sendSessionDownloads(res, deps.artifacts, session);
  });

  r.get('/v1/sessions/:id/logs', async (req: IdRequest, res: Response) => {
    const session = await deps.sessions.owned(projectOf(res), req.params.id);
    await sendSessionLogs(
      res,
      { artifacts: deps.artifacts, sessionKey: deps.config.sessionKey, cache: deps.cache, clock: deps.clock },
      session,
    );
  });

  return r;
}
