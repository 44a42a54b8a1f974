import type { V1Container, V1Pod } from '@kubernetes/client-node';

/** The identity a container's processes run as, from the pod's and the container's securityContext. */
export interface RunAs {
  uid?: number;
  gid?: number;
  groups: number[];
  noNewPrivs: boolean;
}

export function runAsFor(pod: V1Pod, container: V1Container): RunAs {
  const podCtx = pod.spec?.securityContext;
  const ctx = container.securityContext;
  const uid = ctx?.runAsUser ?? podCtx?.runAsUser;
  const gid = ctx?.runAsGroup ?? podCtx?.runAsGroup;
  const groups = [
    ...(podCtx?.fsGroup !== undefined ? [podCtx.fsGroup] : []),
    ...(podCtx?.supplementalGroups ?? []),
  ];
  return {
    ...(uid !== undefined ? { uid } : {}),
    ...(gid !== undefined ? { gid } : {}),
    groups: [...new Set(groups)],
    noNewPrivs: ctx?.allowPrivilegeEscalation === false,
  };
}

/**
 * `setpriv` arguments that switch to the identity before the program starts (empty when nothing changes).
 * A user without a group gets group 0, as a container without a group in its image does.
 */
export function setprivArgs(runAs: RunAs, setprivPath: string): string[] {
  const switches = runAs.uid !== undefined || runAs.gid !== undefined || runAs.groups.length > 0;
  if (!switches && !runAs.noNewPrivs) return [];
  const args = [setprivPath];
  if (runAs.uid !== undefined) args.push(`--reuid=${runAs.uid}`);
  if (runAs.uid !== undefined || runAs.gid !== undefined) args.push(`--regid=${runAs.gid ?? 0}`);
  if (switches) args.push(runAs.groups.length > 0 ? `--groups=${runAs.groups.join(',')}` : '--clear-groups');
  if (runAs.noNewPrivs) args.push('--no-new-privs');
  args.push('--');
  return args;
}
