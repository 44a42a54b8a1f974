import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArtifactKeyError, checkArtifactName } from '../../shared/artifacts/keys.js';

/** Why an upload was refused, as the HTTP status the sidecar answers with. */
export class UploadRefused extends Error {
  constructor(
    readonly status: 400 | 411 | 413,
    message: string,
  ) {
    super(message);
  }
}

/**
 * `PUT /uploads/v1/<name>`: a file for the browser, streamed from the request into the session's upload folder
 * (a volume Chrome mounts read-only at the dialects' documented paths). Written under a temporary name and
 * renamed when whole, so Chrome never sees half a file; a body over `maxBytes` is cut off and removed. The name
 * is one file name, never a path: it cannot leave the folder.
 */
export async function receiveUpload(
  req: http.IncomingMessage,
  dir: string,
  rawName: string,
  maxBytes: number,
): Promise<{ name: string; bytes: number }> {
  let name: string;
  try {
    name = checkArtifactName(decodeURIComponent(rawName));
  } catch (err) {
    throw new UploadRefused(
      400,
      err instanceof ArtifactKeyError ? err.message : 'the name is not valid percent-encoding',
    );
  }
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes)
    throw new UploadRefused(413, `the file is ${declared} bytes; uploads may be at most ${maxBytes}`);
  await mkdir(dir, { recursive: true });
  const partial = path.join(dir, `.partial-${randomBytes(8).toString('hex')}`);
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (bytes > maxBytes)
        done(new UploadRefused(413, `the file is over ${maxBytes} bytes, the most an upload may be`));
      else done(null, chunk);
    },
  });
  try {
    await pipeline(req, counter, createWriteStream(partial, { flags: 'wx', mode: 0o644 }));
    await rename(partial, path.join(dir, name));
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
  return { name, bytes };
}
