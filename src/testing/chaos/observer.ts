import { execFile } from 'node:child_process';
import type { V1Pod, V1Service } from '@kubernetes/client-node';
import type { BrowserProject, BrowserSession } from '../../api/index.js';
import { LABEL_SESSION } from '../../api/labels.js';
import { isAdmitted, isTerminal } from '../../api/session.js';
import { paths } from '../../shared/kube/client.js';
import type { ChaosEvent, OwnedKind } from './invariants.js';
import type { ChaosWorld } from './world.js';

/**
 * The pods' network namespaces on this machine (containerd names them cni-<id>) by the address of their eth0:
 * name → IPv4 address. A namespace without one (being set up or torn down) is left out.
 */
export async function netnsAddresses(): Promise<Map<string, string>> {
  const stdout = await new Promise<string>((resolve) =>
    // Exits non-zero when any namespace has no eth0; what the others printed still counts.
    execFile('ip', ['-all', 'netns', 'exec', 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0'], (_err, out) =>
      resolve(String(out ?? '')),
    ),
  );
  const out = new Map<string, string>();
  let ns = '';
  for (const line of stdout.split('\n')) {
    const header = /^netns: (\S+)/.exec(line);
    if (header) ns = header[1] ?? '';
    const inet = /\binet (\d+\.\d+\.\d+\.\d+)\//.exec(line);
    if (inet && ns) out.set(ns, inet[1] ?? '');
  }
  return out;
}

/**
 * The run's watch: lists the project's sessions, their pods and Services and the operator's Lease every
 * `intervalMs` (a list, not a watch stream, so that an API server restart costs nothing but the lists that
 * fail), and the node's network namespaces (a browser pod's is the one holding its pod IP), and appends what
 * changed to the log. A session the list no longer has is logged as deleted.
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
  /** Browser pods' addresses as the pod lists showed them: IP → session. */
  const ipSession = new Map<string, string>();
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

  // One round trip per look (every request at once): how late the watch sees an end is part of what it measures.
  const once = async () => {
    if (!last.has('project')) {
      const project = await world.client.get<BrowserProject>(paths.project(world.project));
      last.set('project', '');
      log.push({
        at: Date.now(),
        type: 'project',
        project: world.project,
        concurrency: project.spec.concurrency,
      });
    }
    const [list, pods, services, lease] = await Promise.all([
      world.client.get<{ items: BrowserSession[] }>(paths.sessions(P)),
      world.client.get<{ items: V1Pod[] }>(paths.pods(P), { labelSelector: LABEL_SESSION }),
      world.client.get<{ items: V1Service[] }>(paths.services(P), { labelSelector: LABEL_SESSION }),
      world.client.get<{
        spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number };
      }>(paths.lease(world.releaseNamespace, world.leaseName)),
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
        endedAt: s.status?.endedAt ? Date.parse(s.status.endedAt) : undefined,
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
    for (const p of pods.items) {
      const session = p.metadata?.labels?.[LABEL_SESSION] ?? '';
      present.set(p.metadata?.uid ?? '', { kind: 'Pod', session });
      if (p.status?.podIP) ipSession.set(p.status.podIP, session);
    }
    for (const s of services.items)
      present.set(s.metadata?.uid ?? '', {
        kind: 'Service',
        session: s.metadata?.labels?.[LABEL_SESSION] ?? '',
      });
    setOwned(now, present, ['Pod', 'Service']);

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

  // Network namespaces: a namespace is a session's once it held that session's pod IP; it must go with it.
  const netns = async () => {
    const addresses = await netnsAddresses();
    for (const [ns, ip] of addresses) {
      const session = ipSession.get(ip);
      if (session && !netnsSession.has(ns)) netnsSession.set(ns, session);
    }
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) =>
      execFile('ip', ['netns', 'list'], (err, out) => (err ? reject(err) : resolve({ stdout: String(out) }))),
    );
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
