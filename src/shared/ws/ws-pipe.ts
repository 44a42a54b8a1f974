import WebSocket from 'ws';

/** Which way a message went: from the accepted client to the upstream it was joined to, or back. */
export type Direction = 'client_to_upstream' | 'upstream_to_client';

export interface PipeOptions {
  /** Pause reading from one side once this many bytes wait to be written to the other. */
  highWaterMark?: number;
  /** Resume reading once the other side's backlog drops to this. */
  lowWaterMark?: number;
  onMessage?: (direction: Direction, bytes: number) => void;
  /**
   * Sees each message before it is relayed: undefined relays it unchanged, a Buffer relays that instead, null
   * drops it. Synchronous, so the order of messages on each leg is kept.
   */
  intercept?: (direction: Direction, data: Buffer, isBinary: boolean) => Buffer | null | undefined;
}

export interface PipeClosed {
  code: number;
  reason: Buffer;
  /** Which leg closed first. */
  by: 'client' | 'upstream';
}

// A full-page screenshot is one multi-megabyte text message; a smaller mark would pause on every one of them.
const DEFAULT_HIGH_WATER_MARK = 8 * 1024 * 1024;
const DEFAULT_LOW_WATER_MARK = 1024 * 1024;

function asBuffer(data: WebSocket.RawData): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.isBuffer(data) ? data : Buffer.from(data);
}

function messageBytes(data: WebSocket.RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data.byteLength;
}

/**
 * Mirrors a close onto the other leg. 1005 (no code) and 1006 (abnormal, no close frame) are never sent on the
 * wire, so they are reproduced the only way they can be: a close without a code, and an abrupt termination.
 */
function propagateClose(target: WebSocket, code: number, reason: Buffer): void {
  // A paused socket would not read the peer's close reply, and the close handshake would hang until timeout.
  if (target.isPaused) target.resume();
  if (target.readyState === WebSocket.CLOSED) return;
  if (code === 1006) {
    target.terminate();
  } else if (target.readyState === WebSocket.OPEN || target.readyState === WebSocket.CONNECTING) {
    if (code === 1005) target.close();
    else target.close(code, reason);
  }
}

function forward(
  from: WebSocket,
  to: WebSocket,
  direction: Direction,
  high: number,
  low: number,
  onMessage: PipeOptions['onMessage'],
  intercept: PipeOptions['intercept'],
): void {
  // One callback per direction (not per message): it runs when a write has reached the kernel.
  const resumeWhenDrained = () => {
    if (from.isPaused && to.bufferedAmount <= low) from.resume();
  };
  from.on('message', (data, isBinary) => {
    if (to.readyState !== WebSocket.OPEN) return;
    let out: WebSocket.RawData = data;
    if (intercept) {
      const replaced = intercept(direction, asBuffer(data), isBinary);
      if (replaced === null) return;
      if (replaced !== undefined) out = replaced;
    }
    // Unless intercepted, the payload goes out exactly as it came in: same bytes, same frame type.
    to.send(out, { binary: isBinary, compress: false }, resumeWhenDrained);
    onMessage?.(direction, messageBytes(data));
    if (!from.isPaused && to.bufferedAmount > high) from.pause();
  });
}

/**
 * Joins an accepted client websocket to an open upstream one: messages are relayed unchanged in both
 * directions with back-pressure, and a close on either leg closes the other with the same code and reason.
 */
export function pipeWebSockets(
  client: WebSocket,
  upstream: WebSocket,
  options: PipeOptions = {},
): Promise<PipeClosed> {
  const high = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  const low = options.lowWaterMark ?? DEFAULT_LOW_WATER_MARK;
  forward(client, upstream, 'client_to_upstream', high, low, options.onMessage, options.intercept);
  forward(upstream, client, 'upstream_to_client', high, low, options.onMessage, options.intercept);
  // Errors always end in 'close'; that is where they are handled.
  client.on('error', () => {});
  upstream.on('error', () => {});

  return new Promise((resolve) => {
    let first: PipeClosed | undefined;
    let clientClosed = false;
    let upstreamClosed = false;
    const settle = () => {
      if (clientClosed && upstreamClosed && first) resolve(first);
    };
    client.once('close', (code, reason) => {
      clientClosed = true;
      first ??= { code, reason, by: 'client' };
      propagateClose(upstream, code, reason);
      settle();
    });
    upstream.once('close', (code, reason) => {
      upstreamClosed = true;
      first ??= { code, reason, by: 'upstream' };
      propagateClose(client, code, reason);
      settle();
    });
  });
}
