import type { BrowserSession, BrowserSessionStatus } from './generated.js';

export type SessionPhase = NonNullable<BrowserSessionStatus['phase']>;
export type EndReason = NonNullable<BrowserSessionStatus['endReason']>;
export type Condition = NonNullable<BrowserSessionStatus['conditions']>[number];

export const TERMINAL_PHASES: ReadonlySet<SessionPhase> = new Set(['Completed', 'TimedOut', 'Failed']);

export function isTerminal(s: Pick<BrowserSession, 'status'>): boolean {
  const phase = s.status?.phase;
  return phase !== undefined && TERMINAL_PHASES.has(phase);
}

/** Admitted = holds a place in its project's concurrency quota. */
export function isAdmitted(s: Pick<BrowserSession, 'status'>): boolean {
  return !isTerminal(s) && s.status?.startedAt !== undefined;
}

export function sessionKey(s: { metadata: { namespace?: string; name?: string } }): string {
  return `${s.metadata.namespace ?? ''}/${s.metadata.name ?? ''}`;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** Serialized size of userMetadata, as Browserbase caps it (512 characters). */
export function userMetadataSize(meta: Record<string, unknown> | undefined): number {
  return meta === undefined ? 0 : JSON.stringify(meta).length;
}
export const USER_METADATA_MAX = 512;
