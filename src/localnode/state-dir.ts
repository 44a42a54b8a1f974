import { mkdir, readdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from '../shared/log.js';
import type { PodNetwork } from './network.js';
import { killRecordedGroup } from './process-runner.js';

/**
 * What the agent writes down so that a later run can find what this one started, even after a crash: per pod
 * `<stateDir>/<node>/pods/<uid>/state.json` (its namespace and the process groups it started, each identified
 * by pid and kernel start time). Who runs the node is in the machine-wide AgentRegistry.
 */

export interface ProcessRecord {
  container: string;
  pid: number;
  startTime: string | undefined;
}

export interface PodRecord {
  uid: string;
  namespace: string;
  name: string;
  netns?: string;
  veth?: string;
  ip?: string;
  processes: ProcessRecord[];
}

export class NodeStateDir {
  /**
   * @param dir this node's state directory
   * @param linksDir this node's directory of short pod symlinks (see PodLayout)
   */
  constructor(
    readonly dir: string,
    readonly linksDir: string,
  ) {}

  get podsDir(): string {
    return join(this.dir, 'pods');
  }

  /** `<namespace>_<pod>_<container>.log` symlinks to the pods' logs, for humans and `make dev`. */
  get logsDir(): string {
    return join(this.dir, 'logs');
  }

  async readPodRecords(): Promise<PodRecord[]> {
    const uids = await readdir(this.podsDir).catch(() => [] as string[]);
    const records: PodRecord[] = [];
    for (const uid of uids) {
      const r = await readJson<PodRecord>(join(this.podsDir, uid, 'state.json'));
      if (r) records.push(r);
    }
    return records;
  }

  /**
   * Kills every process group and removes every namespace, veth and pod directory an earlier run left
   * behind. Restarted pods start from scratch, so nothing is adopted.
   */
  async removeLeftovers(network: PodNetwork | undefined, log: Logger): Promise<void> {
    for (const record of await this.readPodRecords()) {
      for (const p of record.processes) {
        if (await killRecordedGroup(p.pid, p.startTime)) {
          log.info('killed leftover process group', {
            pod: `${record.namespace}/${record.name}`,
            container: p.container,
            pid: p.pid,
          });
        }
      }
    }
    if (network) {
      const removed = await network.removeStale();
      if (removed.length > 0) log.info('removed leftover pod namespaces and veths', { removed });
    }
    for (const d of [this.podsDir, this.logsDir, this.linksDir]) {
      await rm(d, { recursive: true, force: true });
      await mkdir(d, { recursive: true });
    }
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
    await rmdir(dirname(this.dir)).catch(() => undefined);
    await rm(this.linksDir, { recursive: true, force: true });
  }
}

export async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(value));
  await rename(tmp, path);
}
