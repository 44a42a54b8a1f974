/**
 * Gateway: many concurrent CDP websockets through one gateway process. Idle sockets are opened first and kept
 * open (memory per connection, from the gateway's RSS and, after a forced collection, its heap); then active
 * sockets run Browser.getVersion loops all at once, through the gateway, through the sidecar alone, and
 * directly to Chrome, so the latency the gateway adds is measured under the same load as its baseline. One
 * Chrome and one sidecar behind it (bench/loopback-pod.ts).
 */
import WebSocket from 'ws';
import { CdpClient, timeCalls } from './cdp-proxy.js';
import { startLoopbackSession } from './loopback-pod.js';
import { ProcMonitor, type ProcUsage } from './proc.js';
import { type Cell, mapLimit, type Percentiles, percentiles, ratio, sleep, table } from './report.js';
import type { BenchStack } from './stack.js';

export interface GatewayOptions {
  idle: number;
  active: number;
  /** Round trips per active socket and path. */
  roundTrips: number;
  rounds: number;
}

const PATHS = ['direct', 'sidecar', 'gateway'] as const;
type PathName = (typeof PATHS)[number];

export interface GatewayResults {
  options: GatewayOptions;
  /** Websocket handshake to open (through the gateway: auth, session lookup, upstream open), ms. */
  connectMs: Record<'sidecar' | 'gateway', Percentiles>;
  memory: {
    before: { rssMiB: number; heapMiB: number };
    withIdle: { rssMiB: number; heapMiB: number };
    perIdleConnectionKiB: { rss: number; heap: number };
    afterClose: { rssMiB: number; heapMiB: number };
  };
  /** Round trips with all active sockets busy at once (and the idle ones open), µs. */
  roundTripUs: Record<PathName, Percentiles>;
  /** Round trips per second across all active sockets. */
  throughput: Record<PathName, number>;
  gatewayCpu: ProcUsage | undefined;
}

const MiB = 1024 * 1024;

async function openSocket(url: string): Promise<{ ws: WebSocket; ms: number }> {
  const t = performance.now();
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  return { ws, ms: performance.now() - t };
}

export async function benchGateway(stack: BenchStack, options: GatewayOptions): Promise<GatewayResults> {
  const session = await startLoopbackSession(stack);
  const idle: WebSocket[] = [];
  const active: Partial<Record<PathName, CdpClient[]>> = {};
  try {
    const urls = session.urls('browser');
    const memory = async () => {
      const s = await stack.gateway.stats();
      return {
        rssMiB: Math.round((s.memory.rss / MiB) * 10) / 10,
        // JS heap plus what lives outside it (socket buffers, ArrayBuffers), after a forced collection.
        heapMiB: Math.round(((s.memory.heapUsed + s.memory.external) / MiB) * 10) / 10,
      };
    };
    // Warm-up: as many connections as will be measured, opened and closed again, so that code is compiled and
    // the heap and the allocator have grown to this working size; what is measured then is what connections hold.
    for (const p of ['sidecar', 'gateway'] as const) {
      const warm = await mapLimit(Array.from({ length: options.idle }), 10, () => openSocket(urls[p]));
      for (const w of warm) w.ws.close();
    }
    await sleep(1000);
    const before = await memory();

    const connectMs: Record<'sidecar' | 'gateway', number[]> = { sidecar: [], gateway: [] };
    const opened = await mapLimit(Array.from({ length: options.idle }), 10, () => openSocket(urls.gateway));
    for (const o of opened) {
      idle.push(o.ws);
      connectMs.gateway.push(o.ms);
    }
    // The same number of handshakes straight to the sidecar, for the connect-latency baseline (closed again).
    for (const o of await mapLimit(Array.from({ length: options.idle }), 10, () =>
      openSocket(urls.sidecar),
    )) {
      connectMs.sidecar.push(o.ms);
      o.ws.close();
    }
    await sleep(1000);
    const withIdle = await memory();

    for (const p of PATHS) {
      active[p] = await Promise.all(Array.from({ length: options.active }, () => CdpClient.open(urls[p])));
    }
    const clients = active as Record<PathName, CdpClient[]>;
    for (const p of PATHS)
      await Promise.all(clients[p].map((c) => timeCalls(c, 50, 'Browser.getVersion', {}, [])));

    const monitor = new ProcMonitor({ gateway: stack.gateway.pid }).start();
    const samples: Record<PathName, number[]> = { direct: [], sidecar: [], gateway: [] };
    const busySeconds: Record<PathName, number> = { direct: 0, sidecar: 0, gateway: 0 };
    for (let round = 0; round < options.rounds; round++) {
      for (let i = 0; i < PATHS.length; i++) {
        const p = PATHS[(i + round) % PATHS.length] as PathName;
        const t = performance.now();
        const per = Math.ceil(options.roundTrips / options.rounds);
        await Promise.all(clients[p].map((c) => timeCalls(c, per, 'Browser.getVersion', {}, samples[p])));
        busySeconds[p] += (performance.now() - t) / 1000;
      }
    }
    const gatewayCpu = monitor.stop()['gateway'];

    for (const ws of idle) ws.close();
    for (const p of PATHS) for (const c of clients[p]) c.close();
    idle.length = 0;
    active.direct = active.sidecar = active.gateway = [];
    await sleep(1500);
    const afterClose = await memory();

    const roundTripUs = Object.fromEntries(PATHS.map((p) => [p, percentiles(samples[p])])) as Record<
      PathName,
      Percentiles
    >;
    const throughput = Object.fromEntries(
      PATHS.map((p) => [p, Math.round(samples[p].length / busySeconds[p])]),
    ) as Record<PathName, number>;
    return {
      options,
      connectMs: { sidecar: percentiles(connectMs.sidecar), gateway: percentiles(connectMs.gateway) },
      memory: {
        before,
        withIdle,
        perIdleConnectionKiB: {
          rss: Math.round(((withIdle.rssMiB - before.rssMiB) * 1024) / options.idle),
          heap: Math.round(((withIdle.heapMiB - before.heapMiB) * 1024) / options.idle),
        },
        afterClose,
      },
      roundTripUs,
      throughput,
      gatewayCpu,
    };
  } finally {
    for (const ws of idle) ws.terminate();
    for (const list of Object.values(active)) for (const c of list) c.close();
    await session.close();
  }
}

export function formatGateway(r: GatewayResults): string {
  const o = r.options;
  const rt = r.roundTripUs;
  const rows: Cell[][] = (['p50', 'p95', 'p99'] as const).map((q) => [
    `Browser.getVersion ${q} (µs)`,
    rt.direct[q],
    rt.sidecar[q],
    rt.gateway[q],
    ratio(rt.gateway[q], rt.sidecar[q]),
    ratio(rt.gateway[q], rt.direct[q]),
    rt.gateway[q] - rt.sidecar[q],
  ]);
  rows.push([
    'round trips / s (all active sockets)',
    r.throughput.direct,
    r.throughput.sidecar,
    r.throughput.gateway,
    ratio(r.throughput.gateway, r.throughput.sidecar),
    ratio(r.throughput.gateway, r.throughput.direct),
    undefined,
  ]);
  for (const q of ['p50', 'p99'] as const) {
    rows.push([
      `websocket connect ${q} (ms)`,
      undefined,
      r.connectMs.sidecar[q],
      r.connectMs.gateway[q],
      ratio(r.connectMs.gateway[q], r.connectMs.sidecar[q]),
      undefined,
      Math.round((r.connectMs.gateway[q] - r.connectMs.sidecar[q]) * 10) / 10,
    ]);
  }
  const m = r.memory;
  return [
    `${o.idle} idle + ${o.active} active CDP websockets per path through one gateway process; ${o.roundTrips} round trips per active socket and path`,
    table(['', 'direct', 'sidecar', 'gateway+sidecar', 'gw/sidecar', 'gw/direct', 'gw − sidecar'], rows),
    `gateway memory: RSS ${m.before.rssMiB} MiB → ${m.withIdle.rssMiB} MiB with ${o.idle} idle sockets (${m.perIdleConnectionKiB.rss} KiB each), ` +
      `heap + external ${m.before.heapMiB} → ${m.withIdle.heapMiB} MiB (${m.perIdleConnectionKiB.heap} KiB each); after closing all: RSS ${m.afterClose.rssMiB}, heap ${m.afterClose.heapMiB} MiB`,
    r.gatewayCpu
      ? `gateway CPU during the active phase: ${r.gatewayCpu.avgCores} cores on average (${r.gatewayCpu.cpuSeconds} s over ${r.gatewayCpu.seconds} s)`
      : '',
  ].join('\n');
}
