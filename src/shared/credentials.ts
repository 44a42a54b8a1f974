import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * A session's CDP credential is derived, not stored: HMAC-SHA256 of the session's UID under a key that only
 * the operator and gateway hold (a Secret in a cluster). No per-session Secret exists, and a browser pod only
 * ever learns its own token.
 */
export function sessionToken(key: string | Buffer, sessionUid: string): string {
  return createHmac('sha256', key).update(`browserfleet/session/${sessionUid}`).digest('base64url');
}

/** Constant-time comparison so a wrong token leaks nothing through timing. */
export function tokensEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/**
 * The credential a client presents to the gateway for one session. Derived separately from the pod's own
 * token, so a client can never pose as the session's sidecar (and vice versa).
 */
export function clientToken(key: string | Buffer, sessionUid: string): string {
  return createHmac('sha256', key).update(`browserfleet/client/${sessionUid}`).digest('base64url');
}
