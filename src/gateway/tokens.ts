import { createHmac } from 'node:crypto';
import type { BrowserSession } from '../api/index.js';
import { clientToken, tokensEqual } from '../shared/credentials.js';

/**
 * The credentials the gateway hands out (docs/adr/0002-gateway-tokens.md). Both name their session in clear
 * (`base64url(namespace/name)`, so one direct lookup finds it) and prove it with an HMAC of the session's UID
 * under the session key, so nothing is stored per session and a deleted-and-recreated name gets new tokens.
 *
 *   connect token   <base64url(ns/name)>.<clientToken(key, uid)>
 *   live-view token <base64url(ns/name)>.<expires, epoch seconds>.<HMAC(key, "browserfleet/live/<uid>/<expires>")>
 *   downloads token the same with "browserfleet/downloads/<uid>/<expires>": a link to the session's downloads
 *                   zip (Hyperbrowser's downloadsUrl), which no live-view token opens and which opens no live view
 */
export interface SessionRef {
  namespace: string;
  name: string;
}

export function connectToken(key: string, s: BrowserSession): string {
  return `${encodeRef(s)}.${clientToken(key, s.metadata.uid ?? '')}`;
}

/** What an expiring link opens: its purpose is part of what the HMAC covers. */
export type LinkPurpose = 'live' | 'downloads';

export function liveToken(key: string, s: BrowserSession, expiresAtSeconds: number): string {
  return expiringToken(key, 'live', s, expiresAtSeconds);
}

export function expiringToken(
  key: string,
  purpose: LinkPurpose,
  s: BrowserSession,
  expiresAtSeconds: number,
): string {
  return `${encodeRef(s)}.${expiresAtSeconds}.${expiringMac(key, purpose, s.metadata.uid ?? '', expiresAtSeconds)}`;
}

export interface ParsedConnectToken extends SessionRef {
  mac: string;
}

export interface ParsedExpiringToken extends SessionRef {
  expiresAtSeconds: number;
  mac: string;
}

/** The session a connect token names, or undefined when it is not shaped like one. Proves nothing yet. */
export function parseConnectToken(token: string): ParsedConnectToken | undefined {
  const parts = token.split('.');
  if (parts.length !== 2) return undefined;
  const ref = decodeRef(parts[0] ?? '');
  return ref && parts[1] ? { ...ref, mac: parts[1] } : undefined;
}

export function parseExpiringToken(token: string): ParsedExpiringToken | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const ref = decodeRef(parts[0] ?? '');
  const exp = Number(parts[1]);
  if (!ref || !/^\d{1,12}$/.test(parts[1] ?? '') || !parts[2]) return undefined;
  return { ...ref, expiresAtSeconds: exp, mac: parts[2] };
}

export function verifyConnectToken(key: string, s: BrowserSession, parsed: ParsedConnectToken): boolean {
  return sameSession(s, parsed) && tokensEqual(parsed.mac, clientToken(key, s.metadata.uid ?? ''));
}

export function verifyLiveToken(
  key: string,
  s: BrowserSession,
  parsed: ParsedExpiringToken,
  nowMs: number,
): boolean {
  return verifyExpiringToken(key, 'live', s, parsed, nowMs);
}

export function verifyExpiringToken(
  key: string,
  purpose: LinkPurpose,
  s: BrowserSession,
  parsed: ParsedExpiringToken,
  nowMs: number,
): boolean {
  const macOk = tokensEqual(
    parsed.mac,
    expiringMac(key, purpose, s.metadata.uid ?? '', parsed.expiresAtSeconds),
  );
  return sameSession(s, parsed) && macOk && parsed.expiresAtSeconds * 1000 > nowMs;
}

function sameSession(s: BrowserSession, ref: SessionRef): boolean {
  return s.metadata.namespace === ref.namespace && s.metadata.name === ref.name && !!s.metadata.uid;
}

function expiringMac(key: string, purpose: LinkPurpose, uid: string, expiresAtSeconds: number): string {
  return createHmac('sha256', key)
    .update(`browserfleet/${purpose}/${uid}/${expiresAtSeconds}`)
    .digest('base64url');
}

function encodeRef(s: BrowserSession): string {
  return Buffer.from(`${s.metadata.namespace ?? ''}/${s.metadata.name ?? ''}`).toString('base64url');
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function decodeRef(encoded: string): SessionRef | undefined {
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(encoded)) return undefined;
  const text = Buffer.from(encoded, 'base64url').toString('utf8');
  const slash = text.indexOf('/');
  const namespace = text.slice(0, slash);
  const name = text.slice(slash + 1);
  if (slash < 1 || !isNamespace(namespace) || !isSessionName(name)) return undefined;
  return { namespace, name };
}

export function isNamespace(v: string): boolean {
  return v.length <= 63 && DNS_LABEL.test(v);
}

/** BrowserSession names are DNS subdomains; anything else cannot name one and needs no API call. */
export function isSessionName(v: string): boolean {
  return v.length > 0 && v.length <= 253 && DNS_SUBDOMAIN.test(v);
}
