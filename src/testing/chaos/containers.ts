import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { type KubeClient, paths } from '../../shared/kube/client.js';

/** A running container of a pod on the chaos node, as the pod's status names it. */
export interface PodContainer {
  namespace: string;
  pod: string;
  container: string;
  /** containerd's id (the status's `containerd://<id>` without its scheme). */
  containerId: string;
}

export async function runningContainers(
  client: KubeClient,
  namespaces: string[],
  labelSelector?: string,
): Promise<PodContainer[]> {
  const out: PodContainer[] = [];
  for (const ns of namespaces) {
    const pods = await client.get<{ items: V1Pod[] }>(
      paths.pods(ns),
      labelSelector ? { labelSelector } : undefined,
    );
    for (const p of pods.items) {
      if (p.metadata?.deletionTimestamp) continue;
      for (const c of p.status?.containerStatuses ?? []) {
        const id = /^[a-z]+:\/\/([0-9a-f]+)$/.exec(c.containerID ?? '')?.[1];
        if (id && c.state?.running)
          out.push({ namespace: ns, pod: p.metadata?.name ?? '', container: c.name, containerId: id });
      }
    }
  }
  return out;
}

/** The kubelet's cgroupfs layout: kubepods[/<qos class>]/pod<uid>/<container id>, in every v1 hierarchy. */
const KUBEPODS = '/sys/fs/cgroup/pids/kubepods';

/**
 * The host pid of a container's own process (the one its shim started, whose parent is outside the
 * container): found in the container's cgroup, as the processes of pods are visible from the host.
 */
export async function containerPid(containerId: string, root = KUBEPODS): Promise<number | undefined> {
  const dir = await findDir(root, containerId, 3);
  if (!dir) return undefined;
  const procs = (await readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map(Number);
  const inside = new Set(procs);
  for (const pid of procs) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid …; comm may hold spaces and parentheses, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (stat && !inside.has(ppid)) return pid;
  }
  return undefined;
}

async function findDir(dir: string, name: string, depth: number): Promise<string | undefined> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory() && e.name === name) return path.join(dir, e.name);
  if (depth <= 1) return undefined;
  for (const e of entries)
    if (e.isDirectory()) {
      const found = await findDir(path.join(dir, e.name), name, depth - 1);
      if (found) return found;
    }
  return undefined;
}
