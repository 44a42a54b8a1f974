import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { V1Container, V1Pod } from '@kubernetes/client-node';

/**
 * Where a pod lives on disk: `<podsDir>/<uid>/`. Container logs are `<uid>/<container>.log` (what `make dev`
 * tails); everything a container may write (its HOME, its /tmp, its emptyDir volumes, its termination
 * message) is under the same directory, so removing it removes every trace of the pod.
 *
 * Containers are told short paths: `root` is a symlink `<linksDir>/<8 hex>` to the pod directory. A Unix
 * socket path may not exceed 107 bytes, and Chromium binds one under $TMPDIR
 * (`org.chromium.Chromium.XXXXXX/SingletonSocket`); under the real directory it would not fit.
 */
export class PodLayout {
  constructor(
    readonly dir: string,
    readonly root: string = dir,
  ) {}

  static of(podsDir: string, uid: string, linksDir?: string): PodLayout {
    const dir = join(podsDir, uid);
    return new PodLayout(dir, linksDir ? join(linksDir, shortPodId(uid)) : dir);
  }

  get stateFile(): string {
    return join(this.dir, 'state.json');
  }

  log(container: string): string {
    return join(this.dir, `${container}.log`);
  }

  containerDir(container: string): string {
    return join(this.root, 'containers', container);
  }

  home(container: string): string {
    return join(this.containerDir(container), 'home');
  }

  tmp(container: string): string {
    return join(this.containerDir(container), 'tmp');
  }

  terminationLog(container: string): string {
    return join(this.containerDir(container), 'termination-log');
  }

  volume(name: string): string {
    return join(this.root, 'volumes', name);
  }

  isVolumePath(path: string): boolean {
    return path.startsWith(`${join(this.root, 'volumes')}/`);
  }

  /** True for paths the agent made for this pod (and may create, chmod and remove). */
  owns(path: string): boolean {
    return path === this.root || path.startsWith(`${this.root}/`) || path.startsWith(`${this.dir}/`);
  }
}

export function shortPodId(uid: string): string {
  return createHash('sha256').update(uid).digest('hex').slice(0, 8);
}

export interface PathMapping {
  containerPath: string;
  hostPath: string;
}

export const DEFAULT_TERMINATION_MESSAGE_PATH = '/dev/termination-log';

/**
 * Without mount namespaces a container cannot see its volumes at their mount paths. Instead, the paths a
 * container is told about (command, args, env values, workingDir) are rewritten to where the data really is.
 * `/dev/shm` is left alone: the host's /dev/shm is a tmpfs and shared-memory names are unique per process.
 */
export function containerPathMappings(pod: V1Pod, container: V1Container, layout: PodLayout): PathMapping[] {
  const volumes = new Map((pod.spec?.volumes ?? []).map((v) => [v.name, v]));
  const out: PathMapping[] = [];
  for (const m of container.volumeMounts ?? []) {
    const mountPath = trimSlash(m.mountPath);
    if (mountPath === '/dev/shm' || mountPath === '' || isBindMounted(mountPath)) continue;
    const v = volumes.get(m.name);
    const base = v?.hostPath ? trimSlash(v.hostPath.path) : layout.volume(m.name);
    out.push({ containerPath: mountPath, hostPath: m.subPath ? join(base, m.subPath) : base });
  }
  const has = (p: string) => out.some((o) => o.containerPath === p);
  const termPath = trimSlash(container.terminationMessagePath ?? DEFAULT_TERMINATION_MESSAGE_PATH);
  if (!has(termPath)) out.push({ containerPath: termPath, hostPath: layout.terminationLog(container.name) });
  // A container's /tmp is its own in a real runtime; sharing the host's would let pods collide (Chrome profiles).
  if (!has('/tmp')) out.push({ containerPath: '/tmp', hostPath: layout.tmp(container.name) });
  return out.sort((a, b) => b.containerPath.length - a.containerPath.length);
}

/**
 * Secrets live where programs open them without being told: the service-account token's
 * /var/run/secrets/kubernetes.io/serviceaccount above all (client libraries read it for in-cluster config).
 * Rewriting cannot reach those paths, so volumes mounted under these roots are bind-mounted at their real path
 * in the container's own mount namespace instead.
 */
const BIND_MOUNT_ROOTS = ['/var/run/secrets', '/run/secrets'];

export function isBindMounted(mountPath: string): boolean {
  return BIND_MOUNT_ROOTS.some((r) => mountPath === r || mountPath.startsWith(`${r}/`));
}

export interface BindMount {
  source: string;
  target: string;
}

export function containerBindMounts(pod: V1Pod, container: V1Container, layout: PodLayout): BindMount[] {
  const volumes = new Map((pod.spec?.volumes ?? []).map((v) => [v.name, v]));
  return (container.volumeMounts ?? [])
    .filter((m) => isBindMounted(trimSlash(m.mountPath)))
    .map((m) => {
      const v = volumes.get(m.name);
      const base = v?.hostPath ? trimSlash(v.hostPath.path) : layout.volume(m.name);
      return { source: m.subPath ? join(base, m.subPath) : base, target: trimSlash(m.mountPath) };
    });
}

/**
 * The argv prefix that makes the bind mounts (read-only) and then execs the container's program, keeping its
 * PID. Inside `ip netns exec` the process already has a mount namespace of its own (whose mounts never reach the
 * host); a hostNetwork pod gets one from `unshare`. The mount point is created on the host if missing (an
 * empty directory, as a runtime's image would have).
 */
export function mountWrapper(mounts: readonly BindMount[], hostNetwork: boolean): string[] {
  if (mounts.length === 0) return [];
  const script =
    'while [ "$1" != -- ]; do mkdir -p "$2" && mount --bind -o ro "$1" "$2" || exit 126; shift 2; done; shift; exec "$@"';
  return [
    ...(hostNetwork ? ['unshare', '--mount', '--propagation', 'private'] : []),
    '/bin/sh',
    '-c',
    script,
    'mount',
    ...mounts.flatMap((m) => [m.source, m.target]),
    '--',
  ];
}

function trimSlash(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}

const PATH_CHAR = String.raw`[\w.~@%+-]`;

/**
 * Rewrites whole path components only: `/data/profile` and `--user-data-dir=/data` match a mount at `/data`,
 * `/database` and `http://host/data` do not.
 */
export function rewritePaths(text: string, mappings: readonly PathMapping[]): string {
  if (mappings.length === 0) return text;
  const byPath = new Map(mappings.map((m) => [m.containerPath, m.hostPath]));
  const alternatives = [...byPath.keys()]
    .sort((a, b) => b.length - a.length)
    .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('|');
  const re = new RegExp(`(?<!${PATH_CHAR}|/)(?:${alternatives})(?=$|/|[^\\w.~@%+-])`, 'g');
  return text.replace(re, (match) => byPath.get(match) ?? match);
}
