import type { Reporter, TestCase, TestModule } from 'vitest/node';

/**
 * The last lines a run prints, when something failed: one line per failed test (its file, name and the first
 * line of its error), and under the first one the diagnosis its file attached (`attachDiagnosis`). CI keeps
 * only the tail of a long log, and the default reporter's summary ends with counts: without this, the tail of
 * a failed run says that something failed and not what, nor why.
 */
export default class FailureDigestReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const failed: TestCase[] = [];
    for (const m of modules) for (const t of m.children.allTests('failed')) failed.push(t);
    if (failed.length === 0) return;
    const started = (t: TestCase) => t.diagnostic()?.startTime ?? 0;
    failed.sort((a, b) => started(a) - started(b));
    const lines = [`--- ${failed.length} failed test(s), in the order they started:`];
    for (const t of failed) {
      const error = t.result().errors?.[0];
      const first = (error?.message ?? 'no error message').split('\n')[0]?.slice(0, 200);
      lines.push(`${t.module.moduleId.replace(`${process.cwd()}/`, '')} > ${t.fullName}: ${first}`);
    }
    const diagnosed = failed.find((t) => typeof t.meta().diagnosis === 'string');
    if (diagnosed) lines.push(`--- what ${diagnosed.name} saw:`, String(diagnosed.meta().diagnosis));
    console.log(lines.join('\n'));
  }
}

declare module 'vitest' {
  interface TaskMeta {
    /** A few lines saying what the test saw when it failed, printed last by the failure digest. */
    diagnosis?: string;
  }
}
