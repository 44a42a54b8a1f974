import type { IncomingMessage } from 'node:http';
import { tokensEqual } from '../shared/credentials.js';

/**
 * Every credential the request presents. Clients differ in what they can set: browsers and `connectOverCDP`
 * URLs carry `?token=`, SDKs with header support use `Authorization: Bearer`, and the gateway may use its own
 * header. Any one of them matching is enough.
 */
function presentedTokens(req: IncomingMessage, url: URL): string[] {
  const tokens: string[] = [];
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) tokens.push(auth.slice('Bearer '.length).trim());
  const custom = req.headers['x-browserfleet-token'];
  if (typeof custom === 'string') tokens.push(custom.trim());
  for (const t of url.searchParams.getAll('token')) tokens.push(t);
  return tokens;
}

/** The presented token that matches the session's, or undefined when none does. */
export function authenticate(req: IncomingMessage, url: URL, sessionToken: string): string | undefined {
  return presentedTokens(req, url).find((t) => t.length > 0 && tokensEqual(t, sessionToken));
}

/** For logs: a request target with any `token=` value blanked out. */
export function redactToken(target: string): string {
  return target.replace(/([?&]token=)[^&#]*/gi, '$1REDACTED');
}
