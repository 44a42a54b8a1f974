import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import Browserbase from '@browserbasehq/sdk';
import type { V1Pod } from '@kubernetes/client-node';
import { chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { BrowserProject, BrowserSession } from '../src/api/index.js';
import { isNotFound, type KubeClient, paths } from '../src/shared/kube/client.js';
import { repoRoot } from '../src/shared/repo-root.js';
import { kubectl, testClient, uniqueName } from '../src/testing/cluster.js';
import { startSite } from '../src/testing/site-server.js';
import { waitFor } from '../src/testing/wait.js';
import {
  chartDir,
  clusterObjectsOf,
  everythingIn,
  freshNamespaces,
  helm,
  helmOk,
  parseManifests,
  removeScratch,
  writeTemp,
} from './chart-harness.js';

/**
 * The chart's life in a cluster: `helm install`, `helm test`, a session through the installed gateway with the
 * official Browserbase SDK and Playwright, `helm upgrade` with changed values while that session runs (it must
 * survive), and `helm uninstall` (nothing may be left but the CRDs).
 *
 * Every pod of the release runs for real on the suite's node (a kubelet with containerd) from the images `make
 * images` built: the operator and gateway with the chart's ServiceAccounts (bound tokens, so the API server
 * enforces the chart's RBAC), its ConfigMaps as config files, reaching the API server and each other through
 * cluster IPs (kube-proxy) and cluster DNS names (CoreDNS); the browser pods and the helm test pod likewise. The test reaches the gateway as anyone on a node would: at
 * its Service's cluster IP (pinned through `gateway.service.clusterIP`, so `publicUrl` can name it).
 */

const version = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string })
  .version;

/** A cluster IP in the static band of the suite's service range (the allocator hands out the rest first). */
function pinnedGatewayIP(): string {
  return `10.97.0.${100 + Math.floor(Math.random() * 150)}`;
}

function lifecycle(): void {
  let client: KubeClient;
  const gatewayIP = pinnedGatewayIP();
  const publicUrl = `http://${gatewayIP}`;
  let ns: { names: string[]; cleanup: () => Promise<void> };
  let site: { url: string; close(): Promise<void> };
  let R: string; // release namespace
  let P: string; // the project's namespace
  const release = uniqueName('fleet');
  const project = `${release}-p`;
  const fullname = `${release}-browserfleet`;
  let apiKey = '';
  let bb: Browserbase;
  let kept: { id: string; connectUrl: string; podUid: string; pageUrl: string } | undefined;
  let secretsBefore: Record<string, unknown> = {};

  const valuesFor = async (changes: {
    concurrency: number;
    workers: number;
    annotations: Record<string, string>;
  }) =>
    writeTemp('values.yaml', {
      // Serve only the project's namespace, so this release never acts on other test files' sessions.
      watchNamespace: P,
      operator: { workers: changes.workers, disconnectGraceMs: 500 },
      gateway: { createWaitMs: 6000, publicUrl, service: { clusterIP: gatewayIP } },
      browser: {
        resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '2Gi' } },
        podAnnotations: {
          'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false',
          'karpenter.sh/do-not-disrupt': 'true',
          ...changes.annotations,
        },
      },
      projects: [
        {
          name: project,
          namespace: P,
          concurrency: changes.concurrency,
          maxQueued: 2,
          defaultTimeout: 300,
          maxTimeout: 600,
          ttlSecondsAfterFinished: 5,
        },
      ],
    });

  const getSession = (name: string) => client.get<BrowserSession>(paths.session(P, name));
  const podOf = (name: string) => client.get<V1Pod>(paths.pod(P, `browser-${name}`));
  const secrets = async () => ({
    sessionKey: (
      await client.get<{ data: unknown }>(`/api/v1/namespaces/${R}/secrets/${fullname}-session-key`)
    ).data,
    apiKey: (
      await client.get<{ data: unknown }>(`/api/v1/namespaces/${P}/secrets/${fullname}-${project}-api-key`)
    ).data,
  });

  /** Waits for both Deployments to have rolled out their current template, then for the gateway's address. */
  const rolledOut = async () => {
    for (const component of ['operator', 'gateway'])
      await kubectl(['rollout', 'status', `deployment/${fullname}-${component}`, '-n', R, '--timeout=300s']);
    // kube-proxy programs the Service after the pods are Ready; on a loaded machine that can take a while.
    await waitFor(
      'the gateway at its cluster IP',
      async () =>
        (
          await fetch(`${publicUrl}/v1/sessions`, { signal: AbortSignal.timeout(5000) }).catch(
            () => undefined,
          )
        )?.status === 401,
      180_000,
      250,
    );
  };

  beforeAll(async () => {
    client = await testClient();
    ns = await freshNamespaces(client, 'bf-chart-life', 2);
    [R, P] = ns.names as [string, string];
    site = await startSite(inject('podNetworkHostIP'));
  });

  // Each step waits on rollouts and helm with their own timeouts; the test's cap is above them, so a slow
  // machine makes a step slow, not failed. A failed step prints what the cluster looked like, since a later
  // step's failure is usually its consequence.
  afterEach(async ({ task }) => {
    if (task.result?.state !== 'fail') return;
    const shown = async (args: string[]) =>
      kubectl(args).then(
        (r) => r.stdout,
        (err: unknown) => `(kubectl ${args.join(' ')} failed: ${String(err)})`,
      );
    const logs = async (component: string) =>
      shown(['logs', '-n', R, '-l', `app.kubernetes.io/component=${component}`, '--tail=40', '--prefix']);
    task.meta.diagnosis = await briefly();
    console.log(
      [
        `--- ${task.name} failed; the cluster then:`,
        await shown(['get', 'pods,browsersessions', '-n', R, '-o', 'wide']),
        await shown(['get', 'pods,browsersessions', '-n', P, '-o', 'wide']),
        await shown(['get', 'events', '-n', P, '--sort-by=.lastTimestamp']),
        await logs('operator'),
        await logs('gateway'),
      ].join('\n'),
    );
  });

  /**
   * What the failure digest prints last (CI keeps the tail of the log): the release's pods, whether the gateway
   * answers here, the helm test's own words, and the last warnings of the gateway, operator and events.
   */
  const briefly = async (): Promise<string> => {
    const out = async (args: string[]) =>
      kubectl(args).then(
        (r) => r.stdout.trim(),
        (err: unknown) => `(kubectl ${args[0]} failed: ${String(err).slice(0, 120)})`,
      );
    const gateway = await fetch(`${publicUrl}/v1/sessions`, { signal: AbortSignal.timeout(3000) }).then(
      (r) => `HTTP ${r.status}`,
      (err: unknown) => `${String(err)} (${String((err as { cause?: { code?: string } }).cause?.code)})`,
    );
    const warnings = async (component: string) =>
      (
        await out([
          'logs',
          '-n',
          R,
          '-l',
          `app.kubernetes.io/component=${component}`,
          '--tail=200',
          '--prefix',
        ])
      )
        .split('\n')
        .filter((l) => /"level":(4|5)\d/.test(l))
        .slice(-3)
        .map((l) => `${component}: ${l.slice(0, 300)}`);
    const limits = readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+(\d+)/)?.[1];
    const proxies = Object.keys(process.env).filter((k) => /_proxy$/i.test(k));
    return [
      `here: ${cpus().length} cpus, open files ${limits}, proxy variables [${proxies.join(' ')}], cwd ${process.cwd()}`,
      `pods: ${(await out(['get', 'pods', '-n', R, '--no-headers', '-o', 'custom-columns=N:.metadata.name,READY:.status.containerStatuses[*].ready,RESTARTS:.status.containerStatuses[*].restartCount,IP:.status.podIP'])).replace(/\s*\n\s*/g, '; ')}`,
      `gateway at ${publicUrl}: ${gateway}`,
      `helm test log: ${(await out(['logs', '-n', P, `${fullname}-test-session`, '--tail=6'])).replace(/\n/g, ' | ')}`,
      ...(await warnings('gateway')),
      ...(await warnings('operator')),
      ...(
        await out([
          'get',
          'events',
          '-A',
          '--field-selector',
          'type=Warning',
          '--sort-by=.lastTimestamp',
          '--no-headers',
        ])
      )
        .split('\n')
        .slice(-4)
        .map((l) => `event: ${l.replace(/\s+/g, ' ').slice(0, 240)}`),
    ].join('\n');
  };

  afterAll(async () => {
    await helm(['uninstall', release, '--namespace', R, '--wait']);
    await client?.request('DELETE', paths.sessions(P)).catch(() => undefined);
    await site?.close();
    await ns?.cleanup();
    client?.close();
  });

  it('helm install; the operator and gateway start with the chart’s config, identities and RBAC', {
    timeout: 660_000,
  }, async () => {
    const out = await helmOk([
      'install',
      release,
      chartDir,
      '--namespace',
      R,
      '--values',
      await valuesFor({ concurrency: 4, workers: 4, annotations: {} }),
    ]);
    // NOTES tell the user where the API is and how to read the project's key.
    expect(out).toContain(publicUrl);
    expect(out).toContain(`kubectl -n ${P} get secret ${fullname}-${project}-api-key`);
    await rolledOut();
    // Real pods on a node, each with its own bound service-account token.
    const pods = (await client.get<{ items: V1Pod[] }>(paths.pods(R))).items.filter(
      (p) => p.metadata?.labels?.['app.kubernetes.io/instance'] === release,
    );
    expect(
      pods.map((p) => `${p.metadata?.labels?.['app.kubernetes.io/component']}/${p.status?.phase}`).sort(),
    ).toEqual(['gateway/Running', 'gateway/Running', 'operator/Running', 'operator/Running']);
    for (const p of pods) {
      expect(p.spec?.nodeName).toBeTruthy();
      // The chart's image, already on the node: nothing was pulled.
      expect(p.spec?.containers.map((c) => c.image)).toEqual([`browserfleet/browserfleet:${version}`]);
    }
    for (const p of pods)
      expect(p.spec?.volumes?.some((v) => v.projected?.sources?.some((s) => s.serviceAccountToken))).toBe(
        true,
      );
    apiKey = Buffer.from(
      ((await secrets()).apiKey as Record<string, string>)['apiKey'] ?? '',
      'base64',
    ).toString('utf8');
    expect(apiKey).toMatch(/^bf_[A-Za-z0-9]{40}$/);
    bb = new Browserbase({ apiKey, baseURL: publicUrl });
    const lease = await client.get<{ spec?: { holderIdentity?: string } }>(
      paths.lease(R, `${fullname}-operator`),
    );
    expect(lease.spec?.holderIdentity).toBeTruthy();
  });

  it('helm test creates a session through the gateway, sees its browser, and ends it', {
    timeout: 360_000,
  }, async () => {
    const r = await helm(['test', release, '--namespace', R, '--timeout', '5m']);
    // A failed test pod stays (hook-delete-policy hook-succeeded): its output says which step failed.
    const output = await kubectl(['logs', '-n', P, `${fullname}-test-session`]).then(
      (l) => l.stdout,
      () => '(no log)',
    );
    expect(r.stdout, output).toMatch(/TEST SUITE:\s+\S+-test-session[\s\S]*Phase:\s+Succeeded/);
    expect(r.code).toBe(0);
  });

  it('a session through the installed gateway: Browserbase SDK + Playwright, on a browser pod built from the values', {
    timeout: 300_000,
  }, async () => {
    const session = await bb.sessions.create({ keepAlive: true });
    expect(session.connectUrl.startsWith(publicUrl.replace(/^http/, 'ws'))).toBe(true);
    const browser = await chromium.connectOverCDP(session.connectUrl);
    const page = await (browser.contexts()[0] ?? (await browser.newContext())).newPage();
    const pageUrl = `${site.url}/before-upgrade`;
    await page.goto(pageUrl);
    expect(await page.title()).toBe('site /before-upgrade');
    // The sidecar's connection report reaches the operator through the report Service, by its DNS name.
    await waitFor(
      'the connection reported',
      async () => ((await getSession(session.id)).status?.connections ?? 0) >= 1,
      120_000,
    );

    const pod = await podOf(session.id);
    expect(pod.spec?.automountServiceAccountToken).toBe(false);
    expect(pod.spec?.volumes?.some((v) => v.projected)).toBe(false);
    const chrome = pod.spec?.containers.find((c) => c.name === 'chrome');
    const sidecar = pod.spec?.containers.find((c) => c.name === 'sidecar');
    expect(chrome?.image).toBe(`browserfleet/chrome:${version}`);
    expect(sidecar?.image).toBe(`browserfleet/browserfleet:${version}`);
    expect(chrome?.resources?.requests).toEqual({ cpu: '100m', memory: '256Mi' });
    expect(pod.metadata?.annotations?.['cluster-autoscaler.kubernetes.io/safe-to-evict']).toBe('false');
    expect(pod.spec?.volumes?.find((v) => v.name === 'dshm')?.emptyDir?.medium).toBe('Memory');

    await browser.close(); // keepAlive: the session outlives its client
    kept = { id: session.id, connectUrl: session.connectUrl, podUid: pod.metadata?.uid ?? '', pageUrl };
    secretsBefore = await secrets();
  });

  it('helm upgrade with changed values rolls the operator and gateway, and loses no session', {
    timeout: 720_000,
  }, async () => {
    if (!kept) throw new Error('no session from the previous step');
    const { id } = kept;
    const templateHash = async (component: string) =>
      (
        await client.get<{ spec: { template: { metadata: { annotations: Record<string, string> } } } }>(
          `/apis/apps/v1/namespaces/${R}/deployments/${fullname}-${component}`,
        )
      ).spec.template.metadata.annotations['checksum/config'];
    const before = [await templateHash('operator'), await templateHash('gateway')];

    // Watch the session through the whole upgrade: it must stay Running on the same pod throughout.
    const seen = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        // A read the API server did not answer (busy with the rollout) shows nothing; a pod that is not found is
        // a pod lost.
        const s = await getSession(id).catch(() => undefined);
        const pod = await podOf(id).catch((err: unknown) => (isNotFound(err) ? null : undefined));
        if (s && pod !== undefined)
          seen.add(`${s.status?.phase}/${pod?.metadata?.uid === kept?.podUid ? 'same pod' : 'other pod'}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    await helmOk([
      'upgrade',
      release,
      chartDir,
      '--namespace',
      R,
      '--values',
      await valuesFor({ concurrency: 5, workers: 6, annotations: { 'example.com/upgraded': 'true' } }),
    ]);
    expect([await templateHash('operator'), await templateHash('gateway')]).not.toEqual(before);
    await rolledOut();
    watching = false;
    await watcher;
    expect([...seen]).toEqual(['Running/same pod']);

    // The session key and the generated API key were read back, not regenerated: old tokens and keys still work.
    expect(await secrets()).toEqual(secretsBefore);
    expect((await client.get<BrowserProject>(paths.project(project))).spec.concurrency).toBe(5);
    const pod = await podOf(id);
    expect(pod.status?.containerStatuses?.map((c) => c.restartCount)).toEqual([0, 0, 0]);

    // The same connect URL, through the new gateway replicas, finds the page the client left open.
    const browser = await chromium.connectOverCDP(kept.connectUrl);
    const urls = browser.contexts().flatMap((c) => c.pages().map((p) => p.url()));
    expect(urls).toContain(kept.pageUrl);
    await browser.close();
    expect((await bb.sessions.retrieve(id)).status).toBe('RUNNING');

    // New sessions get the new browser pod settings.
    const fresh = await bb.sessions.create({});
    expect((await podOf(fresh.id)).metadata?.annotations?.['example.com/upgraded']).toBe('true');
    expect((await bb.sessions.update(fresh.id, { status: 'REQUEST_RELEASE' })).status).toBe('COMPLETED');
    expect((await bb.sessions.update(id, { status: 'REQUEST_RELEASE' })).status).toBe('COMPLETED');
    // ttlSecondsAfterFinished: 5 in the project: finished sessions go away by themselves.
    await waitFor(
      'finished sessions deleted',
      async () => (await client.get<{ items: unknown[] }>(paths.sessions(P))).items.length === 0,
      120_000,
      250,
    );
  });

  it('helm uninstall leaves nothing behind but the CRDs', { timeout: 300_000 }, async () => {
    const manifest = parseManifests(await helmOk(['get', 'manifest', release, '--namespace', R]));
    expect(manifest.length).toBeGreaterThan(20);
    await helmOk(['uninstall', release, '--namespace', R, '--wait', '--timeout', '2m']);

    // Every object the release made is gone, and so is anything else it caused in its namespaces (pods,
    // endpoint slices, the Lease, the helm test pod), except what every namespace has and Events (which expire).
    for (const o of manifest) {
      const r = await kubectl([
        'get',
        `${o.kind}.${o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : ''}`.replace(/\.$/, ''),
        o.metadata.name,
        ...(o.metadata.namespace ? ['-n', o.metadata.namespace] : []),
        '--ignore-not-found',
        '-o',
        'name',
      ]);
      expect(r.stdout.trim(), `${o.kind}/${o.metadata.name} is still there`).toBe('');
    }
    const leftovers = async () => {
      const left: string[] = [];
      for (const namespace of [R, P])
        for (const o of await everythingIn(namespace))
          if (
            !['ServiceAccount/default', 'ConfigMap/kube-root-ca.crt'].includes(o) &&
            !o.startsWith('Event/')
          )
            left.push(`${namespace}: ${o}`);
      return [...left, ...(await clusterObjectsOf(release)).map((o) => `cluster: ${o}`)];
    };
    // Garbage collection of dependents (endpoint slices) is asynchronous: wait until it has run.
    await waitFor('nothing left', async () => (await leftovers()).length === 0, 60_000, 500).catch(
      () => undefined,
    );
    expect(await leftovers()).toEqual([]);
    expect((await helmOk(['list', '--namespace', R, '--all', '--short'])).trim()).toBe('');

    // Helm never deletes CRDs: they stay (and with them the API for anything still stored).
    for (const crd of ['browsersessions.browserfleet.dev', 'browserprojects.browserfleet.dev']) {
      const got = await client.get<{ metadata: { name: string } }>(
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd}`,
      );
      expect(got.metadata.name).toBe(crd);
    }
    await expect(client.get(paths.project(project))).rejects.toSatisfy(isNotFound);
  });
}

afterAll(() => removeScratch());

describe.skipIf(!inject('localControlPlane') || inject('podNetworkHostIP') === '')(
  'the chart on the local control plane, every pod on its real node',
  () => {
    lifecycle();
  },
);
