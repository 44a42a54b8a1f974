import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserSession, isAdmitted, isTerminal } from '../api/index.js';
import { type KubeClient, paths } from '../shared/kube/client.js';
import { Informer } from '../shared/kube/informer.js';
import { projectFixture, testClient, testKubeconfig } from '../testing/cluster.js';
import { waitFor } from '../testing/wait.js';
import { loadConfig } from './config.js';
import { type Operator, startOperator } from './operator.js';

// Quota and queue against the real control plane. Pods stay unscheduled (no node matches), so admitted
// sessions hold their place as Starting until the test ends them.

let client: KubeClient;
const cleanups: (() => Promise<void>)[] = [];
const operators: Operator[] = [];

async function operatorFor(namespace: string): Promise<Operator> {
  const c = loadConfig({
    BF_SESSION_KEY: 'quota-test-key-0123456789abcdef',
    BF_NAMESPACE: namespace,
    BF_WATCH_NAMESPACE: namespace,
  });
  const op = await startOperator(
    {
      ...c,
      metricsListen: '127.0.0.1:0',
      reportListen: '127.0.0.1:0',
      nodeSelector: { 'browserfleet.dev/test': 'no-such-node' },
      leaderElection: { ...c.leaderElection, enabled: false },
    },
    testKubeconfig(),
  );
  operators.push(op);
  return op;
}

async function project(spec: { concurrency: number; maxQueued: number }) {
  const f = await projectFixture(client, spec, 'quota');
  cleanups.push(f.cleanup);
  return f;
}

/** Creates sessions all at once; returns their names in the order the API server committed them. */
async function createConcurrently(namespace: string, projectName: string, n: number): Promise<string[]> {
  const created = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      client.create<BrowserSession>(paths.sessions(namespace), {
        apiVersion: 'browserfleet.dev/v1alpha1',
        kind: 'BrowserSession',
        metadata: { name: `q${i}`, namespace },
        spec: { project: projectName, timeout: 600 },
      }),
    ),
  );
  return created
    .sort((a, b) =>
      Number(BigInt(a.metadata.resourceVersion ?? '0') - BigInt(b.metadata.resourceVersion ?? '0')),
    )
    .map((s) => s.metadata.name ?? '');
}

async function list(namespace: string): Promise<BrowserSession[]> {
  return (await client.get<{ items: BrowserSession[] }>(paths.sessions(namespace))).items;
}

/** Watches a namespace and records the most sessions ever admitted at once, as seen event by event. */
async function admittedWatcher(namespace: string) {
  const informer = new Informer<BrowserSession>(client, paths.sessions(namespace));
  let max = 0;
  const admittedNow = () => informer.list().filter((s) => isAdmitted(s)).length;
  informer.onChange(() => {
    max = Math.max(max, admittedNow());
  });
  await informer.start();
  return { max: () => max, stop: () => informer.stop() };
}

const release = (namespace: string, name: string) =>
  client.mergePatch(paths.session(namespace, name), { spec: { release: true } });

beforeAll(async () => {
  client = await testClient();
});

afterEach(async () => {
  for (const op of operators.splice(0)) await op.stop();
});

afterAll(async () => {
  for (const c of cleanups) await c();
  client.close();
});

describe('per-project quota with a fair queue', () => {
  it('50 concurrent creates with concurrency 3: exactly 3 admitted at any moment, the rest queued in creation order, each admitted as one ends', async () => {
    const { namespace, project: projectName } = await project({ concurrency: 3, maxQueued: 100 });
    await operatorFor(namespace);
    const watcher = await admittedWatcher(namespace);
    const order = await createConcurrently(namespace, projectName, 50);

    await waitFor('all 50 admitted or queued', async () => {
      const s = await list(namespace);
      return (
        s.filter((x) => x.status?.phase === 'Queued').length === 47 &&
        s.filter((x) => x.status?.phase === 'Starting').length === 3
      );
    });
    let sessions = await list(namespace);
    const byName = new Map(sessions.map((s) => [s.metadata.name ?? '', s]));
    expect(order.slice(0, 3).every((n) => byName.get(n)?.status?.phase === 'Starting')).toBe(true);
    await waitFor(
      'queue positions follow creation order',
      async () => {
        const all = await list(namespace);
        const now = new Map(all.map((s) => [s.metadata.name ?? '', s.status?.queuePosition]));
        const ok = order.slice(3).every((n, i) => now.get(n) === i + 1);
        if (!ok && process.env['BF_DEBUG_QUEUE']) {
          const byN = new Map(all.map((s) => [s.metadata.name ?? '', s]));
          console.log(
            order
              .map(
                (n, i) =>
                  `${n}:want=${i - 2}:got=${byN.get(n)?.status?.queuePosition}:${byN.get(n)?.status?.phase}:cr=${byN.get(n)?.status?.creationRevision}:ts=${byN.get(n)?.metadata.creationTimestamp}`,
              )
              .join('\n'),
          );
        }
        return ok;
      },
      20_000,
      2000,
    );

    // End the admitted ones one by one: the head of the queue takes each freed place, in creation order.
    const admissionMs: number[] = [];
    for (let round = 0; round < 6; round++) {
      sessions = await list(namespace);
      const admitted = sessions.filter((s) => isAdmitted(s)).map((s) => s.metadata.name ?? '');
      const victim = admitted[0] ?? '';
      const next = order[3 + round] ?? '';
      const t = Date.now();
      await release(namespace, victim);
      const s = await waitFor(`${next} admitted`, async () => {
        const x = await client.get<BrowserSession>(paths.session(namespace, next));
        return isAdmitted(x) ? x : undefined;
      });
      admissionMs.push(Date.parse(s.status?.startedAt ?? '') - t);
      const live = (await list(namespace)).filter((x) => isAdmitted(x));
      expect(live).toHaveLength(3);
    }
    expect(watcher.max()).toBe(3);
    await watcher.stop();
    admissionMs.sort((a, b) => a - b);
    console.log(
      `admission after a place frees (release write → startedAt): median ${admissionMs[3]} ms, max ${admissionMs[5]} ms`,
    );
  });

  it('ends a session past maxQueued at once as Failed/QuotaExceeded', async () => {
    const { namespace, project: projectName } = await project({ concurrency: 1, maxQueued: 2 });
    await operatorFor(namespace);
    const order = await createConcurrently(namespace, projectName, 5);
    await waitFor('decided', async () =>
      (await list(namespace)).every((s) => s.status?.phase && s.status.phase !== 'Pending'),
    );
    const byName = new Map((await list(namespace)).map((s) => [s.metadata.name ?? '', s]));
    expect(order.map((n) => byName.get(n)?.status?.phase)).toEqual([
      'Starting',
      'Queued',
      'Queued',
      'Failed',
      'Failed',
    ]);
    expect(byName.get(order[4] ?? '')?.status?.endReason).toBe('QuotaExceeded');
  });

  it('stays exact and keeps the order across an operator restart while sessions are queued', async () => {
    const { namespace, project: projectName } = await project({ concurrency: 2, maxQueued: 20 });
    const first = await operatorFor(namespace);
    const order = await createConcurrently(namespace, projectName, 8);
    await waitFor(
      'queued',
      async () => (await list(namespace)).filter((s) => s.status?.phase === 'Queued').length === 6,
    );
    await first.stop();
    operators.splice(operators.indexOf(first), 1);
    // While the operator is down, a place frees and a queued session leaves.
    const admitted = (await list(namespace)).filter((s) => isAdmitted(s)).map((s) => s.metadata.name ?? '');
    await release(namespace, admitted[0] ?? '');
    await release(namespace, order[3] ?? '');
    await operatorFor(namespace);
    await waitFor('next admitted', async () =>
      isAdmitted(await client.get<BrowserSession>(paths.session(namespace, order[2] ?? ''))),
    );
    const sessions = await waitFor('positions settled', async () => {
      const s = await list(namespace);
      const q = s.filter((x) => x.status?.phase === 'Queued');
      const positions = new Set(q.map((x) => x.status?.queuePosition));
      return q.length === 4 && [1, 2, 3, 4].every((p) => positions.has(p)) ? s : undefined;
    });
    const byName = new Map(sessions.map((s) => [s.metadata.name ?? '', s]));
    expect(sessions.filter((s) => isAdmitted(s))).toHaveLength(2);
    expect(byName.get(order[3] ?? '')?.status?.endReason).toBe('Released');
    expect([4, 5, 6, 7].map((i) => byName.get(order[i] ?? '')?.status?.queuePosition)).toEqual([1, 2, 3, 4]);
  });

  it('keeps projects independent: a full project never blocks another', async () => {
    const a = await project({ concurrency: 1, maxQueued: 10 });
    const b = await project({ concurrency: 2, maxQueued: 10 });
    await operatorFor(a.namespace);
    await operatorFor(b.namespace);
    await createConcurrently(a.namespace, a.project, 4);
    await createConcurrently(b.namespace, b.project, 2);
    await waitFor(
      'a decided',
      async () => (await list(a.namespace)).filter((s) => s.status?.phase === 'Queued').length === 3,
    );
    await waitFor(
      'b admitted',
      async () => (await list(b.namespace)).filter((s) => isAdmitted(s)).length === 2,
    );
    const status = await waitFor('project status counts', async () => {
      const p = await client.get<{ status?: { starting?: number; queued?: number } }>(
        paths.project(a.project),
      );
      return p.status?.starting === 1 && p.status.queued === 3 ? p.status : undefined;
    });
    expect(status).toEqual(expect.objectContaining({ starting: 1, queued: 3 }));
    expect((await list(b.namespace)).some((s) => isTerminal(s))).toBe(false);
  });
});
