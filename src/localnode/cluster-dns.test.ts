import { createSocket } from 'node:dgram';
import { promises as dnsPromises } from 'node:dns';
import { connect } from 'node:net';
import {
  type DecodedPacket,
  decode,
  encode,
  type Packet,
  type Question,
  RECURSION_DESIRED,
  streamEncode,
} from 'dns-packet';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../shared/log.js';
import { answerQuery, ClusterDns, type ServiceLookup } from './cluster-dns.js';

const services: Record<string, readonly string[]> = {
  'ns1/gw': ['10.96.0.10'],
  'ns1/browsers': ['10.244.0.5', '10.244.0.6', '10.244.0.7'],
  'ns1/empty': [],
  'ns1/many': Array.from({ length: 100 }, (_, i) => `10.244.1.${i + 1}`),
};
const lookup: ServiceLookup = (ns, name) => services[`${ns}/${name}`];
const domain = 'cluster.local';

type Decoded = DecodedPacket & { rcode: string };

function addresses(p: Packet | undefined): unknown[] | undefined {
  return p?.answers?.map((a) => ('data' in a ? a.data : undefined));
}

function query(questions: Question[], id = 4242): Packet {
  return { type: 'query', id, flags: RECURSION_DESIRED, questions };
}

/** Through the wire format, so every response is also shown to be encodable. */
function ask(name: string, type: Question['type'] = 'A'): Decoded {
  const response = answerQuery(query([{ type, name, class: 'IN' }]), { domain, lookup });
  return decode(encode(response)) as Decoded;
}

describe('answerQuery', () => {
  it('answers a ClusterIP Service with one A record', () => {
    const r = ask('gw.ns1.svc.cluster.local');
    expect(r.rcode).toBe('NOERROR');
    expect(r.id).toBe(4242);
    expect(r.type).toBe('response');
    expect(r.flag_aa && r.flag_ra && r.flag_rd).toBe(true);
    expect(r.flag_tc).toBe(false);
    expect(r.questions).toEqual([{ name: 'gw.ns1.svc.cluster.local', type: 'A', class: 'IN' }]);
    expect(r.answers).toEqual([
      expect.objectContaining({ name: 'gw.ns1.svc.cluster.local', type: 'A', ttl: 5, data: '10.96.0.10' }),
    ]);
    expect(r.authorities).toEqual([]);
    expect(r.additionals).toEqual([]);
  });

  it('answers a headless Service with every address', () => {
    const r = ask('browsers.ns1.svc.cluster.local.');
    expect(r.rcode).toBe('NOERROR');
    expect(addresses(r)).toEqual(['10.244.0.5', '10.244.0.6', '10.244.0.7']);
  });

  it('answers an address-less Service with NOERROR and no records', () => {
    const r = ask('empty.ns1.svc.cluster.local');
    expect(r.rcode).toBe('NOERROR');
    expect(r.answers).toEqual([]);
  });

  it.each(['AAAA', 'TXT', 'SRV', 'MX'] as const)('gives NODATA for %s on an existing Service', (type) => {
    const r = ask('gw.ns1.svc.cluster.local', type);
    expect(r.rcode).toBe('NOERROR');
    expect(r.flag_aa).toBe(true);
    expect(r.answers).toEqual([]);
    expect(r.authorities).toEqual([]);
    expect(r.additionals).toEqual([]);
  });

  it('gives NXDOMAIN for a missing Service, whatever the type', () => {
    for (const type of ['A', 'AAAA'] as const) {
      const r = ask('nope.ns1.svc.cluster.local', type);
      expect(r.rcode).toBe('NXDOMAIN');
      expect(r.flag_aa).toBe(true);
      expect(r.answers).toEqual([]);
    }
    expect(ask('gw.ns2.svc.cluster.local').rcode).toBe('NXDOMAIN');
  });

  it.each([
    'cluster.local',
    'svc.cluster.local',
    'ns1.svc.cluster.local',
    'x.svc.cluster.local',
    'a.gw.ns1.svc.cluster.local',
    'gw.ns1.pod.cluster.local',
    '10-244-0-5.ns1.pod.cluster.local',
    'gw.ns1.svc.svc.cluster.local',
  ])('gives NXDOMAIN for %s, which is no Service name', (name) => {
    const r = ask(name);
    expect(r.rcode).toBe('NXDOMAIN');
    expect(r.flag_aa).toBe(true);
  });

  it.each([
    'example.com',
    'gw.ns1.svc.cluster.local.example.com',
    'gw.ns1.svc.other.local',
    'xcluster.local',
  ])('gives NXDOMAIN without authority for %s outside the domain', (name) => {
    const r = ask(name);
    expect(r.rcode).toBe('NXDOMAIN');
    expect(r.flag_aa).toBe(false);
    expect(r.flag_ra).toBe(true);
  });

  it('ignores letter case but answers in the spelling asked', () => {
    const r = ask('Gw.NS1.Svc.Cluster.Local');
    expect(r.rcode).toBe('NOERROR');
    expect(r.questions?.[0]?.name).toBe('Gw.NS1.Svc.Cluster.Local');
    expect(r.answers).toEqual([
      expect.objectContaining({ name: 'Gw.NS1.Svc.Cluster.Local', data: '10.96.0.10' }),
    ]);
    const custom = answerQuery(query([{ type: 'A', name: 'gw.ns1.svc.corp.example' }]), {
      domain: 'Corp.Example.',
      lookup,
      ttl: 30,
    });
    expect(custom.answers).toEqual([expect.objectContaining({ ttl: 30, data: '10.96.0.10' })]);
  });

  it('copies RD rather than always setting it', () => {
    const response = answerQuery(
      { ...query([{ type: 'A', name: 'gw.ns1.svc.cluster.local' }]), flags: 0 },
      {
        domain,
        lookup,
      },
    );
    const r = decode(encode(response)) as Decoded;
    expect(r.flag_rd).toBe(false);
    expect(r.flag_ra).toBe(true);
  });

  it('gives FORMERR for two questions or none', () => {
    const two = answerQuery(
      query([
        { type: 'A', name: 'gw.ns1.svc.cluster.local' },
        { type: 'A', name: 'browsers.ns1.svc.cluster.local' },
      ]),
      { domain, lookup },
    );
    const r = decode(encode(two)) as Decoded;
    expect(r.rcode).toBe('FORMERR');
    expect(r.id).toBe(4242);
    expect(r.answers).toEqual([]);
    const none = decode(encode(answerQuery(query([]), { domain, lookup }))) as Decoded;
    expect(none.rcode).toBe('FORMERR');
  });

  it('leaves out addresses that are not IPv4', () => {
    const r = answerQuery(query([{ type: 'A', name: 'gw.ns1.svc.cluster.local' }]), {
      domain,
      lookup: () => ['fd00::1', '10.0.0.1', 'garbage'],
    });
    expect(addresses(r)).toEqual(['10.0.0.1']);
  });
});

function quietLogger(warnings: unknown[] = []): Logger {
  const log: Logger = {
    debug: () => {},
    info: () => {},
    warn: (msg, fields) => warnings.push({ msg, ...fields }),
    error: (msg, fields) => warnings.push({ msg, ...fields }),
    child: () => log,
  };
  return log;
}

function udpExchange(port: number, message: Buffer, timeoutMs = 2000): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      resolve(undefined);
    }, timeoutMs);
    socket.on('error', (err) => {
      clearTimeout(timer);
      socket.close();
      reject(err);
    });
    socket.on('message', (msg) => {
      clearTimeout(timer);
      socket.close();
      resolve(msg);
    });
    socket.send(message, port, '127.0.0.1');
  });
}

/** Sends length-prefixed frames and collects whole response frames until `expect` arrived or the server closed. */
function tcpExchange(
  port: number,
  frames: Buffer[],
  expect: number,
): Promise<{ responses: Buffer[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const responses: Buffer[] = [];
    let pending = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('tcp exchange timed out'));
    }, 5000);
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ responses, closed });
    };
    socket.on('error', reject);
    socket.on('connect', () => {
      for (const f of frames) socket.write(f);
    });
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const len = pending.readUInt16BE(0);
        responses.push(pending.subarray(2, 2 + len));
        pending = pending.subarray(2 + len);
      }
      if (responses.length >= expect) done(false);
    });
    socket.on('end', () => done(true));
    socket.on('close', () => done(true));
  });
}

describe('ClusterDns', () => {
  let server: ClusterDns | undefined;
  const warnings: unknown[] = [];

  afterEach(async () => {
    await server?.stop();
    server = undefined;
    warnings.length = 0;
  });

  async function start(): Promise<ClusterDns> {
    server = await ClusterDns.start({ host: '127.0.0.1', port: 0, lookup, log: quietLogger(warnings) });
    return server;
  }

  function resolver(port: number): dnsPromises.Resolver {
    const r = new dnsPromises.Resolver({ timeout: 2000, tries: 1 });
    r.setServers([`127.0.0.1:${port}`]);
    return r;
  }

  it('resolves Service names for Node’s real resolver and fails fast otherwise', async () => {
    const { port } = await start();
    expect(port).toBeGreaterThan(0);
    const r = resolver(port);
    expect(await r.resolve4('gw.ns1.svc.cluster.local')).toEqual(['10.96.0.10']);
    expect((await r.resolve4('browsers.ns1.svc.cluster.local')).sort()).toEqual([
      '10.244.0.5',
      '10.244.0.6',
      '10.244.0.7',
    ]);
    await expect(r.resolve4('nope.ns1.svc.cluster.local')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(r.resolve4('example.com')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(r.resolve6('gw.ns1.svc.cluster.local')).rejects.toMatchObject({ code: 'ENODATA' });
    expect(warnings).toEqual([]);
  });

  it('answers over TCP with length-prefixed framing, several queries on one connection', async () => {
    const { port } = await start();
    const frames = [
      streamEncode(query([{ type: 'A', name: 'gw.ns1.svc.cluster.local' }], 1)),
      streamEncode(query([{ type: 'A', name: 'nope.ns1.svc.cluster.local' }], 2)),
    ];
    // Split mid-frame, so reassembly across chunks is exercised too.
    const joined = Buffer.concat(frames);
    const { responses } = await tcpExchange(port, [joined.subarray(0, 7), joined.subarray(7)], 2);
    const [first, second] = responses.map((b) => decode(b) as Decoded);
    expect(first?.id).toBe(1);
    expect(first?.rcode).toBe('NOERROR');
    expect(addresses(first)).toEqual(['10.96.0.10']);
    expect(second?.id).toBe(2);
    expect(second?.rcode).toBe('NXDOMAIN');
  });

  it('truncates a large answer over UDP and sends it whole over TCP', async () => {
    const { port } = await start();
    const q = query([{ type: 'A', name: 'many.ns1.svc.cluster.local' }], 7);

    const udpRaw = await udpExchange(port, encode(q));
    expect(udpRaw).toBeDefined();
    expect(udpRaw?.length).toBeLessThanOrEqual(512);
    const udp = decode(udpRaw as Buffer) as Decoded;
    expect(udp.flag_tc).toBe(true);
    expect(udp.rcode).toBe('NOERROR');
    expect(udp.answers?.length).toBeLessThan(100);

    const { responses } = await tcpExchange(port, [streamEncode(q)], 1);
    const tcp = decode(responses[0] as Buffer) as Decoded;
    expect(tcp.flag_tc).toBe(false);
    expect(addresses(tcp)).toEqual(services['ns1/many']);

    // Node's resolver retries over TCP on TC, as glibc does.
    expect((await resolver(port).resolve4('many.ns1.svc.cluster.local')).length).toBe(100);
  });

  it('survives garbage and keeps answering', async () => {
    const { port } = await start();
    const garbage = [
      Buffer.alloc(0),
      Buffer.from([1]),
      Buffer.from('definitely not a dns packet, just some bytes'),
      Buffer.from([0, 1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 3, 97, 98]),
      Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]),
      encode({ type: 'response', id: 3, questions: [{ type: 'A', name: 'gw.ns1.svc.cluster.local' }] }),
    ];
    for (const g of garbage) expect(await udpExchange(port, g, 200)).toBeUndefined();

    const { closed, responses } = await tcpExchange(port, [Buffer.from([0, 4, 1, 2, 3, 4])], 1);
    expect(closed).toBe(true);
    expect(responses).toEqual([]);

    const answer = await udpExchange(
      port,
      encode(query([{ type: 'A', name: 'gw.ns1.svc.cluster.local' }], 9)),
    );
    expect(addresses(decode(answer as Buffer))).toEqual(['10.96.0.10']);
    expect(await resolver(port).resolve4('gw.ns1.svc.cluster.local')).toEqual(['10.96.0.10']);
  });

  it('answers SERVFAIL when the lookup throws', async () => {
    server = await ClusterDns.start({
      host: '127.0.0.1',
      port: 0,
      lookup: () => {
        throw new Error('informer not synced');
      },
      log: quietLogger(warnings),
    });
    const raw = await udpExchange(
      server.port,
      encode(query([{ type: 'A', name: 'gw.ns1.svc.cluster.local' }])),
    );
    expect((decode(raw as Buffer) as Decoded).rcode).toBe('SERVFAIL');
    expect(warnings).toEqual([expect.objectContaining({ msg: 'cluster dns lookup failed' })]);
  });

  it('stops cleanly, even with a client connected, and twice', async () => {
    const s = await start();
    const client = connect(s.port, '127.0.0.1');
    client.on('error', () => {}); // the server's reset, if it comes as one
    await new Promise((resolve) => client.once('connect', resolve));
    const clientClosed = new Promise((resolve) => client.once('close', resolve));
    await s.stop();
    // stop() dropped the idle connection instead of waiting for the client to leave.
    await clientClosed;
    await s.stop();
    const again = connect(s.port, '127.0.0.1');
    const outcome = await new Promise((resolve) => {
      again.once('connect', () => resolve('connected'));
      again.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
    });
    again.destroy();
    expect(outcome).toBe('ECONNREFUSED');
    const message = encode(query([{ type: 'A', name: 'gw.ns1.svc.cluster.local' }]));
    expect(await udpExchange(s.port, message, 300)).toBeUndefined();
  });
});
