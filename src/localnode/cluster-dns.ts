import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv4, type Server, type Socket } from 'node:net';
import {
  type Answer,
  AUTHORITATIVE_ANSWER,
  type DecodedPacket,
  decode,
  encode,
  encodingLength,
  type Packet,
  RECURSION_AVAILABLE,
  RECURSION_DESIRED,
  streamEncode,
  TRUNCATED_RESPONSE,
} from 'dns-packet';
import type { Logger } from '../shared/log.js';

/**
 * What a Service name resolves to: its cluster IP, or a headless Service's ready endpoint addresses. Undefined
 * means no such Service; an empty array, a Service with no address (NOERROR with no records).
 */
export type ServiceLookup = (namespace: string, name: string) => readonly string[] | undefined;

export interface AnswerOptions {
  domain: string;
  lookup: ServiceLookup;
  /** Seconds; short, because Service addresses and headless endpoints change while pods cache answers. */
  ttl?: number;
}

const DEFAULT_TTL = 5;
const RCODE_FORMERR = 1;
const RCODE_SERVFAIL = 2;
const RCODE_NXDOMAIN = 3;
const RCODE_NOTIMP = 4;
const OPCODE_MASK = 0x7800;
/** Without EDNS a UDP answer may not exceed this (RFC 1035); we don't speak EDNS, so it always applies. */
const UDP_LIMIT = 512;
const TCP_LIMIT = 0xffff;
/** A stub resolver reconnects when it needs to, so idle connections only hold file descriptors. */
const TCP_IDLE_MS = 10_000;
const TCP_MAX_CONNECTIONS = 256;

// Service names are DNS-1035 labels and namespaces DNS-1123 labels; anything else cannot name a Service.
const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Pure: the response packet for one decoded query. */
export function answerQuery(query: Packet, opts: AnswerOptions): Packet {
  const domain = normalizeName(opts.domain);
  const questions = query.questions ?? [];
  // A stub resolver always asks exactly one question; RFC 9619 makes anything else a format error.
  if (questions.length !== 1) return reply(query, RCODE_FORMERR, false);
  const opcode = (query as { opcode?: string }).opcode;
  if (opcode !== undefined && opcode !== 'QUERY') return reply(query, RCODE_NOTIMP, false);

  const q = questions[0] as (typeof questions)[number];
  const name = normalizeName(q.name);
  if (name !== domain && !name.endsWith(`.${domain}`)) return reply(query, RCODE_NXDOMAIN, false);

  const labels = name === domain ? [] : name.slice(0, -(domain.length + 1)).split('.');
  const [service, namespace, svc] = labels;
  if (
    labels.length !== 3 ||
    svc !== 'svc' ||
    service === undefined ||
    namespace === undefined ||
    !LABEL.test(service) ||
    !LABEL.test(namespace)
  )
    return reply(query, RCODE_NXDOMAIN, true);

  const addresses = opts.lookup(namespace, service);
  if (addresses === undefined) return reply(query, RCODE_NXDOMAIN, true);
  const response = reply(query, 0, true);
  if (q.type === 'A' && (q.class === undefined || q.class === 'IN')) {
    const ttl = opts.ttl ?? DEFAULT_TTL;
    // The question's own spelling, so resolvers that randomise letter case (0x20) accept the answer.
    response.answers = addresses
      .filter((a) => isIPv4(a))
      .map((a): Answer => ({ type: 'A', class: 'IN', name: q.name, ttl, data: a }));
  }
  return response;
}

function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function reply(query: Packet, rcode: number, authoritative: boolean): Packet & { answers: Answer[] } {
  let flags = ((query.flags ?? 0) & (OPCODE_MASK | RECURSION_DESIRED)) | RECURSION_AVAILABLE | rcode;
  if (authoritative) flags |= AUTHORITATIVE_ANSWER;
  return {
    type: 'response',
    id: query.id ?? 0,
    flags,
    questions: (query.questions ?? []).map((q) => ({ name: q.name, type: q.type, class: q.class })),
    answers: [],
  };
}

/** Drops trailing answers until the message fits, and says so with TC so the client retries over TCP. */
function fit(response: Packet, limit: number): Packet {
  if (encodingLength(response) <= limit) return response;
  const answers = response.answers ?? [];
  const header = encodingLength({});
  let size = encodingLength({ ...response, answers: [] });
  let kept = 0;
  for (const a of answers) {
    const s = encodingLength({ answers: [a] }) - header;
    if (size + s > limit) break;
    size += s;
    kept++;
  }
  return { ...response, flags: (response.flags ?? 0) | TRUNCATED_RESPONSE, answers: answers.slice(0, kept) };
}

export interface ClusterDnsOptions {
  host: string;
  /** Default 53; 0 picks a free port (for tests). */
  port?: number;
  /** Default 'cluster.local'. */
  domain?: string;
  lookup: ServiceLookup;
  log: Logger;
}

/**
 * The cluster DNS server the local node agent runs on its bridge address, standing in for CoreDNS: it answers
 * A queries for `<service>.<namespace>.svc.<domain>` and nothing else.
 *
 * There is deliberately no upstream: every name outside the cluster domain gets NXDOMAIN, so no query ever
 * leaves the machine. Pods resolve only cluster names; everything else fails fast instead of timing out.
 */
export class ClusterDns {
  private readonly connections = new Set<Socket>();
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly udp: UdpSocket,
    private readonly tcp: Server,
    readonly port: number,
    private readonly answerOpts: AnswerOptions,
    private readonly log: Logger,
  ) {
    udp.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
    udp.on('error', (err) => log.warn('cluster dns udp socket error', { err }));
    tcp.on('connection', (socket) => this.onConnection(socket));
    tcp.on('error', (err) => log.warn('cluster dns tcp server error', { err }));
  }

  static async start(opts: ClusterDnsOptions): Promise<ClusterDns> {
    const answerOpts: AnswerOptions = { domain: opts.domain ?? 'cluster.local', lookup: opts.lookup };
    const wanted = opts.port ?? 53;
    // With port 0 the UDP port is free for UDP only; TCP may find it taken, so try another.
    for (let attempt = 1; ; attempt++) {
      const udp = await bindUdp(opts.host, wanted);
      const port = udp.address().port;
      try {
        const tcp = await listenTcp(opts.host, port);
        return new ClusterDns(udp, tcp, port, answerOpts, opts.log);
      } catch (err) {
        await new Promise<void>((resolve) => udp.close(() => resolve()));
        if (wanted !== 0 || attempt >= 5 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      }
    }
  }

  stop(): Promise<void> {
    this.stopping ??= Promise.all([
      new Promise<void>((resolve) => this.udp.close(() => resolve())),
      new Promise<void>((resolve) => {
        this.tcp.close(() => resolve());
        for (const c of this.connections) c.destroy();
      }),
    ]).then(() => undefined);
    return this.stopping;
  }

  /** The response to one raw message, or undefined when the message deserves none. */
  private respond(msg: Buffer, limit: number): Packet | undefined {
    let query: DecodedPacket;
    try {
      query = decode(msg);
    } catch {
      return undefined;
    }
    // Answering a response could start a loop between two servers.
    if (query.type === 'response') return undefined;
    try {
      return fit(answerQuery(query, this.answerOpts), limit);
    } catch (err) {
      this.log.warn('cluster dns lookup failed', { err });
      return reply(query, RCODE_SERVFAIL, false);
    }
  }

  private onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    const response = this.respond(msg, UDP_LIMIT);
    if (!response) return;
    let out: Buffer;
    try {
      out = encode(response);
    } catch (err) {
      this.log.warn('cluster dns could not encode an answer', { err });
      return;
    }
    this.udp.send(out, rinfo.port, rinfo.address, (err) => {
      if (err) this.log.warn('cluster dns udp send failed', { err, to: rinfo.address });
    });
  }

  private onConnection(socket: Socket): void {
    this.connections.add(socket);
    socket.on('close', () => this.connections.delete(socket));
    socket.on('error', (err) => this.log.warn('cluster dns tcp connection error', { err }));
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const len = pending.readUInt16BE(0);
        if (pending.length < 2 + len) break;
        const msg = pending.subarray(2, 2 + len);
        pending = pending.subarray(2 + len);
        const response = this.respond(msg, TCP_LIMIT);
        let out: Buffer | undefined;
        try {
          out = response && streamEncode(response);
        } catch (err) {
          this.log.warn('cluster dns could not encode an answer', { err });
        }
        if (!out) {
          socket.destroy();
          return;
        }
        // A client that pipelines queries without reading must not make us buffer without bound.
        if (!socket.write(out)) {
          socket.pause();
          socket.once('drain', () => socket.resume());
        }
      }
    });
  }
}

function bindUdp(host: string, port: number): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

function listenTcp(host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.maxConnections = TCP_MAX_CONNECTIONS;
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
