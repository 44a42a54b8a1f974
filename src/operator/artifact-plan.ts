import type { V1Pod } from '@kubernetes/client-node';
import {
  type BrowserSession,
  type BrowserSessionStatus,
  FINALIZER_ARTIFACTS,
  isTerminal,
} from '../api/index.js';
import type { StoredSession } from '../shared/artifacts/store.js';

/**
 * The artifact collector's decisions (ADR 0012), pure: from a session, its pod and `now` to what the collector
 * should do, and from what the sidecar lists and the store holds to what `status.artifacts` says. The I/O is in
 * artifact-collector.ts.
 */

export type ArtifactStatus = NonNullable<BrowserSessionStatus['artifacts']>;

/** The sidecar's manifest, as the collector reads it (src/sidecar/downloads/ledger.ts writes it). */
export interface SidecarManifest {
  generation: number;
  sealed: boolean;
  /** The session's cap on downloaded bytes (0: none), and whether it cancelled a download. */
  capBytes?: number | undefined;
  capReached?: boolean | undefined;
  downloads: {
    name: string;
    bytes: number;
    sha256?: string | undefined;
    state: 'in-progress' | 'complete' | 'partial' | 'cancelled';
    cancelledBy?: 'cap' | undefined;
  }[];
}

export type ArtifactWork =
  /** Nothing to do now: the next session change wakes the collector. */
  | { kind: 'idle' }
  /** The session runs and its sidecar has something newer than the status says was stored. */
  | { kind: 'copy'; podIP: string }
  /** The session ended and its pod is still there: seal, copy the rest, record the end. */
  | { kind: 'flush'; podIP: string; deadline: number }
  /** The session ended after its browser ran, and the pod went before its flush. */
  | { kind: 'pod-gone' }
  /** The session is being deleted and holds the artifacts finalizer: delete its artifacts, then let it go. */
  | { kind: 'delete' };

/** The session keeps what its browser downloads (unset: yes, as on Browserbase). */
export function keepsDownloads(s: BrowserSession): boolean {
  return s.spec.saveDownloads !== false;
}

/** The session keeps its CDP log (unset: yes, as on Browserbase's logSession). */
export function keepsLog(s: BrowserSession): boolean {
  return s.spec.logSession !== false;
}

/**
 * Deleting the session leaves its artifacts to the retention sweep: its project keeps artifacts for
 * `retentionSeconds` after the end, and that has not passed (a session deleted before it ended ends now).
 */
export function keptForRetention(
  s: BrowserSession,
  retentionSeconds: number | undefined,
  now: number,
): boolean {
  if (retentionSeconds === undefined) return false;
  const endedAt = Date.parse(s.status?.endedAt ?? '');
  return (Number.isNaN(endedAt) ? now : endedAt) + retentionSeconds * 1000 > now;
}

/**
 * The project's sessions whose artifacts the retention sweep deletes now: their BrowserSession is gone and
 * their newest artifact (the end's flush) is older than the retention. A session that still exists keeps its
 * artifacts until it is deleted.
 */
export function expiredArtifacts(
  stored: readonly StoredSession[],
  liveSessions: ReadonlySet<string>,
  retentionSeconds: number,
  now: number,
): string[] {
  return stored
    .filter((s) => !liveSessions.has(s.session) && s.newestAt.getTime() + retentionSeconds * 1000 <= now)
    .map((s) => s.session);
}

/** When an ended session's flush is given up and its pod deleted anyway. */
export function flushDeadline(s: BrowserSession, flushTimeoutSeconds: number): number {
  const endedAt = Date.parse(s.status?.endedAt ?? '');
  return (Number.isNaN(endedAt) ? 0 : endedAt) + flushTimeoutSeconds * 1000;
}

/** True when the end's flush is recorded: nothing more will be copied, and the pod may go. */
export function flushRecorded(s: BrowserSession): boolean {
  return s.status?.artifacts?.flushed === true;
}

/**
 * Whether an ended session's pod must still wait for the flush, and until when: only a pod the collector can
 * reach (it has an IP and is not being deleted), and never past the deadline. Used by planSession.
 */
export function podWaitsForFlush(
  s: BrowserSession,
  pod: V1Pod | undefined,
  now: number,
  flushTimeoutSeconds: number,
): number | undefined {
  if (!pod?.status?.podIP || pod.metadata?.deletionTimestamp || flushRecorded(s)) return undefined;
  if (!keepsDownloads(s) && !keepsLog(s)) return undefined;
  const deadline = flushDeadline(s, flushTimeoutSeconds);
  return now < deadline ? deadline : undefined;
}

export function artifactWork(
  s: BrowserSession,
  pod: V1Pod | undefined,
  flushTimeoutSeconds: number,
): ArtifactWork {
  const st = s.status ?? {};
  if (s.metadata.deletionTimestamp)
    return s.metadata.finalizers?.includes(FINALIZER_ARTIFACTS) ? { kind: 'delete' } : { kind: 'idle' };
  if (flushRecorded(s) || (!keepsDownloads(s) && !keepsLog(s))) return { kind: 'idle' };
  const podIP = pod?.status?.podIP;
  if (isTerminal(s)) {
    if (podIP) return { kind: 'flush', podIP, deadline: flushDeadline(s, flushTimeoutSeconds) };
    // A session whose browser never ran has nothing to keep (queued and released, refused, never started).
    return st.readyAt !== undefined || (st.artifactsGeneration ?? 0) > 0
      ? { kind: 'pod-gone' }
      : { kind: 'idle' };
  }
  // During the session only downloads are copied; the log is stored once, at the end.
  if (!podIP || st.readyAt === undefined || !keepsDownloads(s)) return { kind: 'idle' };
  return (st.artifactsGeneration ?? 0) > (st.artifacts?.generation ?? 0)
    ? { kind: 'copy', podIP }
    : { kind: 'idle' };
}

/** What the collector found and did in one pass, for `summarize`. */
export interface CopyOutcome {
  /** The manifest read in this pass (the seal's, at the end); undefined when the sidecar did not answer. */
  manifest?: SidecarManifest | undefined;
  /** The downloads the store holds after this pass, by name (their bytes); undefined when it could not list. */
  stored?: Map<string, number> | undefined;
  /** The CDP log this pass stored (only the end's flush stores it). */
  logs?: NonNullable<ArtifactStatus['logs']> | undefined;
  /** Why this pass stopped short, if it did. */
  failure?: { reason: string; message: string } | undefined;
  /** This pass is the end's flush (or its giving up). */
  final: boolean;
}

/**
 * `status.artifacts` from one pass: the counts of what is stored and what is not, and the state and reason. A
 * failure of the store is Failed; anything else missing at the end is Incomplete with why; a pass that is not
 * the end's is Collecting (the counts say what is stored so far).
 */
export function summarize(before: ArtifactStatus | undefined, o: CopyOutcome, now: number): ArtifactStatus {
  const downloads = o.manifest?.downloads ?? [];
  let bytes = before?.downloads?.bytes ?? 0;
  let storedCount = before?.downloads?.stored ?? 0;
  if (o.stored) {
    bytes = 0;
    for (const b of o.stored.values()) bytes += b;
    storedCount = o.stored.size;
  }
  const notStored = downloads
    .filter((d) => d.state === 'complete' && !o.stored?.has(d.name))
    .map((d) => d.name);
  const partial = downloads.filter((d) => d.state === 'partial' || d.state === 'in-progress');
  const cancelled = downloads.filter((d) => d.state === 'cancelled').length;
  const status: ArtifactStatus = {
    state: 'Collecting',
    // A pass that stopped short has not copied up to the manifest: the next one tries again.
    generation: (o.failure ? undefined : o.manifest?.generation) ?? before?.generation ?? 0,
    flushed: o.final,
    updatedAt: new Date(now).toISOString(),
    downloads: { stored: storedCount, bytes, partial: partial.length, cancelled },
  };
  const logs = o.logs ?? before?.logs;
  if (logs) status.logs = logs;
  if (o.failure) {
    const storeReasons = ['Unreachable', 'AccessDenied', 'NoSuchBucket', 'Failed'];
    status.state = storeReasons.includes(o.failure.reason) ? 'Failed' : o.final ? 'Incomplete' : 'Collecting';
    status.reason = o.failure.reason;
    const missing = notStored.length > 0 ? ` (not stored: ${list(notStored)})` : '';
    status.message = `${o.failure.message}${missing}`;
    return status;
  }
  if (!o.final) return status;
  if (partial.length > 0) {
    status.state = 'Incomplete';
    status.reason = 'DownloadsCutOff';
    status.message = `${partial.length} download(s) still running at the end were cut off and not stored: ${list(partial.map((d) => d.name))}`;
    return status;
  }
  if (o.manifest?.capReached) {
    const capped = downloads.filter((d) => d.cancelledBy === 'cap').map((d) => d.name);
    status.state = 'Incomplete';
    status.reason = 'DownloadCapReached';
    status.message = `${capped.length} download(s) past the session's cap of ${o.manifest.capBytes ?? 0} bytes (the project's maxDownloadBytes) were cancelled: ${list(capped)}`;
    return status;
  }
  status.state = 'Stored';
  status.message = `${storedCount} download(s), ${bytes} bytes${logs?.stored ? `; CDP log of ${logs.entries ?? 0} command(s)` : ''}`;
  return status;
}

function list(names: string[]): string {
  const shown = names.slice(0, 5).join(', ');
  return names.length > 5 ? `${shown} and ${names.length - 5} more` : shown;
}
