/** IPv4 CIDR arithmetic and the pod address pool of one node. */

export interface Cidr {
  /** Network address as an unsigned 32-bit integer. */
  network: number;
  prefix: number;
  /** Number of addresses in the block, including network and broadcast. */
  size: number;
}

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: "${ip}"`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`not an IPv4 address: "${ip}"`);
    n = n * 256 + Number(p);
  }
  return n;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(text: string): Cidr {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text.trim());
  if (!m) throw new Error(`not an IPv4 CIDR: "${text}"`);
  const prefix = Number(m[2]);
  if (prefix > 30 || prefix < 8) throw new Error(`CIDR "${text}": prefix must be between /8 and /30`);
  const size = 2 ** (32 - prefix);
  const addr = ipToInt(m[1] as string);
  return { network: addr - (addr % size), prefix, size };
}

export function formatCidr(c: Cidr): string {
  return `${intToIp(c.network)}/${c.prefix}`;
}

export function cidrContains(c: Cidr, ip: string): boolean {
  let n: number;
  try {
    n = ipToInt(ip);
  } catch {
    return false;
  }
  return n >= c.network && n < c.network + c.size;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.network < b.network + b.size && b.network < a.network + a.size;
}

const PRIVATE_RANGES = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'].map(parseCidr);

/** Pod addresses must never be routable anywhere else, so only private (RFC 1918 / CGNAT) blocks qualify. */
export function isPrivateCidr(c: Cidr): boolean {
  return PRIVATE_RANGES.some((r) => c.network >= r.network && c.network + c.size <= r.network + r.size);
}

export function isLoopback(ip: string): boolean {
  return /^127\./.test(ip);
}

/**
 * Hands out pod addresses from a CIDR. The first host address is the bridge (gateway); network and broadcast
 * addresses are never used. Allocation continues after the last address handed out (as host-local IPAM does)
 * so that a just-released address is not immediately given to the next pod.
 */
export class AddressPool {
  readonly cidr: Cidr;
  readonly gateway: string;
  private readonly used = new Map<number, string>();
  private readonly byOwner = new Map<string, number>();
  private cursor: number;

  constructor(cidr: Cidr) {
    this.cidr = cidr;
    this.gateway = intToIp(cidr.network + 1);
    this.cursor = cidr.network + 1;
  }

  /** Capacity for pods (all host addresses minus the gateway). */
  get capacity(): number {
    return this.cidr.size - 3;
  }

  get allocated(): number {
    return this.used.size;
  }

  /** Gives `owner` an address; the same owner always gets the address it already holds. */
  allocate(owner: string, preferred?: string): string {
    const held = this.byOwner.get(owner);
    if (held !== undefined) return intToIp(held);
    if (preferred !== undefined && this.reserve(owner, preferred)) return preferred;
    const first = this.cidr.network + 2;
    const last = this.cidr.network + this.cidr.size - 2;
    const span = last - first + 1;
    for (let i = 0; i < span; i++) {
      const n = first + ((this.cursor - first + 1 + i + span) % span);
      if (!this.used.has(n)) {
        this.used.set(n, owner);
        this.byOwner.set(owner, n);
        this.cursor = n;
        return intToIp(n);
      }
    }
    throw new Error(`pod CIDR ${formatCidr(this.cidr)} is exhausted (${this.used.size} addresses in use)`);
  }

  /** Claims a specific address (an address a pod already reports); false if it is taken or not usable. */
  reserve(owner: string, ip: string): boolean {
    if (!cidrContains(this.cidr, ip)) return false;
    const n = ipToInt(ip);
    if (n <= this.cidr.network + 1 || n >= this.cidr.network + this.cidr.size - 1) return false;
    const holder = this.used.get(n);
    if (holder !== undefined) return holder === owner;
    if (this.byOwner.has(owner)) return false;
    this.used.set(n, owner);
    this.byOwner.set(owner, n);
    return true;
  }

  release(owner: string): void {
    const n = this.byOwner.get(owner);
    if (n === undefined) return;
    this.byOwner.delete(owner);
    this.used.delete(n);
  }

  ownerOf(ip: string): string | undefined {
    try {
      return this.used.get(ipToInt(ip));
    } catch {
      return undefined;
    }
  }
}
