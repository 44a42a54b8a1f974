import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { type ApiError, errorBody, errorHeaders } from './errors.js';

/**
 * Refuses a websocket upgrade with a real HTTP answer in the gateway's error shape, so a client sees
 * "401 Unauthorized" and the reason instead of a dropped connection.
 */
export function refuseUpgrade(socket: Duplex, err: ApiError, requestId: string = randomUUID()): void {
  if (socket.destroyed) return;
  const json = JSON.stringify(errorBody(err));
  const headers: Record<string, string> = {
    connection: 'close',
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(json)),
    'x-request-id': requestId,
    ...errorHeaders(err),
  };
  if (err.status === 401) headers['www-authenticate'] = 'Bearer';
  const head = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? ''}\r\n${head}\r\n${json}`);
}
