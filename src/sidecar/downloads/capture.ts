import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import WebSocket from 'ws';
import type { Clock } from '../../shared/clock.js';
import { browserEndpointPath, chromeWebSocketUrl } from '../chrome-http.js';
import { log } from '../log.js';
import type { DownloadBehaviorParams } from './behavior.js';
import { type ArtifactManifest, DownloadLedger, type LedgerAction } from './ledger.js';

export interface DownloadFolders {
  /** Where Chrome writes (every file named by its download GUID). */
  incoming: string;
  /** Where complete files are kept under their stored names; what the operator reads. */
  complete: string;
}

export function downloadFolders(root: string): DownloadFolders {
  return { incoming: path.join(root, 'incoming'), complete: path.join(root, 'complete') };
}

interface CdpEvent {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  error?: { message?: string };
}

const RETRY_MS = 200;

/**
 * Captures every download of the session: its own browser-level CDP connection (never through the proxy)
 * sets the default context's download behaviour to the session's folder with events on, and receives
 * `Browser.download*` for every context (Chrome sends them to each browser connection that enabled them).
 * Contexts a client creates get their behaviour from the proxy on that client's connection
 * (`behaviorFor`), ahead of any command the client can send into them.
 */
export class DownloadCapture {
  readonly ledger: DownloadLedger;
  readonly folders: DownloadFolders;
  private socket: WebSocket | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, (reply: CdpEvent) => void>();
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly finishing = new Set<Promise<void>>();
  private readonly changeListeners = new Set<() => void>();

  constructor(
    private readonly chromeUrl: URL,
    root: string,
    private readonly clock: Clock,
    /** The session's cap on downloaded bytes (0: none): past it, downloads are cancelled. */
    capBytes = 0,
  ) {
    this.ledger = new DownloadLedger(capBytes);
    this.folders = downloadFolders(root);
  }

  /** Called whenever the manifest's generation moves (the reporter tells the operator). */
  onChange(listener: () => void): void {
    this.changeListeners.add(listener);
  }

  async start(): Promise<void> {
    await mkdir(this.folders.incoming, { recursive: true });
    await mkdir(this.folders.complete, { recursive: true });
    void this.connect();
  }

  /** What a context's download behaviour must be now: the session's folder, or deny once sealed. */
  behaviorFor(browserContextId?: string): DownloadBehaviorParams {
    const scoped = browserContextId === undefined ? {} : { browserContextId };
    if (this.ledger.isSealed) return { behavior: 'deny', ...scoped, eventsEnabled: true };
    return { behavior: 'allowAndName', ...scoped, downloadPath: this.folders.incoming, eventsEnabled: true };
  }

  /** Puts the default context back on the session's folder (a client's leaving resets what it had set). */
  reapply(): void {
    void this.command('Browser.setDownloadBehavior', this.behaviorFor()).catch(() => {});
  }

  manifest(): ArtifactManifest {
    return this.ledger.manifest();
  }

  /**
   * No download starts from now on; running ones are cancelled and listed as partial; files Chrome already
   * finished are renamed and hashed first. Idempotent.
   */
  async seal(contexts: Iterable<string>): Promise<ArtifactManifest> {
    const running = this.ledger.seal();
    const deny = [undefined, ...contexts].map((c) =>
      this.command('Browser.setDownloadBehavior', this.behaviorFor(c)).catch(() => {}),
    );
    const cancels = running.map((guid) => this.command('Browser.cancelDownload', { guid }).catch(() => {}));
    await Promise.all([...deny, ...cancels]);
    await Promise.all([...this.finishing]);
    if (running.length > 0) this.changed();
    return this.ledger.manifest();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.socket?.terminate();
    await Promise.all([...this.finishing]);
  }

  private changed(): void {
    for (const l of this.changeListeners) l();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    try {
      const url = chromeWebSocketUrl(this.chromeUrl, await browserEndpointPath(this.chromeUrl));
      const ws = new WebSocket(url, { perMessageDeflate: false });
      this.socket = ws;
      ws.on('message', (data) => this.onMessage(JSON.parse(data.toString()) as CdpEvent));
      ws.on('error', () => {});
      ws.once('close', () => {
        for (const reply of this.pending.values()) reply({ error: { message: 'connection closed' } });
        this.pending.clear();
        this.retry();
      });
      ws.once('open', () => this.reapply());
    } catch {
      this.retry();
    }
  }

  private retry(): void {
    if (this.stopped) return;
    this.retryTimer = setTimeout(() => void this.connect(), RETRY_MS);
  }

  private command(method: string, params: object): Promise<CdpEvent> {
    const ws = this.socket;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error('Chrome not connected'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, (reply) =>
        reply.error ? reject(new Error(reply.error.message)) : resolve(reply),
      );
      ws.send(JSON.stringify({ id, method, params }));
    });
  }

  private onMessage(msg: CdpEvent): void {
    if (msg.id !== undefined) {
      this.pending.get(msg.id)?.(msg);
      this.pending.delete(msg.id);
      return;
    }
    const p = msg.params ?? {};
    const guid = typeof p['guid'] === 'string' ? p['guid'] : undefined;
    if (!guid) return;
    if (msg.method === 'Browser.downloadWillBegin') {
      const suggested = typeof p['suggestedFilename'] === 'string' ? p['suggestedFilename'] : '';
      // Sealed (the behaviour is deny already; this one slipped in between) or past the cap: it goes.
      this.act(guid, this.ledger.begin(guid, suggested, new Date(this.clock.now())));
    } else if (msg.method === 'Browser.downloadProgress') {
      const state = String(p['state']);
      const received = typeof p['receivedBytes'] === 'number' ? p['receivedBytes'] : 0;
      const before = this.ledger.manifest().generation;
      this.act(guid, this.ledger.progress(guid, state, received, new Date(this.clock.now())));
      if (this.ledger.manifest().generation !== before) this.changed();
    }
  }

  private act(guid: string, action: LedgerAction): void {
    if (action === undefined) return;
    if ('finish' in action) this.track(this.finish(guid, action.finish));
    else {
      // Chrome drops a cancelled file itself, but one it finished before the cancel arrived (a small file is
      // complete in its first event) stays: it is not the session's, so it goes too.
      const cancelled = this.command('Browser.cancelDownload', { guid })
        .catch(() => {})
        .then(() => rm(path.join(this.folders.incoming, guid), { force: true }))
        .catch(() => {});
      this.track(cancelled);
    }
  }

  private track(work: Promise<void>): void {
    this.finishing.add(work);
    void work.finally(() => this.finishing.delete(work));
  }

  /** Moves a file Chrome finished to its stored name and hashes it, streaming (files may be large). */
  private async finish(guid: string, name: string): Promise<void> {
    const target = path.join(this.folders.complete, name);
    try {
      await rename(path.join(this.folders.incoming, guid), target);
      const hash = createHash('sha256');
      for await (const chunk of createReadStream(target)) hash.update(chunk as Buffer);
      const { size } = await stat(target);
      this.ledger.stored(guid, name, size, hash.digest('hex'), new Date(this.clock.now()));
    } catch (err) {
      log.warn('a finished download could not be kept', { guid, err });
      this.ledger.lost(guid);
    }
    this.changed();
  }
}
