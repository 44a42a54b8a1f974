import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { BrowserSession } from '../src/api/index.js';
import { loadGatewayConfig } from '../src/gateway/config.js';
import { createGatewayMetrics } from '../src/gateway/metrics.js';
import { desiredPod } from '../src/operator/children.js';
import { loadConfig } from '../src/operator/config.js';
import { createOperatorMetrics } from '../src/operator/metrics.js';
import type { KubeClient } from '../src/shared/kube/client.js';
import { repoRoot } from '../src/shared/repo-root.js';
import { createSidecarMetrics } from '../src/sidecar/metrics.js';
import { kubectl, testClient, uniqueName } from '../src/testing/cluster.js';
import {
  canI,
  chartDir,
  find,
  freshNamespaces,
  fullValuesFile,
  helm,
  helmOk,
  type KubeObject,
  one,
  removeScratch,
  render,
  writeTemp,
} from './chart-harness.js';

/**
 * The Helm chart (charts/browserfleet) against the suite's real kube-apiserver: its CRDs, lint, server-side
 * dry-runs of what it renders, its config files as the operator and gateway load them, its dashboard, its
 * schema's refusals, and its RBAC as the API server evaluates it.
 */

const version = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string })
  .version;
const SESSION_KEY = 'chart-test-session-key-0123456789';

let client: KubeClient;
beforeAll(async () => {
  client = await testClient();
});
afterAll(() => {
  client?.close();
  removeScratch();
});

/** ci/full-values.yaml with its two project namespaces renamed to namespaces that exist. */
async function fullValuesIn(a: string, b: string): Promise<string> {
  const text = readFileSync(fullValuesFile, 'utf8')
    .replaceAll('browserfleet-ci-a', a)
    .replaceAll('browserfleet-ci-b', b);
  return writeTemp('full-values.yaml', text);
}

const configOf = (objects: KubeObject[], component: 'operator' | 'gateway') =>
  (one(objects, 'ConfigMap', `-${component}`)['data'] as Record<string, string>)[`${component}.yaml`] ?? '';

type Container = {
  args: string[];
  image: string;
  env: { name: string; value?: string; valueFrom?: unknown }[];
  volumeMounts: { name: string; mountPath: string }[];
};
type PodSpec = {
  containers: Container[];
  volumes: { name: string; configMap?: { name: string } }[];
  serviceAccountName: string;
};
const podSpecOf = (deployment: KubeObject) =>
  (deployment['spec'] as { template: { spec: PodSpec } }).template.spec;

describe('CRDs', () => {
  it('the chart ships byte-identical copies of crds/ (the single source; `make manifests` copies them)', () => {
    const source = readdirSync(path.join(repoRoot, 'crds')).sort();
    const copies = readdirSync(path.join(chartDir, 'crds')).sort();
    expect(copies).toEqual(source);
    for (const file of source) {
      const a = readFileSync(path.join(repoRoot, 'crds', file));
      const b = readFileSync(path.join(chartDir, 'crds', file));
      expect(
        b.equals(a),
        `charts/browserfleet/crds/${file} differs from crds/${file}: run make manifests`,
      ).toBe(true);
    }
  });
});

describe('helm lint', () => {
  it.each([
    ['the defaults', []],
    ['ci/full-values.yaml', ['--values', fullValuesFile]],
  ])('is clean with %s', async (_what, args) => {
    const r = await helm(['lint', '--strict', chartDir, ...args]);
    expect(r.stderr + r.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    expect(r.code).toBe(0);
  });
});

describe('helm template | kubectl apply --dry-run=server', () => {
  let ns: { names: string[]; cleanup: () => Promise<void> };
  beforeAll(async () => {
    ns = await freshNamespaces(client, 'bf-chart-dry', 3);
  });
  afterAll(async () => ns?.cleanup());

  async function dryRun(objects: KubeObject[]): Promise<string> {
    const input = objects.map((o) => `---\n${JSON.stringify(o)}\n`).join('');
    const { stdout } = await kubectl(['apply', '--dry-run=server', '-f', '-'], input);
    return stdout;
  }

  it('the defaults are accepted by the API server', async () => {
    const [release] = ns.names as [string];
    const objects = await render('fleet', release);
    const out = await dryRun(objects);
    for (const kind of ['Deployment', 'Service', 'ConfigMap', 'Secret', 'BrowserProject', 'NetworkPolicy'])
      expect(find(objects, kind).length).toBeGreaterThan(0);
    expect(out.trim().split('\n')).toHaveLength(objects.length);
    expect(out).toMatch(
      /deployment\.apps\/fleet-browserfleet-operator (created|configured) \(server dry run\)/,
    );
  });

  it('ci/full-values.yaml (every value set) is accepted by the API server', async () => {
    const [release, a, b] = ns.names as [string, string, string];
    const objects = await render('fleet', release, { values: [await fullValuesIn(a, b)] });
    // ServiceMonitor's CRD belongs to prometheus-operator, which this cluster does not run: checked below instead.
    const monitors = find(objects, 'ServiceMonitor');
    expect(monitors).toHaveLength(1);
    const rest = objects.filter((o) => o.kind !== 'ServiceMonitor');
    const out = await dryRun(rest);
    expect(out.trim().split('\n')).toHaveLength(rest.length);
    for (const kind of ['Ingress', 'PodDisruptionBudget', 'Lease', 'Pod'])
      expect(find(objects, kind).length).toBeGreaterThan(0);

    // The ServiceMonitor selects exactly the operator and gateway-metrics Services, by a port they both name.
    const selector = (
      (monitors[0] as KubeObject)['spec'] as { selector: { matchLabels: Record<string, string> } }
    ).selector.matchLabels;
    const selected = find(objects, 'Service').filter((s) =>
      Object.entries(selector).every(([k, v]) => s.metadata.labels?.[k] === v),
    );
    expect(selected.map((s) => s.metadata.name).sort()).toEqual([
      'ci-fleet-gateway-metrics',
      'ci-fleet-operator',
    ]);
    for (const s of selected)
      expect((s['spec'] as { ports: { name: string }[] }).ports.map((p) => p.name)).toContain('metrics');
    // The API Service is a LoadBalancer in these values: it must not carry the metrics port.
    const api = one(objects, 'Service', '-gateway');
    expect((api['spec'] as { ports: { name: string }[] }).ports.map((p) => p.name)).toEqual(['http']);
  });
});

describe('what the chart renders, read by the programs that use it', () => {
  it.each([
    ['the defaults', false],
    ['ci/full-values.yaml', true],
  ])(
    'with %s, the config files load in the operator and gateway, and browser pods follow the values',
    async (_w, full) => {
      const release = 'fleet';
      const namespace = 'bf-system';
      const objects = await render(release, namespace, full ? { values: [fullValuesFile] } : {});
      const values = parse(
        readFileSync(full ? fullValuesFile : path.join(chartDir, 'values.yaml'), 'utf8'),
      ) as {
        browser: {
          resources: unknown;
          shmSize: string;
          flags: string[];
          podAnnotations: Record<string, string>;
          nodeSelector: Record<string, string>;
          tolerations: unknown[];
          priorityClassName: string;
        };
      };
      const fullname = full ? 'ci-fleet' : 'fleet-browserfleet';

      // Each Deployment's --config path is its ConfigMap's key, mounted where the args say.
      for (const component of ['operator', 'gateway'] as const) {
        const spec = podSpecOf(one(objects, 'Deployment', `-${component}`));
        const container = spec.containers[0] as Container;
        expect(container.args).toEqual([component, '--config', `/etc/browserfleet/${component}.yaml`]);
        const mount = container.volumeMounts.find((m) => m.mountPath === '/etc/browserfleet');
        const volume = spec.volumes.find((v) => v.name === mount?.name);
        expect(volume?.configMap?.name).toBe(`${fullname}-${component}`);
      }

      const operatorFile = await writeTemp('operator.yaml', configOf(objects, 'operator'));
      const operatorEnv = podSpecOf(one(objects, 'Deployment', '-operator')).containers[0]?.env ?? [];
      const reportUrl = operatorEnv.find((e) => e.name === 'BF_REPORT_URL')?.value ?? '';
      const operator = loadConfig(
        { BF_SESSION_KEY: SESSION_KEY, BF_NAMESPACE: namespace, BF_REPORT_URL: reportUrl },
        operatorFile,
      );
      const gateway = loadGatewayConfig(
        { BF_SESSION_KEY: SESSION_KEY },
        await writeTemp('gateway.yaml', configOf(objects, 'gateway')),
      );

      // The report URL reaches the operator Service's report port (unless the values name another one).
      const operatorService = one(objects, 'Service', '-operator');
      const reportPort = (operatorService['spec'] as { ports: { name: string; port: number }[] }).ports.find(
        (p) => p.name === 'report',
      );
      if (full) expect(reportUrl).toBe('http://reports.browserfleet.example:8082/v1/report');
      else
        expect(reportUrl).toBe(`http://${fullname}-operator.${namespace}.svc:${reportPort?.port}/v1/report`);
      expect(operator.leaderElection.leaseName).toBe(one(objects, 'Lease').metadata.name);

      // Image names: `make images` builds <repo>:<package.json version>, and the chart defaults to exactly those.
      const chart = parse(readFileSync(path.join(chartDir, 'Chart.yaml'), 'utf8')) as { appVersion: string };
      expect(chart.appVersion).toBe(version);
      if (full) {
        expect(operator.chrome.image).toBe('registry.example.com/platform/chrome:1.2.3-chromium');
        expect(operator.sidecar.image).toMatch(/^registry\.example\.com\/platform\/browserfleet@sha256:/);
        expect(gateway.publicUrl).toBe('https://browsers.example.com');
        expect(gateway.regions).toEqual({ 'us-west-2': 'us-west', 'eu-central-1': 'eu-central' });
        expect(operator.workers).toBe(8);
        expect(operator.connectUrlHost).toBe('service');
        // The store's credentials reach the gateway from their Secret, never through its ConfigMap.
        expect(gateway.artifacts).toEqual({
          enabled: true,
          s3: {
            endpoint: 'http://objects.storage.svc:8333',
            bucket: 'browserfleet-ci-artifacts',
            region: 'eu-central-1',
            forcePathStyle: true,
            prefix: 'browserfleet/',
            accessKeyId: '',
            secretAccessKey: '',
            stallTimeoutMs: 5000,
            maxAttempts: 2,
          },
        });
        const gatewayEnv = podSpecOf(one(objects, 'Deployment', '-gateway')).containers[0]?.env ?? [];
        expect(gatewayEnv.filter((e) => e.name.startsWith('BF_ARTIFACTS_'))).toEqual([
          {
            name: 'BF_ARTIFACTS_S3_ACCESS_KEY_ID',
            valueFrom: { secretKeyRef: { name: 'ci-fleet-s3', key: 'id' } },
          },
          {
            name: 'BF_ARTIFACTS_S3_SECRET_ACCESS_KEY',
            valueFrom: { secretKeyRef: { name: 'ci-fleet-s3', key: 'secret' } },
          },
        ]);
      } else {
        expect(gateway.artifacts.enabled).toBe(false);
        expect(operator.chrome.image).toBe(`browserfleet/chrome:${version}`);
        expect(operator.sidecar.image).toBe(`browserfleet/browserfleet:${version}`);
        expect(gateway.publicUrl).toBe(`http://${fullname}-gateway.${namespace}.svc`);
      }
      // helm test reads the ended session's downloads back from the store when the release keeps artifacts.
      const testPod = one(objects, 'Pod', '-test-session') as unknown as {
        spec: { containers: { env: { name: string; value?: string }[] }[] };
      };
      expect(testPod.spec.containers[0]?.env.find((e) => e.name === 'ARTIFACTS')?.value).toBe(
        full ? 'on' : 'off',
      );
      for (const d of find(objects, 'Deployment'))
        expect(podSpecOf(d).containers[0]?.image).toBe(operator.sidecar.image);

      // A browser pod, built by the operator's own builder from this config.
      const session: BrowserSession = {
        apiVersion: 'browserfleet.dev/v1alpha1',
        kind: 'BrowserSession',
        metadata: { name: 's1', namespace: 'team', uid: '00000000-0000-0000-0000-000000000001' },
        spec: { project: 'p' },
      } as BrowserSession;
      const pod = desiredPod({
        session,
        config: operator,
        token: 't',
        timeoutSeconds: 300,
        downloadCapBytes: 0,
      });
      const browser = values.browser;
      const chrome = pod.spec?.containers.find((c) => c.name === 'chrome');
      expect(chrome?.resources).toEqual(browser.resources);
      expect(chrome?.args?.slice(0, browser.flags.length)).toEqual(browser.flags);
      expect(pod.spec?.automountServiceAccountToken).toBe(false);
      expect(pod.spec?.volumes?.find((v) => v.name === 'dshm')?.emptyDir).toEqual({
        medium: 'Memory',
        sizeLimit: browser.shmSize,
      });
      expect(pod.metadata?.annotations).toMatchObject({
        'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false',
        'karpenter.sh/do-not-disrupt': 'true',
        ...browser.podAnnotations,
      });
      if (full) {
        expect(pod.spec?.nodeSelector).toEqual(browser.nodeSelector);
        expect(pod.spec?.tolerations).toEqual(browser.tolerations);
        expect(pod.spec?.priorityClassName).toBe(browser.priorityClassName);
      } else {
        expect(chrome?.resources).toEqual({
          requests: { cpu: '1', memory: '1Gi' },
          limits: { memory: '2Gi' },
        });
      }
    },
  );

  it('the Grafana dashboard charts every metric the processes export, and only those', async () => {
    const names = async (registry: { getMetricsAsJSON(): Promise<{ name: string }[]> }) =>
      (await registry.getMetricsAsJSON()).map((m) => m.name);
    const exported = new Set([
      ...(await names(createOperatorMetrics().registry)),
      ...(await names(createGatewayMetrics().registry)),
      // The sidecar also exports Node's default process metrics under its prefix; the dashboard leaves those out.
      ...(await names(createSidecarMetrics().registry)).filter((n) => !/_(process|nodejs)_/.test(n)),
    ]);
    const text = readFileSync(path.join(chartDir, 'dashboards/browserfleet.json'), 'utf8');
    const dashboard = JSON.parse(text) as { panels: { targets?: { expr: string }[] }[] };
    const used = new Set(
      dashboard.panels
        .flatMap((p) => p.targets ?? [])
        .flatMap((t) => t.expr.match(/browserfleet_[a-z_]+/g) ?? [])
        .map((n) => n.replace(/_(bucket|sum|count)$/, '')),
    );
    expect([...used].filter((n) => !exported.has(n))).toEqual([]);
    expect([...exported].filter((n) => !used.has(n))).toEqual([]);

    const objects = await render('fleet', 'bf-system', { set: ['metrics.dashboard.enabled=true'] });
    const cm = one(objects, 'ConfigMap', '-dashboard');
    expect(cm.metadata.labels?.['grafana_dashboard']).toBe('1');
    expect(JSON.parse((cm['data'] as Record<string, string>)['browserfleet.json'] ?? '')).toEqual(dashboard);
  });

  it('generated keys are Secrets the pods and the projects reference; given Secrets are referenced, not created', async () => {
    const objects = await render('fleet', 'bf-system', { values: [fullValuesFile] });
    expect(find(objects, 'Secret').map((s) => `${s.metadata.namespace}/${s.metadata.name}`)).toEqual([
      'browserfleet-ci-a/ci-fleet-ci-fleet-team-a-api-key',
    ]);
    const a = one(objects, 'Secret');
    expect(Buffer.from((a['data'] as Record<string, string>)['token'] ?? '', 'base64').toString()).toBe(
      'bf_ci_team_a_key_0123456789',
    );
    const projects = find(objects, 'BrowserProject').map((p) => p['spec']);
    expect(projects).toEqual([
      expect.objectContaining({
        namespace: 'browserfleet-ci-a',
        apiKeySecrets: [{ name: 'ci-fleet-ci-fleet-team-a-api-key', key: 'token' }],
      }),
      expect.objectContaining({
        namespace: 'browserfleet-ci-b',
        apiKeySecrets: [{ name: 'team-b-keys', key: 'apiKey' }],
      }),
    ]);
    for (const d of find(objects, 'Deployment')) {
      const env = podSpecOf(d).containers[0]?.env as { name: string; valueFrom?: unknown }[];
      expect(env.find((e) => e.name === 'BF_SESSION_KEY')?.valueFrom).toEqual({
        secretKeyRef: { name: 'fleet-session-key', key: 'hmac' },
      });
    }
  });
});

describe('values.schema.json: bad values fail at helm install, with the schema naming the value', () => {
  let ns: { names: string[]; cleanup: () => Promise<void> };
  beforeAll(async () => {
    ns = await freshNamespaces(client, 'bf-chart-bad', 1);
  });
  afterAll(async () => ns?.cleanup());

  const project = { name: 'bad', namespace: '', concurrency: 1, maxQueued: 0 };
  it.each([
    [
      'negative concurrency',
      { projects: [{ ...project, concurrency: -1 }] },
      "at '/projects/0/concurrency': minimum: got -1, want 0",
    ],
    ['an unknown top-level key', { replicas: 3 }, "additional properties 'replicas' not allowed"],
    [
      'an unknown nested key',
      { operator: { replica: 3 } },
      "at '/operator': additional properties 'replica' not allowed",
    ],
    [
      'a string for a number',
      { gateway: { replicas: 'two' } },
      "at '/gateway/replicas': got string, want integer",
    ],
    [
      'a value outside its enum',
      { operator: { connectUrlHost: 'pod' } },
      "at '/operator/connectUrlHost': value must be one of 'podIP', 'service'",
    ],
    [
      'a public URL with a path',
      { gateway: { publicUrl: 'https://b.example.com/api' } },
      "at '/gateway/publicUrl'",
    ],
    [
      'a project name that is no DNS label',
      { projects: [{ ...project, name: 'Team_A' }] },
      "at '/projects/0/name'",
    ],
    [
      'two operators without leader election',
      { operator: { replicas: 2, leaderElection: { enabled: false } } },
      'operator.leaderElection.enabled must be true when operator.replicas > 1',
    ],
    [
      'two projects with one name',
      { projects: [project, project] },
      'projects: the name "bad" appears twice',
    ],
    [
      'defaultTimeout above maxTimeout',
      { projects: [{ ...project, defaultTimeout: 600, maxTimeout: 300 }] },
      'projects[bad]: defaultTimeout (600) must not exceed maxTimeout (300)',
    ],
  ])('%s', async (_what, values, message) => {
    const [namespace] = ns.names as [string];
    const release = uniqueName('bad');
    const r = await helm([
      'install',
      release,
      chartDir,
      '--namespace',
      namespace,
      '--values',
      await writeTemp('bad.yaml', values),
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(message);
    // Refused before anything was created: no release, no object.
    expect((await helmOk(['list', '--namespace', namespace, '--all', '--short'])).trim()).toBe('');
    const { stdout } = await kubectl(['get', 'all,secrets,configmaps', '-n', namespace, '-o', 'name']);
    expect(stdout.split('\n').filter((l) => l.includes(release))).toEqual([]);
  });
});

describe('RBAC: the service accounts can do what the code needs, and nothing else', () => {
  let ns: { names: string[]; cleanup: () => Promise<void> };
  let release: string;
  let R: string; // release namespace
  let A: string; // project a
  let B: string; // project b (its key in an existing Secret)
  let X: string; // rbac.extraSessionNamespaces
  let E: string; // no business of browserfleet
  const fullname = () => `${release}-browserfleet`;
  const operator = () => ({ namespace: R, name: `${fullname()}-operator` });
  const gateway = () => ({ namespace: R, name: `${fullname()}-gateway` });

  beforeAll(async () => {
    ns = await freshNamespaces(client, 'bf-chart-rbac', 5);
    [R, A, B, X, E] = ns.names as [string, string, string, string, string];
    release = uniqueName('rbac');
    // Installed for real, with no replicas: the RBAC objects are what is under test, not the processes.
    await helmOk([
      'install',
      release,
      chartDir,
      '--namespace',
      R,
      '--values',
      await writeTemp('rbac.yaml', {
        operator: { replicas: 0 },
        gateway: { replicas: 0 },
        projects: [
          { name: `${release}-a`, namespace: A, concurrency: 2 },
          { name: `${release}-b`, namespace: B, concurrency: 2, apiKey: { existingSecret: 'team-b-keys' } },
        ],
        rbac: { extraSessionNamespaces: [X], extraApiKeySecrets: ['shared-keys'] },
      }),
    ]);
  });
  afterAll(async () => {
    if (release) await helm(['uninstall', release, '--namespace', R, '--wait']);
    await ns?.cleanup();
  });

  type Check = [verb: string, resource: string, where: Parameters<typeof canI>[3]];
  const BS = 'browsersessions.browserfleet.dev';
  const BP = 'browserprojects.browserfleet.dev';

  async function expectRights(sa: { namespace: string; name: string }, allowed: Check[], refused: Check[]) {
    const answers = await Promise.all(
      [...allowed, ...refused].map(async ([verb, resource, where]) => ({
        check: `${verb} ${resource} ${where?.subresource ? `(${where.subresource}) ` : ''}${where?.allNamespaces ? 'in all namespaces' : `in ${where?.namespace ?? 'the cluster'}`}`,
        answer: await canI(sa, verb, resource, where),
      })),
    );
    const wrong = answers.filter((a, i) => a.answer !== i < allowed.length);
    expect(wrong.map((w) => `${w.answer ? 'allowed' : 'refused'}: ${w.check}`)).toEqual([]);
  }

  it('the operator: reads everywhere, writes browser pods and sessions only in session namespaces, its own Lease', async () => {
    const lease = `${fullname()}-operator`;
    const sessionNamespaces = [A, B, X];
    await expectRights(
      operator(),
      [
        ...['get', 'list', 'watch'].map((v): Check => [v, BP, {}]),
        ['patch', BP, { subresource: 'status' }],
        ...['get', 'list', 'watch'].map((v): Check => [v, 'nodes', {}]),
        ...[BS, 'pods', 'services'].flatMap((r) =>
          ['list', 'watch'].map((v): Check => [v, r, { allNamespaces: true }]),
        ),
        ...sessionNamespaces.flatMap((namespace): Check[] => [
          ['get', BS, { namespace }],
          ['delete', BS, { namespace }],
          ['patch', BS, { namespace, subresource: 'status' }],
          ['create', 'pods', { namespace }],
          ['delete', 'pods', { namespace }],
          ['create', 'services', { namespace }],
          ['delete', 'services', { namespace }],
          ['create', 'events', { namespace }],
        ]),
        ['get', `leases.coordination.k8s.io/${lease}`, { namespace: R }],
        ['update', `leases.coordination.k8s.io/${lease}`, { namespace: R }],
        ['create', 'leases.coordination.k8s.io', { namespace: R }],
      ],
      [
        // No pods, Services or session writes outside session namespaces: not its own, not kube-system.
        ...[R, E, 'kube-system'].flatMap((namespace): Check[] => [
          ['create', 'pods', { namespace }],
          ['delete', 'pods', { namespace }],
          ['create', 'services', { namespace }],
          ['delete', BS, { namespace }],
          ['patch', BS, { namespace, subresource: 'status' }],
        ]),
        ['create', 'pods', { allNamespaces: true }],
        // Only the verbs the code uses, even in session namespaces.
        ['update', 'pods', { namespace: A }],
        ['patch', 'pods', { namespace: A }],
        ['create', 'pods', { namespace: A, subresource: 'exec' }],
        ['create', BS, { namespace: A }],
        ['patch', BS, { namespace: A }],
        ['update', BS, { namespace: A }],
        ['get', 'secrets', { namespace: A }],
        ['list', 'secrets', { allNamespaces: true }],
        ['get', `secrets/${fullname()}-session-key`, { namespace: R }],
        ['create', BP, {}],
        ['delete', BP, {}],
        ['patch', 'nodes', {}],
        ['delete', 'nodes', {}],
        ['patch', BP, {}],
        ['get', 'leases.coordination.k8s.io/someone-elses', { namespace: R }],
        ['update', 'leases.coordination.k8s.io/someone-elses', { namespace: R }],
        ['create', 'leases.coordination.k8s.io', { namespace: E }],
        ['create', 'clusterrolebindings.rbac.authorization.k8s.io', {}],
        ['create', 'rolebindings.rbac.authorization.k8s.io', { namespace: A }],
        ['delete', 'namespaces', {}],
        ['create', 'serviceaccounts', { namespace: A, subresource: 'token' }],
      ],
    );
  });

  it('the gateway: reads projects and sessions, writes sessions only in session namespaces, reads only API keys', async () => {
    const keyA = `${fullname()}-${release}-a-api-key`;
    await expectRights(
      gateway(),
      [
        ...['get', 'list', 'watch'].map((v): Check => [v, BP, {}]),
        ...['list', 'watch'].map((v): Check => [v, BS, { allNamespaces: true }]),
        ...[A, B, X].flatMap((namespace): Check[] => [
          ['get', BS, { namespace }],
          ['create', BS, { namespace }],
          ['patch', BS, { namespace }],
          ['delete', BS, { namespace }],
          ['get', 'secrets/shared-keys', { namespace }],
        ]),
        ['get', `secrets/${keyA}`, { namespace: A }],
        ['get', 'secrets/team-b-keys', { namespace: B }],
      ],
      [
        ['create', BS, { namespace: R }],
        ['create', BS, { namespace: E }],
        ['delete', BS, { namespace: E }],
        ['patch', BS, { namespace: A, subresource: 'status' }],
        ['update', BS, { namespace: A }],
        // Only the named key Secrets, only where they belong, never the session key or a list.
        ['get', 'secrets/something-else', { namespace: A }],
        ['get', `secrets/${keyA}`, { namespace: E }],
        ['get', 'secrets/team-b-keys', { namespace: A }],
        ['list', 'secrets', { namespace: A }],
        ['watch', 'secrets', { namespace: A }],
        ['get', `secrets/${fullname()}-session-key`, { namespace: R }],
        ['get', 'pods', { namespace: A }],
        ['create', 'pods', { namespace: A }],
        ['delete', 'pods', { namespace: A }],
        ['create', 'events', { namespace: A }],
        ['patch', BP, {}],
        ['patch', BP, { subresource: 'status' }],
        ['get', 'leases.coordination.k8s.io', { namespace: R }],
        ['create', 'clusterroles.rbac.authorization.k8s.io', {}],
      ],
    );
  });

  it("browser pods' service account (the namespace default) gets nothing from the chart", async () => {
    const pods = { namespace: A, name: 'default' };
    await expectRights(
      pods,
      [],
      [
        ['get', BS, { namespace: A }],
        ['list', 'pods', { namespace: A }],
        ['get', `secrets/${fullname()}-${release}-a-api-key`, { namespace: A }],
        ['patch', BS, { namespace: A, subresource: 'status' }],
      ],
    );
  });

  it('with watchNamespace, even the reads are namespaced', async () => {
    const objects = await render('w', R, {
      set: [
        `watchNamespace=${A}`,
        `projects[0].name=w`,
        `projects[0].namespace=${A}`,
        'projects[0].concurrency=1',
      ],
    });
    const clusterRules = find(objects, 'ClusterRole')
      .filter((r) => !r.metadata.name.endsWith('-sessions'))
      .flatMap((r) => r['rules'] as { resources: string[] }[])
      .flatMap((rule) => rule.resources);
    expect(clusterRules.sort()).toEqual([
      'browserprojects',
      'browserprojects',
      'browserprojects/status',
      'nodes',
    ]);
  });
});
