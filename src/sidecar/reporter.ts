import { randomUUID } from 'node:crypto';
import type { ConnectionReport } from '../api/report.js';
import type { SessionIdentity } from './config.js';
import type { ConnectionState } from './connection-state.js';
import { errorMessage, log } from './log.js';

/** Body of `POST ${BF_REPORT_URL}`: the sidecar's complete view of its session, never a delta. */
export type { ConnectionReport } from '../api/report.js';

export interface ReporterOptions {
  url: string;
  sessionToken: string;
  session: SessionIdentity;
  state: ConnectionState;
  /** Re-send the current state this often even without changes. */
  intervalMs?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  requestTimeoutMs?: number;
  onAttempt?: () => void;
  onFailure?: () => void;
}

export interface ReporterStatus {
  bootId: string;
  /** Seq of the newest report the receiver took (2xx) or already had (409). */
  lastDeliveredSeq: number;
  attempts: number;
  failures: number;
  inFlight: boolean;
  retryScheduled: boolean;
}

/**
 * Delivers the level state to the operator. At most one POST is in flight; whatever changes meanwhile is
 * folded into the next one, which always carries the newest state and a higher seq. Failures are retried with
 * capped exponential backoff until a 2xx (or 409: the receiver already has something newer), and the state is
 * re-sent periodically, so an operator that was down or lost a report converges as soon as it answers.
 */
export class Reporter {
  private readonly bootId = randomUUID();
  private seq = 0;
  private lastDeliveredSeq = 0;
  private attempts = 0;
  private failures = 0;
  private inFlight: Promise<void> | undefined;
  private dirty = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private readonly periodic: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  private stopped = false;

  private readonly intervalMs: number;
  private readonly backoffMinMs: number;
  private readonly backoffMaxMs: number;
  private readonly requestTimeoutMs: number;

  constructor(private readonly options: ReporterOptions) {
    this.intervalMs = options.intervalMs ?? 10_000;
    this.backoffMinMs = options.backoffMinMs ?? 250;
    this.backoffMaxMs = options.backoffMaxMs ?? 10_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5000;
    this.backoffMs = this.backoffMinMs;
    this.unsubscribe = options.state.onChange(() => this.changed());
    this.periodic = setInterval(() => this.changed(), this.intervalMs);
    this.periodic.unref();
    this.changed();
  }

  status(): ReporterStatus {
    return {
      bootId: this.bootId,
      lastDeliveredSeq: this.lastDeliveredSeq,
      attempts: this.attempts,
      failures: this.failures,
      inFlight: this.inFlight !== undefined,
      retryScheduled: this.retryTimer !== undefined,
    };
  }

  /** Stops the timers and makes one last attempt with the final state (bounded by the request timeout). */
  async close(): Promise<void> {
    this.stopped = true;
    this.unsubscribe();
    clearInterval(this.periodic);
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.inFlight;
    await this.send();
  }

  private changed(): void {
    if (this.stopped) return;
    if (this.inFlight) {
      this.dirty = true;
      return;
    }
    // While backing off, the pending retry will pick up the newest state anyway.
    if (this.retryTimer) return;
    this.startSend();
  }

  private startSend(): void {
    this.dirty = false;
    this.inFlight = this.send().then((delivered) => {
      this.inFlight = undefined;
      if (this.stopped) return;
      if (!delivered) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.changed();
        }, this.backoffMs);
        this.retryTimer.unref();
        this.backoffMs = Math.min(this.backoffMs * 2, this.backoffMaxMs);
      } else {
        this.backoffMs = this.backoffMinMs;
        if (this.dirty) this.startSend();
      }
    });
  }

  private buildReport(): ConnectionReport {
    const facts = this.options.state.snapshot();
    const report: ConnectionReport = {
      ...this.options.session,
      bootId: this.bootId,
      seq: ++this.seq,
      connections: facts.connections,
      webdriverConnections: facts.connectionsByLevel.webdriver,
      pages: facts.pages,
      keepAliveRequested: facts.keepAliveRequested,
      chromeReachable: facts.chromeReachable,
      artifactsGeneration: facts.artifactsGeneration,
    };
    if (facts.lastConnectedAt) report.lastConnectedAt = facts.lastConnectedAt.toISOString();
    if (facts.lastDisconnectedAt) report.lastDisconnectedAt = facts.lastDisconnectedAt.toISOString();
    return report;
  }

  /** One POST; true when the receiver has this state or something newer. Never throws. */
  private async send(): Promise<boolean> {
    const report = this.buildReport();
    this.attempts += 1;
    this.options.onAttempt?.();
    try {
      const res = await fetch(this.options.url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${this.options.sessionToken}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify(report),
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
      await res.arrayBuffer();
      if (res.ok || res.status === 409) {
        this.lastDeliveredSeq = Math.max(this.lastDeliveredSeq, report.seq);
        return true;
      }
      this.failed(report.seq, `HTTP ${res.status}`);
      return false;
    } catch (err) {
      this.failed(report.seq, errorMessage(err));
      return false;
    }
  }

  private failed(seq: number, reason: string): void {
    this.failures += 1;
    this.options.onFailure?.();
    log.warn('connection report not accepted; will retry', { seq, reason, retryInMs: this.backoffMs });
  }
}
