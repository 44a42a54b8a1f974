/**
 * `make bench`: the five benchmarks against one local stack started once (control plane, a real node with
 * kubelet and containerd, operator, gateway; bench/stack.ts), numbered as in the issue and run in that order
 * except that scale comes last (see there). The real node runs the browser pods of 1 and 2 and is taken down
 * before 3, whose pods are KWOK's (bench/kwok.ts); 4 and 5 run their "pods" on loopback. Each prints its table, always next
 * to a baseline measured in the same run on the same machine, and writes bench/results/<name>.json. Never part
 * of `make test`.
 *
 *   BF_BENCH_QUICK=1   smaller sizes, for trying the harness out (the figures are then not the published ones)
 *   BF_BENCH_SCALE=1000:1000:60:1,10000:1000:60:10   scale runs as sessions:expiring:timeoutSeconds:projects
 *   BF_BENCH_BUDGET_SECONDS=810   the time the whole run may take (the scale runs stop waiting at its end)
 *   BF_BENCH_PROFILE=operator   V8 CPU profiles of those child processes, in bench/results/logs/profiles
 *   BF_BENCH_ONLY=scale,gateway   run a subset (lifecycle, start-latency, scale, cdp-proxy, gateway); start-latency
 *                      reads the lifecycle's sessions; without either, no real node is started (and no root
 *                      is needed)
 *   BF_BENCH_KWOK_NODES=20   fake nodes for the scale runs (each takes a share of the largest run's pods)
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../src/shared/repo-root.js';
import { benchCdpProxy, formatCdpProxy } from './cdp-proxy.js';
import { benchGateway, formatGateway } from './gateway.js';
import { startKwok } from './kwok.js';
import { benchLifecycle, formatLifecycle } from './lifecycle.js';
import { banner, describeMachine, type Machine, writeResult } from './report.js';
import { benchScale, formatScale, type ScaleRun } from './scale.js';
import { type BenchStack, startBenchStack } from './stack.js';
import { benchStartLatency, formatStartLatency, StartObserver } from './start-latency.js';

const quick = process.env['BF_BENCH_QUICK'] === '1';
const sizes = {
  lifecycle: quick
    ? { sequential: 5, concurrency: 5, batches: 1 }
    : { sequential: 20, concurrency: 10, batches: 2 },
  scale: process.env['BF_BENCH_SCALE']
    ? process.env['BF_BENCH_SCALE'].split(',').map((x, i) => {
        const [sessions = 100, expiring = sessions, timeoutSeconds = 60, projects = 1] = x
          .split(':')
          .map(Number);
        return { sessions, expiring, timeoutSeconds, projects, baseline: i === 0 && sessions <= 2000 };
      })
    : quick
      ? [
          { sessions: 200, expiring: 200, timeoutSeconds: 20, projects: 1, baseline: true },
          { sessions: 500, expiring: 50, timeoutSeconds: 20, projects: 5, baseline: false },
        ]
      : [
          { sessions: 1000, expiring: 1000, timeoutSeconds: 60, projects: 1, baseline: true },
          { sessions: 10_000, expiring: 1000, timeoutSeconds: 60, projects: 10, baseline: false },
        ],
  cdpProxy: quick
    ? { iterations: 400, screenshots: 6, rounds: 2 }
    : { iterations: 2000, screenshots: 24, rounds: 4 },
  gateway: quick
    ? { idle: 50, active: 5, roundTrips: 100, rounds: 2 }
    : { idle: 200, active: 20, roundTrips: 300, rounds: 3 },
};

const NAMES = ['lifecycle', 'start-latency', 'scale', 'cdp-proxy', 'gateway'] as const;
const only = (process.env['BF_BENCH_ONLY'] ?? '').split(',').filter(Boolean);
for (const name of only) {
  if (!(NAMES as readonly string[]).includes(name)) {
    console.error(`BF_BENCH_ONLY: unknown benchmark "${name}" (known: ${NAMES.join(', ')})`);
    process.exit(2);
  }
}
const selected = (name: (typeof NAMES)[number]) => only.length === 0 || only.includes(name);
// Start latency is read from the lifecycle's sessions.
const realNode = selected('lifecycle') || selected('start-latency');
const kwokNodes = Number(process.env['BF_BENCH_KWOK_NODES'] ?? 20);
if (!Number.isInteger(kwokNodes) || kwokNodes < 1 || kwokNodes > 256) {
  console.error(
    `BF_BENCH_KWOK_NODES must be an integer from 1 to 256, not "${process.env['BF_BENCH_KWOK_NODES']}"`,
  );
  process.exit(2);
}

const started = Date.now();
/** `make bench` must finish within 15 minutes on this machine; the scale runs stretch to fill what is left. */
const BUDGET_MS = Number(process.env['BF_BENCH_BUDGET_SECONDS'] ?? 13.5 * 60) * 1000;
const TEARDOWN_RESERVE_MS = 45_000;
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s`;
const progress = (msg: string) => process.stderr.write(`[${elapsed()}] ${msg}\n`);

async function section<T>(
  name: string,
  title: string,
  machine: Machine,
  run: () => Promise<T>,
  format: (r: T) => string,
): Promise<T> {
  progress(`${title}…`);
  const t = Date.now();
  // Other work on the machine shows in every figure; the load average says how much there was.
  const loadBefore = os.loadavg()[0] ?? 0;
  const result = await run();
  const load = {
    before: Math.round(loadBefore * 100) / 100,
    after: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
  };
  const file = await writeResult(name, {
    benchmark: name,
    date: new Date().toISOString(),
    command: 'make bench',
    quick,
    machine,
    loadAverage1m: load,
    seconds: Math.round((Date.now() - t) / 100) / 10,
    ...result,
  });
  console.log(
    `${banner(title, machine)} | load avg ${load.before} → ${load.after}\n${format(result)}\n→ ${path.relative(repoRoot, file)}`,
  );
  return result;
}

async function main(): Promise<void> {
  if (!process.env['BF_TOOLS_BIN']) {
    // The source of truth for where `make tools` put the binaries (it owns the cache key).
    process.env['BF_TOOLS_BIN'] = execFileSync(
      'bash',
      ['-c', `source "${path.join(repoRoot, 'hack/tools-env.sh')}" && printf %s "$BF_TOOLS_BIN"`],
      { encoding: 'utf8' },
    );
  }
  process.env['BF_LOG'] ??= 'info';
  let stack: BenchStack | undefined;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    progress('stopping the stack…');
    await stack?.stop();
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  process.once('SIGTERM', () => void stop().then(() => process.exit(143)));
  try {
    stack = await startBenchStack(progress, { realNode });
    const s = stack;
    const machine = await describeMachine(s.kubernetesVersion);
    console.log(
      `browserfleet benchmarks${quick ? ' (BF_BENCH_QUICK: reduced sizes)' : ''}\n${banner('machine', machine)}`,
    );

    if (realNode) {
      const observer = new StartObserver(s.client, s.namespace);
      await observer.start();
      const lifecycle = await section(
        'lifecycle',
        '1. Lifecycle: create → connect → goto → release',
        machine,
        () => benchLifecycle(s, sizes.lifecycle, progress),
        formatLifecycle,
      );
      if (selected('start-latency')) {
        await section(
          'start-latency',
          '2. Start latency: create → Running, by part',
          machine,
          () => benchStartLatency(s.client, s.namespace, lifecycle, observer),
          formatStartLatency,
        );
      }
      await observer.stop();
    }
    if (selected('cdp-proxy')) {
      await section(
        'cdp-proxy',
        '4. CDP proxy overhead: direct vs sidecar vs gateway+sidecar',
        machine,
        () => benchCdpProxy(s, sizes.cdpProxy),
        formatCdpProxy,
      );
    }
    if (selected('gateway')) {
      await section(
        'gateway',
        '5. Gateway: concurrent idle and active CDP websockets',
        machine,
        () => benchGateway(s, sizes.gateway),
        formatGateway,
      );
    }
    // Last, although it is number 3: the 10,000-session run leaves its long-timeout sessions running, and only
    // the control plane's shutdown removes them cheaply. Its time budget is what is left of the 15 minutes.
    if (selected('scale')) {
      // The scale runs' pods go to KWOK's fake nodes; a kubelet and kube-proxy watching thousands of pods and
      // Services would only add their CPU to the figures. (4 and 5 keep the node: the operator's report
      // endpoint and the page listen on its bridge address.)
      if (s.node) {
        progress('taking the real node down…');
        await s.stopNode();
      }
      await section(
        'scale',
        '3. Scale: the operator with KWOK fake nodes and pods',
        machine,
        async () => {
          const runs: ScaleRun[] = [];
          const largest = Math.max(...sizes.scale.map((x) => x.sessions));
          const kwok = await startKwok(
            s.client,
            s.kubeconfig,
            {
              nodes: kwokNodes,
              // Room for the largest run with a fifth to spare (pods of an earlier run may still be going).
              podsPerNode: Math.max(110, Math.ceil((largest * 1.2) / kwokNodes)),
              logFile: path.join(s.logsDir, 'kwok.log'),
            },
            progress,
          );
          try {
            const budgetEnd = started + BUDGET_MS - TEARDOWN_RESERVE_MS;
            for (const [i, size] of sizes.scale.entries()) {
              const left = budgetEnd - Date.now();
              // Earlier runs get a share, so that a slow one cannot starve the later ones.
              const share = i === sizes.scale.length - 1 ? 1 : 0.55;
              runs.push(
                await benchScale(
                  s,
                  kwok,
                  { ...size, createConcurrency: 32, deadline: Date.now() + Math.max(30_000, left * share) },
                  progress,
                ),
              );
            }
          } finally {
            await kwok.stop();
          }
          return { runs, kwok: { nodes: kwok.nodes.length } };
        },
        (r) => formatScale(r.runs),
      );
    }
  } finally {
    await stop();
    progress('done');
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
