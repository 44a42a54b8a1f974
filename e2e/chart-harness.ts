import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { tool } from '../src/localcluster/tools.js';
import { type KubeClient, paths } from '../src/shared/kube/client.js';
import { repoRoot } from '../src/shared/repo-root.js';
import { kubectl, kubectlBin, testKubeconfig, uniqueName } from '../src/testing/cluster.js';

export const chartDir = path.join(repoRoot, 'charts/browserfleet');
export const fullValuesFile = path.join(chartDir, 'ci/full-values.yaml');

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

// One scratch directory per test process: helm's cache and config (kept out of HOME), values files.
const scratch = mkdtempSync(path.join(os.tmpdir(), 'bf-chart-test-'));
const helmHome = path.join(scratch, 'helm');

/** Test files call this in their last afterAll. */
export function removeScratch(): void {
  rmSync(scratch, { recursive: true, force: true });
}

/** A fresh directory under this test process's scratch directory. */
export function scratchDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(scratch, prefix));
}

function run(bin: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(bin, args, { env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      // A binary that could not start has no stderr of its own; its error says why.
      resolve({ code, stdout, stderr: stderr || (err && !stdout ? err.message : '') });
    });
  });
}

/** helm against the suite's cluster; never throws (tests assert on the exit code and the messages). */
export function helm(args: string[]): Promise<RunResult> {
  return run(tool('helm'), ['--kubeconfig', testKubeconfig(), ...args], {
    ...process.env,
    HELM_CACHE_HOME: path.join(helmHome, 'cache'),
    HELM_CONFIG_HOME: path.join(helmHome, 'config'),
    HELM_DATA_HOME: path.join(helmHome, 'data'),
  });
}

/** helm that must succeed: its output, or an error carrying helm's own message. */
export async function helmOk(args: string[]): Promise<string> {
  const r = await helm(args);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')} exited ${r.code}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** kubectl that may fail: exit code and output (e.g. `auth can-i` answers with its exit code). */
export function kubectlRun(args: string[]): Promise<RunResult> {
  return run(kubectlBin(), ['--kubeconfig', testKubeconfig(), ...args]);
}

export function parseManifests(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null && typeof o === 'object' && 'kind' in o);
}

export async function render(
  release: string,
  namespace: string,
  opts: { values?: string[]; set?: string[] } = {},
): Promise<KubeObject[]> {
  const args = ['template', release, chartDir, '--namespace', namespace];
  for (const f of opts.values ?? []) args.push('--values', f);
  for (const s of opts.set ?? []) args.push('--set', s);
  return parseManifests(await helmOk(args));
}

export async function writeTemp(name: string, content: string | object): Promise<string> {
  const file = path.join(await scratchDir('values-'), name);
  await writeFile(file, typeof content === 'string' ? content : stringify(content));
  return file;
}

export function find(objects: KubeObject[], kind: string, nameSuffix = ''): KubeObject[] {
  return objects.filter((o) => o.kind === kind && o.metadata.name.endsWith(nameSuffix));
}

export function one(objects: KubeObject[], kind: string, nameSuffix = ''): KubeObject {
  const found = find(objects, kind, nameSuffix);
  if (found.length !== 1)
    throw new Error(`expected one ${kind} named *${nameSuffix}, found ${found.map((o) => o.metadata.name)}`);
  return found[0] as KubeObject;
}

/** Fresh namespaces for one test; `cleanup` deletes them (and waits, so nothing leaks into the next file). */
export async function freshNamespaces(
  client: KubeClient,
  prefix: string,
  n: number,
): Promise<{ names: string[]; cleanup: () => Promise<void> }> {
  const names = Array.from({ length: n }, (_, i) => uniqueName(`${prefix}${i}`));
  for (const name of names)
    await client.create(paths.namespaces(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  return {
    names,
    cleanup: async () => {
      await Promise.all(
        names.map((name) => client.delete(`${paths.namespaces()}/${name}`).catch(() => undefined)),
      );
    },
  };
}

/** `kubectl auth can-i` as a service account: true (exit 0, "yes") or false (exit 1, "no"). */
export async function canI(
  serviceAccount: { namespace: string; name: string },
  verb: string,
  resource: string,
  where: { namespace?: string; allNamespaces?: boolean; subresource?: string } = {},
): Promise<boolean> {
  const args = [
    'auth',
    'can-i',
    verb,
    resource,
    `--as=system:serviceaccount:${serviceAccount.namespace}:${serviceAccount.name}`,
  ];
  if (where.allNamespaces) args.push('--all-namespaces');
  else if (where.namespace) args.push('--namespace', where.namespace);
  if (where.subresource) args.push(`--subresource=${where.subresource}`);
  const r = await kubectlRun(args);
  if (r.code === 0 && r.stdout.trim() === 'yes') return true;
  if (r.code === 1 && r.stdout.trim().startsWith('no')) return false;
  throw new Error(`kubectl ${args.join(' ')}: exit ${r.code}: ${r.stderr || r.stdout}`);
}

/** Objects of every listable namespaced type in a namespace, as "kind/name" (what a namespace still holds). */
export async function everythingIn(namespace: string): Promise<string[]> {
  const types = (await kubectl(['api-resources', '--verbs=list', '--namespaced', '-o', 'name'])).stdout
    .split('\n')
    .filter((t) => t !== '');
  const { stdout } = await kubectl(['get', types.join(','), '-n', namespace, '-o', 'json']);
  const list = JSON.parse(stdout) as { items: KubeObject[] };
  return list.items.map((o) => `${o.kind}/${o.metadata.name}`);
}

/** Cluster-scoped objects of every listable type that carry the release's instance label. */
export async function clusterObjectsOf(release: string): Promise<string[]> {
  const types = (await kubectl(['api-resources', '--verbs=list', '--namespaced=false', '-o', 'name'])).stdout
    .split('\n')
    .filter((t) => t !== '');
  const { stdout } = await kubectl([
    'get',
    types.join(','),
    '-l',
    `app.kubernetes.io/instance=${release}`,
    '-o',
    'json',
  ]);
  const list = JSON.parse(stdout) as { items: KubeObject[] };
  return list.items.map((o) => `${o.kind}/${o.metadata.name}`);
}
