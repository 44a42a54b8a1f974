import type { IncomingHttpHeaders } from 'node:http';
import { type BrowserProject, type BrowserSession, isTerminal } from '../api/index.js';
import type { Clock } from '../shared/clock.js';
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

/** Waits until the session runs; a session that ended (or is ending) is a 410, a slow one a 504. */
export async function waitForRunning(
  target: BrowserSession,
  cache: SessionCache,
  clock: Clock,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<BrowserSession> {
  const ref = refOf(target);
  const s = await cache.waitUntil(
    ref,
    (x) => isTerminal(x) || (x.status?.phase === 'Running' && !!x.status.podIP),
    timeoutMs,
    target,
    signal,
  );
  const ending = endingReason(ref.name, s, clock.now());
  if (ending) throw new ApiError('SESSION_ENDED', ending);
  if (s?.status?.phase !== 'Running' || !s.status.podIP) {
    throw new ApiError(
      'SESSION_NOT_READY',
      `session ${ref.name} is still ${s?.status?.phase ?? 'Pending'} after ${Math.round(timeoutMs / 1000)}s`,
    );
  }
  return s;
}

/**
 * Why a session can no longer be connected to (gone, ended, released, or past its expiry and about to be
 * ended), or undefined when nothing says it is ending.
 */
export function endingReason(name: string, s: BrowserSession | undefined, now: number): string | undefined {
  if (!s) return `session ${name} no longer exists`;
  if (isTerminal(s)) {
    const why = s.status?.conditions?.find((c) => c.type === 'Ended')?.message;
    return `session ${name} has ended (${s.status?.phase}${why ? `: ${why}` : ''})`;
  }
  if (s.spec.release) return `session ${name} is being released`;
  const expires = Date.parse(s.status?.expiresAt ?? '');
  if (expires <= now) return `session ${name} expired at ${new Date(expires).toISOString()} and is ending`;
  return undefined;
}

/** How long a failed browser call waits for the cache to show that its session is ending. */
const ENDING_WAIT_MS = 2000;

/**
 * Runs a call to the session's browser. When the browser is unavailable, tells a session that is ending apart
 * from a broken one: around expiry or release the pod goes away before the cache shows the end, and that is
 * a 410 (the session is gone for good), not a 502 that invites a retry.
 */
export async function callBrowser<T>(
  session: BrowserSession,
  cache: SessionCache,
  clock: Clock,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== 'BROWSER_UNAVAILABLE') throw err;
    const ref = refOf(session);
    const latest = await cache.waitUntil(
      ref,
      (s) => endingReason(ref.name, s, clock.now()) !== undefined,
      ENDING_WAIT_MS,
      session,
    );
    const ending = endingReason(ref.name, latest, clock.now());
    if (ending) throw new ApiError('SESSION_ENDED', ending, {}, { cause: err });
    throw err;
  }
}

function refOf(s: BrowserSession): { namespace: string; name: string } {
  return { namespace: s.metadata.namespace ?? '', name: s.metadata.name ?? '' };
}
