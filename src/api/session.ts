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

export const USER_METADATA_MAX = 512;
/**
 * Every level of nesting costs at least two characters (`[]`), so deeper values cannot fit USER_METADATA_MAX.
 * Measuring stops there: JSON.stringify recurses and overflows the stack on a few thousand levels, which a
 * body well under the size limit can hold.
 */
const USER_METADATA_MAX_DEPTH = USER_METADATA_MAX / 2;

/**
 * What is wrong with userMetadata's size, as Browserbase caps it (512 characters serialized), or undefined
 * when it fits. Safe on any JSON value, however deeply nested.
 */
export function userMetadataSizeProblem(meta: Record<string, unknown> | undefined): string | undefined {
  if (meta === undefined) return undefined;
  if (nestingDepth(meta) > USER_METADATA_MAX_DEPTH) {
    return `nested more than ${USER_METADATA_MAX_DEPTH} levels deep, so over ${USER_METADATA_MAX} characters serialized`;
  }
  const size = JSON.stringify(meta).length;
  return size > USER_METADATA_MAX ? `${size} characters serialized, at most ${USER_METADATA_MAX}` : undefined;
}

/** How deeply objects and arrays nest in a JSON value (a scalar is 0), walked without recursion. */
export function nestingDepth(value: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  for (let top = stack.pop(); top; top = stack.pop()) {
    const [v, depth] = top;
    if (typeof v !== 'object' || v === null) continue;
    if (depth + 1 > max) max = depth + 1;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return max;
}
