import type { Readable } from 'node:stream';
import type { ArtifactKind, SessionScope } from './keys.js';

/** An artifact as the store holds it. */
export interface StoredArtifact {
  kind: ArtifactKind;
  name: string;
  bytes: number;
  modifiedAt: Date;
}

/** A session's artifacts in the store, summed up. */
export interface StoredSession {
  session: string;
  artifacts: number;
  newestAt: Date;
}

/** An artifact's bytes, streamed: a reader must consume or destroy `body`. */
export interface ArtifactBody {
  body: Readable;
  bytes: number;
}

/**
 * Where artifacts outlive their pod. Every method names the session, and the store keeps each session under its
 * own prefix (keys.ts), so no caller can read or write another session's artifacts by a crafted name. Bodies are
 * streams end to end: no artifact is held whole in memory. Failures are ArtifactStoreErrors.
 */
export interface ArtifactStore {
  /** Stores `body` (exactly `bytes` long) as the session's `kind/name`, replacing an artifact of that name. */
  put(
    scope: SessionScope,
    kind: ArtifactKind,
    name: string,
    body: Readable | Uint8Array,
    bytes: number,
    contentType?: string,
  ): Promise<void>;
  /** The artifact's bytes, or undefined when the session has none of that name. */
  open(scope: SessionScope, kind: ArtifactKind, name: string): Promise<ArtifactBody | undefined>;
  /** Every artifact of the session (of one kind, if given), by kind then name. */
  list(scope: SessionScope, kind?: ArtifactKind): Promise<StoredArtifact[]>;
  /**
   * Every session of the project that holds artifacts, with when its newest was written (for retention: the
   * last write is the end's flush). Sessions are listed whether or not their BrowserSession still exists.
   */
  listSessions(project: string): Promise<StoredSession[]>;
  /** Deletes every artifact of the session; resolves with how many there were. Idempotent. */
  deleteSession(scope: SessionScope): Promise<number>;
  /** Resolves when the store answers and the bucket is there and readable; else throws an ArtifactStoreError. */
  check(): Promise<void>;
  close(): void;
}

/**
 * Why the store could not do what was asked, in words a session's status and an API answer can carry:
 * `Unreachable` (no answer: down, refused, timed out, or a 5xx), `AccessDenied` (credentials refused),
 * `NoSuchBucket`, or `Failed` (anything else the store answered).
 */
export type StoreFailureReason = 'Unreachable' | 'AccessDenied' | 'NoSuchBucket' | 'Failed';

export class ArtifactStoreError extends Error {
  constructor(
    readonly reason: StoreFailureReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ArtifactStoreError';
  }
}
