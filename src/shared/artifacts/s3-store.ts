import { Readable } from 'node:stream';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import type { S3StoreConfig } from './config.js';
import {
  type ArtifactKind,
  artifactKey,
  parseArtifactKey,
  projectPrefix,
  type SessionScope,
  sessionPrefix,
} from './keys.js';
import {
  type ArtifactBody,
  type ArtifactStore,
  ArtifactStoreError,
  type StoredArtifact,
  type StoredSession,
  type StoreFailureReason,
} from './store.js';

/** S3's limit on keys per DeleteObjects request. */
const DELETE_BATCH = 1000;

/**
 * The artifact store over the S3 API (@aws-sdk/client-s3), so any S3-compatible store works: AWS S3, MinIO,
 * SeaweedFS, Ceph RGW. Checksums are sent and checked only where S3 requires them: the SDK's newer default (a
 * CRC on every upload, sent as an aws-chunked trailer) is refused by several S3-compatible stores that platform
 * teams run, and the bytes are checked end to end by the callers that need it.
 */
export function createS3ArtifactStore(config: S3StoreConfig): ArtifactStore {
  const client = new S3Client({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    forcePathStyle: config.forcePathStyle,
    ...(config.accessKeyId
      ? { credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey } }
      : {}),
    maxAttempts: config.maxAttempts,
    requestHandler: { connectionTimeout: config.stallTimeoutMs, socketTimeout: config.stallTimeoutMs },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const { bucket, prefix } = config;
  const where = `s3 bucket ${bucket}${config.endpoint ? ` at ${config.endpoint}` : ''}`;
  const call = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      throw storeError(err, `${what} in ${where}`);
    }
  };
  /** Every object under `keyPrefix`, page by page (ListObjectsV2 answers at most 1000 at a time). */
  async function* objectsUnder(
    keyPrefix: string,
    what: string,
  ): AsyncGenerator<{ key: string; bytes: number; modifiedAt: Date }> {
    let token: string | undefined;
    do {
      const page = await call(what, () =>
        client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: keyPrefix,
            ...(token ? { ContinuationToken: token } : {}),
          }),
        ),
      );
      for (const o of page.Contents ?? [])
        if (o.Key) yield { key: o.Key, bytes: o.Size ?? 0, modifiedAt: o.LastModified ?? new Date(0) };
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  return {
    async put(scope, kind, name, body, bytes, contentType) {
      const key = artifactKey(prefix, scope, kind, name);
      await call(`storing ${kind}/${name}`, () =>
        client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: body,
            ContentLength: bytes,
            ContentType: contentType ?? 'application/octet-stream',
          }),
        ),
      );
    },

    async open(scope, kind, name): Promise<ArtifactBody | undefined> {
      const key = artifactKey(prefix, scope, kind, name);
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        if (!(out.Body instanceof Readable))
          throw new Error('the S3 client returned a body that is not a stream');
        return { body: out.Body, bytes: out.ContentLength ?? 0 };
      } catch (err) {
        if (
          err instanceof S3ServiceException &&
          (err.name === 'NoSuchKey' || err.$metadata.httpStatusCode === 404)
        )
          return undefined;
        throw storeError(err, `reading ${kind}/${name} in ${where}`);
      }
    },

    async list(scope, kind?: ArtifactKind): Promise<StoredArtifact[]> {
      const base = sessionPrefix(prefix, scope);
      const found: StoredArtifact[] = [];
      for await (const o of objectsUnder(kind ? `${base}${kind}/` : base, 'listing artifacts')) {
        const parsed = parseArtifactKey(base, o.key);
        if (parsed) found.push({ ...parsed, bytes: o.bytes, modifiedAt: o.modifiedAt });
      }
      return found.sort((a, b) => a.kind.localeCompare(b.kind) || compareNames(a.name, b.name));
    },

    async listSessions(project: string): Promise<StoredSession[]> {
      const base = `${projectPrefix(prefix, project)}sessions/`;
      const sessions = new Map<string, StoredSession>();
      for await (const o of objectsUnder(base, 'listing sessions with artifacts')) {
        const session = o.key.slice(base.length).split('/')[0];
        if (!session || !parseArtifactKey(`${base}${session}/`, o.key)) continue;
        const seen = sessions.get(session);
        if (!seen) sessions.set(session, { session, artifacts: 1, newestAt: o.modifiedAt });
        else {
          seen.artifacts++;
          if (o.modifiedAt > seen.newestAt) seen.newestAt = o.modifiedAt;
        }
      }
      return [...sessions.values()].sort((a, b) => a.session.localeCompare(b.session));
    },

    async deleteSession(scope: SessionScope): Promise<number> {
      const base = sessionPrefix(prefix, scope);
      let deleted = 0;
      // List, delete, list again: what was listed is gone, so the next listing starts after it.
      for (;;) {
        const page = await call('listing artifacts to delete', () =>
          client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: base, MaxKeys: DELETE_BATCH })),
        );
        const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
        if (keys.length === 0) return deleted;
        const out = await call('deleting artifacts', () =>
          client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } })),
        );
        const failed = out.Errors ?? [];
        if (failed.length > 0) {
          const first = failed[0];
          throw new ArtifactStoreError(
            first?.Code === 'AccessDenied' ? 'AccessDenied' : 'Failed',
            `deleting artifacts in ${where}: ${failed.length} of ${keys.length} not deleted (${first?.Code}: ${first?.Message})`,
          );
        }
        deleted += keys.length;
      }
    },

    async check() {
      await call('checking the bucket', () => client.send(new HeadBucketCommand({ Bucket: bucket })));
    },

    close() {
      client.destroy();
    },
  };
}

/** Names in byte order of their UTF-8 form, as S3 lists them. */
function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

const ACCESS_DENIED = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'Forbidden',
]);
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/** One classification of what the S3 client threw, with `context` (what was being done, and where) in front. */
export function storeError(err: unknown, context: string): ArtifactStoreError {
  if (err instanceof ArtifactStoreError) return err;
  const reason = failureReason(err);
  const detail = err instanceof Error ? err.message || err.name : String(err);
  const said = {
    Unreachable: 'the store did not answer',
    AccessDenied: 'the store refused the credentials',
    NoSuchBucket: 'the bucket does not exist',
    Failed: 'the store answered with an error',
  }[reason];
  return new ArtifactStoreError(reason, `${context}: ${said} (${detail})`, { cause: err });
}

function failureReason(err: unknown): StoreFailureReason {
  if (err instanceof S3ServiceException) {
    const status = err.$metadata.httpStatusCode ?? 0;
    if (err.name === 'NoSuchBucket') return 'NoSuchBucket';
    if (ACCESS_DENIED.has(err.name) || status === 403 || status === 401) return 'AccessDenied';
    // HeadBucket has no body, so a missing bucket is only its 404.
    if (status === 404 && err.name === 'NotFound') return 'NoSuchBucket';
    if (status >= 500 || status === 0) return 'Unreachable';
    return 'Failed';
  }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return 'Unreachable';
    if (['TimeoutError', 'RequestTimeout', 'AbortError'].includes(err.name)) return 'Unreachable';
    // The SDK's own wrapper around a socket error: its cause or message names it.
    if (/ECONNREFUSED|ECONNRESET|socket hang up|timed? ?out/i.test(err.message)) return 'Unreachable';
  }
  return 'Failed';
}
