import type http from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { type BrowserSession, isTerminal, sessionKey } from '../api/index.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/log.js';
import { pipeWebSockets } from '../shared/ws/ws-pipe.js';
import {
  type ConnectAuthDeps,
  type ConnectTarget,
  callBrowser,
  readCredential,
  resolveConnect,
  waitForRunning,
} from './connect-auth.js';
import { ApiError, toApiError } from './errors.js';
import type { GatewayMetrics } from './metrics.js';
import { MAX_MESSAGE_BYTES, openPodSocket, podEndpoint } from './pod-client.js';
import { refuseUpgrade } from './upgrade-response.js';

export interface CdpProxyDeps extends ConnectAuthDeps {
  connectWaitMs: number;
  /**
   * How often each upstream (sidecar) socket is pinged; a ping still unanswered at the next one means the pod
   * is gone without a FIN or RST (its network namespace removed), and the connection is closed.
   */
  upstreamPingMs: number;
  metrics: GatewayMetrics;
  log: Logger;
  clock: Clock;
}

export interface CdpProxy {
  /** Handles a CDP websocket upgrade (the caller routes /live/ elsewhere). */
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, url: URL): void;
  /** Closes every proxied connection with 1001 and waits for both legs. */
  close(): Promise<void>;
}

/** The close code a client gets when its session ends while it is connected (4000 + HTTP 410 Gone). */
export const SESSION_ENDED_CLOSE = 4410;
/** The close code a client gets when the browser's pod stopped answering pings. */
export const BROWSER_GONE_CLOSE = 1011;

/** The close reason naming why the session ended; a close reason is at most 123 bytes. */
export function sessionEndedReason(s: BrowserSession | undefined): string {
  const why = s ? (s.status?.endReason ?? s.status?.phase ?? 'ended') : 'Deleted';
  return `session ended: ${why}`.slice(0, 123);
}

const SAFE_ID = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * The sidecar path a client path maps to. Clients given a connectUrl/wsEndpoint connect to `/`; clients that
 * read /json/version or /json/list through the gateway connect to the DevTools paths it handed out.
 */
export function sidecarPath(pathname: string): string | undefined {
  if (pathname === '/' || pathname === '' || pathname === '/devtools/browser') return '/devtools/browser';
  const m = /^\/devtools\/(browser|page)\/([^/]+)$/.exec(pathname);
  if (!m?.[2] || !SAFE_ID.test(m[2])) return undefined;
  return m[1] === 'browser' ? '/devtools/browser' : pathname;
}

/**
 * CDP connect: authenticate the URL's credential, wait while the session is still starting, then join the
 * client to the session's sidecar at its pod IP. `&keepAlive=true` is passed on to the sidecar, which reports
 * it, so the operator keeps the session across this client's disconnect (Hyperbrowser's style).
 */
export function createCdpProxy(deps: CdpProxyDeps): CdpProxy {
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: MAX_MESSAGE_BYTES,
  });
  const open = new Set<WebSocket>();
  const pipes = new Set<Promise<unknown>>();
  /** Open client sockets by session key (namespace/name), to close them when the session ends. */
  const bySession = new Map<string, Set<WebSocket>>();
  /** Each open client's upstream, and the upstreams whose last ping is unanswered. */
  const upstreams = new Map<WebSocket, WebSocket>();
  const awaitingPong = new WeakSet<WebSocket>();
  let closing = false;

  const closeClient = (client: WebSocket, code: number, reason: string) => {
    if (client.readyState !== WebSocket.OPEN) return;
    client.close(code, reason);
    // A client that never answers the close frame must not hold the connection open.
    setTimeout(() => client.terminate(), 2000).unref();
  };

  // The cache sees the end before (or without) the pod's sockets closing: a deleted pod's network namespace
  // sends no FIN, so the end is told to the client here rather than by the upstream.
  deps.cache.onChange((s) => {
    const key = sessionKey(s);
    const clients = bySession.get(key);
    if (!clients) return;
    const latest = deps.cache.cached({ namespace: s.metadata.namespace ?? '', name: s.metadata.name ?? '' });
    if (latest && !isTerminal(latest)) return;
    const reason = sessionEndedReason(latest ?? (isTerminal(s) ? s : undefined));
    const stillOpen = [...clients].filter((c) => c.readyState === WebSocket.OPEN).length;
    if (stillOpen > 0)
      deps.log.info('closing the CDP clients of an ended session', {
        session: s.metadata.name,
        clients: stillOpen,
        reason,
      });
    for (const client of clients) closeClient(client, SESSION_ENDED_CLOSE, reason);
  });

  const pingTimer = setInterval(() => {
    for (const client of open) {
      const upstream = upstreams.get(client);
      if (!upstream) continue;
      // A paused upstream (back-pressure) does not read its pong; it is not counted against it.
      if (upstream.isPaused) continue;
      if (awaitingPong.has(upstream)) {
        closeClient(client, BROWSER_GONE_CLOSE, 'the browser stopped answering');
        upstream.terminate();
        continue;
      }
      awaitingPong.add(upstream);
      upstream.ping();
    }
  }, deps.upstreamPingMs);
  pingTimer.unref();

  async function upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, url: URL): Promise<void> {
    const path = sidecarPath(url.pathname);
    if (!path) throw new ApiError('NOT_FOUND', `no CDP endpoint at ${url.pathname}`);
    if (closing) throw new ApiError('BROWSER_UNAVAILABLE', 'the gateway is shutting down');
    const abort = new AbortController();
    socket.once('close', () => abort.abort());
    let target: ConnectTarget | undefined;
    try {
      target = await resolveConnect(readCredential(url, req.headers), deps);
      const waitStart = deps.clock.now();
      const session = await waitForRunning(
        target.session,
        deps.cache,
        deps.clock,
        deps.connectWaitMs,
        abort.signal,
      );
      deps.metrics.connectWait.observe((deps.clock.now() - waitStart) / 1000);
      const upstream = await callBrowser(session, deps.cache, deps.clock, async () => {
        const opened = await openPodSocket(
          podEndpoint(deps.sessionKey, session),
          path,
          url.searchParams.get('keepAlive') === 'true',
        );
        if (opened instanceof WebSocket) return opened;
        throw opened.status === 404
          ? new ApiError('NOT_FOUND', `no such DevTools target: ${url.pathname}`)
          : new ApiError(
              'BROWSER_UNAVAILABLE',
              `the browser of session ${session.metadata.name} refused the connection`,
            );
      });
      if (socket.destroyed || closing) {
        upstream.terminate();
        throw new ApiError('BROWSER_UNAVAILABLE', 'the client left before the browser answered');
      }
      wss.handleUpgrade(req, socket, head, (client) => {
        open.add(client);
        const key = sessionKey(session);
        const ofSession = bySession.get(key) ?? new Set<WebSocket>();
        ofSession.add(client);
        bySession.set(key, ofSession);
        upstreams.set(client, upstream);
        upstream.on('pong', () => awaitingPong.delete(upstream));
        // The session may have ended while the upgrade was under way: the watch event has passed already.
        const now = deps.cache.cached({
          namespace: session.metadata.namespace ?? '',
          name: session.metadata.name ?? '',
        });
        if (!now || isTerminal(now)) closeClient(client, SESSION_ENDED_CLOSE, sessionEndedReason(now));
        deps.metrics.openConnections.inc({ kind: 'cdp' });
        deps.metrics.connects.inc({ kind: 'cdp', outcome: 'ok' });
        deps.log.info('CDP client connected', {
          session: session.metadata.name,
          path,
          implicit: target?.created === true,
        });
        const piped = pipeWebSockets(client, upstream).then((closed) => {
          open.delete(client);
          upstreams.delete(client);
          ofSession.delete(client);
          if (ofSession.size === 0) bySession.delete(key);
          pipes.delete(piped);
          deps.metrics.openConnections.dec({ kind: 'cdp' });
          deps.log.info('CDP client disconnected', {
            session: session.metadata.name,
            code: closed.code,
            by: closed.by,
          });
        });
        pipes.add(piped);
      });
    } catch (err) {
      // A session this connect created for nobody must not wait for its timeout.
      if (target?.created && target.project) {
        void deps.sessions.release(target.project, target.session.metadata.name ?? '').catch((e: unknown) => {
          deps.log.warn('could not release an implicitly created session after a failed connect', {
            session: target?.session.metadata.name,
            err: e,
          });
        });
      }
      throw err;
    }
  }

  return {
    handleUpgrade(req, socket, head, url) {
      socket.on('error', () => {});
      upgrade(req, socket, head, url).catch((err: unknown) => {
        const apiErr = toApiError(err);
        if (apiErr.code === 'INTERNAL') deps.log.error('CDP connect failed', { path: url.pathname, err });
        if (apiErr.code === 'API_UNAVAILABLE')
          deps.log.warn('CDP connect failed: the cluster API is unavailable', { path: url.pathname, err });
        deps.metrics.connects.inc({ kind: 'cdp', outcome: String(apiErr.status) });
        refuseUpgrade(socket, apiErr);
      });
    },
    async close() {
      closing = true;
      clearInterval(pingTimer);
      for (const client of open) {
        client.close(1001, 'gateway shutting down');
        setTimeout(() => client.terminate(), 2000).unref();
      }
      await Promise.all(pipes);
    },
  };
}
