import { LABEL_SESSION } from '../../api/labels.js';
import { paths } from '../../shared/kube/client.js';
import { containerPid, type PodContainer, runningContainers } from './containers.js';
import type { ChaosEvent } from './invariants.js';
import type { PlannedKill } from './schedule.js';
import type { ChaosWorld } from './world.js';

/**
 * Carries out the planned kills at their times: SIGKILL, from the host, to the process of a container — the
 * operator leader's (the pod the Lease names), a gateway replica's, a browser pod's sidecar or Chrome (found by
 * the container id its pod's status gives, in the container's cgroup) —, the node's kubelet (started again
 * after `kubeletDownMs`; the containers run on without it), and one API server restart. A kill with nothing to
 * kill (no browser pod at that moment) is logged as skipped.
 */
export async function runKills(
  kills: PlannedKill[],
  world: ChaosWorld,
  log: ChaosEvent[],
  startedAt: number,
  opts: { kubeletDownMs: number },
): Promise<{ done: Record<string, number>; skipped: string[] }> {
  const done: Record<string, number> = {};
  const skipped: string[] = [];
  for (const k of kills) {
    const wait = startedAt + k.atMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    // Nothing to kill (no browser pod right now, a container restarting): look again for a while.
    let detail = '';
    for (let attempt = 0; attempt < 20; attempt++) {
      detail = await killOne(k, world, opts).catch((err: unknown) => `failed: ${String(err)}`);
      if (!detail.startsWith('skipped')) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    if (detail.startsWith('skipped') || detail.startsWith('failed')) {
      skipped.push(`${k.target} at ${(k.atMs / 1000).toFixed(1)} s: ${detail}`);
      continue;
    }
    done[k.target] = (done[k.target] ?? 0) + 1;
  }
  return { done, skipped };

  async function killOne(k: PlannedKill, w: ChaosWorld, o: { kubeletDownMs: number }): Promise<string> {
    const pick = <T>(xs: T[]): T | undefined => xs[k.pick % Math.max(1, xs.length)];
    /** Logged at the moment of the kill, before anything waits on its effects. */
    const sigkill = async (c: PodContainer | undefined, what: string, session?: string) => {
      if (!c) return `skipped: no ${what}`;
      const pid = await containerPid(c.containerId);
      if (pid === undefined) return `skipped: no process for container ${c.containerId} of ${c.pod}`;
      process.kill(pid, 'SIGKILL');
      const detail = `${c.container} of ${c.pod} (pid ${pid})`;
      log.push({ at: Date.now(), type: 'kill', target: k.target, detail, session });
      return detail;
    };
    switch (k.target) {
      case 'operator-leader': {
        const lease = await w.client.get<{ spec?: { holderIdentity?: string } }>(
          paths.lease(w.releaseNamespace, w.leaseName),
        );
        const holder = lease.spec?.holderIdentity ?? '';
        const all = await runningContainers(w.client, [w.releaseNamespace]);
        const c = all.find((x) => x.pod === holder && x.container === 'operator');
        return sigkill(c, `running operator container for the leader ${holder || '(none)'}`);
      }
      case 'gateway': {
        const all = await runningContainers(w.client, [w.releaseNamespace]);
        return sigkill(pick(all.filter((x) => x.container === 'gateway')), 'running gateway container');
      }
      case 'sidecar':
      case 'chrome': {
        const all = await runningContainers(w.client, [w.projectNamespace], LABEL_SESSION);
        const c = pick(all.filter((x) => x.container === k.target));
        const session = c ? await sessionOf(w, c.pod) : undefined;
        return sigkill(c, `browser pod with a running ${k.target}`, session);
      }
      case 'kubelet': {
        // Logged as it is killed, open-ended (like the outage below), then closed when it serves again.
        const down: Extract<ChaosEvent, { type: 'kubelet-down' }> = {
          at: 0,
          type: 'kubelet-down',
          until: Number.POSITIVE_INFINITY,
        };
        let killed = 0;
        const { upAt } = await w.restartKubelet(o.kubeletDownMs, (at, pid) => {
          killed = pid;
          down.at = at;
          log.push({ at, type: 'kill', target: k.target, detail: `kubelet (pid ${pid})` }, down);
        });
        down.until = upAt;
        return `kubelet (pid ${killed}), serving again after ${((upAt - down.at) / 1000).toFixed(1)} s`;
      }
      case 'apiserver': {
        // Logged as it starts, open-ended, so that checks while it lasts know the API server is away.
        const outage: Extract<ChaosEvent, { type: 'outage' }> = {
          at: Date.now(),
          type: 'outage',
          until: Number.POSITIVE_INFINITY,
        };
        log.push(outage);
        const { downAt, upAt } = await w.plane.restartApiserver();
        outage.at = downAt;
        outage.until = upAt;
        return `restarted (down ${((upAt - downAt) / 1000).toFixed(1)} s)`;
      }
    }
  }
}

async function sessionOf(w: ChaosWorld, pod: string): Promise<string | undefined> {
  const p = await w.client
    .get<{ metadata?: { labels?: Record<string, string> } }>(paths.pod(w.projectNamespace, pod))
    .catch(() => undefined);
  return p?.metadata?.labels?.[LABEL_SESSION];
}
