/**
 * Lifecycle, as BrowserArena measures it: create → CDP connect → goto → release, through the official
 * Browserbase SDK and playwright-core against the gateway, with real browser pods on the local node. The
 * baseline, in the same run: launch the same Chromium with the same flags on the host, connect, goto, close.
 */
import Browserbase from '@browserbasehq/sdk';
import { chromium } from 'playwright-core';
import { launchChrome } from './chrome.js';
import { type Cell, type Percentiles, percentiles, ratio, table } from './report.js';
import type { BenchStack } from './stack.js';

export interface LifecycleOptions {
  sequential: number;
  /** Sessions started at once in each concurrent batch. */
  concurrency: number;
  batches: number;
}

const STEPS = ['create', 'connect', 'goto', 'release', 'total'] as const;
type Step = (typeof STEPS)[number];
type StepTimes = Record<Step, number>;

export interface PlatformRun {
  times: StepTimes;
  sessionId: string;
  /** Wall clock when the create request was sent, for the start-latency breakdown. */
  createSentAt: number;
  mode: 'sequential' | 'concurrent';
}

export interface BaselineRun {
  times: StepTimes;
  /** Spawn to "DevTools listening on": bare Chrome start, the start-latency baseline. */
  devtoolsMs: number;
  mode: 'sequential' | 'concurrent';
}

type Summary = Record<Step, Percentiles>;

export interface LifecycleResults {
  options: LifecycleOptions;
  pageUrl: string;
  sequential: { platform: Summary; baseline: Summary };
  concurrent: { platform: Summary; baseline: Summary };
  runs: { platform: PlatformRun[]; baseline: BaselineRun[] };
}

async function platformRun(stack: BenchStack, mode: PlatformRun['mode']): Promise<PlatformRun> {
  const bb = new Browserbase({ apiKey: stack.apiKey, baseURL: stack.gatewayUrl });
  const t0 = performance.now();
  const createSentAt = Date.now();
  const session = await bb.sessions.create({ projectId: stack.project });
  const t1 = performance.now();
  const browser = await chromium.connectOverCDP(session.connectUrl);
  const t2 = performance.now();
  let t3: number;
  try {
    const context = browser.contexts()[0] ?? (await browser.newContext());
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(stack.pageUrl, { waitUntil: 'load' });
    t3 = performance.now();
  } finally {
    await browser.close();
  }
  const released = await bb.sessions.update(session.id, { status: 'REQUEST_RELEASE' });
  const t4 = performance.now();
  if (released.status !== 'COMPLETED')
    throw new Error(`session ${session.id} is ${released.status} after release`);
  return {
    times: { create: t1 - t0, connect: t2 - t1, goto: t3 - t2, release: t4 - t3, total: t4 - t0 },
    sessionId: session.id,
    createSentAt,
    mode,
  };
}

async function baselineRun(pageUrl: string, mode: BaselineRun['mode']): Promise<BaselineRun> {
  const t0 = performance.now();
  const chrome = await launchChrome();
  const t1 = performance.now();
  let t3 = 0;
  try {
    const browser = await chromium.connectOverCDP(chrome.wsEndpoint);
    const t2 = performance.now();
    const context = browser.contexts()[0] ?? (await browser.newContext());
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(pageUrl, { waitUntil: 'load' });
    t3 = performance.now();
    await browser.close();
    await chrome.close();
    const t4 = performance.now();
    return {
      times: { create: t1 - t0, connect: t2 - t1, goto: t3 - t2, release: t4 - t3, total: t4 - t0 },
      devtoolsMs: chrome.startMs,
      mode,
    };
  } finally {
    if (t3 === 0) await chrome.close();
  }
}

function summarize(runs: { times: StepTimes }[]): Summary {
  return Object.fromEntries(STEPS.map((s) => [s, percentiles(runs.map((r) => r.times[s]))])) as Summary;
}

export async function benchLifecycle(
  stack: BenchStack,
  options: LifecycleOptions,
  progress: (msg: string) => void,
): Promise<LifecycleResults> {
  const platform: PlatformRun[] = [];
  const baseline: BaselineRun[] = [];
  // Warm-up, not counted: the first Chromium start reads its files from disk, the first connect compiles code.
  await baselineRun(stack.pageUrl, 'sequential');
  await platformRun(stack, 'sequential');
  // Alternating, so that whatever drifts during the run (page cache, etcd compaction) hits both alike.
  for (let i = 0; i < options.sequential; i++) {
    platform.push(await platformRun(stack, 'sequential'));
    baseline.push(await baselineRun(stack.pageUrl, 'sequential'));
  }
  progress(`lifecycle: ${options.sequential} sequential runs done`);
  for (let b = 0; b < options.batches; b++) {
    const n = options.concurrency;
    platform.push(...(await Promise.all(Array.from({ length: n }, () => platformRun(stack, 'concurrent')))));
    baseline.push(
      ...(await Promise.all(Array.from({ length: n }, () => baselineRun(stack.pageUrl, 'concurrent')))),
    );
  }
  progress(`lifecycle: ${options.batches}×${options.concurrency} concurrent runs done`);
  const pick = <T extends { mode: string }>(runs: T[], mode: string) => runs.filter((r) => r.mode === mode);
  return {
    options,
    pageUrl: stack.pageUrl,
    sequential: {
      platform: summarize(pick(platform, 'sequential')),
      baseline: summarize(pick(baseline, 'sequential')),
    },
    concurrent: {
      platform: summarize(pick(platform, 'concurrent')),
      baseline: summarize(pick(baseline, 'concurrent')),
    },
    runs: { platform, baseline },
  };
}

export function formatLifecycle(r: LifecycleResults): string {
  const section = (title: string, s: { platform: Summary; baseline: Summary }, n: number) => {
    const rows: Cell[][] = STEPS.map((step) => {
      const p = s.platform[step];
      const b = s.baseline[step];
      return [step, p.p50, p.p95, p.p99, b.p50, b.p95, b.p99, ratio(p.p50, b.p50), p.p50 - b.p50];
    });
    return [
      `${title} (n=${n} each; ms)`,
      table(
        [
          'step',
          'bf p50',
          'bf p95',
          'bf p99',
          'chrome p50',
          'chrome p95',
          'chrome p99',
          'ratio p50',
          '+ms p50',
        ],
        rows,
      ),
    ].join('\n');
  };
  const o = r.options;
  return [
    'browserfleet (bf): Browserbase SDK create → playwright connectOverCDP(connectUrl) → goto → close + release',
    'chrome (baseline): spawn the same Chromium with the same flags → connectOverCDP → goto → close + kill',
    section('sequential', r.sequential, o.sequential),
    section(`concurrent, ${o.concurrency} at a time`, r.concurrent, o.concurrency * o.batches),
    'Compare totals: the baseline\'s connect includes start-up work Chrome still does after "DevTools listening",',
    "while a session's Chrome has answered its sidecar before the session is Running (inside bf's create).",
    'Reference points (BrowserArena, June 2026, lifecycle p50): best self-hosted 224 ms, Browserbase 578 ms, Hyperbrowser 1.7 s.',
  ].join('\n');
}
