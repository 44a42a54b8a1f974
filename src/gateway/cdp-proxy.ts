import type http from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
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
  let closing = false;

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
        deps.metrics.openConnections.inc({ kind: 'cdp' });
        deps.metrics.connects.inc({ kind: 'cdp', outcome: 'ok' });
        deps.log.info('CDP client connected', {
          session: session.metadata.name,
          path,
          implicit: target?.created === true,
        });
        const piped = pipeWebSockets(client, upstream).then((closed) => {
          open.delete(client);
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
        deps.metrics.connects.inc({ kind: 'cdp', outcome: String(apiErr.status) });
        refuseUpgrade(socket, apiErr);
      });
    },
    async close() {
      closing = true;
      for (const client of open) {
        client.close(1001, 'gateway shutting down');
        setTimeout(() => client.terminate(), 2000).unref();
      }
      await Promise.all(pipes);
    },
  };
}
