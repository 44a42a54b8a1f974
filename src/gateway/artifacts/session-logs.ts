import http from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Response } from 'express';
import { type BrowserSession, isTerminal, projectOf } from '../../api/index.js';
import { CDP_LOG_ARTIFACT } from '../../shared/artifacts/keys.js';
import type { ArtifactStore } from '../../shared/artifacts/store.js';
import type { Clock } from '../../shared/clock.js';
import { callBrowser } from '../connect-auth.js';
import { ApiError, type ApiErrorCode } from '../errors.js';
import { type PodEndpoint, podEndpoint } from '../pod-client.js';
import type { SessionCache } from '../session-cache.js';
import { storeUnavailable } from './downloads-zip.js';

/**
 * `GET /v1/sessions/:id/logs`: the session's CDP log (recorded by its sidecar, src/sidecar/cdp-log), a bare
 * array in Browserbase's shape. While the browser runs it comes from the sidecar; once the end's flush stored it,
 * from the store, so it outlives the pod. Which of the two, or why neither, is decided here from the session alone.
 */
export type LogSource =
  /** Nothing was recorded: the log is off for this session, or its browser never ran. */
  | { kind: 'empty' }
  | { kind: 'sidecar'; ended: boolean }
  | { kind: 'store' }
  | { kind: 'refused'; code: ApiErrorCode; message: string };

export function logSource(s: BrowserSession, storeConfigured: boolean): LogSource {
  const st = s.status ?? {};
  if (s.spec.logSession === false || st.readyAt === undefined) return { kind: 'empty' };
  const artifacts = st.artifacts;
  if (storeConfigured && artifacts?.logs?.stored) return { kind: 'store' };
  if (storeConfigured && artifacts?.flushed)
    return {
      kind: 'refused',
      code: 'ARTIFACTS_FAILED',
      message: `logs: the session's CDP log was not stored when it ended (${artifacts.reason ?? artifacts.state}): ${artifacts.message ?? ''}`,
    };
  const ended = isTerminal(s);
  if (!ended && st.podIP) return { kind: 'sidecar', ended };
  if (!storeConfigured)
    return {
      kind: 'refused',
      code: 'NOT_IMPLEMENTED',
      message:
        "logs: this installation keeps no artifacts (artifacts.enabled), so a session's CDP log is served only while its browser runs",
    };
  // Ended, and the flush not yet recorded: the pod is still there for a few seconds, or the flush is on its way.
  return st.podIP ? { kind: 'sidecar', ended } : flushPending();
}

const FLUSH_PENDING = "logs: the session's CDP log is being stored; ask again in a moment";

function flushPending(): LogSource {
  return { kind: 'refused', code: 'ARTIFACTS_UNAVAILABLE', message: FLUSH_PENDING };
}

export interface SessionLogDeps {
  artifacts?: ArtifactStore | undefined;
  sessionKey: string;
  cache: SessionCache;
  clock: Clock;
}

export async function sendSessionLogs(
  res: Response,
  deps: SessionLogDeps,
  session: BrowserSession,
): Promise<void> {
  const source = logSource(session, deps.artifacts !== undefined);
  switch (source.kind) {
    case 'empty':
      res.status(200).json([]);
      return;
    case 'refused':
      throw new ApiError(
        source.code,
        source.message,
        source.code === 'ARTIFACTS_UNAVAILABLE' ? { 'retry-after': '2' } : {},
      );
    case 'store':
      await fromStore(res, deps.artifacts as ArtifactStore, session);
      return;
    case 'sidecar': {
      const pod = podEndpoint(deps.sessionKey, session);
      const answer = source.ended
        ? await sidecarLog(pod).catch(() => {
            throw new ApiError('ARTIFACTS_UNAVAILABLE', FLUSH_PENDING, { 'retry-after': '2' });
          })
        : await callBrowser(session, deps.cache, deps.clock, () => sidecarLog(pod));
      res.status(200).set({
        'content-type': 'application/json; charset=utf-8',
        ...(answer.headers['content-length'] ? { 'content-length': answer.headers['content-length'] } : {}),
      });
      await pipeline(answer, res);
    }
  }
}

async function fromStore(res: Response, store: ArtifactStore, session: BrowserSession): Promise<void> {
  const scope = { project: projectOf(session), session: session.metadata.name ?? '' };
  const opened = await store.open(scope, 'logs', CDP_LOG_ARTIFACT).catch((err: unknown) => {
    throw storeUnavailable('logs', err);
  });
  if (!opened)
    throw new ApiError(
      'ARTIFACTS_FAILED',
      "logs: the session's status says its CDP log was stored, but the store no longer holds it",
    );
  res.status(200).set({
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(opened.bytes),
  });
  await pipeline(opened.body, res).catch((err: unknown) => {
    res.destroy(err instanceof Error ? err : new Error(String(err)));
  });
}

/** The sidecar's log endpoint, streamed: resolves with the answer once it is a 200. */
function sidecarLog(pod: PodEndpoint): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const unavailable = (why: string) =>
      new ApiError('BROWSER_UNAVAILABLE', `the session's browser did not send its CDP log: ${why}`);
    const req = http.request(
      {
        host: pod.host,
        port: pod.port,
        path: '/artifacts/v1/logs',
        headers: { authorization: `Bearer ${pod.token}` },
        timeout: 10_000,
      },
      (answer) => {
        if (answer.statusCode === 200) return resolve(answer);
        answer.resume();
        reject(unavailable(`status ${answer.statusCode}`));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => reject(unavailable(err.message)));
    req.end();
  });
}
