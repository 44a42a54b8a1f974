/** CDP websockets at the browser or a page, and an active WebDriver session (ADR 0014). */
export type ConnectionLevel = 'browser' | 'page' | 'webdriver';

/** The facts the sidecar observes and reports; level state, never deltas. */
export interface SessionFacts {
  /** Every open client: CDP websockets and the active WebDriver session. */
  connections: number;
  connectionsByLevel: Record<ConnectionLevel, number>;
  pages: number;
  keepAliveRequested: boolean;
  lastConnectedAt?: Date;
  lastDisconnectedAt?: Date;
  chromeReachable: boolean;
  /** The download manifest's generation (ADR 0012): the operator copies when it moves. */
  artifactsGeneration: number;
}

/**
 * The one place the sidecar keeps what it knows about its session. Writers call the mutators; readers either
 * take a snapshot or subscribe to "something changed" (without a payload: subscribers re-read the level state,
 * so a missed notification can never leave them with a wrong count).
 */
export class ConnectionState {
  private readonly open: Record<ConnectionLevel, number> = { browser: 0, page: 0, webdriver: 0 };
  private pageCount = 0;
  private keepAlive = false;
  private connectedAt: Date | undefined;
  private disconnectedAt: Date | undefined;
  private reachable = false;
  private artifactsGeneration = 0;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly now: () => Date = () => new Date()) {}

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  clientConnected(level: ConnectionLevel, keepAliveRequested: boolean): void {
    this.open[level] += 1;
    this.connectedAt = this.now();
    if (keepAliveRequested) this.keepAlive = true;
    this.changed();
  }

  clientDisconnected(level: ConnectionLevel): void {
    this.open[level] = Math.max(0, this.open[level] - 1);
    this.disconnectedAt = this.now();
    this.changed();
  }

  setPages(count: number): void {
    if (count === this.pageCount) return;
    this.pageCount = count;
    this.changed();
  }

  setChromeReachable(reachable: boolean): void {
    if (reachable === this.reachable) return;
    this.reachable = reachable;
    this.changed();
  }

  setArtifactsGeneration(generation: number): void {
    if (generation === this.artifactsGeneration) return;
    this.artifactsGeneration = generation;
    this.changed();
  }

  snapshot(): SessionFacts {
    const facts: SessionFacts = {
      connections: this.open.browser + this.open.page + this.open.webdriver,
      connectionsByLevel: { ...this.open },
      pages: this.pageCount,
      keepAliveRequested: this.keepAlive,
      chromeReachable: this.reachable,
      artifactsGeneration: this.artifactsGeneration,
    };
    if (this.connectedAt) facts.lastConnectedAt = this.connectedAt;
    if (this.disconnectedAt) facts.lastDisconnectedAt = this.disconnectedAt;
    return facts;
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}
