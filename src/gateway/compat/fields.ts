import type { BrowserSession } from '../../api/index.js';
import { ApiError } from '../errors.js';

// Field readers for request bodies: each names the field in its error, as both SDKs show `message` verbatim.

export type Fields = Record<string, unknown>;

const invalid = (field: string, want: string, got: unknown) =>
  new ApiError('INVALID_REQUEST', `${field}: must be ${want}, got ${describe(got)}`);

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'object') return 'an object';
  return String(v);
}

export function isPlainObject(v: unknown): v is Fields {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The request body as an object; an absent body (no content, or no JSON content type) is an empty one. */
export function bodyObject(body: unknown): Fields {
  if (body === undefined || body === null) return {};
  if (!isPlainObject(body)) throw invalid('body', 'a JSON object', body);
  return body;
}

export function optionalObject(obj: Fields, key: string, field = key): Fields | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (!isPlainObject(v)) throw invalid(field, 'an object', v);
  return v;
}

export function optionalBoolean(obj: Fields, key: string, field = key): boolean | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw invalid(field, 'true or false', v);
  return v;
}

export function optionalString(obj: Fields, key: string, field = key): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalid(field, 'a string', v);
  return v;
}

export function optionalInteger(
  obj: Fields,
  key: string,
  min: number,
  max: number,
  field = key,
): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(field, `an integer from ${min} to ${max}`, v);
  }
  return v;
}

export function optionalStringArray(obj: Fields, key: string, field = key): string[] | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalid(field, 'a list of strings', v);
  return v as string[];
}

export function oneOf<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  field: string,
): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ApiError(
      'INVALID_REQUEST',
      `${field}: must be one of ${allowed.join(', ')}, got ${describe(value)}`,
    );
  }
  return value as T;
}

/**
 * Refuses a key the dialect does not define, naming it and the known key it most likely meant. Every key an
 * SDK can send is known (whether or not the gateway acts on it); anything else is a caller's typo, which
 * must not vanish into a default.
 */
export function rejectUnknownFields(obj: Fields, known: readonly string[], prefix = ''): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const guess = closest(key, known);
    throw new ApiError(
      'INVALID_REQUEST',
      `unknown field ${JSON.stringify(prefix + key.slice(0, 80))}${guess ? ` (did you mean ${JSON.stringify(prefix + guess)}?)` : ''}`,
    );
  }
}

/** The known key that differs from `key` only in case, or by at most two edits; undefined when none is near. */
function closest(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const sameCase = known.find((k) => k.toLowerCase() === lower);
  if (sameCase) return sameCase;
  let best: { key: string; distance: number } | undefined;
  for (const k of known) {
    const distance = editDistance(lower, k.toLowerCase());
    if (distance <= 2 && (!best || distance < best.distance)) best = { key: k, distance };
  }
  return best?.key;
}

/** Levenshtein distance; keys are short, so the quadratic table is cheap. */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      next[j] = Math.min((row[j] ?? 0) + 1, (next[j - 1] ?? 0) + 1, (row[j - 1] ?? 0) + cost);
    }
    row = next;
  }
  return row[b.length] ?? 0;
}

export function unsupported(field: string, why: string): ApiError {
  return new ApiError('UNSUPPORTED_FEATURE', `${field}: ${why}`);
}

/** Query parameters arrive as strings (or repeated as arrays); a repeated parameter is a client bug. */
export function queryString(query: unknown, key: string): string | undefined {
  const v = isPlainObject(query) ? query[key] : undefined;
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new ApiError('INVALID_REQUEST', `${key}: must be given once, as a string`);
  return v;
}

export function queryInteger(query: unknown, key: string, min: number, max: number): number | undefined {
  const v = queryString(query, key);
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!/^-?\d+$/.test(v) || n < min || n > max) throw invalid(key, `an integer from ${min} to ${max}`, v);
  return n;
}

/** Kubernetes object times arrive as strings from the API and as Date objects from some client paths. */
export function isoTime(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  const d = v instanceof Date ? v : new Date(String(v));
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export function createdAt(s: BrowserSession): string {
  return isoTime(s.metadata.creationTimestamp) ?? new Date(0).toISOString();
}

/** The last time anything about the session changed that the wire shows. */
export function updatedAt(s: BrowserSession): string {
  const st = s.status ?? {};
  const times = [
    createdAt(s),
    st.startedAt,
    st.readyAt,
    st.endedAt,
    st.lastConnectedAt,
    st.lastDisconnectedAt,
    ...(st.conditions ?? []).map((c) => c.lastTransitionTime),
  ]
    .map(isoTime)
    .filter((t): t is string => t !== undefined);
  // ISO strings in UTC sort as the times they name.
  return times.sort().at(-1) ?? createdAt(s);
}

/** When the session times out; before admission, what it would be if admitted now. */
export function expiresAt(s: BrowserSession, defaultTimeoutSeconds: number, now: number): string {
  const known = isoTime(s.status?.expiresAt);
  if (known) return known;
  const timeout = s.status?.timeoutSeconds ?? s.spec.timeout ?? defaultTimeoutSeconds;
  return new Date(now + timeout * 1000).toISOString();
}
