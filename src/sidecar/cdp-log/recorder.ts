import type { Clock } from '../../shared/clock.js';
import type { Direction } from '../../shared/ws/ws-pipe.js';

/**
 * The session's CDP log, as Browserbase serves it (`GET /v1/sessions/:id/logs`): each command a client sent,
 * with Chrome's answer. The proxy hands every message to a connection's `observe` on its way through; that only
 * queues it (a reference, or for a big message a copy of its two ends), and the parsing happens later, in one
 * batch per turn of the event loop, so the relay never waits on it. Bounded: the newest `maxBytes` are kept
 * (the oldest go first, and a marker entry says how many went), a body past `maxBodyBytes` is kept truncated,
 * and our own credentials never reach an entry.
 */

export interface SessionLogEntry {
  method: string;
  /** Which page the command went to: 0 for the browser itself, then 1, 2, ... in the order targets attached. */
  pageId: number;
  /** The CDP session the command was sent on ('' at the browser level). */
  sessionId: string;
  frameId?: string;
  loaderId?: string;
  /** When the command was sent, in ms since the epoch. */
  timestamp: number;
  request: { params: Record<string, unknown>; rawBody: string; timestamp: number };
  response?: { result: Record<string, unknown>; rawBody: string; timestamp: number };
}

export interface CdpLogLimits {
  /** The log's size, counted as the length of its raw bodies plus a little per entry. */
  maxBytes: number;
  /** A body longer than this is kept as its first maxBodyBytes characters and a marker, and not parsed. */
  maxBodyBytes: number;
}

export const DEFAULT_CDP_LOG_LIMITS: CdpLogLimits = { maxBytes: 8 * 1024 * 1024, maxBodyBytes: 16 * 1024 };

/** What an entry costs besides its bodies (its fields and the objects around them), roughly. */
const ENTRY_OVERHEAD_BYTES = 200;
/** A backlog past this (the parser fell behind a flood) is dropped and counted, not queued. */
const MAX_QUEUED_BYTES = 32 * 1024 * 1024;
/** Commands still waiting for their answer, per connection; the oldest is forgotten past this. */
const MAX_PENDING = 10_000;
const HEAD_BYTES = 512;
const TAIL_BYTES = 256;

export const DROPPED_MARKER_METHOD = 'Browserfleet.logEntriesDropped';

interface Queued {
  direction: Direction;
  /** The whole message, or for one longer than maxBodyBytes its head and tail. */
  text: string | Ends;
  at: number;
}

interface Ends {
  head: string;
  tail: string;
  bytes: number;
}

/**
 * One command as kept: its raw bodies only (redacted), so the log costs about what it says it costs; the
 * parsed params and result are made again when the log is read, which is rare.
 */
interface Kept {
  seq: number;
  method: string;
  pageId: number;
  sessionId: string;
  frameId?: string;
  loaderId?: string;
  at: number;
  request: Body;
  response?: Body & { at: number };
}

interface Body {
  raw: string;
  /** Set when the message was longer than maxBodyBytes: its length; `raw` is its head. */
  truncatedFrom?: number;
}

/** A CDP message's fields, as parsed. */
interface CdpFields {
  id?: unknown;
  method?: unknown;
  sessionId?: unknown;
  params?: unknown;
  result?: unknown;
  error?: unknown;
}

interface ConnectionLog {
  pending: Map<number, Kept>;
}

/** A client connection's tap: `observe` each message before relaying it, `close` when the connection is gone. */
export interface CdpLogTap {
  observe(direction: Direction, data: Buffer, isBinary: boolean): void;
  close(): void;
}

/** Our own credentials in a URL's query (`?token=`, `signingKey=`, an API key), whoever's they are. */
const CREDENTIAL_PARAM = /([?&](?:token|signingKey|apiKey|api_key|x-bb-api-key)=)[^&"'\s#\\]+/gi;
const LEADING_ID = /^\s*\{\s*"id"\s*:\s*(\d+)/;

export class CdpLog {
  private kept: Kept[] = [];
  /** Index of the oldest kept entry in `kept` (dropping moves it; the array is compacted now and then). */
  private first = 0;
  private nextSeq = 0;
  private bytes = 0;
  private dropped = 0;
  private queuedBytes = 0;
  /** Every connection's messages in the order they went through, so entries keep that order across them. */
  private queue: { conn: ConnectionLog; q: Queued }[] = [];
  private scheduled = false;
  /** CDP session id → the page number of its target. Session ids are the browser's, shared by connections. */
  private readonly pageOfSession = new Map<string, number>();
  private readonly pageOfTarget = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly secrets: string[],
    private readonly limits: CdpLogLimits = DEFAULT_CDP_LOG_LIMITS,
  ) {}

  connection(): CdpLogTap {
    const conn: ConnectionLog = { pending: new Map() };
    return {
      observe: (direction, data, isBinary) => {
        if (isBinary) return;
        const cost = Math.min(data.length, this.limits.maxBodyBytes);
        if (this.queuedBytes + cost > MAX_QUEUED_BYTES) {
          if (direction === 'client_to_upstream') this.dropped++;
          return;
        }
        const text: Queued['text'] =
          data.length <= this.limits.maxBodyBytes
            ? data.toString('utf8')
            : {
                head: data.toString('utf8', 0, HEAD_BYTES),
                tail: data.toString('utf8', data.length - TAIL_BYTES),
                bytes: data.length,
              };
        this.queuedBytes += queuedCost(text);
        this.queue.push({ conn, q: { direction, text, at: this.clock.now() } });
        this.schedule();
      },
      // Its commands still waiting for an answer stay in the log without one.
      close: () => this.drain(),
    };
  }

  /** Every kept entry, oldest first, behind a marker entry when some were dropped. Parses what is queued first. */
  list(): { entries: SessionLogEntry[]; dropped: number; bytes: number } {
    this.drain();
    const entries = this.kept.slice(this.first).map(toEntry);
    if (this.dropped === 0) return { entries, dropped: 0, bytes: this.bytes };
    const at = entries[0]?.timestamp ?? this.clock.now();
    const marker: SessionLogEntry = {
      method: DROPPED_MARKER_METHOD,
      pageId: 0,
      sessionId: '',
      timestamp: at,
      request: {
        params: {
          dropped: this.dropped,
          reason: `the session's log keeps its newest ${this.limits.maxBytes} bytes; older entries were dropped`,
        },
        rawBody: '',
        timestamp: at,
      },
    };
    return { entries: [marker, ...entries], dropped: this.dropped, bytes: this.bytes };
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    const queue = this.queue;
    this.queue = [];
    for (const { conn, q } of queue) {
      this.queuedBytes -= queuedCost(q.text);
      if (q.direction === 'client_to_upstream') this.command(conn, q);
      else this.fromChrome(conn, q);
    }
  }

  private command(conn: ConnectionLog, q: Queued): void {
    const frame = this.frameOf(q.text);
    if (typeof frame.id !== 'number' || typeof frame.method !== 'string') return;
    const sessionId = typeof frame.sessionId === 'string' ? frame.sessionId : '';
    const k: Kept = {
      seq: this.nextSeq++,
      method: frame.method,
      pageId: sessionId ? (this.pageOfSession.get(sessionId) ?? 0) : 0,
      sessionId,
      at: q.at,
      request: frame.body,
    };
    const params = frame.fields?.params;
    if (isObject(params) && typeof params['frameId'] === 'string') k.frameId = params['frameId'];
    if (conn.pending.size >= MAX_PENDING) {
      const oldest = conn.pending.keys().next().value;
      if (oldest !== undefined) conn.pending.delete(oldest);
    }
    conn.pending.set(frame.id, k);
    this.kept.push(k);
    this.grow(k.request.raw.length + ENTRY_OVERHEAD_BYTES);
  }

  private fromChrome(conn: ConnectionLog, q: Queued): void {
    const head = typeof q.text === 'string' ? q.text.slice(0, HEAD_BYTES) : q.text.head;
    const id = LEADING_ID.exec(head)?.[1];
    if (id === undefined) {
      // An event: only attachments matter here, to number the pages that commands go to.
      if (head.includes('"Target.attachedToTarget"')) {
        const params = this.frameOf(q.text).fields?.params;
        const info = isObject(params) ? params['targetInfo'] : undefined;
        if (isObject(params) && isObject(info) && typeof params['sessionId'] === 'string')
          this.numberPage(params['sessionId'], info['targetId']);
      }
      return;
    }
    const k = conn.pending.get(Number(id));
    if (!k) return;
    conn.pending.delete(Number(id));
    const frame = this.frameOf(q.text);
    k.response = { ...frame.body, at: q.at };
    const result = frame.fields?.result;
    if (isObject(result)) {
      if (typeof result['frameId'] === 'string') k.frameId = result['frameId'];
      if (typeof result['loaderId'] === 'string') k.loaderId = result['loaderId'];
      if (k.method === 'Target.attachToTarget' && typeof result['sessionId'] === 'string')
        this.numberPage(result['sessionId'], paramsOf(k)['targetId']);
    }
    // Counted only while the entry is kept: a dropped one is gone, whatever its answer.
    if (k.seq >= (this.kept[this.first]?.seq ?? Number.POSITIVE_INFINITY)) this.grow(k.response.raw.length);
  }

  private numberPage(sessionId: string, targetId: unknown): void {
    if (typeof targetId !== 'string') return;
    let page = this.pageOfTarget.get(targetId);
    if (page === undefined) {
      page = this.pageOfTarget.size + 1;
      this.pageOfTarget.set(targetId, page);
    }
    this.pageOfSession.set(sessionId, page);
  }

  /**
   * The message's body, its credentials redacted, and its fields. A long one is not parsed: its id, method and
   * session come from its two ends (clients and Chrome write `id` and `method` first and `sessionId` last).
   */
  private frameOf(text: Queued['text']): {
    id?: number;
    method?: string;
    sessionId?: string;
    fields?: CdpFields;
    body: Body;
  } {
    if (typeof text === 'string') {
      const raw = this.redact(text);
      let fields: CdpFields | undefined;
      try {
        const parsed = JSON.parse(raw) as unknown;
        if (isObject(parsed)) fields = parsed as CdpFields;
      } catch {}
      return {
        ...(typeof fields?.id === 'number' ? { id: fields.id } : {}),
        ...(typeof fields?.method === 'string' ? { method: fields.method } : {}),
        ...(typeof fields?.sessionId === 'string' ? { sessionId: fields.sessionId } : {}),
        ...(fields ? { fields } : {}),
        body: { raw },
      };
    }
    const head = this.redact(text.head);
    const id = LEADING_ID.exec(head)?.[1];
    const method = /"method"\s*:\s*"([^"\\]{1,200})"/.exec(head)?.[1];
    const sessionId = /"sessionId"\s*:\s*"([^"\\]{1,200})"\s*\}\s*$/.exec(text.tail)?.[1];
    return {
      ...(id === undefined ? {} : { id: Number(id) }),
      ...(method === undefined ? {} : { method }),
      ...(sessionId === undefined ? {} : { sessionId }),
      body: { raw: head, truncatedFrom: text.bytes },
    };
  }

  private redact(text: string): string {
    let out = text;
    for (const secret of this.secrets)
      if (secret && out.includes(secret)) out = out.split(secret).join('[REDACTED]');
    return out.replace(CREDENTIAL_PARAM, '$1[REDACTED]');
  }

  private grow(bytes: number): void {
    this.bytes += bytes;
    while (this.bytes > this.limits.maxBytes && this.first < this.kept.length) {
      const oldest = this.kept[this.first++] as Kept;
      this.bytes -= oldest.request.raw.length + (oldest.response?.raw.length ?? 0) + ENTRY_OVERHEAD_BYTES;
      this.dropped++;
    }
    if (this.first > 1024 && this.first * 2 > this.kept.length) {
      this.kept = this.kept.slice(this.first);
      this.first = 0;
    }
  }
}

function queuedCost(text: Queued['text']): number {
  return typeof text === 'string' ? text.length : HEAD_BYTES + TAIL_BYTES;
}

function parsedField(body: Body, field: 'params' | 'result'): Record<string, unknown> {
  if (body.truncatedFrom !== undefined) return { truncated: true, bytes: body.truncatedFrom };
  try {
    const parsed = JSON.parse(body.raw) as Record<string, unknown>;
    const value =
      parsed[field] ?? (field === 'result' && parsed['error'] ? { error: parsed['error'] } : undefined);
    return isObject(value) ? value : {};
  } catch {
    return {};
  }
}

function paramsOf(k: Kept): Record<string, unknown> {
  return parsedField(k.request, 'params');
}

function rawBody(body: Body): string {
  return body.truncatedFrom === undefined ? body.raw : `${body.raw}…[truncated: ${body.truncatedFrom} bytes]`;
}

function toEntry(k: Kept): SessionLogEntry {
  const entry: SessionLogEntry = {
    method: k.method,
    pageId: k.pageId,
    sessionId: k.sessionId,
    timestamp: k.at,
    request: { params: paramsOf(k), rawBody: rawBody(k.request), timestamp: k.at },
  };
  if (k.frameId !== undefined) entry.frameId = k.frameId;
  if (k.loaderId !== undefined) entry.loaderId = k.loaderId;
  if (k.response)
    entry.response = {
      result: parsedField(k.response, 'result'),
      rawBody: rawBody(k.response),
      timestamp: k.response.at,
    };
  return entry;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
