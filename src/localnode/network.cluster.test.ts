import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCidr } from '../shared/cidr.js';
import { bridgeMac, netnsPids, PodNetwork } from './network.js';
import { isRunning } from './process-runner.js';

// Runs as root against the real kernel: a bridge, namespaces and veths of its own, all removed in afterAll.
const suffix = randomBytes(2).toString('hex');
const cidr = parseCidr('10.251.7.0/24');
const net = new PodNetwork({
  ipPath: '/usr/sbin/ip',
  bridge: `bft${suffix}`,
  cidr,
  nodeName: `nettest-${suffix}`,
});
const other = new PodNetwork({
  ipPath: '/usr/sbin/ip',
  bridge: `bfu${suffix}`,
  cidr,
  nodeName: `nettest-other-${suffix}`,
});

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 1000 });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

async function waitFor(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('PodNetwork', () => {
  beforeAll(async () => {
    await net.ensureBridge();
  });

  afterAll(async () => {
    await net.removeStale();
    await net.removeBridge();
    await other.removeStale();
    await other.removeBridge();
  });

  it('creates a bridge marked as its own with the gateway address', async () => {
    const [link] = JSON.parse(await net.ip(['-j', 'addr', 'show', 'dev', `bft${suffix}`])) as {
      ifalias?: string;
      addr_info: { local: string; prefixlen: number }[];
    }[];
    expect(link?.addr_info).toContainEqual(expect.objectContaining({ local: '10.251.7.1', prefixlen: 24 }));
    const [detail] = JSON.parse(await net.ip(['-j', 'link', 'show', 'dev', `bft${suffix}`])) as {
      ifalias?: string;
    }[];
    expect(detail?.ifalias).toBe(net.alias);
    // Taking it back on a restart is fine; it is still ours.
    await net.ensureBridge();
  });

  it('keeps the bridge MAC when pods join, so pods never hold a stale ARP entry for the gateway', async () => {
    const mac = async () =>
      (JSON.parse(await net.ip(['-j', 'link', 'show', 'dev', `bft${suffix}`])) as { address: string }[])[0]
        ?.address;
    expect(await mac()).toBe(bridgeMac(`bft${suffix}`));
    // Without an address of its own the bridge would take the lowest of its ports' (random) MACs.
    const pods = ['mac-a', 'mac-b', 'mac-c', 'mac-d'];
    for (const [i, uid] of pods.entries()) await net.createSandbox(uid, `10.251.7.${60 + i}`);
    expect(await mac()).toBe(bridgeMac(`bft${suffix}`));
    for (const uid of pods) await net.destroySandbox(net.netnsName(uid), net.vethName(uid));
  });

  it('refuses a pod CIDR that overlaps an existing route, and a bridge that is not its own', async () => {
    await expect(other.ensureBridge()).rejects.toThrow(/overlaps the existing route 10\.251\.7\.0\/24/);
    const intruder = new PodNetwork({
      ipPath: '/usr/sbin/ip',
      bridge: `bft${suffix}`,
      cidr: parseCidr('10.251.8.0/24'),
      nodeName: 'someone-else',
    });
    await expect(intruder.ensureBridge()).rejects.toThrow(/is not this agent's/);
  });

  it('gives a pod its own namespace, address and localhost, and nothing beyond the bridge', async () => {
    const sb = await net.createSandbox('pod-a', '10.251.7.10');
    expect(existsSync(`/run/netns/${sb.netns}`)).toBe(true);
    const addrs = JSON.parse(await net.ip(['-n', sb.netns, '-j', 'addr', 'show'])) as {
      ifname: string;
      operstate: string;
      addr_info: { local: string }[];
    }[];
    expect(addrs.find((a) => a.ifname === 'eth0')?.addr_info.map((a) => a.local)).toContain('10.251.7.10');
    expect(addrs.find((a) => a.ifname === 'lo')?.addr_info.map((a) => a.local)).toContain('127.0.0.1');
    const routes = JSON.parse(await net.ip(['-n', sb.netns, '-j', 'route', 'show'])) as { dst: string }[];
    expect(routes.map((r) => r.dst)).toEqual(['10.251.7.0/24']);

    // One server on the pod address, one on the pod's own loopback, both on the same port as the host's.
    const server = spawn(
      '/usr/sbin/ip',
      [
        'netns',
        'exec',
        sb.netns,
        'python3',
        '-c',
        [
          'import socket,time',
          'a=socket.socket(); a.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); a.bind(("10.251.7.10", 7001)); a.listen()',
          'b=socket.socket(); b.bind(("127.0.0.1", 7002)); b.listen()',
          'time.sleep(60)',
        ].join('\n'),
      ],
      { stdio: 'ignore', env: { PATH: '/usr/bin:/bin' } },
    );
    try {
      await waitFor(() => canConnect('10.251.7.10', 7001));
      expect(await canConnect('10.251.7.10', 7002)).toBe(false);
      expect(await canConnect('127.0.0.1', 7002)).toBe(false);
      expect(await netnsPids(sb.netnsInode)).toContain(server.pid);
    } finally {
      await net.destroySandbox(sb.netns, sb.veth, sb.netnsInode);
    }
    // Destroying the sandbox killed the server it still held, and took the veth with it.
    expect(
      server.exitCode !== null || server.signalCode !== null || (await exited(server.pid as number)),
    ).toBe(true);
    expect(existsSync(`/run/netns/${sb.netns}`)).toBe(false);
    expect(await net.listVeths()).not.toContain(sb.veth);
  });

  it('removes stale namespaces and veths of its node only', async () => {
    const a = await net.createSandbox('pod-b', '10.251.7.11');
    const b = await net.createSandbox('pod-c', '10.251.7.12');
    const foreign = `bf-someone-${suffix}`;
    await net.ip(['netns', 'add', foreign]);
    try {
      const removed = await net.removeStale(new Set([b.netns]));
      expect(removed).toContain(a.netns);
      expect(await net.listNetns()).toEqual([b.netns]);
      expect(await net.listVeths()).toEqual([b.veth]);
      expect(existsSync(`/run/netns/${foreign}`)).toBe(true);
      await net.removeStale();
      expect(await net.listNetns()).toEqual([]);
      expect(await net.listVeths()).toEqual([]);
    } finally {
      await net.ip(['netns', 'del', foreign]);
    }
  });
});

async function exited(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (!(await isRunning(pid))) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}
