import http from 'node:http';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import WebSocket, { WebSocketServer } from 'ws';
import type { BrowserProject, BrowserSession } from '../../api/index.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { pipeWebSockets } from '../../shared/ws/ws-pipe.js';
import {
  type ConnectAuthDeps,
  type ConnectCredential,
  callBrowser,
  readCredential,
  resolveConnect,
  waitForRunning,
} from '../connect-auth.js';
import { ApiError, type ApiErrorCode, toApiError } from '../errors.js';
import type { Links } from '../links.js';
import type { GatewayMetrics } from '../metrics.js';
import { openPodSocket, type PodEndpoint, podEndpoint } from '../pod-client.js';
import { refuseUpgrade } from '../upgrade-response.js';
import {
  implicitWebDriverId,
  readWebDriverCredential,
  splitWebDriverId,
  webdriverRoute,
} from './webdriver-ids.js';

export interface WebDriverGatewayDeps extends ConnectAuthDeps {
  links: Links;
  connectWaitMs: number;
  metrics: GatewayMetrics;
  log: Logger;
  clock: Clock;
}

export interface WebDriverGateway {
  /** Express handler for `/webdriver{/*rest}`: mounted before the JSON body parser, bodies pass as streams. */
  handle(req: Request, res: Response): Promise<void>;
  /** BiDi websockets at `/webdriver/session/<id>`. */
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, url: URL): void;
  close(): void;
}

/** The WebDriver error name for each gateway error; the HTTP status stays the gateway's (ADR 0014). */
const WEBDRIVER_ERROR: Partial<Record<ApiErrorCode, string>> = {
  INVALID_REQUEST: 'invalid argument',
  NOT_FOUND: 'invalid session id',
  SESSION_NOT_FOUND: 'invalid session id',
  SESSION_ENDED: 'invalid session id',
  QUOTA_EXCEEDED: 'session not created',
  RATE_LIMITED: 'session not created',
  SESSION_NOT_READY: 'session not created',
};

function sendWebDriverError(res: Response, err: ApiError): void {
  res
    .status(err.status)
    .set({ ...err.headers, 'cache-control': 'no-cache' })
    .json({
      value: { error: WEBDRIVER_ERROR[err.code] ?? 'unknown error', message: err.message, stacktrace: '' },
    });
}

/** A WebDriver command may wait on a page load for minutes; the session's own timeout bounds it anyway. */
const COMMAND_TIMEOUT_MS = 30 * 60_000;

interface Target {
  session: BrowserSession;
  /** Made by this request (an API key without a session id): released if the new session fails. */
  created: boolean;
  project?: BrowserProject | undefined;
  /** Ids the client sees are `<session>_<id>` (implicit sessions), else chromedriver's own. */
  implicit: boolean;
  /** The WebDriver path as the sidecar takes it (chromedriver's session id). */
  path: string;
}

function unauthorized(): ApiError {
  return new ApiError(
    'UNAUTHORIZED',
    'missing credential: send the x-bb-signing-key header (Browserbase signingKey), x-hyperbrowser-token ' +
      '(Hyperbrowser token), or x-bb-api-key with session-id',
  );
}

/**
 * Selenium through the gateway (ADR 0014): the header tells the session, the command goes to its sidecar's
 * `/webdriver` door with the pod's credential, and the answer comes back as chromedriver gave it, except for a
 * new session's id (implicit sessions) and BiDi URL (the gateway's own, with the session's connect token).
 */
export function createWebDriverGateway(deps: WebDriverGatewayDeps): WebDriverGateway {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const open = new Set<WebSocket>();

  /** The session a path names for a credential; 404 for a session of another project or a foreign id. */
  async function resolve(cred: ConnectCredential | undefined, method: string, path: string): Promise<Target> {
    if (!cred) throw unauthorized();
    const { sessionId, rest } = webdriverRoute(path);
    const split = sessionId !== undefined ? splitWebDriverId(sessionId) : undefined;
    if (cred.kind === 'apiKey' && cred.sessionId === undefined) {
      const project = await deps.keys.authenticate(cred.apiKey);
      if (!project) throw new ApiError('UNAUTHORIZED', 'invalid API key');
      if (method === 'POST' && path === '/session') {
        const { session } = await deps.sessions.create(project, {
          project: project.metadata.name ?? '',
          keepAlive: false,
        });
        return { session, created: true, project, implicit: true, path };
      }
      if (!split)
        throw new ApiError(
          'SESSION_NOT_FOUND',
          sessionId === undefined
            ? `${path}: with an API key and no session-id header, only POST /session (a new session) is served`
            : `no such WebDriver session: ${sessionId}`,
        );
      const session = await deps.sessions.owned(project, split.sessionName);
      return { session, created: false, implicit: true, path: `/session/${split.webdriverId}${rest}` };
    }
    const { session } = await resolveConnect(cred, deps);
    if (split && split.sessionName !== session.metadata.name)
      throw new ApiError('SESSION_NOT_FOUND', `no such WebDriver session: ${sessionId}`);
    return {
      session,
      created: false,
      implicit: split !== undefined,
      path: split ? `/session/${split.webdriverId}${rest}` : path,
    };
  }

  /** Sends the command to the sidecar; a new session's answer is read whole and rewritten, the rest streams. */
  function forward(req: Request, res: Response, pod: PodEndpoint, target: Target): Promise<void> {
    const newSession = req.method === 'POST' && target.path === '/session';
    return new Promise((resolvePromise, reject) => {
      const headers: http.OutgoingHttpHeaders = {
        authorization: `Bearer ${pod.token}`,
        accept: 'application/json',
      };
      for (const name of ['content-type', 'content-length', 'transfer-encoding']) {
        const v = req.headers[name];
        if (v !== undefined) headers[name] = v;
      }
      const upstream = http.request({
        host: pod.host,
        port: pod.port,
        method: req.method,
        path: `/webdriver${target.path}`,
        headers,
        timeout: COMMAND_TIMEOUT_MS,
      });
      const unavailable = (why: string) =>
        new ApiError(
          'BROWSER_UNAVAILABLE',
          `the session's browser did not answer the WebDriver command: ${why}`,
        );
      upstream.on('timeout', () => upstream.destroy(new Error('timed out')));
      upstream.on('error', (err) => reject(unavailable(err.message)));
      upstream.on('response', (answer) => {
        const status = answer.statusCode ?? 502;
        if (!newSession) {
          res.status(status).set({
            'content-type': answer.headers['content-type'] ?? 'application/json; charset=utf-8',
            'cache-control': 'no-cache',
            ...(answer.headers['content-length']
              ? { 'content-length': answer.headers['content-length'] }
              : {}),
          });
          pipeline(answer, res).then(
            () => resolvePromise(),
            () => {
              res.destroy();
              resolvePromise();
            },
          );
          return;
        }
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('error', (err) => reject(unavailable(err.message)));
        answer.on('end', () => {
          let body: { value?: { sessionId?: unknown; capabilities?: Record<string, unknown> } };
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
          } catch {
            reject(unavailable('the answer to a new session was not JSON'));
            return;
          }
          const id = body.value?.sessionId;
          if (status === 200 && typeof id === 'string') {
            const clientId = target.implicit
              ? implicitWebDriverId(target.session.metadata.name ?? '', id)
              : id;
            body.value = { ...body.value, sessionId: clientId };
            const caps = body.value.capabilities;
            if (caps && typeof caps['webSocketUrl'] === 'string')
              caps['webSocketUrl'] = deps.links.webdriverBidi(target.session, clientId);
          } else if (target.created) {
            releaseImplicit(target);
          }
          deps.metrics.connects.inc({ kind: 'webdriver', outcome: status === 200 ? 'ok' : String(status) });
          res.status(status).set('cache-control', 'no-cache').json(body);
          resolvePromise();
        });
      });
      pipeline(req, upstream).catch(() => upstream.destroy());
    });
  }

  function releaseImplicit(target: Target): void {
    if (!target.created || !target.project) return;
    void deps.sessions.release(target.project, target.session.metadata.name ?? '').catch((err: unknown) => {
      deps.log.warn('could not release an implicitly created session after a failed WebDriver session', {
        session: target.session.metadata.name,
        err,
      });
    });
  }

  async function handle(req: Request, res: Response): Promise<void> {
    const path = req.path.slice('/webdriver'.length) || '/';
    let target: Target | undefined;
    try {
      target = await resolve(readWebDriverCredential(req.headers), req.method, path);
      const abort = new AbortController();
      req.once('close', () => abort.abort());
      const session = await waitForRunning(
        target.session,
        deps.cache,
        deps.clock,
        deps.connectWaitMs,
        abort.signal,
      );
      const chosen = target;
      await callBrowser(session, deps.cache, deps.clock, () =>
        forward(req, res, podEndpoint(deps.sessionKey, session), chosen),
      );
    } catch (err) {
      if (target?.created) releaseImplicit(target);
      const apiErr = toApiError(err);
      if (apiErr.code === 'INTERNAL') deps.log.error('WebDriver command failed', { path, err });
      if (req.method === 'POST' && path === '/session')
        deps.metrics.connects.inc({ kind: 'webdriver', outcome: String(apiErr.status) });
      if (res.headersSent) res.destroy();
      else sendWebDriverError(res, apiErr);
    }
  }

  async function upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, url: URL): Promise<void> {
    const path = url.pathname.slice('/webdriver'.length);
    const { sessionId, rest } = webdriverRoute(path);
    if (sessionId === undefined || rest !== '')
      throw new ApiError('NOT_FOUND', `no WebDriver websocket at ${url.pathname}`);
    const target = await resolve(
      readCredential(url, req.headers) ?? readWebDriverCredential(req.headers),
      'GET',
      path,
    );
    const session = await waitForRunning(target.session, deps.cache, deps.clock, deps.connectWaitMs);
    const upstream = await callBrowser(session, deps.cache, deps.clock, async () => {
      const opened = await openPodSocket(
        podEndpoint(deps.sessionKey, session),
        `/webdriver${target.path}`,
        false,
      );
      if (opened instanceof WebSocket) return opened;
      throw opened.status === 404
        ? new ApiError('SESSION_NOT_FOUND', `no active WebDriver session ${sessionId}`)
        : new ApiError('BROWSER_UNAVAILABLE', `the browser of session ${session.metadata.name} refused BiDi`);
    });
    if (socket.destroyed) {
      upstream.terminate();
      return;
    }
    wss.handleUpgrade(req, socket, head, (client) => {
      open.add(client);
      deps.metrics.connects.inc({ kind: 'bidi', outcome: 'ok' });
      void pipeWebSockets(client, upstream).then(() => open.delete(client));
    });
  }

  return {
    handle,
    handleUpgrade(req, socket, head, url) {
      socket.on('error', () => {});
      upgrade(req, socket, head, url).catch((err: unknown) => {
        const apiErr = toApiError(err);
        if (apiErr.code === 'INTERNAL') deps.log.error('BiDi connect failed', { path: url.pathname, err });
        deps.metrics.connects.inc({ kind: 'bidi', outcome: String(apiErr.status) });
        refuseUpgrade(socket, apiErr);
      });
    },
    close() {
      for (const client of open) client.terminate();
    },
  };
}
