import { createReadStream } from 'node:fs';
import http, { STATUS_CODES } from 'node:http';
import nodePath from 'node:path';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import WebSocket, { WebSocketServer } from 'ws';
import { ArtifactKeyError, checkArtifactName } from '../shared/artifacts/keys.js';
import { type Direction, pipeWebSockets } from '../shared/ws/ws-pipe.js';
import { authenticate, redactToken } from './auth.js';
import type { CdpLog, CdpLogTap } from './cdp-log/recorder.js';
import { browserEndpointPath, chromeWebSocketUrl, readBody, requestChrome } from './chrome-http.js';
import type { ConnectionLevel, ConnectionState } from './connection-state.js';
import { type ClientEndpoint, rewriteDevtoolsUrls } from './devtools-urls.js';
import { sessionDownloadBehavior } from './downloads/behavior.js';
import type { DownloadCapture } from './downloads/capture.js';
import { IdlePinger } from './idle-pinger.js';
import { log } from './log.js';
import type { SidecarMetrics } from './metrics.js';
import { receiveUpload, UploadRefused } from './uploads/receive.js';
import type { WebDriverProxy } from './webdriver/webdriver-proxy.js';

export interface CdpProxyDeps {
  chromeUrl: URL;
  sessionToken: string;
  state: ConnectionState;
  metrics: SidecarMetrics;
  clientPingIntervalMs: number;
  capture: DownloadCapture;
  /** The session's CDP log; undefined when it is off. */
  cdpLog: CdpLog | undefined;
  /** Where uploaded files go (the pod's uploads volume, which Chrome mounts read-only). */
  uploadDir: string;
  /** WebDriver commands under /webdriver, for the pod's chromedriver (ADR 0014). */
  webdriver: WebDriverProxy;
}

/** The WebDriver path under the sidecar's `/webdriver` prefix, or undefined for any other path. */
function webdriverPath(path: string): string | undefined {
  if (path === '/webdriver') return '/';
  return path.startsWith('/webdriver/') ? path.slice('/webdriver'.length) : undefined;
}

export interface CdpProxy {
  server: http.Server;
  /** Refuses new work, closes every client websocket with 1001 and waits for both legs to finish. */
  close(): Promise<void>;
}

// Same ceiling as Playwright's own CDP transport: a full-page screenshot or a DOM snapshot is one message.
const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;
const CHROME_TIMEOUT_MS = 10_000;
/** The sidecar's own ceiling for one upload; the gateway enforces the installation's (smaller) limit first. */
const UPLOAD_CEILING_BYTES = 4 * 1024 * 1024 * 1024;
const SAFE_ID = /^[A-Za-z0-9._-]{1,128}$/;

interface HttpRoute {
  /** Path and query as Chrome gets them. */
  chromeTarget: string;
  rewriteUrls: boolean;
}

/**
 * Maps a client path to the Chrome endpoint it may reach. Everything else is 404: the sidecar is the only door
 * to Chrome and opens just the DevTools discovery API.
 */
function httpRoute(path: string, rawQuery: string, token: string): HttpRoute | undefined {
  if (path === '/json/version' || path === '/json/list' || path === '/json') {
    return { chromeTarget: path, rewriteUrls: true };
  }
  if (path === '/json/protocol') return { chromeTarget: path, rewriteUrls: false };
  if (path === '/json/new') {
    // Chrome reads the whole query as the URL to open, so our own credential must not end up in it.
    const kept = rawQuery.split('&').filter((part) => !isTokenParam(part, token));
    const query = kept.join('&');
    return { chromeTarget: query ? `${path}?${query}` : path, rewriteUrls: true };
  }
  const match = /^\/json\/(close|activate)\/([^/]+)$/.exec(path);
  if (match?.[2] && SAFE_ID.test(match[2])) return { chromeTarget: path, rewriteUrls: false };
  return undefined;
}

function isTokenParam(part: string, token: string): boolean {
  if (!part.startsWith('token=')) return false;
  try {
    return decodeURIComponent(part.slice('token='.length)) === token;
  } catch {
    return false;
  }
}

interface WsRoute {
  level: ConnectionLevel;
  /** Undefined: Chrome's own browser endpoint, looked up at connect time. */
  chromePath: string | undefined;
}

function wsRoute(path: string): WsRoute | undefined {
  if (path === '/devtools/browser') return { level: 'browser', chromePath: undefined };
  const match = /^\/devtools\/(browser|page)\/([^/]+)$/.exec(path);
  if (!match?.[2] || !SAFE_ID.test(match[2])) return undefined;
  return { level: match[1] === 'page' ? 'page' : 'browser', chromePath: path };
}

/** Where the client reached us: its Host header when it is a plain host[:port], else our socket address. */
function clientEndpoint(req: http.IncomingMessage, url: URL, token: string): ClientEndpoint {
  const header = req.headers.host;
  let host: string;
  if (header && /^[A-Za-z0-9._:[\]-]+$/.test(header)) {
    host = header;
  } else {
    const address = req.socket.localAddress ?? '127.0.0.1';
    host = `${address.includes(':') ? `[${address}]` : address}:${req.socket.localPort}`;
  }
  const query = new URLSearchParams({ token });
  if (url.searchParams.get('keepAlive') === 'true') query.set('keepAlive', 'true');
  return { host, query };
}

function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: http.OutgoingHttpHeaders = {},
) {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(json),
  });
  res.end(json);
}

function refuseUpgrade(socket: Duplex, status: number, body: unknown, extraHeaders = ''): void {
  if (socket.destroyed) return;
  const json = JSON.stringify(body);
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(json)}\r\n` +
      `${extraHeaders}\r\n${json}`,
  );
}

/** Ids of the commands the sidecar itself sends on a client's connection; far above any client's own. */
const INJECTED_ID_BASE = 2_000_000_000;

interface CdpFrame {
  id?: number;
  method?: string;
  sessionId?: string;
  params?: unknown;
  result?: { browserContextId?: unknown };
}

function parseFrame(data: Buffer): CdpFrame | undefined {
  try {
    const frame = JSON.parse(data.toString('utf8')) as unknown;
    return typeof frame === 'object' && frame !== null ? (frame as CdpFrame) : undefined;
  } catch {
    return undefined;
  }
}

const SET_DOWNLOAD_BEHAVIOR = Buffer.from('"Browser.setDownloadBehavior"');
const CREATE_BROWSER_CONTEXT = Buffer.from('"Target.createBrowserContext"');
const DOWNLOAD_EVENT = Buffer.from('"Browser.download');

/**
 * What the proxy changes on one client's connection so that every download lands in the session's folder
 * (ADR 0012): the client's `Browser.setDownloadBehavior` is rewritten (behavior.ts); a context the client
 * creates gets the session's behaviour, sent on the same connection before the client learns its id, so no
 * page in it can download before; the client sees `Browser.download*` events only if it asked for them.
 * Everything else passes byte for byte; only frames that name these methods are parsed.
 */
function downloadInterceptor(
  capture: DownloadCapture,
  contexts: Set<string>,
  sendUpstream: (text: string) => void,
): (direction: Direction, data: Buffer, isBinary: boolean) => Buffer | null | undefined {
  let clientWantsEvents = false;
  const createCalls = new Set<number>();
  const injected = new Set<number>();
  let nextInjected = INJECTED_ID_BASE;
  return (direction, data, isBinary) => {
    if (isBinary) return undefined;
    if (direction === 'client_to_upstream') {
      if (data.includes(CREATE_BROWSER_CONTEXT)) {
        const frame = parseFrame(data);
        if (frame?.method === 'Target.createBrowserContext' && typeof frame.id === 'number')
          createCalls.add(frame.id);
        return undefined;
      }
      if (!data.includes(SET_DOWNLOAD_BEHAVIOR)) return undefined;
      const frame = parseFrame(data);
      if (frame?.method !== 'Browser.setDownloadBehavior') return undefined;
      const rewritten = sessionDownloadBehavior(frame.params, capture.folders.incoming);
      if (!rewritten) return undefined;
      clientWantsEvents = rewritten.clientWantsEvents;
      // Once sealed, nothing may turn downloads back on.
      const params = capture.ledger.isSealed
        ? capture.behaviorFor(rewritten.params.browserContextId)
        : rewritten.params;
      return Buffer.from(JSON.stringify({ ...frame, params }));
    }
    if (data.includes(DOWNLOAD_EVENT) && !clientWantsEvents) {
      const frame = parseFrame(data);
      if (frame?.method?.startsWith('Browser.download')) return null;
    }
    if (createCalls.size === 0 && injected.size === 0) return undefined;
    if (data.length > 4096) return undefined; // both answers are tiny; a screenshot is not one of them
    const frame = parseFrame(data);
    if (typeof frame?.id !== 'number') return undefined;
    if (injected.delete(frame.id)) return null;
    if (!createCalls.delete(frame.id)) return undefined;
    const context = frame.result?.browserContextId;
    if (typeof context === 'string') {
      contexts.add(context);
      const id = nextInjected++;
      injected.add(id);
      sendUpstream(
        JSON.stringify({ id, method: 'Browser.setDownloadBehavior', params: capture.behaviorFor(context) }),
      );
    }
    return undefined;
  };
}

/** The CDP log sees each message as the client sent it or Chrome answered, before the download rewrite. */
function observed(
  tap: CdpLogTap | undefined,
  intercept: (direction: Direction, data: Buffer, isBinary: boolean) => Buffer | null | undefined,
): (direction: Direction, data: Buffer, isBinary: boolean) => Buffer | null | undefined {
  if (!tap) return intercept;
  return (direction, data, isBinary) => {
    tap.observe(direction, data, isBinary);
    return intercept(direction, data, isBinary);
  };
}

const UNAUTHORIZED = { error: 'unauthorized', message: 'missing or invalid session token' };
const METHOD_NOT_ALLOWED = { error: 'method_not_allowed', message: 'method not allowed here' };
const NOT_FOUND = { error: 'not_found', message: 'no such DevTools endpoint' };
const BAD_TARGET = { error: 'invalid_request', message: 'path: not a valid request target' };

/**
 * The request target as a URL, or undefined when none can be made of it (`//?x`: a valid HTTP request line,
 * but no URL; Node 20 has no URL.parse). Refused as a 400, not a 502 or a reset connection.
 */
function requestUrl(target: string | undefined): URL | undefined {
  try {
    return new URL(target ?? '/', 'http://sidecar.invalid');
  } catch {
    return undefined;
  }
}

export async function chromeAnswers(chromeUrl: URL, timeoutMs = 2000): Promise<boolean> {
  try {
    const res = await requestChrome(chromeUrl, { method: 'GET', target: '/json/version', timeoutMs });
    res.resume();
    return res.statusCode === 200;
  } catch {
    return false;
  }
}

/** Opens Chrome's side first, so a refusal (unknown target, Chrome down) reaches the client as an HTTP status. */
function connectToChrome(url: string): Promise<WebSocket | { status: number }> {
  return new Promise((resolve) => {
    const upstream = new WebSocket(url, {
      perMessageDeflate: false,
      maxPayload: MAX_MESSAGE_BYTES,
      handshakeTimeout: CHROME_TIMEOUT_MS,
    });
    upstream.once('open', () => resolve(upstream));
    upstream.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve({ status: res.statusCode === 404 || res.statusCode === 500 ? 404 : 502 });
      upstream.terminate();
    });
    upstream.once('error', () => resolve({ status: 502 }));
  });
}

export function createCdpProxy(deps: CdpProxyDeps): CdpProxy {
  const { chromeUrl, sessionToken, state, metrics, capture } = deps;
  /** Every context a client created, so the seal can deny downloads in each. */
  const contexts = new Set<string>();
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: MAX_MESSAGE_BYTES,
  });
  const pinger = new IdlePinger(deps.clientPingIntervalMs);
  const clients = new Set<WebSocket>();
  let closing = false;

  async function forwardHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = requestUrl(req.url);
    if (!url) {
      sendJson(res, 400, BAD_TARGET);
      return;
    }
    // Playwright's connectOverCDP asks for `/json/version/` (trailing slash, query kept); Chrome wants none.
    const requestPath = url.pathname.replace(/\/+$/, '') || '/';
    const path = requestPath;
    if (path === '/healthz') {
      const up = await chromeAnswers(chromeUrl);
      sendJson(res, up ? 200 : 503, { chromeReachable: up });
      return;
    }
    const token = authenticate(req, url, sessionToken);
    if (!token) {
      metrics.authFailed();
      sendJson(res, 401, UNAUTHORIZED, { 'www-authenticate': 'Bearer' });
      return;
    }
    if (path.startsWith('/artifacts/')) {
      await serveArtifacts(req, res, path);
      return;
    }
    const webdriver = webdriverPath(path);
    if (webdriver !== undefined) {
      const { host } = clientEndpoint(req, url, token);
      await deps.webdriver.handleHttp(req, res, webdriver, { host, token });
      return;
    }
    if (path.startsWith('/uploads/v1/')) {
      if (req.method !== 'PUT') return sendJson(res, 405, METHOD_NOT_ALLOWED, { allow: 'PUT' });
      try {
        const stored = await receiveUpload(
          req,
          deps.uploadDir,
          path.slice('/uploads/v1/'.length),
          UPLOAD_CEILING_BYTES,
        );
        sendJson(res, 201, stored);
      } catch (err) {
        if (!(err instanceof UploadRefused)) throw err;
        sendJson(res, err.status, { error: 'upload_refused', message: err.message }, { connection: 'close' });
      }
      return;
    }
    const rawQuery = (req.url ?? '').split('?')[1] ?? '';
    const route = httpRoute(path, rawQuery, token);
    if (!route) {
      sendJson(res, 404, NOT_FOUND);
      return;
    }
    let upstream: http.IncomingMessage;
    try {
      upstream = await requestChrome(chromeUrl, {
        method: req.method ?? 'GET',
        target: route.chromeTarget,
        timeoutMs: CHROME_TIMEOUT_MS,
      });
    } catch (err) {
      log.warn('Chrome did not answer an HTTP request', { path, err });
      sendJson(res, 502, { error: 'chrome_unreachable', message: 'Chrome did not answer' });
      return;
    }
    const status = upstream.statusCode ?? 502;
    const contentType = upstream.headers['content-type'] ?? 'application/octet-stream';
    if (!route.rewriteUrls || status < 200 || status >= 300) {
      const headers: http.OutgoingHttpHeaders = { 'content-type': contentType };
      if (upstream.headers['content-length']) headers['content-length'] = upstream.headers['content-length'];
      res.writeHead(status, headers);
      await pipeline(upstream, res);
      return;
    }
    const body = JSON.parse((await readBody(upstream)).toString('utf8')) as unknown;
    const rewritten = rewriteDevtoolsUrls(body, clientEndpoint(req, url, token));
    sendJson(res, status, rewritten);
  }

  /** The session's artifacts for the operator's collector (ADR 0012), behind the session credential. */
  async function serveArtifacts(req: http.IncomingMessage, res: http.ServerResponse, path: string) {
    const method = req.method ?? 'GET';
    if (path === '/artifacts/v1/manifest') {
      if (method !== 'GET') return sendJson(res, 405, METHOD_NOT_ALLOWED, { allow: 'GET' });
      return sendJson(res, 200, capture.manifest());
    }
    if (path === '/artifacts/v1/logs') {
      if (method !== 'GET') return sendJson(res, 405, METHOD_NOT_ALLOWED, { allow: 'GET' });
      // The entries as Browserbase serves them (a bare array), what is around them in headers: the collector
      // streams this body into the store as it is.
      const log = deps.cdpLog?.list();
      return sendJson(res, 200, log?.entries ?? [], {
        'x-cdp-log': log ? 'on' : 'off',
        'x-cdp-log-entries': String(log?.entries.length ?? 0),
        'x-cdp-log-dropped': String(log?.dropped ?? 0),
      });
    }
    if (path === '/artifacts/v1/seal') {
      if (method !== 'POST') return sendJson(res, 405, METHOD_NOT_ALLOWED, { allow: 'POST' });
      return sendJson(res, 200, await capture.seal(contexts));
    }
    const match = /^\/artifacts\/v1\/files\/downloads\/([^/]+)$/.exec(path);
    if (!match?.[1]) return sendJson(res, 404, { error: 'not_found', message: 'no such artifact endpoint' });
    if (method !== 'GET') return sendJson(res, 405, METHOD_NOT_ALLOWED, { allow: 'GET' });
    let name: string;
    try {
      name = checkArtifactName(decodeURIComponent(match[1]));
    } catch (err) {
      const message =
        err instanceof ArtifactKeyError ? err.message : 'the name is not valid percent-encoding';
      return sendJson(res, 400, { error: 'bad_name', message });
    }
    const entry = capture.ledger.complete(name);
    if (!entry?.sha256)
      return sendJson(res, 404, { error: 'not_found', message: `no complete download named ${name}` });
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': entry.bytes,
      etag: `"${entry.sha256}"`,
    });
    await pipeline(createReadStream(nodePath.join(capture.folders.complete, name)), res);
  }

  async function upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => {});
    const url = requestUrl(req.url);
    if (!url) {
      refuseUpgrade(socket, 400, BAD_TARGET);
      return;
    }
    const logged = redactToken(req.url ?? '/');
    if (!authenticate(req, url, sessionToken)) {
      metrics.authFailed();
      log.warn('refused websocket without a valid session token', { path: logged });
      refuseUpgrade(socket, 401, UNAUTHORIZED, 'WWW-Authenticate: Bearer\r\n');
      return;
    }
    const webdriver = webdriverPath(url.pathname);
    if (webdriver !== undefined) {
      if (closing)
        refuseUpgrade(socket, 503, { error: 'shutting_down', message: 'sidecar is shutting down' });
      else if (!(await deps.webdriver.handleUpgrade(req, socket, head, webdriver)))
        refuseUpgrade(socket, 404, { error: 'not_found', message: 'no such active WebDriver session' });
      return;
    }
    const route = wsRoute(url.pathname);
    if (!route) {
      refuseUpgrade(socket, 404, NOT_FOUND);
      return;
    }
    if (closing) {
      refuseUpgrade(socket, 503, { error: 'shutting_down', message: 'sidecar is shutting down' });
      return;
    }
    let chromePath = route.chromePath;
    if (chromePath === undefined) {
      try {
        chromePath = await browserEndpointPath(chromeUrl);
      } catch (err) {
        log.warn('could not look up the browser endpoint', { err });
        refuseUpgrade(socket, 502, { error: 'chrome_unreachable', message: 'Chrome did not answer' });
        return;
      }
    }
    const upstream = await connectToChrome(chromeWebSocketUrl(chromeUrl, chromePath));
    if (!(upstream instanceof WebSocket)) {
      refuseUpgrade(socket, upstream.status, {
        error: upstream.status === 404 ? 'not_found' : 'chrome_unreachable',
        message: upstream.status === 404 ? 'no such DevTools target' : 'Chrome refused the connection',
      });
      return;
    }
    if (closing || socket.destroyed) {
      upstream.terminate();
      socket.destroy();
      return;
    }
    let accepted = false;
    wss.handleUpgrade(req, socket, head, (client) => {
      accepted = true;
      const keepAlive = url.searchParams.get('keepAlive') === 'true';
      clients.add(client);
      pinger.track(client);
      state.clientConnected(route.level, keepAlive);
      metrics.connected(route.level);
      log.info('client connected', { path: logged, connection: route.level, keepAlive });
      const tap = deps.cdpLog?.connection();
      client.once('close', (code) => {
        tap?.close();
        clients.delete(client);
        state.clientDisconnected(route.level);
        // Chrome resets the default context's download behaviour when the connection that set it goes.
        capture.reapply();
        metrics.disconnected(route.level);
        log.info('client disconnected', { path: logged, connection: route.level, code });
      });
      void pipeWebSockets(client, upstream, {
        onMessage: metrics.relayed,
        intercept: observed(
          tap,
          downloadInterceptor(capture, contexts, (text) => upstream.send(text)),
        ),
      });
    });
    // ws answers a malformed handshake with 400 itself and never calls back; Chrome's side must not linger.
    if (!accepted) upstream.terminate();
  }

  const server = http.createServer((req, res) => {
    forwardHttp(req, res).catch((err: unknown) => {
      log.error('HTTP request failed', { path: redactToken(req.url ?? '/'), err });
      if (!res.headersSent) sendJson(res, 502, { error: 'proxy_error', message: 'request to Chrome failed' });
      else res.destroy();
    });
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrade(req, socket, head).catch((err: unknown) => {
      log.error('websocket upgrade failed', { err });
      socket.destroy();
    });
  });

  return {
    server,
    async close() {
      closing = true;
      pinger.stop();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await Promise.all(
        [...clients].map(
          (client) =>
            new Promise<void>((resolve) => {
              client.once('close', () => resolve());
              client.close(1001, 'sidecar shutting down');
              // A client that never answers the close frame must not hold the pod's shutdown hostage.
              setTimeout(() => client.terminate(), 2000).unref();
            }),
        ),
      );
      server.closeAllConnections();
      await stopped;
    },
  };
}
