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
  startedAt: string;
  completedAt?: string;
}

export interface ArtifactManifest {
  /** Bumped whenever a file becomes complete (or a state the collector must record changes). */
  generation: number;
  sealed: boolean;
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

export class DownloadLedger {
  private readonly byGuid = new Map<string, Tracked>();
  private readonly storedNames = new Set<string>();
  private generation = 0;
  private sealed = false;

  get isSealed(): boolean {
    return this.sealed;
  }

  /** `Browser.downloadWillBegin`. A download after the seal is not recorded: the capture cancels it. */
  begin(guid: string, suggestedFilename: string, now: Date): boolean {
    if (this.sealed || this.byGuid.has(guid)) return false;
    this.byGuid.set(guid, {
      guid,
      suggested: suggestedFilename,
      entry: { name: suggestedFilename, bytes: 0, state: 'in-progress', startedAt: now.toISOString() },
      finishing: false,
    });
    return true;
  }

  /**
   * `Browser.downloadProgress`. Answers the stored name when Chrome reports the file complete (the capture
   * then renames and hashes it and calls `stored`), otherwise undefined.
   */
  progress(guid: string, state: string, receivedBytes: number, now: Date): string | undefined {
    const t = this.byGuid.get(guid);
    if (t?.entry.state !== 'in-progress' || t.finishing) return undefined;
    t.entry.bytes = receivedBytes;
    if (state === 'canceled') {
      t.entry.state = this.sealed ? 'partial' : 'cancelled';
      this.generation++;
      return undefined;
    }
    if (state !== 'completed') return undefined;
    t.finishing = true;
    return this.uniqueName(timestampedName(t.suggested, now.getTime()));
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
      downloads: [...this.byGuid.values()].map((t) => ({ ...t.entry })),
      logs: [],
    };
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
