import {
  type BrowserProject,
  type BrowserSession,
  isAdmitted,
  isTerminal,
  projectOf,
  sessionKey,
} from '../api/index.js';
import type { WorkQueue } from '../shared/kube/workqueue.js';
import { type AdmissionVerdict, compareArrival, decideAdmissions } from './admission.js';

export interface LedgerDeps {
  /** A session from the cache, by `namespace/name`. */
  session(key: string): BrowserSession | undefined;
  /** The concurrency of a project as the cache has it (0 for a project that does not exist). */
  concurrency(project: string): number;
  queue: Pick<WorkQueue, 'add' | 'addAfter'>;
  /** Workers of the session queue: no more waiting sessions jump the queue than can be served at once. */
  workers: number;
}

/**
 * The bookkeeping that keeps admission exact and prompt between the cache and the API server: which sessions
 * belong to which project, admissions written but not yet seen, each project's last verdicts, and which
 * waiting sessions to wake when a place frees. Admission itself is decided from the sessions
 * (decideAdmissions); nothing here is a counter of places.
 */
export class AdmissionLedger {
  /** Admissions written but not yet seen in the cache: uid -> project. Closes the double-admission window. */
  private readonly inflight = new Map<string, string>();
  /** Session keys per project, so that admission looks at one project's sessions, not all of them. */
  private readonly byProject = new Map<string, Set<string>>();
  /** Per project, the verdicts of the last admission pass; dropped whenever one of its sessions changes. */
  private readonly verdicts = new Map<string, Map<string, AdmissionVerdict>>();

  constructor(private readonly deps: LedgerDeps) {}

  /**
   * A session changed in the cache, or left it (`gone`). Returns whether it waits for a place: a session that
   * does not may have taken or freed one, and then promoteWaiting() moves those behind it.
   */
  observe(s: BrowserSession, gone: boolean): { waiting: boolean } {
    const key = sessionKey(s);
    const project = projectOf(s);
    const uid = s.metadata.uid ?? '';
    let members = this.byProject.get(project);
    if (!members) {
      members = new Set();
      this.byProject.set(project, members);
    }
    if (gone) members.delete(key);
    else members.add(key);
    if (this.inflight.has(uid) && (gone || isAdmitted(s) || isTerminal(s))) this.inflight.delete(uid);
    this.verdicts.delete(project);
    return { waiting: !gone && !isAdmitted(s) && !isTerminal(s) };
  }

  /** The project itself changed (its concurrency, say): its verdicts are stale. */
  projectChanged(project: string): void {
    this.verdicts.delete(project);
  }

  /** The quota's verdict for a session not yet admitted; one admission pass per project serves them all. */
  verdictFor(project: BrowserProject, session: BrowserSession): AdmissionVerdict | undefined {
    const name = project.metadata.name ?? '';
    let verdicts = this.verdicts.get(name);
    if (!verdicts) {
      const inflight = new Set([...this.inflight].filter(([, p]) => p === name).map(([uid]) => uid));
      verdicts = decideAdmissions(project, this.membersOf(name), inflight);
      this.verdicts.set(name, verdicts);
    }
    return verdicts.get(session.metadata.uid ?? '');
  }

  /** An admission is about to be written: its place is taken from now on, before the cache shows it. */
  admitting(s: BrowserSession): void {
    this.inflight.set(s.metadata.uid ?? '', projectOf(s));
  }

  /** A status write of the session failed: an admission it carried did not happen, and verdicts are stale. */
  statusWriteFailed(s: BrowserSession, wasAdmitting: boolean): void {
    if (wasAdmitting) this.inflight.delete(s.metadata.uid ?? '');
    this.verdicts.delete(projectOf(s));
  }

  /**
   * Order only matters when places are scarce: then the first waiting sessions (at most as many as there are
   * free places and workers) go to the urgent lane, the rest that may take a place are queued, and the queued
   * ones behind them get their new positions a moment later (coalesced). With room for everyone waiting,
   * nobody needs to move: each is queued once, in the normal lane.
   */
  promoteWaiting(project: string): void {
    const { queue } = this.deps;
    const members = this.membersOf(project);
    // Admissions written but not yet seen are taken places, not waiting sessions.
    const behind = members.filter(
      (o) => !isAdmitted(o) && !isTerminal(o) && !this.inflight.has(o.metadata.uid ?? ''),
    );
    let taken = 0;
    for (const o of members) if (isAdmitted(o) && !isTerminal(o)) taken++;
    for (const p of this.inflight.values()) if (p === project) taken++;
    const free = Math.max(0, this.deps.concurrency(project) - taken);
    if (free >= behind.length) {
      // A queued session may be idle in no queue at all; add() of one already queued is a set lookup.
      for (const other of behind) queue.add(sessionKey(other));
      return;
    }
    behind.sort(compareArrival);
    // Jumping the queue only makes admission prompt (verdicts come from the whole project, in arrival order),
    // so no more jump than the workers can take at once: the urgent lane is for live sessions' work.
    const jump = Math.min(free, this.deps.workers);
    for (const other of behind.slice(0, jump)) queue.add(sessionKey(other), { urgent: true });
    for (const other of behind.slice(jump, free)) queue.add(sessionKey(other));
    for (const other of behind.slice(free))
      if (other.status?.phase === 'Queued') queue.addAfter(sessionKey(other), 250);
  }

  private membersOf(project: string): BrowserSession[] {
    const out: BrowserSession[] = [];
    for (const key of this.byProject.get(project) ?? []) {
      const s = this.deps.session(key);
      if (s) out.push(s);
    }
    return out;
  }
}
