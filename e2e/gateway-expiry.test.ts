import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { API_VERSION, type BrowserSession } from '../src/api/index.js';
import { connectToken } from '../src/gateway/tokens.js';
import { paths } from '../src/shared/kube/client.js';
import { uniqueName } from '../src/testing/cluster.js';
import { type GatewayStack, startGatewayStack } from './gateway-harness.js';

// A CDP connect that lands around a session's expiry, with a real operator ending it and a real browser pod
// going away: the client is told the session is gone (410), never that the browser is unavailable (502, which
// it would retry) and never let in after the session expired.

let g: GatewayStack;

beforeAll(async () => {
  g = await startGatewayStack({ prefix: 'gwexpiry', pods: 'node', project: { concurrency: 2 } });
});

afterAll(async () => {
  await g?.stop();
});

function connect(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: 15_000 });
    ws.once('open', () => {
      ws.terminate();
      resolve({ status: 101, body: '' });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString('utf8');
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', reject);
  });
}

describe('CDP connect at expiry', () => {
  it('is a 410 with a message from the moment the session expires, never a 502', async () => {
    const name = uniqueName('expiring');
    await g.stack.client.create<BrowserSession>(paths.sessions(g.stack.namespace), {
      apiVersion: API_VERSION,
      kind: 'BrowserSession',
      metadata: { name, namespace: g.stack.namespace },
      spec: { project: g.project, keepAlive: true, timeout: 8 },
    });
    const running = await g.waitPhase(name, ['Running']);
    const expiresAt = Date.parse(running.status?.expiresAt ?? '');
    const url = `ws://127.0.0.1:${g.gateway.port}/?signingKey=${connectToken(g.stack.sessionKey, running)}`;

    // Sparse until just before the expiry, then a burst of overlapping connects across it (the race is a
    // connect admitted as Running while the operator takes the pod away), then sparse again.
    const attempts: Array<{ startedAt: number; status: number; body: string }> = [];
    const attempt = async () => {
      const startedAt = Date.now();
      attempts.push({ startedAt, ...(await connect(url)) });
    };
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
    while (Date.now() < expiresAt - 400) {
      await attempt();
      await pause(200);
    }
    const burst: Promise<void>[] = [];
    while (Date.now() < expiresAt + 400) {
      burst.push(attempt());
      await pause(5);
    }
    await Promise.all(burst);
    while (Date.now() < expiresAt + 3000) {
      await attempt();
      await pause(200);
    }
    attempts.sort((a, b) => a.startedAt - b.startedAt);
    const summary = attempts.map((a) => `${a.startedAt - expiresAt}ms: ${a.status}`).join(', ');
    console.log(`connects relative to expiresAt: ${summary}`);

    expect(attempts.some((a) => a.status === 101)).toBe(true);
    for (const a of attempts) {
      expect(a.status, summary).not.toBeGreaterThanOrEqual(500);
      if (a.startedAt >= expiresAt + 50) {
        expect(a.status, summary).toBe(410);
        const body = JSON.parse(a.body) as { code: string; message: string };
        expect(body.code).toBe('SESSION_ENDED');
        expect(body.message).toMatch(
          new RegExp(`^session ${name} (has ended \\(TimedOut|expired at .* and is ending)`),
        );
      }
    }
    expect((await g.getSession(name)).status?.phase).toBe('TimedOut');
  });
});
