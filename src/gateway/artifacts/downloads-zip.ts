import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Response } from 'express';
import { ZipFile } from 'yazl';
import { type BrowserSession, projectOf } from '../../api/index.js';
import type { SessionScope } from '../../shared/artifacts/keys.js';
import { type ArtifactStore, ArtifactStoreError } from '../../shared/artifacts/store.js';
import { ApiError } from '../errors.js';

export interface DownloadsZip {
  /** The zip, produced while it is read: one stored file at a time is open, none is held in memory. */
  stream: Readable;
  /** Its exact length in bytes (every size is known and nothing is compressed), for Content-Length. */
  bytes: number;
  entries: number;
}

/**
 * A zip of every download the store holds for the session, an empty zip when it holds none. The listing is read
 * first, so a store that does not answer fails this call (an ArtifactStoreError) before a byte is produced; a
 * failure later, while a file streams, destroys `stream` with the error. Entries are stored, not deflated:
 * downloads are mostly compressed already (PDF, ZIP, images), and a stored entry's length is known before it
 * is sent.
 */
export async function downloadsZip(store: ArtifactStore, scope: SessionScope): Promise<DownloadsZip> {
  const files = await store.list(scope, 'downloads');
  const zip = new ZipFile();
  const output = zip.outputStream as Readable;
  zip.on('error', (err: Error) => output.destroy(err));
  for (const file of files) {
    zip.addReadStreamLazy(file.name, { size: file.bytes, mtime: file.modifiedAt, compress: false }, (cb) => {
      store.open(scope, 'downloads', file.name).then(
        (opened) => {
          if (opened) cb(null, opened.body);
          else
            cb(
              new Error(`download ${file.name} was deleted while the zip was being sent`),
              undefined as never,
            );
        },
        (err: unknown) => cb(err, undefined as never),
      );
    });
  }
  // yazl calls back with the total (its typings leave the argument out); -1 would mean "cannot tell".
  const end = zip.end.bind(zip) as (options: undefined, sized: (total: number) => void) => void;
  const bytes = await new Promise<number>((resolve) => end(undefined, resolve));
  return { stream: output, bytes, entries: files.length };
}

/**
 * Answers with the session's downloads zip: 200 `application/zip` with its exact length, streamed. A store
 * that fails before the first byte is a 503 that names it (with Retry-After: the store may be back soon, and
 * the SDKs retry 5xx on their own); one that fails later cuts the response, so a client never takes a
 * truncated zip for a whole one.
 */
export async function sendDownloadsZip(
  res: Response,
  store: ArtifactStore,
  scope: SessionScope,
  fileName: string,
): Promise<void> {
  let zip: DownloadsZip;
  try {
    zip = await downloadsZip(store, scope);
  } catch (err) {
    throw storeUnavailable('downloads', err);
  }
  res.status(200).set({
    'content-type': 'application/zip',
    'content-length': String(zip.bytes),
    'content-disposition': `attachment; filename="${fileName}"`,
  });
  await pipeline(zip.stream, res).catch((err: unknown) => {
    res.destroy(err instanceof Error ? err : new Error(String(err)));
  });
}

/**
 * A store that did not answer, as the API says it: 503 with Retry-After (the store may be back soon, and the SDKs
 * retry 5xx on their own), naming what was being read. Anything else is passed on as it is.
 */
export function storeUnavailable(what: string, err: unknown): unknown {
  return err instanceof ArtifactStoreError
    ? new ApiError('ARTIFACTS_UNAVAILABLE', `${what}: ${err.message}`, { 'retry-after': '5' }, { cause: err })
    : err;
}

/**
 * A session's downloads, as both dialects serve them: 501 without a store, 503 (not to be retried) when the end's
 * flush recorded that the store failed, else the zip from the store.
 */
export async function sendSessionDownloads(
  res: Response,
  store: ArtifactStore | undefined,
  session: BrowserSession,
): Promise<void> {
  if (!store)
    throw new ApiError(
      'NOT_IMPLEMENTED',
      'downloads are not kept by this installation: its artifact store is off (artifacts.enabled)',
    );
  const artifacts = session.status?.artifacts;
  if (artifacts?.flushed && artifacts.state === 'Failed')
    throw new ApiError(
      'ARTIFACTS_FAILED',
      `downloads: the session's artifacts could not be stored (${artifacts.reason ?? 'Failed'}): ${artifacts.message ?? ''}`,
    );
  const name = session.metadata.name ?? '';
  await sendDownloadsZip(res, store, { project: projectOf(session), session: name }, `${name}-downloads.zip`);
}
