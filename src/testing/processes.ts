import { readdirSync, readFileSync } from 'node:fs';

/** PIDs of running Chromium processes (the real binary), read from /proc. */
export async function chromiumPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')[0] ?? '';
      if (/chromium$|chrome$/.test(cmd)) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}
