import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { V1Pod, V1Service } from '@kubernetes/client-node';
import type { BrowserProject, BrowserSession } from '../../api/index.js';
import { LABEL_SESSION } from '../../api/labels.js';
import { isAdmitted, isTerminal } from '../../api/session.js';
import { paths } from '../../shared/kube/client.js';
import type { ChaosEvent, OwnedKind } from './invariants.js';
import type { ChaosWorld } from './world.js';

const run = promisify(execFile);

/** A process of a pod on the chaos node, as the node agent recorded it. */
export interface PodProcess {
  namespace: string;
  pod: string;
  container: string;
  pid: number;
  netns?: string | undefined;
}

export async function podProcesses(world: Pick<ChaosWorld, 'nodeStateDir'>): Promise<PodProcess[]> {
  const dir = path.join(world.nodeStateDir, 'pods');
  const out: PodProcess[] = [];
  for (const uid of await readdir(dir).catch(() => [] as string[])) {
    const text = await readFile(path.join(dir, uid, 'state.json'), 'utf8').catch(() => '');
    if (!text) continue;
    try {
      const r = JSON.parse(text) as {
        namespace: string;
        name: string;
        netns?: string;
        processes: { container: string; pid: number }[];
      };
      for (const p of r.processes)
        out.push({ namespace: r.namespace, pod: r.name, container: p.container, pid: p.pid, netns: r.netns });
    } catch {
      // being rewritten while we read
    }
  }
  return out;
}

/**
 * The run's watch: lists the project's sessions, their pods and Services and the operator's Lease every
 * `intervalMs` (a list, not a watch stream, so that an API server restart costs nothing but the lists that
 * fail), and the node's network namespaces, and appends what changed to the log. A session the list no longer
 * has is logged as deleted.
 */
export function startObserver(
  world: ChaosWorld,
  log: ChaosEvent[],
  intervalMs = 250,
): { stop(): Promise<void>; netnsOf(session: string): string | undefined } {
  const P = world.projectNamespace;
  const last = new Map<string, string>();
  const sessions = new Set<string>();
  const owned = new Map<string, { kind: OwnedKind; session: string }>();
  const netnsSession = new Map<string, string>();
  let lastLease = '';
  let running = true;
  let tick = 0;

  const setOwned = (
    now: number,
    present: Map<string, { kind: OwnedKind; session: string }>,
    kinds: OwnedKind[],
  ) => {
    for (const [uid, o] of present)
      if (!owned.has(uid)) {
        owned.set(uid, o);
        log.push({ at: now, type: 'owned', kind: o.kind, session: o.session, uid, present: true });
      }
    for (const [uid, o] of owned)
      if (kinds.includes(o.kind) && !present.has(uid)) {
        owned.delete(uid);
        log.push({ at: now, type: 'owned', kind: o.kind, session: o.session, uid, present: false });
      }
  };

  const once = async () => {
    const project = await world.client.get<BrowserProject>(paths.project(world.project));
    const now0 = Date.now();
    if (!last.has('project')) {
      last.set('project', '');
      log.push({ at: now0, type: 'project', project: world.project, concurrency: project.spec.concurrency });
    }
    const [list, pods, services] = await Promise.all([
      world.client.get<{ items: BrowserSession[] }>(paths.sessions(P)),
      world.client.get<{ items: V1Pod[] }>(paths.pods(P), { labelSelector: LABEL_SESSION }),
      world.client.get<{ items: V1Service[] }>(paths.services(P), { labelSelector: LABEL_SESSION }),
    ]);
    const now = Date.now();
    const seen = new Set<string>();
    for (const s of list.items) {
      const name = s.metadata.name ?? '';
      seen.add(name);
      sessions.add(name);
      const e: ChaosEvent = {
        at: now,
        type: 'session',
        session: name,
        project: s.spec.project ?? '',
        admitted: isAdmitted(s),
        ended: isTerminal(s),
        endReason: s.status?.endReason,
        expiresAt: s.status?.expiresAt ? Date.parse(s.status.expiresAt) : undefined,
      };
      const key = JSON.stringify({ ...e, at: 0 });
      if (last.get(name) !== key) {
        last.set(name, key);
        log.push(e);
      }
    }
    for (const name of sessions)
      if (!seen.has(name)) {
        sessions.delete(name);
        log.push({ at: now, type: 'session-deleted', session: name });
      }
    const present = new Map<string, { kind: OwnedKind; session: string }>();
    for (const p of pods.items)
      present.set(p.metadata?.uid ?? '', { kind: 'Pod', session: p.metadata?.labels?.[LABEL_SESSION] ?? '' });
    for (const s of services.items)
      present.set(s.metadata?.uid ?? '', {
        kind: 'Service',
        session: s.metadata?.labels?.[LABEL_SESSION] ?? '',
      });
    setOwned(now, present, ['Pod', 'Service']);

    const lease = await world.client.get<{
      spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number };
    }>(paths.lease(world.releaseNamespace, world.leaseName));
    const leaseKey = `${lease.spec?.holderIdentity}/${lease.spec?.renewTime}`;
    if (leaseKey !== lastLease) {
      lastLease = leaseKey;
      log.push({
        at: Date.now(),
        type: 'lease',
        holder: lease.spec?.holderIdentity ?? '',
        renewedAt: lease.spec?.renewTime ? Date.parse(lease.spec.renewTime) : 0,
        leaseDurationMs: (lease.spec?.leaseDurationSeconds ?? 15) * 1000,
      });
    }
  };

  // Network namespaces: the node agent's records say which pod has which; `ip netns list` what exists.
  const netns = async () => {
    for (const p of await podProcesses(world))
      if (p.netns && p.pod.startsWith('browser-')) netnsSession.set(p.netns, p.pod.slice('browser-'.length));
    const { stdout } = await run('ip', ['netns', 'list']);
    const names = new Set(stdout.split('\n').map((l) => l.split(' ')[0] ?? ''));
    const present = new Map<string, { kind: OwnedKind; session: string }>();
    for (const [ns, session] of netnsSession)
      if (names.has(ns)) present.set(`netns/${ns}`, { kind: 'netns', session });
    setOwned(Date.now(), present, ['netns']);
  };

  const loop = (async () => {
    while (running) {
      const started = Date.now();
      await once().catch(() => undefined);
      if (tick++ % 4 === 0) await netns().catch(() => undefined);
      await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - (Date.now() - started))));
    }
  })();

  return {
    async stop() {
      running = false;
      await loop;
      // One last look, so that the end of the log says what is there now.
      await once().catch(() => undefined);
      await netns().catch(() => undefined);
    },
    netnsOf: (session) => [...netnsSession].find(([, s]) => s === session)?.[0],
  };
}
