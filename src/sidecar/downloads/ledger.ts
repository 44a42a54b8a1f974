import { timestampedName } from './names.js';

/**
 * The sidecar's record of a session's downloads, from Chrome's `Browser.downloadWillBegin` and
 * `Browser.downloadProgress` events to the manifest the operator reads (ADR 0012). Pure: the capture (I/O)
 * feeds it events and the outcome of the file work, with time as an input.
 */

export type DownloadState = 'in-progress' | 'complete' | 'partial' | 'cancelled';

export interface DownloadEntry {
  /** The stored name (timestamped, names.ts) once complete; the page's suggestion before. */
  name: string;
  bytes: number;
  sha256?: string;
  state: DownloadState;
  /** Set when the session's download cap cancelled it. */
  cancelledBy?: 'cap';
  startedAt: string;
  completedAt?: string;
}

export interface ArtifactManifest {
  /** Bumped whenever a file becomes complete (or a state the collector must record changes). */
  generation: number;
  sealed: boolean;
  /** The session's cap on downloaded bytes (0: none), and whether it cancelled a download. */
  capBytes: number;
  capReached: boolean;
  downloads: DownloadEntry[];
  logs: { name: string; bytes: number }[];
}

interface Tracked {
  guid: string;
  suggested: string;
  entry: DownloadEntry;
  /** True between Chrome's `completed` and the capture having renamed and hashed the file. */
  finishing: boolean;
}

/** What the capture must do after an event: keep a finished file under its name, or cancel the download. */
export type LedgerAction = { finish: string } | { cancel: true } | undefined;

export class DownloadLedger {
  private readonly byGuid = new Map<string, Tracked>();
  private readonly storedNames = new Set<string>();
  private generation = 0;
  private sealed = false;
  private capReached = false;

  /** `capBytes`: the most the session's downloads may hold together (0: no cap). */
  constructor(private readonly capBytes = 0) {}

  get isSealed(): boolean {
    return this.sealed;
  }

  /**
   * `Browser.downloadWillBegin`. A download after the seal is not recorded (the capture cancels it); one after
   * the cap was reached is recorded as cancelled by it, and the capture cancels it.
   */
  begin(guid: string, suggestedFilename: string, now: Date): LedgerAction {
    if (this.sealed) return { cancel: true };
    if (this.byGuid.has(guid)) return undefined;
    const entry: DownloadEntry = {
      name: suggestedFilename,
      bytes: 0,
      state: 'in-progress',
      startedAt: now.toISOString(),
    };
    this.byGuid.set(guid, { guid, suggested: suggestedFilename, entry, finishing: false });
    if (!this.capReached) return undefined;
    this.cancelByCap(entry);
    return { cancel: true };
  }

  /**
   * `Browser.downloadProgress`. Answers the stored name when Chrome reports the file complete (the capture
   * then renames and hashes it and calls `stored`), a cancel when the file takes the session past its cap.
   */
  progress(guid: string, state: string, receivedBytes: number, now: Date): LedgerAction {
    const t = this.byGuid.get(guid);
    if (t?.entry.state !== 'in-progress' || t.finishing) return undefined;
    t.entry.bytes = receivedBytes;
    if (state === 'canceled') {
      t.entry.state = this.sealed ? 'partial' : 'cancelled';
      this.generation++;
      return undefined;
    }
    if (this.capBytes > 0 && this.heldBytes() > this.capBytes) {
      this.cancelByCap(t.entry);
      return { cancel: true };
    }
    if (state !== 'completed') return undefined;
    t.finishing = true;
    return { finish: this.uniqueName(timestampedName(t.suggested, now.getTime())) };
  }

  /** The capture has the complete file under `name` with these bytes and digest. */
  stored(guid: string, name: string, bytes: number, sha256: string, now: Date): void {
    const t = this.byGuid.get(guid);
    if (!t) return;
    t.finishing = false;
    t.entry = { ...t.entry, name, bytes, sha256, state: 'complete', completedAt: now.toISOString() };
    this.generation++;
  }

  /** The capture could not keep a file Chrome called complete (it vanished, the disk failed). */
  lost(guid: string): void {
    const t = this.byGuid.get(guid);
    if (!t) return;
    t.finishing = false;
    t.entry.state = 'partial';
    this.generation++;
  }

  /**
   * From now on nothing starts; answers the downloads still running (the capture cancels them in Chrome), which
   * are marked partial now, so the final manifest never waits on Chrome.
   */
  seal(): string[] {
    if (this.sealed) return [];
    this.sealed = true;
    const running: string[] = [];
    for (const t of this.byGuid.values()) {
      if (t.entry.state === 'in-progress' && !t.finishing) {
        t.entry.state = 'partial';
        running.push(t.guid);
      }
    }
    this.generation++;
    return running;
  }

  /** The complete download stored under `name`, if any. */
  complete(name: string): DownloadEntry | undefined {
    for (const t of this.byGuid.values()) {
      if (t.entry.state === 'complete' && t.entry.name === name) return t.entry;
    }
    return undefined;
  }

  /** True while Chrome has called a file complete and the capture is still renaming and hashing it. */
  get finishing(): boolean {
    return [...this.byGuid.values()].some((t) => t.finishing);
  }

  manifest(): ArtifactManifest {
    return {
      generation: this.generation,
      sealed: this.sealed,
      capBytes: this.capBytes,
      capReached: this.capReached,
      downloads: [...this.byGuid.values()].map((t) => ({ ...t.entry })),
      logs: [],
    };
  }

  /** What the session's downloads hold now: the complete ones and what the running ones have received. */
  private heldBytes(): number {
    let bytes = 0;
    for (const t of this.byGuid.values())
      if (t.entry.state === 'complete' || t.entry.state === 'in-progress') bytes += t.entry.bytes;
    return bytes;
  }

  private cancelByCap(entry: DownloadEntry): void {
    entry.state = 'cancelled';
    entry.cancelledBy = 'cap';
    this.capReached = true;
    this.generation++;
  }

  /** Two downloads of one name completing in the same millisecond must not share a stored name. */
  private uniqueName(name: string): string {
    let candidate = name;
    for (let n = 2; this.storedNames.has(candidate); n++) {
      const dot = name.lastIndexOf('.');
      candidate = dot > 0 ? `${name.slice(0, dot)}-${n}${name.slice(dot)}` : `${name}-${n}`;
    }
    this.storedNames.add(candidate);
    return candidate;
  }
}
