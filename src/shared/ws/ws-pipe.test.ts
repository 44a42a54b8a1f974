import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { waitFor } from '../../testing/wait.js';
import { type PipeClosed, type PipeOptions, pipeWebSockets } from './ws-pipe.js';

interface Echo {
  port: number;
  /** The echo server's side of each connection, newest last. */
  sockets: WebSocket[];
  /** What the echo server received, as it received it. */
  received: Array<{ data: Buffer; isBinary: boolean }>;
  closes: Array<{ code: number; reason: string }>;
  server: WebSocketServer;
}

/** Upstream stand-in: echoes every message and obeys a few control words. */
async function startEcho(): Promise<Echo> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await new Promise((resolve) => server.once('listening', resolve));
  const echo: Echo = {
    port: (server.address() as AddressInfo).port,
    sockets: [],
    received: [],
    closes: [],
    server,
  };
  server.on('connection', (socket) => {
    echo.sockets.push(socket);
    socket.on('close', (code, reason) => echo.closes.push({ code, reason: reason.toString() }));
    socket.on('message', (data, isBinary) => {
      const buf = data as Buffer;
      echo.received.push({ data: buf, isBinary });
      const text = isBinary ? '' : buf.toString();
      if (text === 'close-me') socket.close(4001, 'upstream-bye');
      else if (text === 'die') socket.terminate();
      else if (text.startsWith('flood ')) {
        const [, count, size] = text.split(' ').map(Number);
        for (let i = 0; i < (count ?? 0); i++)
          socket.send(Buffer.alloc(size ?? 0, i % 256), { binary: true });
      } else socket.send(buf, { binary: isBinary });
    });
  });
  return echo;
}

interface Relay {
  url: string;
  /** The relay's client-facing and upstream legs of each joined connection. */
  legs: Array<{ client: WebSocket; upstream: WebSocket; closed: Promise<PipeClosed> }>;
  close(): Promise<void>;
}

/** The same shape as the sidecar: connect upstream first, then accept the client and join the two. */
async function startRelay(upstreamPort: number, options: PipeOptions = {}): Promise<Relay> {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const server = http.createServer();
  const legs: Relay['legs'] = [];
  server.on('upgrade', (req, socket, head) => {
    const upstream = new WebSocket(`ws://127.0.0.1:${upstreamPort}/`, { perMessageDeflate: false });
    upstream.once('open', () =>
      wss.handleUpgrade(req, socket, head, (client) => {
        legs.push({ client, upstream, closed: pipeWebSockets(client, upstream, options) });
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    legs,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function openClient(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return ws;
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) =>
    ws.once('message', (data, isBinary) => resolve({ data: data as Buffer, isBinary })),
  );
}

function closeEvent(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: PipeOptions = {}) {
  const echo = await startEcho();
  const relay = await startRelay(echo.port, options);
  cleanups.push(() => new Promise<void>((resolve) => echo.server.close(() => resolve())));
  cleanups.push(() => relay.close());
  const client = await openClient(relay.url);
  cleanups.push(() => client.terminate());
  return { echo, relay, client };
}

describe('pipeWebSockets', { timeout: 60_000 }, () => {
  it('relays text and binary messages byte for byte, keeping the frame type', async () => {
    const { echo, client } = await setup();
    // Odd spacing, key order and non-ASCII (incl. U+2028 and an astral char): a JSON round trip would change it.
    const text = Buffer.from('{"params":{"s":"é\u2028😀"} ,  "id":7,\t"method" :"Echo"}\n', 'utf8');
    const binary = randomBytes(65_539);
    const large = Buffer.from('x'.repeat(20 * 1024 * 1024));

    for (const [payload, isBinary] of [
      [text, false],
      [binary, true],
      [large, false],
    ] as const) {
      const reply = nextMessage(client);
      client.send(payload, { binary: isBinary });
      const { data, isBinary: replyIsBinary } = await reply;
      expect(replyIsBinary).toBe(isBinary);
      expect(data.equals(payload)).toBe(true);
      const atUpstream = echo.received.at(-1);
      expect(atUpstream?.isBinary).toBe(isBinary);
      expect(atUpstream?.data.equals(payload)).toBe(true);
    }
  });

  it('carries an upstream close code and reason to the client', async () => {
    const { client, relay } = await setup();
    const closed = closeEvent(client);
    client.send('close-me');
    expect(await closed).toEqual({ code: 4001, reason: 'upstream-bye' });
    expect(await relay.legs[0]?.closed).toMatchObject({ code: 4001, by: 'upstream' });
  });

  it('carries a client close code and reason upstream', async () => {
    const { client, echo } = await setup();
    client.close(4002, 'client-bye');
    await waitFor('upstream close', () => echo.closes.length === 1);
    expect(echo.closes[0]).toEqual({ code: 4002, reason: 'client-bye' });
  });

  it('reproduces a close without a code and an abrupt disconnect', async () => {
    const { client, echo, relay } = await setup();
    client.close();
    await waitFor('upstream close', () => echo.closes.length === 1);
    expect(echo.closes[0]?.code).toBe(1005);

    const second = await openClient(relay.url);
    cleanups.push(() => second.terminate());
    second.terminate();
    await waitFor('upstream close after terminate', () => echo.closes.length === 2);
    expect(echo.closes[1]?.code).toBe(1006);

    const third = await openClient(relay.url);
    const closed = closeEvent(third);
    third.send('die');
    expect((await closed).code).toBe(1006);
  });

  it('stops reading upstream while the client is slow, and delivers everything in order after', async () => {
    const highWaterMark = 2 * 1024 * 1024;
    const messageSize = 1024 * 1024;
    const count = 64;
    let maxClientBacklog = 0;
    const { client, relay, echo } = await setup({
      highWaterMark,
      lowWaterMark: 256 * 1024,
      onMessage: (direction) => {
        const leg = relay.legs[0];
        if (direction === 'upstream_to_client' && leg) {
          maxClientBacklog = Math.max(maxClientBacklog, leg.client.bufferedAmount);
        }
      },
    });
    const got: Buffer[] = [];
    client.on('message', (data) => got.push(data as Buffer));
    client.send(`flood ${count} ${messageSize}`);
    client.pause();

    const leg = await waitFor('relay leg', () => relay.legs[0]);
    await waitFor('relay to pause the upstream leg', () => leg.upstream.isPaused);
    // The pause reaches the sender: its data piles up in its own buffer instead of the relay's memory.
    await waitFor('upstream to feel back-pressure', () => (echo.sockets[0]?.bufferedAmount ?? 0) > 0);

    client.resume();
    await waitFor('all flooded messages', () => got.length === count);
    got.forEach((data, i) => {
      expect(data.length).toBe(messageSize);
      expect(data[0]).toBe(i % 256);
      expect(data[messageSize - 1]).toBe(i % 256);
    });
    await waitFor('relay to resume the upstream leg', () => !leg.upstream.isPaused);
    // What the relay buffers for a slow client stays near the mark instead of growing with the flood.
    expect(maxClientBacklog).toBeLessThanOrEqual(highWaterMark + 2 * messageSize);
  });
});
