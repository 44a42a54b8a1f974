import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { cidrContains, parseCidr } from '../shared/cidr.js';

/**
 * What make dev checks before it starts anything, so that it refuses with the reason instead of failing half-way:
 * one real node per machine (the kubelet's port, the kubepods cgroups and the KUBE-* chains are machine-wide),
 * make dev's pod range and bridge free, its ports free, and root (a kubelet needs it).
 */
export interface HostFacts {
  uid: number;
  /** Kubelets running on this machine, with the node state dir their --root-dir lies in (if it says). */
  kubelets: { pid: number; stateDir?: string }[];
  /** Network interfaces with their IPv4 addresses and prefixes. */
  interfaces: { name: string; addresses: { ip: string; prefix: number }[] }[];
  /** The make dev process that last ran from this checkout, if its pid file is there. */
  previousDev?: { pid: number; alive: boolean };
  /** The dev node's state dir holds a node that was brought up and not taken down. */
  leftoverNode: boolean;
  /** Loopback ports make dev listens on that something else holds. */
  busyPorts: number[];
}

export interface DevHost {
  stateDir: string;
  podCIDR: string;
  bridge: string;
}

export type Verdict =
  | { kind: 'go' }
  /** A node make dev left when it was killed (its kubelet outlives it): take it down, then look again. */
  | { kind: 'take-down-leftover'; why: string }
  | { kind: 'refuse'; reasons: string[] };

export function decidePreflight(facts: HostFacts, dev: DevHost): Verdict {
  const reasons: string[] = [];
  if (facts.uid !== 0) reasons.push('make dev runs a kubelet and containerd, which need root');
  if (facts.previousDev?.alive) {
    reasons.push(`make dev already runs from this checkout (pid ${facts.previousDev.pid}); stop it first`);
    return { kind: 'refuse', reasons };
  }
  const ours = facts.kubelets.filter((k) => k.stateDir === dev.stateDir);
  const others = facts.kubelets.filter((k) => k.stateDir !== dev.stateDir);
  for (const k of others) {
    reasons.push(
      `another real node is up on this machine: kubelet pid ${k.pid}` +
        (k.stateDir
          ? ` from ${k.stateDir} (take it down with hack/real-node.sh down ${k.stateDir}, or wait for ` +
            'the run that holds /tmp/bf-cluster.lock)'
          : '') +
        '; only one node can run per machine',
    );
  }
  if (reasons.length === 0 && (ours.length > 0 || facts.leftoverNode)) {
    return {
      kind: 'take-down-leftover',
      why: `the node of a make dev that did not stop (${ours.length > 0 ? `its kubelet pid ${ours.map((k) => k.pid).join(', ')} still runs` : 'its state is still there'})`,
    };
  }
  const range = parseCidr(dev.podCIDR);
  for (const i of facts.interfaces) {
    if (i.name === dev.bridge) {
      reasons.push(
        `interface ${i.name} exists already: make dev's node creates it (a localnode or another stack?)`,
      );
      continue;
    }
    const clash = i.addresses.find((a) => cidrContains(range, a.ip));
    if (clash) {
      reasons.push(
        `interface ${i.name} has ${clash.ip}/${clash.prefix}, an address in make dev's pod range ` +
          `${dev.podCIDR} (another node agent or a benchmark on this network?)`,
      );
    }
  }
  for (const port of facts.busyPorts) {
    reasons.push(
      `127.0.0.1:${port} is in use${port === 8080 ? ' (BF_DEV_GATEWAY_PORT picks another for the gateway)' : ''}`,
    );
  }
  return reasons.length > 0 ? { kind: 'refuse', reasons } : { kind: 'go' };
}

/** Reads the facts from /proc, `ip` and the ports. */
export async function observeHost(dev: DevHost, devPidFile: string, ports: number[]): Promise<HostFacts> {
  const kubelets: HostFacts['kubelets'] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'kubelet') continue;
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const rootDir = args.find((a) => a.startsWith('--root-dir='))?.slice('--root-dir='.length);
      // hack/real-node.sh gives the kubelet <state>/kubelet/root.
      const stateDir = rootDir?.endsWith('/kubelet/root') ? path.dirname(path.dirname(rootDir)) : undefined;
      kubelets.push({ pid: Number(entry), ...(stateDir ? { stateDir } : {}) });
    } catch {
      // The process ended while we looked.
    }
  }
  const links = JSON.parse(execFileSync('ip', ['-j', '-4', 'addr', 'show'], { encoding: 'utf8' })) as {
    ifname: string;
    addr_info?: { local: string; prefixlen: number }[];
  }[];
  const interfaces = links.map((l) => ({
    name: l.ifname,
    addresses: (l.addr_info ?? []).map((a) => ({ ip: a.local, prefix: a.prefixlen })),
  }));
  let previousDev: HostFacts['previousDev'];
  if (existsSync(devPidFile)) {
    const pid = Number(readFileSync(devPidFile, 'utf8'));
    if (Number.isInteger(pid) && pid > 0) previousDev = { pid, alive: pid !== process.pid && isDev(pid) };
  }
  const busyPorts: number[] = [];
  for (const port of ports) if (!(await portFree(port))) busyPorts.push(port);
  return {
    uid: process.getuid?.() ?? -1,
    kubelets,
    interfaces,
    ...(previousDev ? { previousDev } : {}),
    leftoverNode: existsSync(path.join(dev.stateDir, 'host/node')),
    busyPorts,
  };
}

/** Whether `pid` is a make dev (a pid file outlives its process, and pids are reused). */
function isDev(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .some((a) => a.endsWith('dev/main.js'));
  } catch {
    return false;
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
