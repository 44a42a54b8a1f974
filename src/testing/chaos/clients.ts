import Browserbase from '@browserbasehq/sdk';
import { chromium } from 'playwright-core';
import { AFTER_EXPIRY_STEP, type ChaosEvent } from './invariants.js';
import type { ClientPlan } from './schedule.js';

/**
 * The run's clients, through the official SDKs: each creates a session with the Browserbase SDK, connects and
 * disconnects with Playwright as its plan says, and then releases the session or lets it expire (and tries
 * once more to connect, which must fail with an error that says so). Every step is logged with what it got;
 * a step that gets no answer within `stepDeadlineMs` is logged as a hang.
 */
export interface ClientsOptions {
  gatewayUrl: string;
  apiKey: string;
  parallel: number;
  stepDeadlineMs: number;
  /** The project's defaultTimeout: the Browserbase API takes 60 s at least, so sessions get the project's. */
  timeoutSeconds: number;
  /** Milliseconds from the run's start. */
  startedAt: number;
}

type Outcome = {
  outcome: 'ok' | 'error' | 'hang';
  status?: number | undefined;
  message?: string | undefined;
};

async function step<T>(
  deadlineMs: number,
  fn: () => Promise<T>,
): Promise<{ value?: T | undefined; result: Outcome }> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<'hang'>((r) => {
    timer = setTimeout(() => r('hang'), deadlineMs);
  });
  try {
    const v = await Promise.race([fn(), hang]);
    if (v === 'hang') return { result: { outcome: 'hang' } };
    return { value: v as T, result: { outcome: 'ok' } };
  } catch (err) {
    const e = err as { status?: number; message?: string };
    // Playwright puts the gateway's answer to the WebSocket upgrade in its message: "ws://… 410 Gone".
    const upgrade = /WebSocket error: \S+ (\d{3}) /.exec(e.message ?? '')?.[1];
    return {
      result: {
        outcome: 'error',
        status: typeof e.status === 'number' ? e.status : upgrade ? Number(upgrade) : undefined,
        message: e.message,
      },
    };
  } finally {
    clearTimeout(timer);
  }
}

export async function runClients(
  plans: ClientPlan[],
  opts: ClientsOptions,
  log: ChaosEvent[],
): Promise<void> {
  const bb = new Browserbase({
    apiKey: opts.apiKey,
    baseURL: opts.gatewayUrl,
    maxRetries: 0,
    timeout: 20_000,
  });
  const record = (client: number, session: string | undefined, stepName: string, r: Outcome) =>
    log.push({ at: Date.now(), type: 'client', client, session, step: stepName, ...r });

  const one = async (plan: ClientPlan) => {
    const created = await step(opts.stepDeadlineMs, () => bb.sessions.create({ keepAlive: plan.keepAlive }));
    record(plan.client, created.value?.id, 'create', created.result);
    const session = created.value;
    if (!session) return;
    for (const [i, holdMs] of plan.connectionsMs.entries()) {
      // Which part of the connection a hang is in: the upgrade, the page, or the close.
      let phase = 'connectOverCDP';
      // The server closing the connection is an answer (the gateway closes it with 4410 and the reason when the
      // session ends). Playwright 1.65's newPage never settles when the connection closes while it initializes
      // the new page (a few page-session messages after Target.createTarget's answer; reproduced against a
      // plain proxy in front of Chromium, no browserfleet involved), though its 'disconnected' fires: so every
      // step also ends on that event. A hang with the connection still open stays a hang.
      const began = Date.now();
      let disconnectedAfterMs: number | undefined;
      const connected = await step(opts.stepDeadlineMs, async () => {
        const browser = await chromium.connectOverCDP(session.connectUrl, { timeout: 15_000 });
        const closedByServer = new Promise<never>((_, reject) =>
          browser.on('disconnected', () => {
            disconnectedAfterMs ??= Date.now() - began;
            reject(
              new Error(`the connection was closed during ${phase} (the session ended or its browser went)`),
            );
          }),
        );
        closedByServer.catch(() => undefined);
        try {
          phase = 'newPage';
          const page = await Promise.race([
            (browser.contexts()[0] ?? (await browser.newContext())).newPage(),
            closedByServer,
          ]);
          phase = 'goto';
          await Promise.race([page.goto('about:blank'), closedByServer]);
          phase = 'hold';
          await new Promise((r) => setTimeout(r, holdMs));
        } finally {
          phase = 'close';
          await browser.close().catch(() => undefined);
        }
      });
      record(
        plan.client,
        session.id,
        `connect ${i + 1}`,
        connected.result.outcome === 'hang'
          ? {
              outcome: 'hang',
              message: `in ${phase}; ${
                disconnectedAfterMs === undefined
                  ? 'the connection stayed open'
                  : `the connection closed ${disconnectedAfterMs} ms after the step began`
              }`,
            }
          : connected.result,
      );
    }
    if (plan.release) {
      const released = await step(opts.stepDeadlineMs, () =>
        bb.sessions.update(session.id, { status: 'REQUEST_RELEASE' }),
      );
      record(plan.client, session.id, 'release', released.result);
      return;
    }
    // Let it expire; then a connect is refused (an error with a reason, checked like every other step).
    // The timeout counts from admission, which may be later than the create (a queued session): wait for the
    // session's own expiresAt, as the gateway tells it.
    const seen = await step(opts.stepDeadlineMs, async () => {
      // A session still queued has no deadline of its own yet.
      for (;;) {
        const got = await bb.sessions.retrieve(session.id);
        if (got.status !== 'PENDING') return got;
        await new Promise((r) => setTimeout(r, 500));
      }
    });
    record(plan.client, session.id, 'retrieve', seen.result);
    const expiresAt = seen.value?.expiresAt ? Date.parse(seen.value.expiresAt) : Number.NaN;
    const until = Number.isNaN(expiresAt) ? Date.now() + opts.timeoutSeconds * 1000 : expiresAt;
    await new Promise((r) => setTimeout(r, Math.max(0, until + 2000 - Date.now())));
    const late = await step(opts.stepDeadlineMs, async () => {
      const browser = await chromium.connectOverCDP(session.connectUrl, { timeout: 15_000 });
      await browser.close();
    });
    record(plan.client, session.id, AFTER_EXPIRY_STEP, late.result);
  };

  // `parallel` clients at a time, each starting no earlier than its planned time.
  const queue = [...plans];
  const workers = Array.from({ length: opts.parallel }, async () => {
    for (;;) {
      const plan = queue.shift();
      if (!plan) return;
      const wait = opts.startedAt + plan.startMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await one(plan);
    }
  });
  await Promise.all(workers);
}
