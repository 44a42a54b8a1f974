import { chmod, chown, mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import type {
  V1ConfigMap,
  V1DownwardAPIVolumeFile,
  V1KeyToPath,
  V1Pod,
  V1Secret,
  V1Volume,
  V1VolumeProjection,
} from '@kubernetes/client-node';
import { fieldRefValue, type PodFacts, resourceFieldRefValue } from './container-env.js';

/**
 * The files of configMap, secret, downwardAPI and projected volumes (service-account tokens included), as the
 * kubelet writes them: one file per key or item, with the item's or the volume's mode (default 0644), and the
 * pod's fsGroup as group. Written when the pod's containers are first started; tokens are rewritten before
 * they expire (`refreshAt`). Not kept in sync with later ConfigMap changes.
 */

export interface VolumeApi {
  /** The object at this API path; undefined when it does not exist. */
  get<T>(path: string): Promise<T | undefined>;
  /** TokenRequest for a service account, bound to the pod (it stops being valid when the pod is gone). */
  requestToken(
    namespace: string,
    serviceAccount: string,
    spec: {
      audiences?: string[];
      expirationSeconds: number;
      boundObjectRef: { kind: 'Pod'; apiVersion: 'v1'; name: string; uid: string };
    },
  ): Promise<{ token: string; expirationTimestamp: Date }>;
}

/** A source the volume needs is missing; the kubelet keeps the pod in ContainerCreating and says FailedMount. */
export class MissingVolumeSourceError extends Error {}

export interface WrittenVolume {
  /** When the files must be written again (a token near its expiry), epoch ms. */
  refreshAt?: number;
}

export function hasFiles(v: V1Volume): boolean {
  return !!(v.configMap || v.secret || v.downwardAPI || v.projected);
}

const DEFAULT_MODE = 0o644;

export async function writeVolumeFiles(
  pod: V1Pod,
  volume: V1Volume,
  dir: string,
  api: VolumeApi,
  facts: PodFacts,
  now: number = Date.now(),
): Promise<WrittenVolume> {
  const files = new Map<string, { data: Buffer; mode: number }>();
  let refreshAt: number | undefined;
  const ns = pod.metadata?.namespace ?? '';
  const volumeName = volume.name;

  const addKeys = async (
    kind: 'configMap' | 'secret',
    name: string,
    items: V1KeyToPath[] | undefined,
    optional: boolean | undefined,
    defaultMode: number,
  ) => {
    const data = await readKeys(api, kind, ns, name);
    if (!data) {
      if (optional) return;
      throw new MissingVolumeSourceError(`volume "${volumeName}": ${kind} "${name}" not found`);
    }
    if (!items) {
      for (const [key, value] of data) files.set(key, { data: value, mode: defaultMode });
      return;
    }
    for (const item of items) {
      const value = data.get(item.key);
      if (value === undefined) {
        if (optional) continue;
        throw new MissingVolumeSourceError(
          `volume "${volumeName}": ${kind} "${name}" has no key "${item.key}"`,
        );
      }
      files.set(item.path, { data: value, mode: item.mode ?? defaultMode });
    }
  };
  const addDownward = (items: V1DownwardAPIVolumeFile[] | undefined, defaultMode: number) => {
    for (const item of items ?? []) {
      const container = pod.spec?.containers.find((c) => c.name === item.resourceFieldRef?.containerName);
      const value = item.fieldRef
        ? fieldRefValue(pod, item.fieldRef.fieldPath, facts)
        : item.resourceFieldRef && container
          ? resourceFieldRefValue(pod, container, item.resourceFieldRef, facts)
          : '';
      files.set(item.path, { data: Buffer.from(value), mode: item.mode ?? defaultMode });
    }
  };
  const addProjection = async (p: V1VolumeProjection, defaultMode: number) => {
    if (p.configMap)
      await addKeys(
        'configMap',
        p.configMap.name ?? '',
        p.configMap.items,
        p.configMap.optional,
        defaultMode,
      );
    if (p.secret)
      await addKeys('secret', p.secret.name ?? '', p.secret.items, p.secret.optional, defaultMode);
    if (p.downwardAPI) addDownward(p.downwardAPI.items, defaultMode);
    if (p.serviceAccountToken) {
      const ttl = p.serviceAccountToken.expirationSeconds ?? 3600;
      const { token, expirationTimestamp } = await api.requestToken(
        ns,
        pod.spec?.serviceAccountName || 'default',
        {
          ...(p.serviceAccountToken.audience ? { audiences: [p.serviceAccountToken.audience] } : {}),
          expirationSeconds: ttl,
          boundObjectRef: {
            kind: 'Pod',
            apiVersion: 'v1',
            name: pod.metadata?.name ?? '',
            uid: pod.metadata?.uid ?? '',
          },
        },
      );
      files.set(p.serviceAccountToken.path, { data: Buffer.from(token), mode: defaultMode });
      // As the kubelet: renew at 80% of the token's life.
      const expires = new Date(expirationTimestamp).getTime();
      const at = now + 0.8 * Math.max(0, expires - now);
      refreshAt = refreshAt === undefined ? at : Math.min(refreshAt, at);
    }
  };

  if (volume.configMap) {
    const v = volume.configMap;
    await addKeys('configMap', v.name ?? '', v.items, v.optional, v.defaultMode ?? DEFAULT_MODE);
  } else if (volume.secret) {
    const v = volume.secret;
    await addKeys('secret', v.secretName ?? '', v.items, v.optional, v.defaultMode ?? DEFAULT_MODE);
  } else if (volume.downwardAPI) {
    addDownward(volume.downwardAPI.items, volume.downwardAPI.defaultMode ?? DEFAULT_MODE);
  } else if (volume.projected) {
    for (const p of volume.projected.sources ?? [])
      await addProjection(p, volume.projected.defaultMode ?? DEFAULT_MODE);
  }

  await mkdir(dir, { recursive: true });
  const fsGroup = pod.spec?.securityContext?.fsGroup;
  for (const [rel, f] of files) {
    const target = join(dir, safeRelative(rel, volumeName));
    await mkdir(dirname(target), { recursive: true });
    // Write-then-rename: a reader (a client re-reading its token) never sees half a file.
    const tmp = `${target}.tmp-${process.pid}`;
    await writeFile(tmp, f.data, { mode: f.mode });
    await chmod(tmp, f.mode);
    if (fsGroup !== undefined) await chown(tmp, 0, fsGroup);
    await rename(tmp, target);
  }
  return refreshAt === undefined ? {} : { refreshAt };
}

async function readKeys(
  api: VolumeApi,
  kind: 'configMap' | 'secret',
  ns: string,
  name: string,
): Promise<Map<string, Buffer> | undefined> {
  if (kind === 'configMap') {
    const cm = await api.get<V1ConfigMap>(`/api/v1/namespaces/${ns}/configmaps/${name}`);
    if (!cm) return undefined;
    return new Map([
      ...Object.entries(cm.data ?? {}).map(([k, v]) => [k, Buffer.from(v)] as const),
      ...Object.entries(cm.binaryData ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')] as const),
    ]);
  }
  const s = await api.get<V1Secret>(`/api/v1/namespaces/${ns}/secrets/${name}`);
  if (!s) return undefined;
  return new Map(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')] as const));
}

/** Item paths are relative and may not climb out of the volume (the API server validates this too). */
function safeRelative(rel: string, volume: string): string {
  const n = normalize(rel);
  if (n.startsWith('/') || n === '..' || n.startsWith('../'))
    throw new MissingVolumeSourceError(`volume "${volume}": item path "${rel}" leaves the volume`);
  return n;
}
