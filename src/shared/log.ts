import { pino } from 'pino';

/**
 * Structured logs: a fixed lower-case message plus key-values, one JSON object per line (pino). Errors go under
 * `err`, and are written with their stack, their chain of causes and their own fields (a Kubernetes API error's
 * HTTP `code` and `reason`). Every line is redacted first: see `redact`.
 */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogSettings {
  level: LogLevel;
  /** Append to this file instead of writing to stderr (how the e2e suite collects what its processes log). */
  file?: string;
}

/**
 * BF_LOG_LEVEL picks the level (default info). BF_LOG is its older name, kept because deployments set
 * BF_LOG=silent or BF_LOG=info; when both are set they must agree. BF_LOG_FILE redirects the lines to a file.
 */
export function logSettingsFromEnv(env: NodeJS.ProcessEnv): LogSettings {
  const level = env['BF_LOG_LEVEL'] || undefined;
  const legacy = env['BF_LOG'] || undefined;
  for (const [name, value] of [
    ['BF_LOG_LEVEL', level],
    ['BF_LOG', legacy],
  ] as const) {
    if (value !== undefined && !(LOG_LEVELS as readonly string[]).includes(value))
      throw new Error(`${name}: must be one of ${LOG_LEVELS.join(', ')}, not ${JSON.stringify(value)}`);
  }
  if (level && legacy && level !== legacy)
    throw new Error(`BF_LOG_LEVEL (${level}) and BF_LOG (${legacy}) disagree; set only BF_LOG_LEVEL`);
  const file = env['BF_LOG_FILE'] || undefined;
  return { level: (level ?? legacy ?? 'info') as LogLevel, ...(file ? { file } : {}) };
}

export interface LoggerOptions {
  /** Default: from the environment (logSettingsFromEnv). */
  level?: LogLevel;
  /** Where lines go. Default: BF_LOG_FILE when set, else stderr. */
  destination?: pino.DestinationStream;
}

/** One sonic-boom per file or fd, shared by every logger of the process. */
const destinations = new Map<string | number, pino.DestinationStream>();

function defaultDestination(file: string | undefined): pino.DestinationStream {
  const key = file ?? 2;
  let dest = destinations.get(key);
  if (!dest) {
    // Synchronous, as process.stderr is: a line logged just before process.exit is not lost.
    dest = pino.destination({ dest: key, sync: true, append: true, mkdir: file !== undefined });
    destinations.set(key, dest);
  }
  return dest;
}

export function createLogger(base: Record<string, unknown> = {}, options: LoggerOptions = {}): Logger {
  const settings = options.level && options.destination ? undefined : logSettingsFromEnv(process.env);
  const level = options.level ?? settings?.level ?? 'info';
  const root = pino(
    {
      level,
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (fields) => redact(fields) as Record<string, unknown>,
      },
      // `redact` has already turned errors into plain objects; pino's own err serializer must not run again.
      serializers: { err: (v: unknown) => v },
    },
    options.destination ?? defaultDestination(settings?.file),
  );
  return Object.keys(base).length > 0 ? adapt(root).child(base) : adapt(root);
}

function adapt(p: pino.Logger): Logger {
  const write =
    (method: 'debug' | 'info' | 'warn' | 'error') => (msg: string, fields?: Record<string, unknown>) => {
      if (!p.isLevelEnabled(method)) return;
      p[method](fields ?? {}, scrubCredentials(msg));
    };
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    // pino writes bindings as they are (its bindings formatter sees the root's only): redact them once, here.
    child: (fields) => adapt(p.child(redact(fields) as Record<string, unknown>)),
  };
}

export const REDACTED = '[REDACTED]';

/**
 * Keys whose value is a credential wherever they appear (compared lower-case, `-` and `_` ignored): the API key
 * and connect-token headers of both SDK dialects, cookies, and fields that hold tokens and keys.
 */
const SECRET_KEYS = new Set(
  [
    'authorization',
    'proxy-authorization',
    'cookie',
    'set-cookie',
    'x-bb-api-key',
    'x-api-key',
    'x-hyperbrowser-token',
    'x-bb-signing-key',
    'x-browserfleet-token',
    'token',
    'connectToken',
    'sessionToken',
    'apiKey',
    'signingKey',
    'sessionKey',
    'password',
    'secret',
    'clientSecret',
    'secretAccessKey',
  ].map(normaliseKey),
);

function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, '');
}

/** Query parameters that carry a credential in the URLs the gateway hands out and accepts. */
const CREDENTIAL_IN_URL = /([?&;](?:token|signingKey|apiKey|api_key|sessionKey)=)[^&#\s"'<>]+/gi;
const BEARER = /(\bBearer\s+)[^\s"',;]+/gi;

/** A string with every credential-bearing URL query value and bearer token blanked out. */
export function scrubCredentials(s: string): string {
  return s.replace(CREDENTIAL_IN_URL, `$1${REDACTED}`).replace(BEARER, `$1${REDACTED}`);
}

const MAX_DEPTH = 8;

/**
 * What a log line may show of a value. pino's own `redact` matches fixed paths, but the same credential reaches
 * the log at different depths (a header map, a request inside an error, a Kubernetes object in an error body),
 * so this walks the whole value instead:
 * - a key named like a credential (SECRET_KEYS) has its value replaced,
 * - a Secret's `data` and `stringData` are replaced (a Secret can be logged whole, or echoed in an API error),
 * - strings lose credentials embedded in URLs (a CDP connect URL in an error message),
 * - an Error becomes { type, message, stack, cause, and its own fields }, each redacted the same way.
 */
export function redact(value: unknown): unknown {
  return walk(value, 0, new WeakSet());
}

function walk(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return scrubCredentials(value);
  if (typeof value !== 'object' || value === null) return value;
  if (seen.has(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Truncated]';
  seen.add(value);
  try {
    if (value instanceof Error) return walk(serializeError(value), depth, seen);
    if (value instanceof URL) return scrubCredentials(value.href);
    if (Buffer.isBuffer(value)) return `[Buffer ${value.length} bytes]`;
    if (Array.isArray(value)) return value.map((v) => walk(v, depth + 1, seen));
    if (value instanceof Map) return walk(Object.fromEntries(value), depth, seen);
    if (value instanceof Date) return value.toISOString();
    const isSecret = (value as { kind?: unknown }).kind === 'Secret';
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      if (SECRET_KEYS.has(normaliseKey(key)) || (isSecret && (key === 'data' || key === 'stringData')))
        out[key] = v === undefined ? undefined : REDACTED;
      else out[key] = walk(v, depth + 1, seen);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

/** pino's serializer keeps stack, causes and own enumerable fields (a KubeApiError's code, reason and body). */
function serializeError(err: Error): Record<string, unknown> {
  const serialized = pino.stdSerializers.errWithCause(err) as unknown as Record<string, unknown>;
  const { raw: _raw, ...fields } = serialized;
  // It serializes any field with a `message` as an error (a Kubernetes Status body would get "type": "Object"),
  // so the error's own fields and its cause are taken as they are; `walk` serializes an Error cause again here.
  for (const [key, value] of Object.entries(err)) fields[key] = value;
  if (err.cause !== undefined) fields['cause'] = err.cause;
  return fields;
}
