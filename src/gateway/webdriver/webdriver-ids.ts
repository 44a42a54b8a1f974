import type { IncomingHttpHeaders } from 'node:http';
import type { ConnectCredential } from '../connect-auth.js';

/**
 * What a Selenium client presents (ADR 0014). Selenium clients rewrite paths and drop queries, so the session
 * is told by a header: Browserbase's `x-bb-signing-key` (its create answer's signingKey) or its older
 * `x-bb-api-key` with `session-id` (no session id: a session is made for the client), Hyperbrowser's
 * `x-hyperbrowser-token` (its session's token), or a bearer token.
 */
export function readWebDriverCredential(headers: IncomingHttpHeaders): ConnectCredential | undefined {
  const one = (name: string): string | undefined => {
    const v = headers[name];
    return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
  };
  const token = one('x-bb-signing-key') ?? one('x-hyperbrowser-token');
  if (token) return { kind: 'token', token };
  const auth = one('authorization');
  if (auth?.startsWith('Bearer ')) return { kind: 'token', token: auth.slice('Bearer '.length).trim() };
  const apiKey = one('x-bb-api-key');
  if (apiKey) return { kind: 'apiKey', apiKey, sessionId: one('session-id') };
  return undefined;
}

/**
 * The WebDriver session id a client gets when the gateway made its browser session (an API key without a
 * session id): the browser session's name and chromedriver's id, so that the client's later commands, which
 * carry only the API key again, find their session without state in the gateway (any replica serves them).
 * Kubernetes names have no `_`, chromedriver's ids are hex.
 */
export function implicitWebDriverId(sessionName: string, webdriverId: string): string {
  return `${sessionName}_${webdriverId}`;
}

export function splitWebDriverId(id: string): { sessionName: string; webdriverId: string } | undefined {
  const at = id.lastIndexOf('_');
  if (at <= 0 || at === id.length - 1) return undefined;
  return { sessionName: id.slice(0, at), webdriverId: id.slice(at + 1) };
}

/** The WebDriver path under `/webdriver` and the session id it names, if any. */
export function webdriverRoute(path: string): { sessionId: string | undefined; rest: string } {
  const m = /^\/session\/([^/]+)(\/.*)?$/.exec(path);
  if (!m?.[1]) return { sessionId: undefined, rest: path };
  return { sessionId: decodeURIComponentSafe(m[1]), rest: m[2] ?? '' };
}

function decodeURIComponentSafe(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}
