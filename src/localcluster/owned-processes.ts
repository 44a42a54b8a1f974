import { readFileSync } from 'node:fs';

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
