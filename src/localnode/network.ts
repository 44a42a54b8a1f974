import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { type Cidr, cidrsOverlap, formatCidr, intToIp, ipToInt } from '../shared/cidr.js';

/**
 * Pod networking with iproute2: one host bridge owned by this node, and per pod a network namespace whose
 * `eth0` is one end of a veth pair plugged into the bridge. Pods get no default route, so anything they send
 * can only reach the bridge's subnet (other pods and the host's bridge address), never beyond this machine.
 *
 * Everything created here is recognisable as this node's: namespaces are named `bf-<node tag>-<pod uid>`, and
 * the bridge and host-side veths carry the interface alias `browserfleet-localnode/<node>`. Cleanup only ever
 * touches things carrying those marks.
 */

export interface NetworkOptions {
  ipPath: string;
  bridge: string;
  cidr: Cidr;
  nodeName: string;
  /** Routed to the bridge from every pod, where the node's service proxy serves the cluster IPs. */
  serviceCIDR?: Cidr;
}

/** `ip netns exec` bind-mounts the files of /etc/netns/<namespace>/ over /etc/ (iproute2's convention). */
export function netnsEtcDir(netns: string): string {
  return `/etc/netns/${netns}`;
}

export interface Sandbox {
  netns: string;
  veth: string;
  /** Inode of the namespace, so its processes can be found even after its name is gone. */
  netnsInode: number;
  ip: string;
}

export function nodeTag(nodeName: string): string {
  return createHash('sha256').update(nodeName).digest('hex').slice(0, 8);
}

export class IpCommandError extends Error {}

export class PodNetwork {
  readonly alias: string;
  readonly netnsPrefix: string;
  /** Routed to the bridge from every pod created from now on (set when the node's service proxy starts). */
  serviceCIDR: Cidr | undefined;

  constructor(private readonly opts: NetworkOptions) {
    const tag = nodeTag(opts.nodeName);
    this.alias = `browserfleet-localnode/${opts.nodeName}/${tag}`;
    this.netnsPrefix = `bf-${tag}-`;
    this.serviceCIDR = opts.serviceCIDR;
  }

  get gateway(): string {
    return intToIp(this.opts.cidr.network + 1);
  }

  netnsName(podUid: string): string {
    return `${this.netnsPrefix}${podUid}`;
  }

  /** Interface names are limited to 15 characters, so the host side is named by a hash. */
  vethName(podUid: string): string {
    return `bfv${createHash('sha256').update(`${this.netnsPrefix}${podUid}`).digest('hex').slice(0, 12)}`;
  }

  async ip(args: string[], input?: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.opts.ipPath, args, {
        stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.stderr?.on('data', (d: Buffer) => {
        err += d.toString();
      });
      child.on('error', reject);
      child.on('close', (code) => {
        if (code === 0) resolve(out);
        else reject(new IpCommandError(`ip ${args.join(' ')} failed (exit ${code}): ${err.trim()}`));
      });
      if (input !== undefined) {
        // ip may exit on an error before reading everything; the exit code reports that, not EPIPE.
        child.stdin?.on('error', () => undefined);
        child.stdin?.end(input);
      }
    });
  }

  private async linkAlias(name: string): Promise<string | undefined> {
    try {
      const links = JSON.parse(await this.ip(['-j', 'link', 'show', 'dev', name])) as { ifalias?: string }[];
      return links[0]?.ifalias ?? '';
    } catch (e) {
      if (e instanceof IpCommandError && /(does not exist|No such device)/.test(e.message)) return undefined;
      throw e;
    }
  }

  /**
   * Creates (or takes back) the node's bridge with the gateway address. Refuses a bridge name that belongs to
   * someone else and a CIDR that overlaps any route this machine already has.
   */
  async ensureBridge(): Promise<void> {
    const { bridge, cidr } = this.opts;
    const alias = await this.linkAlias(bridge);
    if (alias !== undefined && alias !== this.alias) {
      throw new Error(
        `interface "${bridge}" exists and is not this agent's (alias "${alias}", expected "${this.alias}"); ` +
          'another agent or program uses it: choose another bridge name',
      );
    }
    const routes = JSON.parse(await this.ip(['-j', '-4', 'route', 'show', 'table', 'all'])) as {
      dst?: string;
      dev?: string;
      type?: string;
    }[];
    for (const r of routes) {
      if (!r.dst || r.dst === 'default' || r.dev === bridge || r.type === 'local' || r.type === 'broadcast')
        continue;
      const dst = r.dst.includes('/') ? r.dst : `${r.dst}/32`;
      let routeCidr: Cidr;
      try {
        routeCidr = parseRouteCidr(dst);
      } catch {
        continue;
      }
      if (cidrsOverlap(routeCidr, cidr)) {
        throw new Error(
          `pod CIDR ${formatCidr(cidr)} overlaps the existing route ${r.dst} (dev ${r.dev}); choose another podCIDR`,
        );
      }
    }
    const gw = `${this.gateway}/${cidr.prefix}`;
    const lines: string[] = [];
    if (alias === undefined)
      lines.push(`link add name ${bridge} type bridge`, `link set ${bridge} alias ${this.alias}`);
    else lines.push(`addr flush dev ${bridge}`);
    // A bridge without an address of its own takes the lowest MAC of its ports, so it would change whenever a
    // pod's veth with a lower one joins, and every pod that had the gateway's (and the service IPs') old MAC in
    // its ARP cache would send into the void until the entry expired: connections stalled for ~30 s.
    lines.push(`link set ${bridge} address ${bridgeMac(bridge)}`);
    lines.push(`addr add ${gw} dev ${bridge}`, `link set ${bridge} up`);
    await this.ip(['-batch', '-'], `${lines.join('\n')}\n`);
    // No IPv6 on the bridge: nothing here needs it, and it would only add link-local chatter.
    await writeFile(`/proc/sys/net/ipv6/conf/${bridge}/disable_ipv6`, '1').catch(() => undefined);
  }

  async removeBridge(): Promise<void> {
    if ((await this.linkAlias(this.opts.bridge)) !== this.alias) return;
    await this.ip(['link', 'del', this.opts.bridge]);
  }

  /** `resolvConf`: the pod's /etc/resolv.conf, as every container in it (entered with `ip netns exec`) sees it. */
  async createSandbox(podUid: string, ip: string, resolvConf?: string): Promise<Sandbox> {
    const netns = this.netnsName(podUid);
    const veth = this.vethName(podUid);
    await this.destroySandbox(netns, veth);
    await this.ip(
      ['-batch', '-'],
      [
        `netns add ${netns}`,
        `link add ${veth} type veth peer name eth0 netns ${netns}`,
        `link set ${veth} alias ${this.alias}`,
        `link set ${veth} master ${this.opts.bridge}`,
        `link set ${veth} up`,
        '',
      ].join('\n'),
    );
    await this.ip(
      ['-n', netns, '-batch', '-'],
      [
        `addr add ${ip}/${this.opts.cidr.prefix} dev eth0`,
        'link set eth0 up',
        'link set lo up',
        ...(this.serviceCIDR ? [`route add ${formatCidr(this.serviceCIDR)} via ${this.gateway}`] : []),
        '',
      ].join('\n'),
    );
    if (resolvConf !== undefined) {
      await mkdir(netnsEtcDir(netns), { recursive: true });
      await writeFile(`${netnsEtcDir(netns)}/resolv.conf`, resolvConf);
    }
    const netnsInode = (await stat(`/run/netns/${netns}`)).ino;
    return { netns, veth, netnsInode, ip };
  }

  /**
   * Kills every process left in the namespace, then deletes it and the host veth. A namespace that still has
   * processes outlives its name, so the processes go first.
   */
  async destroySandbox(netns: string, veth: string, netnsInode?: number): Promise<void> {
    const inode =
      netnsInode ??
      (await stat(`/run/netns/${netns}`)
        .then((s) => s.ino)
        .catch(() => undefined));
    if (inode !== undefined) await killNetnsProcesses(inode);
    await this.ip(['netns', 'del', netns]).catch(ignoreMissing);
    await rm(netnsEtcDir(netns), { recursive: true, force: true });
    if ((await this.linkAlias(veth)) === this.alias)
      await this.ip(['link', 'del', veth]).catch(ignoreMissing);
  }

  /** This node's namespaces, whatever run of the agent created them. */
  async listNetns(): Promise<string[]> {
    const out = await this.ip(['-j', 'netns', 'list']);
    const list = out.trim() === '' ? [] : (JSON.parse(out) as { name: string }[]);
    return list.map((n) => n.name).filter((n) => n.startsWith(this.netnsPrefix));
  }

  /** Host-side veths carrying this node's alias. */
  async listVeths(): Promise<string[]> {
    const links = JSON.parse(await this.ip(['-j', 'link', 'show', 'type', 'veth'])) as {
      ifname: string;
      ifalias?: string;
    }[];
    return links.filter((l) => l.ifalias === this.alias).map((l) => l.ifname);
  }

  /** Removes every namespace and veth of this node except those in `keep` (namespace names). */
  async removeStale(keep: ReadonlySet<string> = new Set()): Promise<string[]> {
    const removed: string[] = [];
    for (const netns of await this.listNetns()) {
      if (keep.has(netns)) continue;
      await this.destroySandbox(netns, this.vethName(netns.slice(this.netnsPrefix.length)));
      removed.push(netns);
    }
    for (const netns of await readdir('/etc/netns').catch(() => [] as string[])) {
      if (netns.startsWith(this.netnsPrefix) && !keep.has(netns))
        await rm(netnsEtcDir(netns), { recursive: true, force: true });
    }
    const keptVeths = new Set([...keep].map((n) => this.vethName(n.slice(this.netnsPrefix.length))));
    for (const veth of await this.listVeths()) {
      if (keptVeths.has(veth)) continue;
      await this.ip(['link', 'del', veth]).catch(ignoreMissing);
      removed.push(veth);
    }
    return removed;
  }
}

function parseRouteCidr(dst: string): Cidr {
  const [addr, prefixText] = dst.split('/') as [string, string];
  const parts = addr.split('.');
  while (parts.length < 4) parts.push('0');
  const prefix = Number(prefixText);
  const size = 2 ** (32 - prefix);
  const n = ipToInt(parts.join('.'));
  return { network: n - (n % size), prefix, size };
}

function ignoreMissing(e: unknown): void {
  if (
    e instanceof IpCommandError &&
    /(does not exist|No such file|No such device|Cannot find device)/i.test(e.message)
  )
    return;
  throw e;
}

/** PIDs of all processes whose network namespace has this inode. */
export async function netnsPids(inode: number): Promise<number[]> {
  const want = `net:[${inode}]`;
  const entries = (await readdir('/proc')).filter((e) => /^\d+$/.test(e));
  const links = await Promise.all(entries.map((e) => readlink(`/proc/${e}/ns/net`).catch(() => undefined)));
  return entries.filter((_, i) => links[i] === want).map(Number);
}

export async function killNetnsProcesses(inode: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = await netnsPids(inode);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (Date.now() > deadline)
      throw new Error(`processes ${pids.join(', ')} in a pod namespace survived SIGKILL`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A stable, locally administered unicast MAC for a bridge, from its name (two agents' bridges differ). */
export function bridgeMac(bridge: string): string {
  const h = createHash('sha256').update(`browserfleet-bridge:${bridge}`).digest();
  const bytes = [0x02, h[0], h[1], h[2], h[3], h[4]] as number[];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
