import WebSocket from 'ws';
import { browserEndpointPath, chromeWebSocketUrl } from './chrome-http.js';
import type { ConnectionState } from './connection-state.js';
import { log } from './log.js';

interface TargetInfo {
  targetId: string;
  type: string;
}

interface CdpMessage {
  id?: number;
  method?: string;
  params?: { targetInfo?: TargetInfo; targetId?: string };
  error?: { message?: string };
}

export interface PageWatcherOptions {
  retryMinMs?: number;
  retryMaxMs?: number;
}

/** How often to look for a Chrome that has not answered yet, and for how long before backing off. */
const STARTUP_POLL_MS = 25;
const STARTUP_POLL_FOR_MS = 30_000;

/**
 * The sidecar's own CDP connection to Chrome's browser target. It learns about every target through
 * Target.setDiscoverTargets (Chrome replays the existing ones first), counts those of type "page", and tells
 * the state whether Chrome is reachable. It never goes through the proxy, so it is never counted as a client.
 */
export class PageWatcher {
  private socket: WebSocket | undefined;
  private readonly targets = new Map<string, string>();
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private everReachable = false;
  private loggedStartupWait = false;
  private retryDelayMs: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;

  constructor(
    private readonly chromeUrl: URL,
    private readonly state: ConnectionState,
    options: PageWatcherOptions = {},
  ) {
    this.retryMinMs = options.retryMinMs ?? 200;
    this.retryMaxMs = options.retryMaxMs ?? 5000;
    this.retryDelayMs = this.retryMinMs;
  }

  start(): void {
    this.stopped = false;
    this.startedAt = Date.now();
    void this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const socket = this.socket;
    if (!socket || socket.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.terminate();
    });
  }

  private async connect(): Promise<void> {
    let path: string;
    try {
      path = await browserEndpointPath(this.chromeUrl);
    } catch (err) {
      this.retryLater(err);
      return;
    }
    if (this.stopped) return;
    const socket = new WebSocket(chromeWebSocketUrl(this.chromeUrl, path), {
      perMessageDeflate: false,
      handshakeTimeout: 5000,
    });
    this.socket = socket;
    socket.on('open', () => {
      this.everReachable = true;
      this.retryDelayMs = this.retryMinMs;
      this.state.setChromeReachable(true);
      socket.send(JSON.stringify({ id: 1, method: 'Target.setDiscoverTargets', params: { discover: true } }));
    });
    socket.on('message', (data) => this.handle(data.toString()));
    socket.on('error', () => {});
    socket.on('close', (code) => {
      this.socket = undefined;
      // Unreachable Chrome almost always means a crashed or restarting Chrome: its pages are gone with it.
      this.targets.clear();
      this.state.setPages(0);
      this.state.setChromeReachable(false);
      this.retryLater(new Error(`CDP socket closed with code ${code}`));
    });
  }

  private handle(text: string): void {
    let msg: CdpMessage;
    try {
      msg = JSON.parse(text) as CdpMessage;
    } catch {
      log.warn('ignored a CDP message that is not JSON', { bytes: text.length });
      return;
    }
    if (msg.id === 1 && msg.error) {
      log.error('Target.setDiscoverTargets failed', { err: msg.error });
      return;
    }
    const info = msg.params?.targetInfo;
    switch (msg.method) {
      case 'Target.targetCreated':
      case 'Target.targetInfoChanged':
        if (info) this.targets.set(info.targetId, info.type);
        break;
      case 'Target.targetDestroyed':
        if (msg.params?.targetId) this.targets.delete(msg.params.targetId);
        break;
      default:
        return;
    }
    let pages = 0;
    for (const type of this.targets.values()) if (type === 'page') pages += 1;
    this.state.setPages(pages);
  }

  private retryLater(err: unknown): void {
    if (this.stopped) return;
    // Until Chrome has answered once it is starting, not failing: look again soon (a refused connection on
    // the pod's loopback costs next to nothing), since this watcher's report is what makes the session Running.
    const starting = !this.everReachable && Date.now() - this.startedAt < STARTUP_POLL_FOR_MS;
    const delay = starting ? STARTUP_POLL_MS : this.retryDelayMs;
    if (!starting || !this.loggedStartupWait) {
      log.warn('Chrome not reachable; retrying', { err, retryInMs: delay });
      this.loggedStartupWait = true;
    }
    this.retryTimer = setTimeout(() => void this.connect(), delay);
    this.retryTimer.unref();
    if (!starting) this.retryDelayMs = Math.min(this.retryDelayMs * 2, this.retryMaxMs);
  }
}
