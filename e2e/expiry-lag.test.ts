import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserSession, isTerminal } from '../src/api/index.js';
import { paths } from '../src/shared/kube/client.js';
import { Informer } from '../src/shared/kube/informer.js';
import { uniqueName } from '../src/testing/cluster.js';
import { type SessionStack, startSessionStack } from '../src/testing/stack.js';
import { waitFor } from '../src/testing/wait.js';

// How late an expiry really is while browsers start: each round, one session expires while three new sessions
// start their Chromes on the node. The lag is taken from a watch (when the ended status reached the API
// server and came back, on this machine's clock) and from the status itself (endedAt - expiresAt). It is a
// measurement, printed, not a timed assertion: the machine's load decides it.

const ROUNDS = 3;
// Room for a start on a real node while the rest of the suite runs (create → Running takes 2–6 s then).
const TIMEOUT_SECONDS = 20;

let stack: SessionStack;
let watch: Informer<BrowserSession>;
/** When the watch first showed each session ended, epoch ms. */
const endSeen = new Map<string, number>();

beforeAll(async () => {
  stack = await startSessionStack({ prefix: 'lag', project: { concurrency: 10, maxQueued: 10 } });
  watch = new Informer<BrowserSession>(stack.client, paths.sessions(stack.namespace));
  watch.onChange((s) => {
    const name = s.metadata.name ?? '';
    if (isTerminal(s) && !endSeen.has(name)) endSeen.set(name, Date.now());
  });
  await watch.start();
});

afterAll(async () => {
  await watch?.stop();
  await stack?.stop();
});

async function create(timeout: number): Promise<string> {
  const name = uniqueName('lag');
  await stack.client.create(paths.sessions(stack.namespace), {
    apiVersion: 'browserfleet.dev/v1alpha1',
    kind: 'BrowserSession',
    metadata: { name, namespace: stack.namespace },
    spec: { project: stack.project, timeout },
  });
  return name;
}

const cached = (name: string) => watch.get(name, stack.namespace);

describe('expiry under load', () => {
  it('ends an expiring session while three Chromes start; prints the lag', async () => {
    const rounds: { watchLagMs: number; statusLagMs: number }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const expiring = await create(TIMEOUT_SECONDS);
      const running = await waitFor(
        'expiring session Running',
        async () => {
          const s = cached(expiring);
          if (s && isTerminal(s))
            throw new Error(`ended before it ran, the start took too long: ${JSON.stringify(s.status)}`);
          return s?.status?.phase === 'Running' ? s : undefined;
        },
        60_000,
      );
      const expiresAt = Date.parse(running.status?.expiresAt ?? '');
      // The three start so that their Chromes come up around the expiry (a start takes about a second here).
      await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now() - 700)));
      const starting = await Promise.all([1, 2, 3].map(() => create(120)));
      const ended = await waitFor('expired', async () =>
        endSeen.has(expiring) ? cached(expiring) : undefined,
      );
      expect(ended.status?.phase).toBe('TimedOut');
      const endedAt = Date.parse(ended.status?.endedAt ?? '');
      expect(endedAt).toBeGreaterThanOrEqual(expiresAt);
      rounds.push({ watchLagMs: (endSeen.get(expiring) ?? 0) - expiresAt, statusLagMs: endedAt - expiresAt });
      await waitFor(
        'the three Running',
        async () => starting.every((n) => cached(n)?.status?.phase === 'Running'),
        90_000,
      );
      for (const n of starting)
        await stack.client.mergePatch(paths.session(stack.namespace, n), { spec: { release: true } });
      await waitFor('the three ended', async () => starting.every((n) => endSeen.has(n)), 60_000);
    }
    const max = (k: 'watchLagMs' | 'statusLagMs') => Math.max(...rounds.map((r) => r[k]));
    console.log(
      `expiry lag with 3 Chromes starting (${ROUNDS} rounds): watch ${rounds.map((r) => r.watchLagMs).join(', ')} ms (max ${max('watchLagMs')}); endedAt - expiresAt ${rounds.map((r) => r.statusLagMs).join(', ')} ms (max ${max('statusLagMs')})`,
    );
  }, 300_000);
});
