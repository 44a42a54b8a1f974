import type { V1Container, V1Pod, V1ResourceFieldSelector } from '@kubernetes/client-node';
import { parseQuantity } from '../shared/quantity.js';

/** What only the node knows when a container starts, for the downward API. */
export interface PodFacts {
  podIP: string;
  hostIP: string;
  /** Node allocatable, used for limits a container does not set (as the kubelet does). */
  allocatable: { cpu: number; memory: number; 'ephemeral-storage': number };
}

/** ConfigMap and Secret data in the pod's namespace (Secret values decoded); undefined when the object is absent. */
export interface EnvSources {
  configMap(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  secret(namespace: string, name: string): Promise<Record<string, string> | undefined>;
}

/** An environment the container cannot start with; the kubelet's reason for this is CreateContainerConfigError. */
export class ContainerConfigError extends Error {}

/**
 * Kubernetes' $(VAR) expansion: `$(NAME)` becomes the value of NAME when it is defined, and stays as written
 * when it is not; `$$` is an escaped `$`. Used for env values, command and args.
 */
export function expandVars(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c !== '$' || i + 1 >= input.length) {
      out += c;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close === -1) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, close);
      const value = lookup(name);
      out += value ?? `$(${name})`;
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

const LABEL_OR_ANNOTATION = /^metadata\.(labels|annotations)\['(.+)'\]$/;

export function fieldRefValue(pod: V1Pod, fieldPath: string, facts: PodFacts): string {
  const m = LABEL_OR_ANNOTATION.exec(fieldPath);
  if (m) {
    const map = m[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations;
    return map?.[m[2] as string] ?? '';
  }
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata?.name ?? '';
    case 'metadata.namespace':
      return pod.metadata?.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata?.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP':
    case 'status.podIPs':
      return facts.podIP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return facts.hostIP;
    default:
      throw new ContainerConfigError(`unsupported fieldRef fieldPath "${fieldPath}"`);
  }
}

export function resourceFieldRefValue(
  pod: V1Pod,
  self: V1Container,
  ref: V1ResourceFieldSelector,
  facts: PodFacts,
): string {
  const container = ref.containerName
    ? [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find(
        (c) => c.name === ref.containerName,
      )
    : self;
  if (!container)
    throw new ContainerConfigError(`resourceFieldRef: no container named "${ref.containerName}"`);
  const [kind, resource] = ref.resource.split('.', 2) as [string, string | undefined];
  if ((kind !== 'limits' && kind !== 'requests') || !resource || !(resource in facts.allocatable)) {
    throw new ContainerConfigError(`unsupported resourceFieldRef resource "${ref.resource}"`);
  }
  const declared = container.resources?.[kind]?.[resource];
  const fallback = kind === 'limits' ? facts.allocatable[resource as keyof PodFacts['allocatable']] : 0;
  const value = declared !== undefined ? parseQuantity(declared) : fallback;
  const divisor = ref.divisor !== undefined ? parseQuantity(ref.divisor) : 1;
  if (divisor <= 0)
    throw new ContainerConfigError(`resourceFieldRef divisor must be positive, got "${ref.divisor}"`);
  // The kubelet rounds up, so a container with 250m CPU and divisor 1 sees "1", never "0".
  return String(Math.ceil(value / divisor - 1e-9));
}

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/**
 * The container's environment as the kubelet builds it: `envFrom` sources in order, then `env` in order, later
 * names overriding earlier ones, each `env` value expanded against what is defined before it.
 */
export async function resolveContainerEnv(
  pod: V1Pod,
  container: V1Container,
  facts: PodFacts,
  sources: EnvSources,
): Promise<Map<string, string>> {
  const namespace = pod.metadata?.namespace ?? 'default';
  const env = new Map<string, string>();
  const data = async (kind: 'configMap' | 'secret', name: string, optional: boolean) => {
    const found = await sources[kind](namespace, name);
    if (found === undefined && !optional) throw new ContainerConfigError(`${kind} "${name}" not found`);
    return found;
  };

  for (const from of container.envFrom ?? []) {
    const src = from.configMapRef
      ? await data('configMap', from.configMapRef.name ?? '', from.configMapRef.optional === true)
      : from.secretRef
        ? await data('secret', from.secretRef.name ?? '', from.secretRef.optional === true)
        : undefined;
    for (const [key, value] of Object.entries(src ?? {})) {
      const name = `${from.prefix ?? ''}${key}`;
      if (ENV_NAME.test(name)) env.set(name, value);
    }
  }

  for (const v of container.env ?? []) {
    if (v.valueFrom === undefined) {
      env.set(
        v.name,
        expandVars(v.value ?? '', (n) => env.get(n)),
      );
      continue;
    }
    const from = v.valueFrom;
    if (from.fieldRef) {
      env.set(v.name, fieldRefValue(pod, from.fieldRef.fieldPath, facts));
    } else if (from.resourceFieldRef) {
      env.set(v.name, resourceFieldRefValue(pod, container, from.resourceFieldRef, facts));
    } else if (from.configMapKeyRef || from.secretKeyRef) {
      const kind = from.configMapKeyRef ? 'configMap' : 'secret';
      const ref = (from.configMapKeyRef ?? from.secretKeyRef) as {
        name?: string;
        key: string;
        optional?: boolean;
      };
      const optional = ref.optional === true;
      const value = (await data(kind, ref.name ?? '', optional))?.[ref.key];
      if (value !== undefined) env.set(v.name, value);
      else if (!optional)
        throw new ContainerConfigError(`key "${ref.key}" not found in ${kind} "${ref.name}"`);
    } else {
      throw new ContainerConfigError(`env "${v.name}": unsupported valueFrom`);
    }
  }
  return env;
}

/** Command and args get $(VAR) expansion against the container's final environment. */
export function expandCommand(parts: string[] | undefined, env: Map<string, string>): string[] | undefined {
  return parts?.map((p) => expandVars(p, (n) => env.get(n)));
}
