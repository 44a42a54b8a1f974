import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Kernel clock ticks per second, the unit of utime/stime in /proc/<pid>/stat. */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface ProcSample {
  at: number;
  rssBytes: number;
  /** User + system CPU time the process has used since it started. */
  cpuSeconds: number;
}

/** One reading of a process's resident memory and CPU time, from /proc (undefined once it has exited). */
export function readProc(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; the fields after its last ')' are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { at: Date.now(), rssBytes: rssKb * 1024, cpuSeconds: (utime + stime) / CLK_TCK };
  } catch {
    return undefined;
  }
}

export interface ProcUsage {
  /** Wall time covered, seconds. */
  seconds: number;
  cpuSeconds: number;
  /** Average CPU cores used over the interval. */
  avgCores: number;
  peakRssMiB: number;
  endRssMiB: number;
}

const MiB = 1024 * 1024;

/**
 * Samples processes every `intervalMs` (peak RSS needs sampling; CPU time is exact from the first and last
 * reading). `usage()` covers everything since `start()` or the last `reset()`.
 */
export class ProcMonitor {
  private timer: NodeJS.Timeout | undefined;
  private first = new Map<string, ProcSample>();
  private last = new Map<string, ProcSample>();
  private peak = new Map<string, number>();

  constructor(
    private readonly pids: Record<string, number>,
    private readonly intervalMs = 250,
  ) {}

  start(): this {
    this.reset();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  reset(): void {
    this.first.clear();
    this.last.clear();
    this.peak.clear();
    this.sample();
  }

  sample(): void {
    for (const [name, pid] of Object.entries(this.pids)) {
      const s = readProc(pid);
      if (!s) continue;
      if (!this.first.has(name)) this.first.set(name, s);
      this.last.set(name, s);
      this.peak.set(name, Math.max(this.peak.get(name) ?? 0, s.rssBytes));
    }
  }

  usage(): Record<string, ProcUsage> {
    this.sample();
    const out: Record<string, ProcUsage> = {};
    for (const name of Object.keys(this.pids)) {
      const a = this.first.get(name);
      const b = this.last.get(name);
      if (!a || !b) continue;
      const seconds = (b.at - a.at) / 1000;
      const cpuSeconds = b.cpuSeconds - a.cpuSeconds;
      out[name] = {
        seconds: Math.round(seconds * 10) / 10,
        cpuSeconds: Math.round(cpuSeconds * 100) / 100,
        avgCores: seconds > 0 ? Math.round((cpuSeconds / seconds) * 100) / 100 : 0,
        peakRssMiB: Math.round((this.peak.get(name) ?? 0) / MiB),
        endRssMiB: Math.round(b.rssBytes / MiB),
      };
    }
    return out;
  }

  stop(): Record<string, ProcUsage> {
    clearInterval(this.timer);
    return this.usage();
  }
}
