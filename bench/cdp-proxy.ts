/**
 * CDP proxy overhead: one Chromium, measured directly, through its sidecar, and through the gateway and its
 * sidecar, in one run. The sidecar is the real sidecar process and the gateway the real gateway process; the
 * session is a real BrowserSession the operator admitted and marked Running, whose "pod" the benchmark runs
 * on loopback in the kubelet's place (bench/loopback-pod.ts), so that all paths share one Chrome. A second
 * sidecar process for the same Chrome runs with its CDP log off (BF_CDP_LOG=off, Browserbase's logSession:
 * false), so the log's cost is the ratio of two sidecars measured in the same rounds.
 */
import { randomInt } from 'node:crypto';
import path from 'node:path';
import WebSocket from 'ws';
import { CDP_PORT } from '../src/api/index.js';
import { servePage } from '../src/testing/page-server.js';
import { type ChildHandle, startChild } from './child-protocol.js';
import { startLoopbackSession } from './loopback-pod.js';
import { type Cell, type Percentiles, percentiles, ratio, table } from './report.js';
import type { BenchStack } from './stack.js';

export interface CdpProxyOptions {
  /** Sequential round trips per path and command. */
  iterations: number;
  /** Viewport screenshots (1920×1080 PNG) per path. */
  screenshots: number;
  /** Rounds the work is split into, rotating the order of the paths, so drift hits all alike. */
  rounds: number;
}

const PATHS = ['direct', 'sidecar', 'sidecarLogOff', 'gateway'] as const;
type PathName = (typeof PATHS)[number];

interface PathResult {
  /** Round trip of Browser.getVersion on the browser target, microseconds. */
  browserGetVersionUs: Percentiles;
  /** Round trip of Runtime.evaluate("1+1") on a page target, microseconds. */
  runtimeEvaluateUs: Percentiles;
  screenshotsPerSecond: number;
}

export interface CdpProxyResults {
  chrome: string;
  options: CdpProxyOptions;
  screenshotBytes: number;
  paths: Record<PathName, PathResult>;
  /** Each path over direct: latency ratios (higher = slower), throughput ratio (lower = slower). */
  ratios: Record<
    Exclude<PathName, 'direct'> | 'cdpLog',
    { browserGetVersionP50: number; runtimeEvaluateP50: number; screenshots: number }
  >;
}

export class CdpClient {
  private nextId = 1;
  private readonly pending = new Map<number, (reply: { result?: unknown; error?: unknown }) => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const reply = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: unknown };
      if (reply.id === undefined) return;
      this.pending.get(reply.id)?.(reply);
      this.pending.delete(reply.id);
    });
  }

  static open(url: string): Promise<CdpClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new CdpClient(ws)));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`${url.split('?')[0]}: HTTP ${res.statusCode}`)),
      );
    });
  }

  call<T>(method: string, params: object = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, (reply) =>
        reply.error ? reject(new Error(JSON.stringify(reply.error))) : resolve(reply.result as T),
      );
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.ws.close();
  }
}

/** Sequential calls, each timed, microseconds appended to `into`. */
export async function timeCalls(
  client: CdpClient,
  n: number,
  method: string,
  params: object,
  into: number[],
) {
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint();
    await client.call(method, params);
    into.push(Number(process.hrtime.bigint() - start) / 1000);
  }
}

export async function benchCdpProxy(stack: BenchStack, options: CdpProxyOptions): Promise<CdpProxyResults> {
  const session = await startLoopbackSession(stack);
  const page = await servePage('browserfleet bench page', 200);
  const clients: Partial<Record<PathName, { browser: CdpClient; page: CdpClient }>> = {};
  const logOffIp = `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
  let logOff: ChildHandle | undefined;
  try {
    logOff = await startChild(
      'sidecar',
      {
        ...session.sidecarEnv,
        BF_CDP_LOG: 'off',
        BF_LISTEN_PORT: String(CDP_PORT),
        BF_METRICS_PORT: '0',
        host: logOffIp,
      },
      { logFile: path.join(stack.logsDir, `sidecar-${session.id}-log-off.log`) },
    );
    const target = (await (
      await fetch(`${session.chrome.httpUrl}/json/new?${encodeURIComponent(page.url)}`, { method: 'PUT' })
    ).json()) as { id: string };
    const logOffUrl = (p: string) => `ws://${logOffIp}:${CDP_PORT}${p}?token=${session.sidecarToken}`;
    const browserUrls = { ...session.urls('browser'), sidecarLogOff: logOffUrl('/devtools/browser') };
    const pageUrls = {
      ...session.urls({ page: target.id }),
      sidecarLogOff: logOffUrl(`/devtools/page/${target.id}`),
    };
    for (const p of PATHS) {
      clients[p] = { browser: await CdpClient.open(browserUrls[p]), page: await CdpClient.open(pageUrls[p]) };
    }
    const all = clients as Record<PathName, { browser: CdpClient; page: CdpClient }>;
    await waitForLoad(all.direct.page);
    const version = await all.direct.browser.call<{ product: string }>('Browser.getVersion');
    const shot = { format: 'png' };

    const samples = Object.fromEntries(
      PATHS.map((p) => [p, { version: [] as number[], evaluate: [] as number[], shotNs: 0n, shots: 0 }]),
    ) as Record<PathName, { version: number[]; evaluate: number[]; shotNs: bigint; shots: number }>;
    let screenshotBytes = 0;
    for (const p of PATHS) {
      // Warm-up: JIT, socket buffers, Chrome's first-screenshot costs.
      await timeCalls(all[p].browser, 200, 'Browser.getVersion', {}, []);
      await timeCalls(all[p].page, 200, 'Runtime.evaluate', { expression: '1+1' }, []);
      await all[p].page.call('Page.captureScreenshot', shot);
    }
    for (let round = 0; round < options.rounds; round++) {
      const order = PATHS.map((_, i) => PATHS[(i + round) % PATHS.length] as PathName);
      for (const p of order) {
        const c = all[p];
        const s = samples[p];
        const n = Math.ceil(options.iterations / options.rounds);
        await timeCalls(c.browser, n, 'Browser.getVersion', {}, s.version);
        await timeCalls(c.page, n, 'Runtime.evaluate', { expression: '1+1' }, s.evaluate);
        const start = process.hrtime.bigint();
        for (let i = 0; i < Math.ceil(options.screenshots / options.rounds); i++) {
          const r = await c.page.call<{ data: string }>('Page.captureScreenshot', shot);
          screenshotBytes = Math.round((r.data.length * 3) / 4);
          s.shots++;
        }
        s.shotNs += process.hrtime.bigint() - start;
      }
    }
    const paths = Object.fromEntries(
      PATHS.map((p) => [
        p,
        {
          browserGetVersionUs: percentiles(samples[p].version),
          runtimeEvaluateUs: percentiles(samples[p].evaluate),
          screenshotsPerSecond:
            Math.round((samples[p].shots / (Number(samples[p].shotNs) / 1e9)) * 100) / 100,
        },
      ]),
    ) as Record<PathName, PathResult>;
    const against = (p: PathName) => ({
      browserGetVersionP50: ratio(paths[p].browserGetVersionUs.p50, paths.direct.browserGetVersionUs.p50),
      runtimeEvaluateP50: ratio(paths[p].runtimeEvaluateUs.p50, paths.direct.runtimeEvaluateUs.p50),
      screenshots: ratio(paths[p].screenshotsPerSecond, paths.direct.screenshotsPerSecond),
    });
    return {
      chrome: version.product,
      options,
      screenshotBytes,
      paths,
      ratios: {
        sidecar: against('sidecar'),
        sidecarLogOff: against('sidecarLogOff'),
        gateway: against('gateway'),
        // The log's own cost: the sidecar that records over the one that does not, same Chrome, same rounds.
        cdpLog: {
          browserGetVersionP50: ratio(
            paths.sidecar.browserGetVersionUs.p50,
            paths.sidecarLogOff.browserGetVersionUs.p50,
          ),
          runtimeEvaluateP50: ratio(
            paths.sidecar.runtimeEvaluateUs.p50,
            paths.sidecarLogOff.runtimeEvaluateUs.p50,
          ),
          screenshots: ratio(paths.sidecar.screenshotsPerSecond, paths.sidecarLogOff.screenshotsPerSecond),
        },
      },
    };
  } finally {
    for (const c of Object.values(clients)) {
      c.browser.close();
      c.page.close();
    }
    await page.close();
    await logOff?.stop();
    await session.close();
  }
}

async function waitForLoad(client: CdpClient): Promise<void> {
  for (;;) {
    const r = await client.call<{ result: { value: string } }>('Runtime.evaluate', {
      expression: 'document.readyState',
      returnByValue: true,
    });
    if (r.result.value === 'complete') return;
    await new Promise((done) => setTimeout(done, 20));
  }
}

export function formatCdpProxy(r: CdpProxyResults): string {
  const rows: Cell[][] = [];
  for (const [label, key] of [
    ['Browser.getVersion', 'browserGetVersionUs'],
    ['Runtime.evaluate 1+1 (page)', 'runtimeEvaluateUs'],
  ] as const) {
    for (const q of ['p50', 'p95', 'p99'] as const) {
      const d = r.paths.direct[key][q];
      const s = r.paths.sidecar[key][q];
      const o = r.paths.sidecarLogOff[key][q];
      const g = r.paths.gateway[key][q];
      rows.push([`${label} ${q} (µs)`, d, o, s, g, ratio(s, d), ratio(g, d), ratio(s, o)]);
    }
  }
  const d = r.paths.direct.screenshotsPerSecond;
  const s = r.paths.sidecar.screenshotsPerSecond;
  const o = r.paths.sidecarLogOff.screenshotsPerSecond;
  const g = r.paths.gateway.screenshotsPerSecond;
  rows.push([
    `screenshots/s (1920×1080 PNG, ${Math.round(r.screenshotBytes / 1024)} KiB)`,
    d,
    o,
    s,
    g,
    ratio(s, d),
    ratio(g, d),
    ratio(s, o),
  ]);
  return [
    `${r.options.iterations} sequential round trips per command and path, ${r.options.screenshots} screenshots per path; ${r.chrome}`,
    table(
      [
        '',
        'direct',
        'sidecar, log off',
        'sidecar (log on)',
        'gateway+sidecar',
        'sidecar/direct',
        'gateway/direct',
        'log on/off',
      ],
      rows,
    ),
  ].join('\n');
}
