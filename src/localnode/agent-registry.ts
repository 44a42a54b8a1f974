import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { processStartTime } from './process-runner.js';
import { readJson, writeJsonAtomic } from './state-dir.js';

/** Who runs a node on this machine, and where its things are, so that anyone can clean up after it. */
export interface AgentRecord {
  pid: number;
  /** Kernel start time of the agent process: with the pid it names one process forever. */
  startTime: string | undefined;
  nodeName: string;
  /** The node's state directory (pod records with their process groups). */
  nodeDir: string;
  /** The node's bridge; empty when it runs without networking (simulate). */
  bridge: string;
  podCIDR: string;
}

/**
 * The machine-wide list of agents: `<runDir>/<tag>.json`, one per node name. It serves two purposes:
 * one node name is run by at most one live agent on the machine (a second one would kill the first one's
 * pods while cleaning up), and whatever a dead agent left behind (processes, namespaces, veths, its bridge,
 * its state) is reaped by the next agent that starts, whatever node that one runs.
 */
export class AgentRegistry {
  constructor(readonly runDir: string) {}

  private file(tag: string): string {
    return join(this.runDir, `${tag}.json`);
  }

  async entries(): Promise<{ tag: string; record: AgentRecord }[]> {
    const names = await readdir(this.runDir).catch(() => [] as string[]);
    const out: { tag: string; record: AgentRecord }[] = [];
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const record = await readJson<AgentRecord>(join(this.runDir, name));
      if (record) out.push({ tag: name.slice(0, -'.json'.length), record });
    }
    return out;
  }

  static async isAlive(record: AgentRecord): Promise<boolean> {
    return record.startTime !== undefined && (await processStartTime(record.pid)) === record.startTime;
  }

  /**
   * Registers this process for `tag`. Dead agents (any tag) are handed to `reap` first; a live agent of
   * another process for the same tag is an error. An earlier agent of this very process (a test simulating a
   * crash) counts as dead.
   */
  async claim(
    tag: string,
    record: Omit<AgentRecord, 'pid' | 'startTime'>,
    reap: (tag: string, dead: AgentRecord) => Promise<void>,
  ): Promise<void> {
    await mkdir(this.runDir, { recursive: true });
    for (const entry of await this.entries()) {
      const own = entry.tag === tag;
      const alive = entry.record.pid !== process.pid && (await AgentRegistry.isAlive(entry.record));
      if (alive && own) {
        throw new Error(
          `node "${record.nodeName}" is already run on this machine by localnode pid ${entry.record.pid} ` +
            `(state ${entry.record.nodeDir}); stop it or choose another node name`,
        );
      }
      if (alive || (entry.record.pid === process.pid && !own)) continue;
      await reap(entry.tag, entry.record);
      await rm(this.file(entry.tag), { force: true });
    }
    await mkdir(this.runDir, { recursive: true });
    await writeJsonAtomic(this.file(tag), {
      ...record,
      pid: process.pid,
      startTime: await processStartTime(process.pid),
    } satisfies AgentRecord);
  }

  async release(tag: string): Promise<void> {
    await rm(this.file(tag), { force: true });
  }
}
