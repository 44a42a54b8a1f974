import http from 'node:http';
import WebSocket from 'ws';
import { type BrowserSession, CDP_PORT } from '../api/index.js';
import { sessionToken } from '../shared/credentials.js';
import { ApiError } from './errors.js';

// How the gateway reaches a session's browser: the sidecar at the pod's IP (status.podIP), with the pod's own
// credential. The pod IP comes from the session status, so no Service or DNS lookup sits on the connect path.

/** Same ceiling as Playwright's CDP transport and the sidecar: one message can be a full-page screenshot. */
export const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;
const TIMEOUT_MS = 10_000;

export interface PodEndpoint {
  host: string;
  port: number;
  token: string;
}

export function podEndpoint(sessionKey: string, s: BrowserSession, port = CDP_PORT): PodEndpoint {
  const ip = s.status?.podIP;
  if (!ip) throw new ApiError('SESSION_NOT_READY', `session ${s.metadata.name} has no browser address yet`);
  return { host: ip, port, token: sessionToken(sessionKey, s.metadata.uid ?? '') };
}

/** GET a DevTools JSON endpoint (/json/version, /json/list) through the sidecar. */
export function podJson<T>(pod: PodEndpoint, path: string, timeoutMs = TIMEOUT_MS): Promise<T> {
  return new Promise((resolve, reject) => {
    const unavailable = (why: string) =>
      new ApiError('BROWSER_UNAVAILABLE', `the session's browser did not answer ${path}: ${why}`);
    const req = http.request(
      {
        host: pod.host,
        port: pod.port,
        path,
        method: 'GET',
        headers: { authorization: `Bearer ${pod.token}` },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(unavailable(`status ${res.statusCode}`));
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as T);
          } catch {
            reject(unavailable('not JSON'));
          }
        });
        res.on('error', (err) => reject(unavailable(err.message)));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => reject(unavailable(err.message)));
    req.end();
  });
}

/**
 * Opens a CDP websocket to the sidecar. Resolves with the open socket, or with the HTTP status the sidecar
 * refused with (so the client sees a status, not a dropped connection).
 */
export function openPodSocket(
  pod: PodEndpoint,
  path: string,
  keepAlive: boolean,
): Promise<WebSocket | { status: number }> {
  return new Promise((resolve) => {
    const url = `ws://${pod.host}:${pod.port}${path}${keepAlive ? '?keepAlive=true' : ''}`;
    const upstream = new WebSocket(url, {
      headers: { authorization: `Bearer ${pod.token}` },
      perMessageDeflate: false,
      maxPayload: MAX_MESSAGE_BYTES,
      handshakeTimeout: TIMEOUT_MS,
    });
    upstream.once('open', () => resolve(upstream));
    upstream.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve({ status: res.statusCode === 404 ? 404 : 502 });
      upstream.terminate();
    });
    // Kept for the socket's life: a second error without a listener would throw.
    upstream.on('error', () => resolve({ status: 502 }));
  });
}
