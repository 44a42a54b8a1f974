import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

/**
 * What a real node may change on this machine and its `down` must put back: its processes, iptables chains,
 * interfaces, network namespaces, mounts under its state directory, pod cgroups, the sysctls the kubelet sets
 * and the paths the kubelet and containerd hard-code. Taken before a node comes up and after it went down, the
 * two must be equal.
 */
export function hostSnapshot(stateDir: string, bridgePrefix: string): Record<string, string[]> {
  const sh = (cmd: string) =>
    execFileSync('bash', ['-c', cmd], { encoding: 'utf8' }).split('\n').filter(Boolean);
  return {
    processes: sh(
      "ps -eo comm= | grep -E '^(containerd|containerd-shim|kubelet|kube-proxy|coredns|runc|pause)' | sort | uniq -c || true",
    ),
    chains: sh(
      "for t in filter nat mangle raw; do iptables-save -t $t; ip6tables-save -t $t; done | grep -E '^:(KUBE|CNI)-' | cut -d' ' -f1 | sort || true",
    ),
    links: sh(`ip -br link | awk '{print $1}' | grep -E '^(${bridgePrefix}|cni-)' | sort || true`),
    netns: sh("ip netns list | awk '{print $1}' | grep '^cni-' | sort || true"),
    mounts: sh(`findmnt -rn -o TARGET | grep -F '${stateDir}/' || true`),
    cgroups: readdirSync('/sys/fs/cgroup').filter((h) => existsSync(`/sys/fs/cgroup/${h}/kubepods`)),
    sysctls: sh('sysctl vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops'),
    paths: ['/var/lib/kubelet', '/var/log/containers', '/var/log/pods', '/var/lib/cni', '/run/nri'].filter(
      existsSync,
    ),
    chromes: liveChromes().map(String),
  };
}

/** Browser-pod Chromes (DevTools on the pod's port 9222) that are alive, not zombies. */
function liveChromes(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const state = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.charAt(0);
      if (cmdline.includes('--remote-debugging-port=9222') && state !== 'Z') pids.push(Number(entry));
    } catch {
      // gone while we looked
    }
  }
  return pids;
}

/** The differences between two snapshots, one line per changed entry ('' when equal). */
export function snapshotDiff(before: Record<string, string[]>, after: Record<string, string[]>): string[] {
  const lines: string[] = [];
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const b = new Set(before[key] ?? []);
    const a = new Set(after[key] ?? []);
    const added = [...a].filter((x) => !b.has(x));
    const removed = [...b].filter((x) => !a.has(x));
    if (added.length > 0) lines.push(`${key} left: ${added.join(', ')}`);
    if (removed.length > 0) lines.push(`${key} gone that were there before: ${removed.join(', ')}`);
  }
  return lines;
}
