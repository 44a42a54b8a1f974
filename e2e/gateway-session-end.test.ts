import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { API_VERSION, type BrowserSession, CDP_PORT } from '../src/api/index.js';
import { type Gateway, startGateway } from '../src/gateway/gateway.js';
import { connectToken } from '../src/gateway/tokens.js';
import { freePorts } from '../src/localcluster/control-plane.js';
import { paths } from '../src/shared/kube/client.js';
import { createLogger } from '../src/shared/log.js';
import { uniqueName } from '../src/testing/cluster.js';
import { type GatewayStack, startGatewayStack } from './gateway-harness.js';

// A CDP client connected through the gateway when its session ends, or when its pod goes silent: the pod's
// packets are dropped (as when its network namespace is removed: no FIN, no RST), so only the gateway can tell
// the client. It must get a close with a code and reason it can act on, not wait for its own timeout.

// A bounded wait that marks a hang, not a performance figure.
const HANG_MS = 10_000;

let g: GatewayStack;
let pinging: Gateway;

beforeAll(async () => {
  // The stack's gateway pings rarely, so only the session cache can close its clients in time.
  g = await startGatewayStack({
    prefix: 'gwend',
    pods: 'node',
    project: { concurrency: 3 },
    gateway: { upstreamPingMs: 600_000 },
  });
  const [port] = await freePorts(1, '127.0.0.1');
  pinging = await startGateway(
    { ...g.config, listen: `127.0.0.1:${port}`, upstreamPingMs: 1000 },
    { kubeconfigPath: g.stack.kubeconfig, log: createLogger({ component: 'gateway-pinging' }) },
  );
});

afterAll(async () => {
  await pinging?.stop();
  await g?.stop();
});

async function runningSession(timeout: number): Promise<BrowserSession> {
  const name = uniqueName('ending');
  await g.stack.client.create<BrowserSession>(paths.sessions(g.stack.namespace), {
    apiVersion: API_VERSION,
    kind: 'BrowserSession',
    metadata: { name, namespace: g.stack.namespace },
    spec: { project: g.project, keepAlive: true, timeout },
  });
  return g.waitPhase(name, ['Running']);
}

/** Opens a CDP socket through the gateway and checks it answers a command. */
async function connectCdp(port: number, s: BrowserSession): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/?signingKey=${connectToken(g.stack.sessionKey, s)}`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ id: 1, method: 'Browser.getVersion' }));
  await new Promise<void>((resolve) => ws.once('message', () => resolve()));
  return ws;
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string; at: number } | 'hang'> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('hang'), HANG_MS);
    ws.once('close', (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString('utf8'), at: Date.now() });
    });
  });
}

/** Drops every packet between this host and the pod (both ways) until the returned function runs. */
function blackhole(podIP: string): () => void {
  const rules = [
    ['OUTPUT', '-d', podIP, '-p', 'tcp', '--dport', String(CDP_PORT)],
    ['INPUT', '-s', podIP, '-p', 'tcp', '--sport', String(CDP_PORT)],
  ];
  for (const r of rules) execFileSync('iptables', ['-I', r[0] ?? '', ...r.slice(1), '-j', 'DROP']);
  return () => {
    for (const r of rules) execFileSync('iptables', ['-D', r[0] ?? '', ...r.slice(1), '-j', 'DROP']);
  };
}

describe('a CDP client whose session ends or whose pod goes silent', () => {
  it('is closed with 4410 "session ended: Expired" when the session expires, even if the pod says nothing', async () => {
    const s = await runningSession(6);
    const ws = await connectCdp(g.gateway.port, s);
    const unblock = blackhole(s.status?.podIP ?? '');
    try {
      const expiresAt = Date.parse(s.status?.expiresAt ?? '');
      const got = await closed(ws);
      if (got === 'hang') ws.terminate();
      expect(got).not.toBe('hang');
      if (got === 'hang') return;
      console.log(`closed ${got.at - expiresAt} ms after expiresAt: ${got.code} ${got.reason}`);
      expect(got.code).toBe(4410);
      expect(got.reason).toBe('session ended: Expired');
    } finally {
      unblock();
    }
  });

  it('is closed with 1011 when the pod stops answering pings', async () => {
    const s = await runningSession(120);
    const ws = await connectCdp(pinging.port, s);
    const unblock = blackhole(s.status?.podIP ?? '');
    const t0 = Date.now();
    try {
      const got = await closed(ws);
      if (got === 'hang') ws.terminate();
      expect(got).not.toBe('hang');
      if (got === 'hang') return;
      console.log(`closed ${got.at - t0} ms after the pod went silent: ${got.code} ${got.reason}`);
      expect(got.code).toBe(1011);
      expect(got.reason).toBe('the browser stopped answering');
    } finally {
      unblock();
    }
  });
});
