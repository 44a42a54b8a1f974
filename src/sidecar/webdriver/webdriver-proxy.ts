import http from 'node:http';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import WebSocket, { WebSocketServer } from 'ws';
import type { Clock } from '../../shared/clock.js';
import { pipeWebSockets } from '../../shared/ws/ws-pipe.js';
import type { ConnectionState } from '../connection-state.js';
import { log } from '../log.js';
import { attachCapabilities, type WebDriverError, webdriverErrorBody } from './capabilities.js';

export interface WebDriverProxyDeps {
  /** The pod's chromedriver, e.g. http://127.0.0.1:9515. */
  webdriverUrl: URL;
  /** Chrome's DevTools address as chromedriver reaches it (host:port), for `debuggerAddress`. */
  debuggerAddress: string;
  state: ConnectionState;
  clock: Clock;
  /** A WebDriver session without a command (and without a BiDi socket) for this long is ended. */
  idleMs: number;
}

/** Where the client reached the sidecar, to build the BiDi URL it is handed. */
export interface WebDriverClient {
  host: string;
  token: string;
}

interface ActiveSession {
  id: string;
  lastUsedAt: number;
  inFlight: number;
  bidi: Set<WebSocket>;
}

/** A new-session body is a few KiB; anything near this is not one. */
const MAX_NEW_SESSION_BYTES = 1024 * 1024;
const SESSION_PATH = /^\/session\/([^/]+)(\/.*)?$/;
const SAFE_ID = /^[A-Za-z0-9._-]{1,128}$/;
/** How long a new session waits for chromedriver to listen. */
const CHROMEDRIVER_START_WAIT_MS = 10_000;
/** A page load may take chromedriver's own default pageLoad timeout (300 s) and more. */
const COMMAND_TIMEOUT_MS = 30 * 60_000;

function sendError(res: http.ServerResponse, e: WebDriverError): void {
  const json = JSON.stringify(webdriverErrorBody(e));
  res.writeHead(e.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(json),
    'cache-control': 'no-cache',
  });
  res.end(json);
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_NEW_SESSION_BYTES) {
        reject(new Error(`body: larger than ${MAX_NEW_SESSION_BYTES} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      try {
        resolve(size === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new Error('body: not valid JSON'));
      }
    });
    req.on('error', reject);
  });
}

/**
 * The sidecar's WebDriver door (ADR 0014): the client's WebDriver commands go to the pod's chromedriver, which
 * drives the session's own Chrome (the one CDP clients and the live view see). One WebDriver session at a time;
 * while it is active it counts as a client connection, so a keepAlive:false session ends after `quit()`, or
 * after the client has sent nothing for `idleMs` (HTTP has no disconnect to notice).
 */
export class WebDriverProxy {
  private active: ActiveSession | undefined;
  private creating = false;
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(private readonly deps: WebDriverProxyDeps) {
    this.timer = setInterval(() => void this.endIfIdle(), Math.min(5000, Math.max(100, deps.idleMs / 4)));
    this.timer.unref();
  }

  /** The open WebDriver session's id, if any. */
  get sessionId(): string | undefined {
    return this.active?.id;
  }

  /** `path` is the WebDriver path (after `/webdriver`), `/session`, `/session/<id>/url`, `/status`, … */
  async handleHttp(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    path: string,
    client: WebDriverClient,
  ): Promise<void> {
    const method = req.method ?? 'GET';
    if (method === 'POST' && path === '/session') return this.newSession(req, res, client);
    const match = SESSION_PATH.exec(path);
    const active = this.active;
    const ours = match?.[1] !== undefined && active?.id === match[1];
    if (ours) {
      active.inFlight += 1;
      active.lastUsedAt = this.deps.clock.now();
    }
    try {
      await this.forward(req, res, method, path);
    } finally {
      if (ours) {
        active.inFlight -= 1;
        active.lastUsedAt = this.deps.clock.now();
        // quit(): chromedriver detaches from the session's Chrome, which keeps running.
        if (method === 'DELETE' && match?.[2] === undefined) this.ended(active, 'the client quit');
      }
    }
  }

  /** BiDi (`webSocketUrl: true`): `/session/<id>` of the active session, joined to chromedriver's socket. */
  async handleUpgrade(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    path: string,
  ): Promise<boolean> {
    const match = SESSION_PATH.exec(path);
    const active = this.active;
    if (!match?.[1] || match[2] !== undefined || active?.id !== match[1]) return false;
    const upstream = await new Promise<WebSocket | undefined>((resolve) => {
      const ws = new WebSocket(new URL(`/session/${active.id}`, this.deps.webdriverUrl).toString(), {
        perMessageDeflate: false,
        handshakeTimeout: 10_000,
      });
      ws.once('open', () => resolve(ws));
      ws.once('unexpected-response', (_r, res) => {
        res.resume();
        ws.terminate();
        resolve(undefined);
      });
      ws.on('error', () => resolve(undefined));
    });
    if (!upstream) {
      socket.destroy();
      return true;
    }
    this.wss.handleUpgrade(req, socket, head, (client) => {
      active.bidi.add(client);
      void pipeWebSockets(client, upstream).then(() => {
        active.bidi.delete(client);
        active.lastUsedAt = this.deps.clock.now();
      });
    });
    return true;
  }

  close(): void {
    clearInterval(this.timer);
    for (const ws of this.active?.bidi ?? []) ws.close(1001, 'sidecar shutting down');
  }

  private async newSession(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    client: WebDriverClient,
  ): Promise<void> {
    let body: unknown;
    try {
      body = await readJson(req);
    } catch (err) {
      return sendError(res, { status: 400, error: 'invalid argument', message: (err as Error).message });
    }
    if (this.active || this.creating) {
      const which = this.active ? `WebDriver session ${this.active.id}` : 'another WebDriver session';
      return sendError(res, {
        status: 500,
        error: 'session not created',
        message: `${which} is already active on this browser session: one at a time (quit it first)`,
      });
    }
    const attached = attachCapabilities(body, this.deps.debuggerAddress);
    if ('refused' in attached) return sendError(res, attached.refused);
    this.creating = true;
    try {
      const answer = await this.whenListening(() =>
        this.request('POST', '/session', Buffer.from(JSON.stringify(attached.body))),
      );
      const parsed = JSON.parse(answer.body.toString('utf8')) as {
        value?: { sessionId?: unknown; capabilities?: Record<string, unknown> };
      };
      const id = parsed.value?.sessionId;
      if (answer.status === 200 && typeof id === 'string' && SAFE_ID.test(id)) {
        this.active = { id, lastUsedAt: this.deps.clock.now(), inFlight: 0, bidi: new Set() };
        this.deps.state.clientConnected('webdriver', false);
        log.info('WebDriver session started', { webdriverSession: id });
        const caps = parsed.value?.capabilities;
        if (caps && typeof caps['webSocketUrl'] === 'string') {
          const query = new URLSearchParams({ token: client.token });
          caps['webSocketUrl'] = `ws://${client.host}/webdriver/session/${id}?${query}`;
        }
      }
      const json = JSON.stringify(parsed);
      res.writeHead(answer.status, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(json),
        'cache-control': 'no-cache',
      });
      res.end(json);
    } catch (err) {
      sendError(res, unreachable(err));
    } finally {
      this.creating = false;
    }
  }

  private ended(active: ActiveSession, why: string): void {
    if (this.active !== active) return;
    this.active = undefined;
    for (const ws of active.bidi) ws.close(1000, 'WebDriver session ended');
    this.deps.state.clientDisconnected('webdriver');
    log.info('WebDriver session ended', { webdriverSession: active.id, why });
  }

  private async endIfIdle(): Promise<void> {
    const active = this.active;
    if (!active || active.inFlight > 0 || active.bidi.size > 0) return;
    if (this.deps.clock.now() - active.lastUsedAt < this.deps.idleMs) return;
    this.ended(active, `no command for ${Math.round(this.deps.idleMs / 1000)} s`);
    try {
      await this.request('DELETE', `/session/${active.id}`, undefined);
    } catch (err) {
      log.warn('could not end an idle WebDriver session at chromedriver', {
        webdriverSession: active.id,
        err,
      });
    }
  }

  /**
   * The kubelet starts chromedriver after Chrome and the sidecar, and the session may be Running before it
   * listens (ADR 0014): a new session waits for it a little rather than failing.
   */
  private async whenListening<T>(call: () => Promise<T>): Promise<T> {
    const until = this.deps.clock.now() + CHROMEDRIVER_START_WAIT_MS;
    for (;;) {
      try {
        return await call();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED' || this.deps.clock.now() > until)
          throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Streams one command to chromedriver and its answer back. */
  private forward(req: http.IncomingMessage, res: http.ServerResponse, method: string, path: string) {
    return new Promise<void>((resolve) => {
      const headers: http.OutgoingHttpHeaders = { accept: 'application/json' };
      for (const name of ['content-type', 'content-length', 'transfer-encoding']) {
        const v = req.headers[name];
        if (v !== undefined) headers[name] = v;
      }
      // chromedriver refuses a foreign Host or any Origin (its DNS-rebinding guard): it gets its own address.
      const upstream = http.request(this.target(path), { method, headers, timeout: COMMAND_TIMEOUT_MS });
      upstream.on('timeout', () => upstream.destroy(new Error('timed out')));
      upstream.on('response', (answer) => {
        const out: http.OutgoingHttpHeaders = {
          'content-type': answer.headers['content-type'] ?? 'application/json; charset=utf-8',
          'cache-control': 'no-cache',
        };
        if (answer.headers['content-length']) out['content-length'] = answer.headers['content-length'];
        res.writeHead(answer.statusCode ?? 502, out);
        pipeline(answer, res).then(resolve, () => {
          res.destroy();
          resolve();
        });
      });
      upstream.on('error', (err) => {
        if (!res.headersSent) sendError(res, unreachable(err));
        else res.destroy();
        resolve();
      });
      pipeline(req, upstream).catch(() => upstream.destroy());
    });
  }

  private request(method: string, path: string, body: Buffer | undefined) {
    return new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { accept: 'application/json' };
      if (body) {
        headers['content-type'] = 'application/json; charset=utf-8';
        headers['content-length'] = body.length;
      }
      const req = http.request(this.target(path), { method, headers, timeout: COMMAND_TIMEOUT_MS });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('response', (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => resolve({ status: answer.statusCode ?? 502, body: Buffer.concat(chunks) }));
        answer.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  private target(path: string): URL {
    const base = this.deps.webdriverUrl;
    return new URL(`${base.pathname.replace(/\/+$/, '')}${path}`, base);
  }
}

function unreachable(err: unknown): WebDriverError {
  return {
    status: 502,
    error: 'unknown error',
    message: `the session's WebDriver server (chromedriver) did not answer: ${(err as Error).message}`,
  };
}
