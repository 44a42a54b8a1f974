import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { inject } from 'vitest';
import type { BrowserProject } from '../api/index.js';
import { tool } from '../localcluster/tools.js';
import { KubeClient, paths } from '../shared/kube/client.js';

const run = promisify(execFile);

/** The kubeconfig the global setup provides (a local control plane, or BF_TEST_KUBECONFIG). */
export function testKubeconfig(): string {
  return inject('kubeconfig');
}

export function kubectlBin(): string {
  try {
    return tool('kubectl');
  } catch {
    return 'kubectl';
  }
}

export async function kubectl(args: string[], input?: string): Promise<{ stdout: string; stderr: string }> {
  const child = run(kubectlBin(), ['--kubeconfig', testKubeconfig(), ...args], { maxBuffer: 16 << 20 });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  return child;
}

export const uniqueName = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

/** A fresh namespace and a BrowserProject whose sessions run there; removed by `cleanup`. */
export async function projectFixture(
  client: KubeClient,
  spec: Partial<BrowserProject['spec']> = {},
  prefix = 'bf',
): Promise<{ namespace: string; project: string; cleanup: () => Promise<void> }> {
  const namespace = uniqueName(prefix);
  const project = namespace;
  await client.create(paths.namespaces(), {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: namespace },
  });
  await client.create(paths.projects(), {
    apiVersion: 'browserfleet.dev/v1alpha1',
    kind: 'BrowserProject',
    metadata: { name: project },
    spec: { namespace, concurrency: 10, maxQueued: 10, defaultTimeout: 300, ...spec },
  });
  return {
    namespace,
    project,
    cleanup: async () => {
      await client.delete(paths.project(project)).catch(() => undefined);
      await client.delete(`${paths.namespaces()}/${namespace}`).catch(() => undefined);
    },
  };
}

export async function testClient(): Promise<KubeClient> {
  return KubeClient.create(testKubeconfig());
}
