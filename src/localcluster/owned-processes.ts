import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// What the local cluster's pieces need to find state a dead owner left behind: a pid file's contents and
// whether that process still lives.

/** A small state file's trimmed contents, or '' when it is missing or unreadable. */
export function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes the state directories (`<tmp>/<prefix>*`) whose owner process (`owner.pid`) is gone, SIGKILLing every
 * process they recorded (`<name>.pid`) that still runs. A directory with no owner yet, younger than a minute, is
 * another start between creating it and writing its pid, and is left. `beforeRemove` cleans what the directory
 * names outside itself.
 */
export function reapStaleDirs(prefix: string, beforeRemove?: (dir: string) => void): void {
  const tmp = os.tmpdir();
  for (const entry of readdirSync(tmp)) {
    if (!entry.startsWith(prefix)) continue;
    const dir = path.join(tmp, entry);
    const owner = Number(readText(path.join(dir, 'owner.pid')));
    if (owner && alive(owner)) continue;
    if (!owner && Date.now() - (statSync(dir, { throwIfNoEntry: false })?.mtimeMs ?? 0) < 60_000) continue;
    for (const f of existsSync(dir) ? readdirSync(dir) : []) {
      if (!f.endsWith('.pid') || f === 'owner.pid') continue;
      const pid = Number(readText(path.join(dir, f)));
      if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    }
    beforeRemove?.(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}
