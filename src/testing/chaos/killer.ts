import type { V1Pod } from '@kubernetes/client-node';
import { paths } from '../../shared/kube/client.js';
import type { ChaosEvent } from './invariants.js';
import { podProcesses } from './observer.js';
import type { PlannedKill } from './schedule.js';
import type { ChaosWorld } from './world.js';

/**
 * Carries out the planned kills at their times: SIGKILL to the process of the operator leader (the pod the
 * Lease names), a gateway replica, a browser pod's sidecar or Chrome (found in the node agent's pod records),
 * the node agent itself (a separate process, started again after `nodeAgentDownMs`), and one API server restart.
 * A kill with nothing to kill (no browser pod at that moment) is logged as skipped.
 */
export async function runKills(
  kills: PlannedKill[],
  world: ChaosWorld,
  log: ChaosEvent[],
  startedAt: number,
  opts: { nodeAgentDownMs: number },
): Promise<{ done: Record<string, number>; skipped: string[] }> {
  const done: Record<string, number> = {};
  const skipped: string[] = [];
  for (const k of kills) {
    const wait = startedAt + k.atMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    // Nothing to kill (no browser pod right now, the node agent just restarted): look again for a while.
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
    // killOne logged these itself, at the moment of the kill (before waiting for anything)
    if (k.target === 'apiserver' || k.target === 'operator-leader' || k.target === 'node-agent') continue;
    log.push({ at: Date.now(), type: 'kill', target: k.target, detail });
  }
  return { done, skipped };

  async function killOne(k: PlannedKill, w: ChaosWorld, o: { nodeAgentDownMs: number }): Promise<string> {
    const procs = await podProcesses(w);
    const sigkill = (pid: number, what: string) => {
      process.kill(pid, 'SIGKILL');
      return `${what} (pid ${pid})`;
    };
    const pick = <T>(xs: T[]): T | undefined => xs[k.pick % Math.max(1, xs.length)];
    switch (k.target) {
      case 'operator-leader': {
        const lease = await w.client.get<{ spec?: { holderIdentity?: string } }>(
          paths.lease(w.releaseNamespace, w.leaseName),
        );
        const holder = lease.spec?.holderIdentity ?? '';
        const p = procs.find((x) => x.pod === holder && x.container === 'operator');
        if (!p) return `skipped: no process for the leader ${holder || '(none)'}`;
        log.push({ at: Date.now(), type: 'kill', target: k.target, detail: `leader ${holder}` });
        process.kill(p.pid, 'SIGKILL');
        return `leader ${holder} (pid ${p.pid})`;
      }
      case 'gateway': {
        const p = pick(procs.filter((x) => x.container === 'gateway'));
        return p ? sigkill(p.pid, `gateway ${p.pod}`) : 'skipped: no gateway process';
      }
      case 'sidecar':
      case 'chrome': {
        const running = await w.client.get<{ items: V1Pod[] }>(paths.pods(w.projectNamespace));
        const names = new Set(running.items.map((x) => x.metadata?.name));
        const p = pick(procs.filter((x) => x.container === k.target && names.has(x.pod)));
        return p ? sigkill(p.pid, `${k.target} of ${p.pod}`) : `skipped: no browser pod with a ${k.target}`;
      }
      case 'node-agent': {
        const pid = w.nodeAgent.pid();
        await w.nodeAgent.kill();
        log.push({ at: Date.now(), type: 'kill', target: k.target, detail: `node agent (pid ${pid})` });
        await new Promise((r) => setTimeout(r, o.nodeAgentDownMs));
        await w.nodeAgent.start();
        return `node agent (pid ${pid}), started again as pid ${w.nodeAgent.pid()}`;
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
