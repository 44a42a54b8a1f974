import http from 'node:http';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import type { Request } from 'express';
import type { BrowserSession } from '../../api/index.js';
import { ArtifactKeyError, checkArtifactName } from '../../shared/artifacts/keys.js';
import type { Clock } from '../../shared/clock.js';
import type { GatewayConfig } from '../config.js';
import { endingReason } from '../connect-auth.js';
import { ApiError } from '../errors.js';
import { podEndpoint } from '../pod-client.js';

/** What an upload put in the browser's file system. */
export interface StoredUpload {
  fileName: string;
  bytes: number;
}

/**
 * `POST …/uploads` (multipart, field `file`), for both dialects: the file is parsed with busboy as it arrives and
 * streamed on to the session's sidecar, which writes it where Chrome sees it; no part of it is held in memory
 * beyond the stream's buffers. Refused with a 4xx that says why: not multipart, no `file` field, a name that is
 * not a plain file name, over `maxBytes` (413), or a session that is not running.
 */
export async function receiveUpload(
  req: Request,
  session: BrowserSession,
  deps: { config: Pick<GatewayConfig, 'sessionKey' | 'uploadMaxBytes'>; clock: Clock },
): Promise<StoredUpload> {
  const opts = {
    sessionKey: deps.config.sessionKey,
    maxBytes: deps.config.uploadMaxBytes,
    now: deps.clock.now(),
  };
  const name = session.metadata.name ?? '';
  const ending = endingReason(name, session, opts.now);
  if (ending) throw new ApiError('SESSION_ENDED', `uploads: ${ending}`);
  if (session.status?.phase !== 'Running' || !session.status.podIP)
    throw new ApiError(
      'SESSION_NOT_READY',
      `uploads: session ${name} is ${session.status?.phase ?? 'Pending'}, not running yet`,
    );
  if (!req.is('multipart/form-data'))
    throw new ApiError(
      'UNSUPPORTED_MEDIA_TYPE',
      `content-type: an upload must be multipart/form-data with a field "file", got ${JSON.stringify(req.get('content-type') ?? 'none')}`,
    );
  const declared = Number(req.get('content-length') ?? Number.NaN);
  // The multipart framing adds a little to the file; a body far over the limit is refused before it is read.
  if (Number.isFinite(declared) && declared > opts.maxBytes + 64 * 1024) throw tooLarge(opts.maxBytes);
  const pod = podEndpoint(opts.sessionKey, session);

  return new Promise<StoredUpload>((resolve, reject) => {
    let settled = false;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      req.unpipe(parser);
      req.resume(); // drain what is left, so the answer reaches the client
      reject(err);
    };
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        // The name as the client sent it, so that one with a path in it is refused rather than cut to its tail.
        preservePath: true,
        limits: { files: 1, fileSize: opts.maxBytes, fields: 20, parts: 21 },
      });
    } catch (err) {
      throw new ApiError('INVALID_REQUEST', `content-type: ${(err as Error).message}`);
    }
    let sawFile = false;
    parser.on('file', (field: string, file: Readable, info: busboy.FileInfo) => {
      if (field !== 'file' || sawFile) {
        file.resume();
        return;
      }
      sawFile = true;
      let fileName: string;
      try {
        fileName = checkArtifactName(info.filename ?? '');
      } catch (err) {
        file.resume();
        return fail(
          new ApiError(
            'INVALID_REQUEST',
            `file: ${err instanceof ArtifactKeyError ? err.message : String(err)}`,
          ),
        );
      }
      file.on('limit', () => {
        upstream.destroy();
        fail(tooLarge(opts.maxBytes));
      });
      const upstream = http.request(
        {
          host: pod.host,
          port: pod.port,
          method: 'PUT',
          path: `/uploads/v1/${encodeURIComponent(fileName)}`,
          headers: { authorization: `Bearer ${pod.token}`, 'content-type': 'application/octet-stream' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            if (res.statusCode === 201) {
              const stored = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { bytes: number };
              if (!settled) {
                settled = true;
                resolve({ fileName, bytes: stored.bytes });
              }
              return;
            }
            const message = (() => {
              try {
                return (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { message?: string }).message;
              } catch {
                return undefined;
              }
            })();
            fail(
              res.statusCode === 413
                ? tooLarge(opts.maxBytes)
                : res.statusCode === 400
                  ? new ApiError('INVALID_REQUEST', `file: ${message ?? 'refused by the browser'}`)
                  : new ApiError('BROWSER_UNAVAILABLE', `uploads: the browser answered ${res.statusCode}`),
            );
          });
        },
      );
      upstream.on('error', (err) =>
        fail(
          new ApiError('BROWSER_UNAVAILABLE', `uploads: the browser did not take the file: ${err.message}`),
        ),
      );
      file.pipe(upstream);
    });
    parser.on('error', (err: Error) =>
      fail(new ApiError('INVALID_REQUEST', `body: not readable multipart: ${err.message}`)),
    );
    parser.on('close', () => {
      if (!sawFile) fail(new ApiError('INVALID_REQUEST', 'file: required (a multipart field named "file")'));
    });
    req.pipe(parser);
  });
}

function tooLarge(maxBytes: number): ApiError {
  return new ApiError('PAYLOAD_TOO_LARGE', `file: uploads may be at most ${maxBytes} bytes`);
}
