import { STATUS_CODES } from 'node:http';
import { KubeApiError } from '../shared/kube/client.js';

/** Every error the gateway can answer with. Closed: a new failure mode gets a new code and a status below. */
export type ApiErrorCode =
  | 'INVALID_REQUEST'
  | 'UNSUPPORTED_FEATURE'
  | 'UNAUTHORIZED'
  | 'NOT_FOUND'
  | 'SESSION_NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'SESSION_ENDED'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'RATE_LIMITED'
  | 'QUOTA_EXCEEDED'
  | 'INTERNAL'
  | 'NOT_IMPLEMENTED'
  | 'BROWSER_UNAVAILABLE'
  | 'ARTIFACTS_UNAVAILABLE'
  | 'ARTIFACTS_FAILED'
  | 'API_UNAVAILABLE'
  | 'SESSION_NOT_READY';

export const STATUS_BY_CODE: Record<ApiErrorCode, number> = {
  INVALID_REQUEST: 400,
  UNSUPPORTED_FEATURE: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  SESSION_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  SESSION_ENDED: 410,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  QUOTA_EXCEEDED: 429,
  INTERNAL: 500,
  NOT_IMPLEMENTED: 501,
  BROWSER_UNAVAILABLE: 502,
  ARTIFACTS_UNAVAILABLE: 503,
  ARTIFACTS_FAILED: 503,
  API_UNAVAILABLE: 503,
  SESSION_NOT_READY: 504,
};

/**
 * Failures a retry cannot fix. The Browserbase SDK retries 408, 409, 429 and every 5xx on its own, and a
 * retried create is a second session; `x-should-retry: false` stops that.
 */
const NO_RETRY: ReadonlySet<ApiErrorCode> = new Set([
  'RATE_LIMITED',
  'QUOTA_EXCEEDED',
  'INTERNAL',
  'NOT_IMPLEMENTED',
  // The session's artifacts were not stored when it ended (status.artifacts says why): asking again cannot help.
  'ARTIFACTS_FAILED',
]);

export class ApiError extends Error {
  readonly status: number;

  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.status = STATUS_BY_CODE[code];
  }
}

/** The one error body both SDKs parse: Browserbase prints `message`, Hyperbrowser reads `message` and `code`. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  code: ApiErrorCode;
}

export function errorBody(err: ApiError): ErrorBody {
  return {
    statusCode: err.status,
    error: STATUS_CODES[err.status] ?? 'Error',
    message: err.message,
    code: err.code,
  };
}

export function errorHeaders(err: ApiError): Record<string, string> {
  return NO_RETRY.has(err.code) ? { 'x-should-retry': 'false', ...err.headers } : { ...err.headers };
}

/**
 * Turns anything thrown at the boundary into an ApiError. Express' body parser signals its own failures with
 * `type` and `status`; a path that does not percent-decode is a URIError (the router's, with status 400, or the live view's); a body
 * that does not inflate as its content-encoding says is zlib's error (it has an errno) with status 400. The Kubernetes
 * API server away (restarting: its connection refused or reset, or a 5xx or 429 of its own) is a 503 to retry
 * after a second, not a fault of the gateway's. Every other unknown error is an internal one whose details stay
 * in the log.
 */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as { type?: unknown; status?: unknown; limit?: unknown; errno?: unknown } | null;
  if (e && typeof e === 'object') {
    if (e.type === 'entity.too.large') {
      return new ApiError('PAYLOAD_TOO_LARGE', `body: larger than the limit of ${String(e.limit)} bytes`);
    }
    if (e.type === 'entity.parse.failed') return new ApiError('INVALID_REQUEST', 'body: not valid JSON');
    if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') {
      return new ApiError('INVALID_REQUEST', 'body: unsupported encoding');
    }
    if (err instanceof URIError) {
      const value = /'(.*)'$/.exec(err.message)?.[1];
      return new ApiError(
        'INVALID_REQUEST',
        value === undefined
          ? 'path: a malformed percent-escape'
          : `path: ${JSON.stringify(value.slice(0, 80))} has a malformed percent-escape`,
      );
    }
    if (e.status === 400 && typeof e.errno === 'number') {
      return new ApiError('INVALID_REQUEST', 'body: not encoded as its content-encoding header says');
    }
    if (e.type === 'request.aborted' || e.type === 'request.size.invalid') {
      return new ApiError('INVALID_REQUEST', 'body: shorter or longer than its content-length header says');
    }
  }
  if (apiServerAway(err)) {
    return new ApiError(
      'API_UNAVAILABLE',
      'the cluster API is unavailable; retry shortly',
      { 'retry-after': '1' },
      { cause: err },
    );
  }
  return new ApiError('INTERNAL', 'internal error', {}, { cause: err });
}

/** Errors of a connection that failed or broke before an answer (Node's system error codes). */
const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

/** The error or one of its causes (a lookup wraps what the API server said) says the API server is away. */
function apiServerAway(err: unknown, depth = 0): boolean {
  if (err instanceof KubeApiError) return err.code >= 500 || err.code === 429;
  const e = err as { code?: unknown; cause?: unknown } | null;
  if (typeof e?.code === 'string' && CONNECTION_ERRORS.has(e.code)) return true;
  return depth < 5 && e?.cause !== undefined && apiServerAway(e.cause, depth + 1);
}
