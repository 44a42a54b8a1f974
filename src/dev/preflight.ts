import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
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
  /** Other make dev processes of this checkout (dist/dev/main.js of this repository). */
  otherDevs: number[];
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
  if (facts.otherDevs.length > 0) {
    reasons.push(
      `make dev already runs from this checkout (pid ${facts.otherDevs.join(', ')}); stop it first`,
    );
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
        `interface ${i.name} exists already: make dev's node creates it (another make dev, or a node of another stack?)`,
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

/** Reads the facts from /proc, `ip` and the ports; `devMain` is this checkout's dist/dev/main.js. */
export async function observeHost(dev: DevHost, devMain: string, ports: number[]): Promise<HostFacts> {
  const kubelets: HostFacts['kubelets'] = [];
  const otherDevs: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (comm === 'kubelet') {
        const rootDir = args.find((a) => a.startsWith('--root-dir='))?.slice('--root-dir='.length);
        // hack/real-node.sh gives the kubelet <state>/kubelet/root.
        const stateDir = rootDir?.endsWith('/kubelet/root') ? path.dirname(path.dirname(rootDir)) : undefined;
        kubelets.push({ pid: Number(entry), ...(stateDir ? { stateDir } : {}) });
      } else if (comm === 'node' && args[1] !== undefined) {
        const cwd = readlinkSync(`/proc/${entry}/cwd`);
        if (path.resolve(cwd, args[1]) === devMain) otherDevs.push(Number(entry));
      }
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
  const busyPorts: number[] = [];
  for (const port of ports) if (!(await portFree(port))) busyPorts.push(port);
  return {
    uid: process.getuid?.() ?? -1,
    kubelets,
    interfaces,
    otherDevs,
    leftoverNode: existsSync(path.join(dev.stateDir, 'host/node')),
    busyPorts,
  };
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
