/**
 * CDP proxy overhead: the same Chromium, measured directly and through the sidecar in one run.
 *
 *   npx tsc -p tsconfig.json --outDir /tmp/bf-build
 *   ln -sfn "$PWD/node_modules" /tmp/bf-build/node_modules && ln -sfn "$PWD/package.json" /tmp/bf-build/package.json
 *   node /tmp/bf-build/bench/cdp-proxy.js        # writes bench/results/cdp-proxy.json (relative to cwd)
 *
 * Compiled, the sidecar runs as its own Node process (this module with `--sidecar`), as in a pod; imported from
 * TypeScript source (vitest) it runs in-process, sharing the event loop with the benchmark client, which
 * overstates its cost. The result records which.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import { runSidecar } from '../src/sidecar/main.js';
import { createSidecar } from '../src/sidecar/sidecar.js';
import { launchChromium } from '../src/sidecar/testing/chromium.js';
import { servePage } from '../src/sidecar/testing/page-server.js';

export interface BenchOptions {
  /** Sequential round trips per path and command. */
  iterations?: number;
  /** Full-page screenshots per path. */
  screenshots?: number;
  /** Rounds the work is split into, alternating direct and proxied, so drift hits both alike. */
  rounds?: number;
}

interface LatencyStats {
  n: number;
  p50Us: number;
  p95Us: number;
  p99Us: number;
  meanUs: number;
}

interface PathResult {
  browserGetVersion: LatencyStats;
  runtimeEvaluate: LatencyStats;
  screenshotsPerSecond: number;
  screenshotBytes: number;
}

export interface BenchResults {
  date: string;
  node: string;
  chrome: string;
  sidecarProcess: 'child' | 'in-process';
  iterations: number;
  screenshots: number;
  direct: PathResult;
  sidecar: PathResult;
  /** sidecar / direct: latency ratios (higher = slower), throughput ratio (lower = slower). */
  ratio: { browserGetVersionP50: number; runtimeEvaluateP50: number; screenshotsPerSecond: number };
}

const TOKEN = 'YmVuY2gtc2Vzc2lvbi10b2tlbg';

class CdpClient {
  private nextId = 1;
  private readonly pending = new Map<number, (reply: { result?: unknown; error?: unknown }) => void>();

  private constructor(private readonly ws: WebSocket) {
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

function stats(samplesNs: bigint[]): LatencyStats {
  const us = samplesNs.map((ns) => Number(ns) / 1000).sort((a, b) => a - b);
  const at = (q: number) => us[Math.min(us.length - 1, Math.floor(q * us.length))] ?? Number.NaN;
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    n: us.length,
    p50Us: round(at(0.5)),
    p95Us: round(at(0.95)),
    p99Us: round(at(0.99)),
    meanUs: round(us.reduce((a, b) => a + b, 0) / us.length),
  };
}

async function timeCalls(client: CdpClient, n: number, method: string, params: object, into: bigint[]) {
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint();
    await client.call(method, params);
    into.push(process.hrtime.bigint() - start);
  }
}

interface ProxyEndpoint {
  port: number;
  close(): Promise<void>;
}

async function startSidecarInProcess(chromeUrl: string): Promise<ProxyEndpoint> {
  process.env['BF_LOG_LEVEL'] = 'silent';
  const sidecar = createSidecar({
    host: '127.0.0.1',
    listenPort: 0,
    metricsPort: 0,
    chromeUrl: new URL(chromeUrl),
    session: { namespace: 'bench', name: 'bench', uid: 'bench' },
    sessionToken: TOKEN,
    reportUrl: '',
    reportIntervalMs: 3_600_000,
    clientPingIntervalMs: 20_000,
  });
  const { port } = await sidecar.listen();
  return { port, close: () => sidecar.close() };
}

/** Runs this same module with `--sidecar` (which calls `runSidecar`) as its own process, and reads its port. */
async function startSidecarProcess(chromeUrl: string): Promise<ProxyEndpoint> {
  const child: ChildProcess = spawn(process.execPath, [fileURLToPath(import.meta.url), '--sidecar'], {
    env: {
      ...process.env,
      BF_LISTEN_PORT: '0',
      BF_METRICS_PORT: '0',
      BF_CHROME_URL: chromeUrl,
      BF_SESSION_NAMESPACE: 'bench',
      BF_SESSION_NAME: 'bench',
      BF_SESSION_UID: 'bench',
      BF_SESSION_TOKEN: TOKEN,
      BF_REPORT_URL: '',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      buffered += chunk;
      for (const line of buffered.split('\n')) {
        if (!line.includes('"Sidecar listening"')) continue;
        resolve((JSON.parse(line) as { port: number }).port);
      }
    });
    child.once('exit', (code) => reject(new Error(`sidecar exited with ${code}:\n${buffered}`)));
  });
  return {
    port,
    close: () =>
      new Promise<void>((done) => {
        child.once('exit', () => done());
        child.kill('SIGTERM');
      }),
  };
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

export async function benchCdpProxy(options: BenchOptions = {}): Promise<BenchResults> {
  const iterations = options.iterations ?? 2000;
  const screenshots = options.screenshots ?? 24;
  const rounds = options.rounds ?? 4;
  const chrome = await launchChromium();
  const page = await servePage('browserfleet bench page', 400);
  // Never from inside the spawned sidecar itself: that would start benchmarks recursively.
  const childProcess = import.meta.url.endsWith('.js') && process.argv[2] !== '--sidecar';
  let proxy: ProxyEndpoint | undefined;
  try {
    proxy = childProcess
      ? await startSidecarProcess(chrome.httpUrl)
      : await startSidecarInProcess(chrome.httpUrl);
    const target = (await (
      await fetch(`${chrome.httpUrl}/json/new?${encodeURIComponent(page.url)}`, { method: 'PUT' })
    ).json()) as { id: string };
    const urls = {
      direct: {
        browser: chrome.wsEndpoint,
        page: `ws://127.0.0.1:${chrome.port}/devtools/page/${target.id}`,
      },
      sidecar: {
        browser: `ws://127.0.0.1:${proxy.port}/devtools/browser?token=${TOKEN}`,
        page: `ws://127.0.0.1:${proxy.port}/devtools/page/${target.id}?token=${TOKEN}`,
      },
    };
    const clients = {
      direct: {
        browser: await CdpClient.open(urls.direct.browser),
        page: await CdpClient.open(urls.direct.page),
      },
      sidecar: {
        browser: await CdpClient.open(urls.sidecar.browser),
        page: await CdpClient.open(urls.sidecar.page),
      },
    };
    await waitForLoad(clients.direct.page);
    const version = await clients.direct.browser.call<{ product: string }>('Browser.getVersion');
    const layout = await clients.direct.page.call<{ cssContentSize: { width: number; height: number } }>(
      'Page.getLayoutMetrics',
    );
    const screenshotParams = {
      format: 'png',
      captureBeyondViewport: true,
      clip: {
        x: 0,
        y: 0,
        width: layout.cssContentSize.width,
        height: layout.cssContentSize.height,
        scale: 1,
      },
    };

    const modes = ['direct', 'sidecar'] as const;
    const samples = {
      direct: { version: [] as bigint[], evaluate: [] as bigint[], shotNs: 0n, shotBytes: 0 },
      sidecar: { version: [] as bigint[], evaluate: [] as bigint[], shotNs: 0n, shotBytes: 0 },
    };
    for (const mode of modes) {
      // Warm-up: JIT, socket buffers, Chrome's first-screenshot costs.
      await timeCalls(clients[mode].browser, 200, 'Browser.getVersion', {}, []);
      await timeCalls(clients[mode].page, 200, 'Runtime.evaluate', { expression: '1+1' }, []);
      await clients[mode].page.call('Page.captureScreenshot', screenshotParams);
    }
    for (let round = 0; round < rounds; round++) {
      for (const mode of round % 2 === 0 ? modes : ([...modes].reverse() as (typeof modes)[number][])) {
        const c = clients[mode];
        const s = samples[mode];
        await timeCalls(c.browser, iterations / rounds, 'Browser.getVersion', {}, s.version);
        await timeCalls(c.page, iterations / rounds, 'Runtime.evaluate', { expression: '1+1' }, s.evaluate);
        const start = process.hrtime.bigint();
        for (let i = 0; i < screenshots / rounds; i++) {
          const shot = await c.page.call<{ data: string }>('Page.captureScreenshot', screenshotParams);
          s.shotBytes = Math.round((shot.data.length * 3) / 4);
        }
        s.shotNs += process.hrtime.bigint() - start;
      }
    }
    for (const mode of modes) {
      clients[mode].browser.close();
      clients[mode].page.close();
    }

    const result = (mode: (typeof modes)[number]): PathResult => ({
      browserGetVersion: stats(samples[mode].version),
      runtimeEvaluate: stats(samples[mode].evaluate),
      screenshotsPerSecond: Math.round((screenshots / (Number(samples[mode].shotNs) / 1e9)) * 100) / 100,
      screenshotBytes: samples[mode].shotBytes,
    });
    const direct = result('direct');
    const sidecar = result('sidecar');
    const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
    return {
      date: new Date().toISOString(),
      node: process.version,
      chrome: version.product,
      sidecarProcess: childProcess ? 'child' : 'in-process',
      iterations,
      screenshots,
      direct,
      sidecar,
      ratio: {
        browserGetVersionP50: ratio(sidecar.browserGetVersion.p50Us, direct.browserGetVersion.p50Us),
        runtimeEvaluateP50: ratio(sidecar.runtimeEvaluate.p50Us, direct.runtimeEvaluate.p50Us),
        screenshotsPerSecond: ratio(sidecar.screenshotsPerSecond, direct.screenshotsPerSecond),
      },
    };
  } finally {
    await proxy?.close();
    await page.close();
    await chrome.close();
  }
}

export function formatTable(r: BenchResults): string {
  const row = (name: string, d: string, s: string, ratio: string) =>
    `${name.padEnd(34)}${d.padStart(12)}${s.padStart(12)}${ratio.padStart(10)}`;
  const lines = [row('', 'direct', 'sidecar', 'ratio')];
  for (const [label, key] of [
    ['Browser.getVersion', 'browserGetVersion'],
    ['Runtime.evaluate 1+1 (page)', 'runtimeEvaluate'],
  ] as const) {
    for (const q of ['p50Us', 'p95Us', 'p99Us'] as const) {
      const d = r.direct[key][q];
      const s = r.sidecar[key][q];
      lines.push(row(`${label} ${q.replace('Us', '')} (µs)`, d.toFixed(1), s.toFixed(1), (s / d).toFixed(2)));
    }
  }
  const d = r.direct.screenshotsPerSecond;
  const s = r.sidecar.screenshotsPerSecond;
  lines.push(
    row(
      `full-page screenshots/s (${Math.round(r.direct.screenshotBytes / 1024)} KiB)`,
      d.toFixed(2),
      s.toFixed(2),
      (s / d).toFixed(2),
    ),
  );
  return lines.join('\n');
}

const invokedDirectly = process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (invokedDirectly && process.argv[2] === '--sidecar') {
  await runSidecar();
} else if (invokedDirectly) {
  const outFile = resolve(process.cwd(), 'bench/results/cdp-proxy.json');
  const results = await benchCdpProxy();
  await mkdir(dirname(outFile), { recursive: true });
  await writeFile(outFile, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`${results.chrome}, node ${results.node}, sidecar ${results.sidecarProcess}`);
  console.log(formatTable(results));
  console.log(`\nwritten to ${outFile} (${fileURLToPath(import.meta.url)})`);
}
