import type { BrowserProject, BrowserSession } from '../api/index.js';
import { isAdmitted, isTerminal, projectSpec } from '../api/index.js';

export type AdmissionVerdict =
  | { kind: 'admit' }
  | { kind: 'queue'; position: number; message?: string }
  | { kind: 'reject'; message: string };

/**
 * Admission for one project, from the sessions themselves: never a counter. `inflight` holds the UIDs this
 * operator admitted whose write the cache has not shown yet, so two decisions in that window can't both use
 * the same free place. Waiting sessions are served first-in first-out.
 */
export function decideAdmissions(
  project: Pick<BrowserProject, 'spec'>,
  sessions: readonly BrowserSession[],
  inflight: ReadonlySet<string>,
): Map<string, AdmissionVerdict> {
  const verdicts = new Map<string, AdmissionVerdict>();
  const live = sessions.filter((s) => !isTerminal(s));
  const admitted = live.filter((s) => isAdmitted(s) || inflight.has(s.metadata.uid ?? '')).length;
  const waiting = live
    .filter((s) => !isAdmitted(s) && !inflight.has(s.metadata.uid ?? ''))
    .filter((s) => !s.spec.release && !s.metadata.deletionTimestamp)
    .sort(compareArrival);
  let room = Math.max(0, project.spec.concurrency - admitted);
  const maxQueued = projectSpec(project).maxQueued;
  let queued = 0;
  for (const s of waiting) {
    const uid = s.metadata.uid ?? '';
    if (room > 0) {
      verdicts.set(uid, { kind: 'admit' });
      room--;
    } else if (queued < maxQueued || s.status?.phase === 'Queued') {
      // A session already queued keeps its place even if maxQueued was lowered since.
      verdicts.set(uid, { kind: 'queue', position: ++queued });
    } else {
      verdicts.set(uid, {
        kind: 'reject',
        message: `project has ${project.spec.concurrency} sessions running or starting and ${queued} queued (maxQueued ${maxQueued})`,
      });
    }
  }
  return verdicts;
}

/**
 * Creation order = commit order: the resourceVersion of the create (recorded in status.creationRevision on the
 * first write, so later writes don't move a session). creationTimestamp is not used: it has one-second
 * resolution and is stamped before the commit, so under load it can disagree with the real order.
 */
export function compareArrival(a: BrowserSession, b: BrowserSession): number {
  const ra = revision(a);
  const rb = revision(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  return (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
}

/** Parsed once per object (cache objects are replaced, never changed, on update): sorting is hot at scale. */
const revisions = new WeakMap<BrowserSession, bigint>();

function revision(s: BrowserSession): bigint {
  let r = revisions.get(s);
  if (r === undefined) {
    try {
      r = BigInt(s.status?.creationRevision ?? s.metadata.resourceVersion ?? '0');
    } catch {
      r = 0n;
    }
    revisions.set(s, r);
  }
  return r;
}
