import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * make dev's dev loop: `tsc --watch` recompiles dist/ as sources change; after each clean compile, the compiled
 * files that changed tell which running processes run that code, and make dev replaces only those (restarts the
 * operator or gateway; rebuilds the sidecar's image for new browser pods).
 */

export type DevProcess = 'operator' | 'gateway' | 'sidecar';
const PROCESSES: readonly DevProcess[] = ['operator', 'gateway', 'sidecar'];

export interface Affected {
  processes: Set<DevProcess>;
  /** Changed files make dev itself runs (src/dev, src/localcluster): they take a restart of make dev. */
  makeDev: string[];
}

/**
 * Which processes run a compiled file, by its path under dist/. This follows the import rules that
 * dependency-cruiser holds (`make lint`): no process folder imports another, and src/api and src/shared import
 * no process folder, so a process runs its own folder, src/api, src/shared and the entry point.
 */
export function affectedBy(changed: readonly string[]): Affected {
  const processes = new Set<DevProcess>();
  const makeDev: string[] = [];
  for (const file of changed) {
    if (!file.endsWith('.js')) continue;
    const top = file.split('/')[0] ?? '';
    if ((PROCESSES as readonly string[]).includes(top)) processes.add(top as DevProcess);
    else if (top === 'dev' || top === 'localcluster') makeDev.push(file);
    // Anything else (api, shared, main.js, a new folder) may be anyone's: every process gets it.
    else for (const p of PROCESSES) processes.add(p);
  }
  return { processes, makeDev };
}

/** Paths (relative, '/'-separated) whose content differs between two snapshots, added and removed included. */
export function changedFiles(
  before: ReadonlyMap<string, string>,
  after: ReadonlyMap<string, string>,
): string[] {
  const changed = [...after].filter(([file, hash]) => before.get(file) !== hash).map(([file]) => file);
  for (const file of before.keys()) if (!after.has(file)) changed.push(file);
  return changed.sort();
}

/** Content hashes of the .js files under `dir`, by path relative to it. */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.js')) continue;
    const file = path.join(entry.parentPath, entry.name);
    out.set(
      path.relative(dir, file).split(path.sep).join('/'),
      createHash('sha1').update(readFileSync(file)).digest('hex'),
    );
  }
  return out;
}

/** What `tsc --watch --pretty false` prints at the start and end of each compile. */
export function parseWatchLine(
  line: string,
): { kind: 'started' } | { kind: 'finished'; errors: number } | { kind: 'other' } {
  if (/File change detected\. Starting incremental compilation/.test(line)) return { kind: 'started' };
  const m = /Found (\d+) errors?\b/.exec(line);
  if (m) return { kind: 'finished', errors: Number(m[1]) };
  return { kind: 'other' };
}

export interface BuildWatcher {
  stop(): Promise<void>;
}

/**
 * Runs `tsc -p tsconfig.build.json --watch` into `distDir` and calls `onBuilt` after each compile without errors
 * with the compiled files that changed since the last such call (the first snapshot is the dist/ make dev
 * started from) and when the compile started. A compile with errors prints them and changes nothing running.
 */
export function watchBuild(opts: {
  repoRoot: string;
  distDir: string;
  onBuilt: (changed: string[], startedAt: number) => void;
  log: (message: string) => void;
}): BuildWatcher {
  let last = snapshot(opts.distDir);
  const watchStarted = Date.now();
  let first = true;
  let startedAt = Date.now();
  let errorLines: string[] = [];
  // pdeathsig: a make dev killed outright takes its compiler with it.
  const tsc: ChildProcess = spawn(
    'setpriv',
    [
      '--pdeathsig',
      'TERM',
      '--',
      process.execPath,
      path.join(opts.repoRoot, 'node_modules/typescript/bin/tsc'),
      '-p',
      path.join(opts.repoRoot, 'tsconfig.build.json'),
      '--watch',
      '--preserveWatchOutput',
      '--pretty',
      'false',
    ],
    { cwd: opts.repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let buffered = '';
  tsc.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      const event = parseWatchLine(line);
      if (event.kind === 'started') {
        startedAt = Date.now();
        errorLines = [];
      } else if (event.kind === 'finished') {
        if (event.errors > 0) {
          opts.log(
            `dev loop: ${event.errors} compile error(s); nothing restarted:\n${errorLines.join('\n')}`,
          );
          continue;
        }
        if (first)
          opts.log(
            `dev loop: watching src/ (first compile in ${((Date.now() - watchStarted) / 1000).toFixed(1)} s)`,
          );
        first = false;
        const now = snapshot(opts.distDir);
        const changed = changedFiles(last, now);
        last = now;
        if (changed.length > 0) opts.onBuilt(changed, startedAt);
      } else if (line.trim()) errorLines.push(line);
    }
  });
  tsc.once('exit', (code, signal) => {
    if (!stopping) opts.log(`dev loop: tsc --watch exited (${signal ?? `code ${code}`}); no more rebuilds`);
  });
  let stopping = false;
  return {
    async stop() {
      stopping = true;
      if (tsc.exitCode !== null || tsc.signalCode !== null) return;
      const gone = new Promise((r) => tsc.once('exit', r));
      tsc.kill('SIGTERM');
      await gone;
    },
  };
}

export interface ChangeQueue {
  add(changed: readonly string[], startedAt: number): void;
  /** Starts applying (make dev holds changes back until everything it started is ready). */
  open(): void;
  /** Applies nothing more; resolves once a change being applied is done. */
  close(): Promise<void>;
}

/**
 * Applies one change at a time: changes that come in while one is applied are merged and applied together next,
 * with the earliest start (the time a developer waited for is since their first save).
 */
export function changeQueue(
  apply: (changed: string[], startedAt: number) => Promise<void>,
  onError: (err: unknown) => void,
): ChangeQueue {
  let pending: { changed: Set<string>; startedAt: number } | undefined;
  let opened = false;
  let closed = false;
  let running: Promise<void> | undefined;
  const drain = () => {
    if (!opened || closed || running || !pending) return;
    const { changed, startedAt } = pending;
    pending = undefined;
    running = apply([...changed].sort(), startedAt)
      .catch(onError)
      .finally(() => {
        running = undefined;
        drain();
      });
  };
  return {
    add(changed, startedAt) {
      pending = {
        changed: new Set([...(pending?.changed ?? []), ...changed]),
        startedAt: Math.min(pending?.startedAt ?? startedAt, startedAt),
      };
      drain();
    },
    open() {
      opened = true;
      drain();
    },
    async close() {
      closed = true;
      await running;
    },
  };
}
