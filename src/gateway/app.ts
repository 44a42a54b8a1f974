import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { ApiError, errorBody, errorHeaders, toApiError } from './errors.js';
import type { LiveView } from './live-view/live-view.js';
import { browserbaseRoutes } from './routes/browserbase.js';
import type { RouteDeps } from './routes/context.js';
import { devtoolsRoutes } from './routes/devtools.js';
import { hyperbrowserRoutes } from './routes/hyperbrowser.js';
import type { WebDriverGateway } from './webdriver/webdriver-gateway.js';

export interface GatewayAppDeps extends RouteDeps {
  liveView: LiveView;
  webdriver: WebDriverGateway;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const JSON_TYPES = ['application/json', 'application/*+json'];

/** A request with content to read: chunked, or a content-length above zero (an empty body is no body). */
const UPLOAD_PATH = /^\/(v1\/sessions|api\/session)\/[^/]+\/uploads$/;

function hasBody(req: Request): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = Number(req.headers['content-length'] ?? 0);
  return !Number.isFinite(length) || length > 0;
}

/**
 * The gateway's HTTP surface, without listening: both SDK dialects, DevTools discovery and the live-view page.
 * Handlers are async and throw ApiError; one error middleware writes the body both SDKs parse.
 */
export function createGatewayApp(deps: GatewayAppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use((req: Request, res: Response, next: NextFunction) => {
    const given = req.get('x-request-id');
    const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
    res.set('x-request-id', requestId);
    // An unauthenticated caller can create nothing; authenticated answers overwrite these with the project's.
    res.set({ 'x-ratelimit-limit': '0', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '0' });
    const end = deps.metrics.requestDuration.startTimer();
    res.once('finish', () => {
      const route = routeLabel(req);
      end({ route });
      deps.metrics.requests.inc({ route, method: req.method, status: String(res.statusCode) });
      // Headers and URL carry API keys and tokens: the logger redacts them.
      deps.log.debug('request served', {
        requestId,
        method: req.method,
        url: req.originalUrl,
        status: res.statusCode,
        headers: req.headers,
      });
    });
    // The Hyperbrowser SDK joins baseUrl and path verbatim: a trailing slash or a base ending in /api are common.
    const fixed = req.url.replace(/^\/+api\/(?:api\/)?/, '/api/');
    if (fixed !== req.url) req.url = fixed;
    next();
  });

  // Selenium's commands pass to the session's chromedriver as they are (bodies streamed, errors in WebDriver's
  // own shape), so they come before the body parser and the dialects' error shape.
  app.all('/webdriver{/*rest}', (req: Request, res: Response) => deps.webdriver.handle(req, res));

  // A body the JSON parser would skip must not turn into a default session: what it cannot read is refused.
  app.use((req: Request, _res: Response, next: NextFunction) => {
    // Uploads are multipart, parsed as a stream by their own route (artifacts/uploads.ts).
    if (hasBody(req) && !req.is(JSON_TYPES) && !UPLOAD_PATH.test(req.path)) {
      const given = req.get('content-type');
      throw new ApiError(
        'UNSUPPORTED_MEDIA_TYPE',
        `content-type: a request body must be application/json, got ${given ? JSON.stringify(given.slice(0, 80)) : 'none'}`,
      );
    }
    next();
  });
  app.use(express.json({ limit: deps.config.maxBodyBytes, type: JSON_TYPES }));

  app.use(browserbaseRoutes(deps));
  app.use(hyperbrowserRoutes(deps));
  app.use(
    devtoolsRoutes({
      sessionKey: deps.config.sessionKey,
      keys: deps.keys,
      cache: deps.cache,
      sessions: deps.sessions,
      links: deps.links,
      publicUrl: deps.config.publicUrl,
      connectWaitMs: deps.config.connectWaitMs,
      clock: deps.clock,
    }),
  );
  app.use(deps.liveView.router);

  app.use((req: Request) => {
    throw new ApiError('NOT_FOUND', `no such endpoint: ${req.method} ${req.path}`);
  });

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const apiErr = toApiError(err);
    if (apiErr.code === 'INTERNAL')
      deps.log.error('request failed', {
        requestId: res.get('x-request-id'),
        method: req.method,
        route: routeLabel(req),
        err,
      });
    else if (apiErr.code === 'API_UNAVAILABLE')
      deps.log.warn('request failed: the cluster API is unavailable', {
        requestId: res.get('x-request-id'),
        method: req.method,
        route: routeLabel(req),
        err,
      });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(apiErr.status).set(errorHeaders(apiErr));
    if (apiErr.status === 401) res.set('www-authenticate', 'ApiKey');
    res.json(errorBody(apiErr));
  });
  return app;
}

/** The matched route pattern (bounded cardinality), or "unmatched". */
function routeLabel(req: Request): string {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof path === 'string') return path;
  if (Array.isArray(path)) return String(path[0]);
  return 'unmatched';
}
