import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { type Request, type Response, Router } from 'express';
import WebSocket, { WebSocketServer } from 'ws';
import type { BrowserSession } from '../../api/index.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import type { DevtoolsTarget } from '../compat/browserbase.js';
import { callBrowser, waitForRunning } from '../connect-auth.js';
import { ApiError, toApiError } from '../errors.js';
import type { GatewayMetrics } from '../metrics.js';
import { openPodSocket, podEndpoint, podJson } from '../pod-client.js';
import type { SessionCache } from '../session-cache.js';
import { isSessionName, parseExpiringToken, verifyLiveToken } from '../tokens.js';
import { refuseUpgrade } from '../upgrade-response.js';
import { livePageHtml } from './page.js';
import { bridgeScreencast } from './screencast.js';

export interface LiveViewDeps {
  sessionKey: string;
  cache: SessionCache;
  connectWaitMs: number;
  metrics: GatewayMetrics;
  log: Logger;
  clock: Clock;
}

export interface LiveView {
  /** GET /live/:id: the viewer page. */
  router: Router;
  /** The viewer page's websocket, /live/:id/ws. */
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, url: URL): void;
  close(): Promise<void>;
}

const SAFE_ID = /^[A-Za-z0-9._-]{1,128}$/;
const BAD_LINK = 'invalid or expired live-view link';

/**
 * Live view: a page the gateway serves that shows one of the session's pages (CDP screencast) and sends clicks
 * and keys back. Its websocket is a page-level CDP connection through the sidecar, so it counts as a
 * connection and holds a non-keep-alive session open while someone watches.
 */
export function createLiveView(deps: LiveViewDeps): LiveView {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 });
  const open = new Set<WebSocket>();
  const bridges = new Set<Promise<void>>();

  async function authorize(id: string, token: string | undefined): Promise<BrowserSession> {
    const parsed = token ? parseExpiringToken(token) : undefined;
    if (!parsed || parsed.name !== id || !isSessionName(id)) throw new ApiError('UNAUTHORIZED', BAD_LINK);
    const session = await deps.cache.get(parsed);
    if (!session || !verifyLiveToken(deps.sessionKey, session, parsed, deps.clock.now()))
      throw new ApiError('UNAUTHORIZED', BAD_LINK);
    return session;
  }

  const router = Router();
  router.get('/live/:id', async (req: Request<{ id: string }>, res: Response) => {
    const token = typeof req.query['token'] === 'string' ? req.query['token'] : undefined;
    const session = await authorize(req.params.id, token);
    res
      .status(200)
      .type('html')
      .set('cache-control', 'no-store')
      .set('referrer-policy', 'no-referrer')
      .send(livePageHtml(session.metadata.name ?? '', req.query['fullscreen'] === 'true'));
  });

  async function upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, url: URL): Promise<void> {
    const m = /^\/live\/([^/]+)\/ws$/.exec(url.pathname);
    if (!m?.[1]) throw new ApiError('NOT_FOUND', `no live-view endpoint at ${url.pathname}`);
    const session = await authorize(decodeURIComponent(m[1]), url.searchParams.get('token') ?? undefined);
    const abort = new AbortController();
    socket.once('close', () => abort.abort());
    const running = await waitForRunning(session, deps.cache, deps.clock, deps.connectWaitMs, abort.signal);
    const pod = podEndpoint(deps.sessionKey, running);
    const wanted = url.searchParams.get('page');
    if (wanted !== null && !SAFE_ID.test(wanted))
      throw new ApiError('INVALID_REQUEST', 'page: not a page id');
    const listed = await callBrowser(running, deps.cache, deps.clock, () =>
      podJson<DevtoolsTarget[]>(pod, '/json/list'),
    );
    const targets = listed.filter((t) => t.type === 'page');
    const target = wanted === null ? targets[0] : targets.find((t) => t.id === wanted);
    if (!target)
      throw new ApiError(
        'NOT_FOUND',
        wanted === null ? 'the browser has no open page' : `no page ${wanted} in this session`,
      );
    const cdp = await callBrowser(running, deps.cache, deps.clock, async () => {
      const opened = await openPodSocket(pod, `/devtools/page/${target.id}`, false);
      if (opened instanceof WebSocket) return opened;
      throw new ApiError('BROWSER_UNAVAILABLE', 'the browser refused the live-view connection');
    });
    if (socket.destroyed) {
      cdp.terminate();
      return;
    }
    wss.handleUpgrade(req, socket, head, (viewer) => {
      open.add(viewer);
      deps.metrics.openConnections.inc({ kind: 'live' });
      deps.metrics.connects.inc({ kind: 'live', outcome: 'ok' });
      deps.log.info('live view opened', { session: running.metadata.name, page: target.id });
      const bridge = bridgeScreencast(viewer, cdp, target).then(() => {
        open.delete(viewer);
        bridges.delete(bridge);
        deps.metrics.openConnections.dec({ kind: 'live' });
        deps.log.info('live view closed', { session: running.metadata.name });
      });
      bridges.add(bridge);
    });
  }

  return {
    router,
    handleUpgrade(req, socket, head, url) {
      socket.on('error', () => {});
      upgrade(req, socket, head, url).catch((err: unknown) => {
        const apiErr = toApiError(err);
        if (apiErr.code === 'INTERNAL') deps.log.error('live view connect failed', { err });
        deps.metrics.connects.inc({ kind: 'live', outcome: String(apiErr.status) });
        refuseUpgrade(socket, apiErr);
      });
    },
    async close() {
      for (const viewer of open) {
        viewer.close(1001, 'gateway shutting down');
        setTimeout(() => viewer.terminate(), 2000).unref();
      }
      await Promise.all(bridges);
    },
  };
}
