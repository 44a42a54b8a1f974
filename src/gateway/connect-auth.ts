import type { IncomingHttpHeaders } from 'node:http';
import { type BrowserProject, type BrowserSession, isTerminal } from '../api/index.js';
import type { ApiKeyDirectory } from './api-keys.js';
import { ApiError } from './errors.js';
import type { SessionCache } from './session-cache.js';
import type { SessionService } from './session-service.js';
import { parseConnectToken, verifyConnectToken } from './tokens.js';

/**
 * What a CDP client presents. Browserbase's connectUrl carries `signingKey`, Hyperbrowser's wsEndpoint
 * `token` (the same connect token); Browserbase's older Connect API carries the API key, with or without a
 * `sessionId` (without one it creates a session). A bearer header works for clients that can set one.
 */
export type ConnectCredential =
  | { kind: 'token'; token: string }
  | { kind: 'apiKey'; apiKey: string; sessionId: string | undefined };

export function readCredential(url: URL, headers: IncomingHttpHeaders): ConnectCredential | undefined {
  const token = url.searchParams.get('signingKey') ?? url.searchParams.get('token');
  if (token) return { kind: 'token', token };
  const auth = headers.authorization;
  if (auth?.startsWith('Bearer ')) return { kind: 'token', token: auth.slice('Bearer '.length).trim() };
  const apiKey = url.searchParams.get('apiKey');
  if (apiKey) return { kind: 'apiKey', apiKey, sessionId: url.searchParams.get('sessionId') ?? undefined };
  return undefined;
}

export interface ConnectAuthDeps {
  sessionKey: string;
  keys: ApiKeyDirectory;
  cache: SessionCache;
  sessions: SessionService;
}

export interface ConnectTarget {
  session: BrowserSession;
  /** The session was created by this connect (implicit creation): release it if the connect fails. */
  created: boolean;
  project?: BrowserProject;
}

const BAD_TOKEN = 'invalid session token';

/** The session a credential opens, or an ApiError: 401 for a bad credential, 404 for a foreign session id. */
export async function resolveConnect(
  cred: ConnectCredential | undefined,
  deps: ConnectAuthDeps,
): Promise<ConnectTarget> {
  if (!cred) {
    throw new ApiError(
      'UNAUTHORIZED',
      'missing credential: connect with the connectUrl/wsEndpoint the create call returned',
    );
  }
  if (cred.kind === 'token') {
    const parsed = parseConnectToken(cred.token);
    if (!parsed) throw new ApiError('UNAUTHORIZED', BAD_TOKEN);
    const session = await deps.cache.get(parsed);
    // Absent or not matching: the same answer, so a token reveals nothing about other sessions.
    if (!session || !verifyConnectToken(deps.sessionKey, session, parsed))
      throw new ApiError('UNAUTHORIZED', BAD_TOKEN);
    return { session, created: false };
  }
  const project = await deps.keys.authenticate(cred.apiKey);
  if (!project) throw new ApiError('UNAUTHORIZED', 'invalid API key');
  if (cred.sessionId !== undefined)
    return { session: await deps.sessions.owned(project, cred.sessionId), created: false, project };
  const { session } = await deps.sessions.create(project, {
    project: project.metadata.name ?? '',
    keepAlive: false,
  });
  return { session, created: true, project };
}

/** Waits until the session runs; a session that ended (or never will) is a 410, a slow one a 504. */
export async function waitForRunning(
  target: BrowserSession,
  cache: SessionCache,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<BrowserSession> {
  const ref = { namespace: target.metadata.namespace ?? '', name: target.metadata.name ?? '' };
  const s = await cache.waitUntil(
    ref,
    (x) => isTerminal(x) || (x.status?.phase === 'Running' && !!x.status.podIP),
    timeoutMs,
    target,
    signal,
  );
  if (!s) throw new ApiError('SESSION_ENDED', `session ${ref.name} no longer exists`);
  if (isTerminal(s)) {
    const why = s.status?.conditions?.find((c) => c.type === 'Ended')?.message;
    throw new ApiError(
      'SESSION_ENDED',
      `session ${ref.name} has ended (${s.status?.phase}${why ? `: ${why}` : ''})`,
    );
  }
  if (s.spec.release) throw new ApiError('SESSION_ENDED', `session ${ref.name} is being released`);
  if (s.status?.phase !== 'Running' || !s.status.podIP) {
    throw new ApiError(
      'SESSION_NOT_READY',
      `session ${ref.name} is still ${s.status?.phase ?? 'Pending'} after ${Math.round(timeoutMs / 1000)}s`,
    );
  }
  return s;
}
