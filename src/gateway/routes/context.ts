import type { NextFunction, Request, Response } from 'express';
import type { BrowserProject } from '../../api/index.js';
import type { ArtifactStore } from '../../shared/artifacts/store.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import type { ApiKeyDirectory } from '../api-keys.js';
import type { GatewayConfig } from '../config.js';
import { ApiError } from '../errors.js';
import type { Links } from '../links.js';
import type { GatewayMetrics } from '../metrics.js';
import { rateLimitHeaders } from '../quota.js';
import type { SessionCache } from '../session-cache.js';
import type { SessionService } from '../session-service.js';

/** Everything a route handler may use; handlers stay thin and leave the work to these. */
export interface RouteDeps {
  config: GatewayConfig;
  keys: ApiKeyDirectory;
  sessions: SessionService;
  cache: SessionCache;
  links: Links;
  metrics: GatewayMetrics;
  log: Logger;
  clock: Clock;
  /** Where downloads and logs are read from; undefined when artifacts are off. */
  artifacts?: ArtifactStore | undefined;
}

interface Locals {
  project?: BrowserProject;
}

/** The caller's project (set by requireProject). */
export function projectOf(res: Response): BrowserProject {
  const project = (res.locals as Locals).project;
  if (!project) throw new Error('route is missing requireProject');
  return project;
}

/**
 * API-key authentication. Both SDKs' headers are accepted on both surfaces (a key is a key); the error names
 * the header of the surface that was called. Every answer to an authenticated call carries the project's
 * create budget in the x-ratelimit-* headers.
 */
export function requireProject(deps: RouteDeps, headerName: 'X-BB-API-Key' | 'x-api-key') {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const key = req.get('x-bb-api-key') ?? req.get('x-api-key');
    if (!key) throw new ApiError('UNAUTHORIZED', `missing API key: send it in the ${headerName} header`);
    const project = await deps.keys.authenticate(key);
    if (!project) throw new ApiError('UNAUTHORIZED', 'invalid API key');
    (res.locals as Locals).project = project;
    res.set(rateLimitHeaders(deps.sessions.budget(project)));
    next();
  };
}
