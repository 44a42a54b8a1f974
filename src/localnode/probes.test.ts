import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createTcpServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProbeTarget, ProbeWorker, runProbe } from './probes.js';
import { DEFAULT_PATH } from './process-runner.js';

let http: Server;
let port: number;
let healthy = true;

const target = (): ProbeTarget => ({
  podIP: '127.0.0.1',
  ipPath: '/usr/sbin/ip',
  wrapper: [],
  env: { PATH: DEFAULT_PATH },
  cwd: '/',
  ports: [{ name: 'web', containerPort: port }],
  isAllowedAddress: (ip) => ip.startsWith('127.'),
});

describe('runProbe', () => {
  beforeAll(async () => {
    http = createServer((req, res) => {
      if (req.url === '/slow') return void setTimeout(() => res.end('late'), 3000);
      if (req.url === '/redirect') return void res.writeHead(302, { location: '/' }).end();
      res
        .writeHead(healthy ? 200 : 503, { 'x-host': req.headers.host ?? '' })
        .end(req.headers['x-probe'] ?? '');
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    port = (http.address() as AddressInfo).port;
  });

  afterAll(async () => {
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
  });

  it('passes httpGet on 2xx and 3xx, by number or named port, and fails on 5xx', async () => {
    healthy = true;
    expect(await runProbe({ httpGet: { port, path: '/' } }, target())).toEqual({ ok: true });
    expect(await runProbe({ httpGet: { port: 'web', path: '/redirect' } }, target())).toEqual({ ok: true });
    healthy = false;
    expect(await runProbe({ httpGet: { port: 'web', path: '/' } }, target())).toMatchObject({
      ok: false,
      message: 'HTTP probe failed with statuscode: 503',
    });
    healthy = true;
  });

  it('times out slow answers and refuses unknown ports', async () => {
    expect(await runProbe({ httpGet: { port, path: '/slow' }, timeoutSeconds: 1 }, target())).toMatchObject({
      ok: false,
      message: expect.stringContaining('deadline exceeded'),
    });
    expect(await runProbe({ httpGet: { port: 'nope' } }, target())).toMatchObject({ ok: false });
  });

  it('never probes an address outside the pod network', async () => {
    const r = await runProbe({ httpGet: { host: '192.0.2.1', port: 80 } }, target());
    expect(r).toMatchObject({ ok: false, message: expect.stringContaining('outside') });
    const t = await runProbe({ tcpSocket: { host: '192.0.2.1', port: 80 } }, target());
    expect(t.ok).toBe(false);
  });

  it('passes tcpSocket when something listens', async () => {
    const tcp = createTcpServer();
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    const tcpPort = (tcp.address() as AddressInfo).port;
    expect(await runProbe({ tcpSocket: { port: tcpPort } }, target())).toEqual({ ok: true });
    await new Promise((r) => tcp.close(r));
    expect((await runProbe({ tcpSocket: { port: tcpPort } }, target())).ok).toBe(false);
  });

  it('runs exec probes and reports their output on failure', async () => {
    expect(await runProbe({ exec: { command: ['true'] } }, target())).toEqual({ ok: true });
    expect(await runProbe({ exec: { command: ['sh', '-c', 'echo broken; exit 1'] } }, target())).toEqual({
      ok: false,
      message: 'broken',
    });
    expect(await runProbe({ exec: { command: ['sleep', '5'] }, timeoutSeconds: 1 }, target())).toMatchObject({
      ok: false,
      message: expect.stringContaining('timed out'),
    });
  });
});

describe('ProbeWorker', () => {
  it('turns ready after successThreshold passes and unready after failureThreshold failures', async () => {
    let ok = true;
    const server = createServer((_req, res) => res.writeHead(ok ? 200 : 500).end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const p = (server.address() as AddressInfo).port;
    const verdicts: boolean[] = [];
    const worker = new ProbeWorker(
      'readiness',
      { httpGet: { port: p }, periodSeconds: 1, successThreshold: 2, failureThreshold: 2 },
      { ...target(), ports: [] },
      (passing) => verdicts.push(passing),
    );
    expect(worker.passing).toBe(false);
    worker.start();
    const until = async (cond: () => boolean) => {
      for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 100));
    };
    await until(() => verdicts.length === 1);
    expect(verdicts).toEqual([true]);
    ok = false;
    await until(() => verdicts.length === 2);
    expect(verdicts).toEqual([true, false]);
    worker.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
});
