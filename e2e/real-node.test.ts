import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { CoreV1EventList, V1Pod } from '@kubernetes/client-node';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { API_VERSION, type BrowserSession } from '../src/api/index.js';
import { type RealNode, startRealNode } from '../src/localcluster/real-node.js';
import { childName } from '../src/operator/children.js';
import { defaultConfig } from '../src/operator/config.js';
import { isNotFound, paths } from '../src/shared/kube/client.js';
import { repoRoot } from '../src/shared/repo-root.js';
import { kubectl, uniqueName } from '../src/testing/cluster.js';
import { type SiteServer, startSite } from '../src/testing/site-server.js';
import { type SessionStack, startSessionStack } from '../src/testing/stack.js';
import { waitFor } from '../src/testing/wait.js';

// Browser sessions on a real kubelet and containerd (hack/real-node.sh) next to the suite's localnode, through
// the real operator: the images `make images` built, the CNI bridge, kubectl logs and exec, and a pod's
// filesystem that another pod's Chrome cannot see. The node registers with a taint that only this file's
// operator tolerates, so the other files' pods never land on it, and a region label its sessions select.

const REGION = 'real-node';
const TAINT = { key: 'browserfleet.dev/real-node', value: 'true', effect: 'NoSchedule' as const };
const STATE_DIR = '/run/bf-suite-real-node';
const VERSION = (JSON.parse(readFileSync(`${repoRoot}/package.json`, 'utf8')) as { version: string }).version;
// The chart's image names (what `make images` builds and hack/real-node.sh copies into containerd).
const CHROME_IMAGE = `browserfleet/chrome:${VERSION}`;
const SIDECAR_IMAGE = `browserfleet/browserfleet:${VERSION}`;

/** What the real node may change on this machine and `down` must put back (nothing of localnode's is here). */
function hostSnapshot(): Record<string, string[]> {
  const sh = (cmd: string) =>
    execFileSync('bash', ['-c', cmd], { encoding: 'utf8' }).split('\n').filter(Boolean);
  return {
    processes: sh(
      "ps -eo comm= | grep -E '^(containerd|containerd-shim|kubelet|kube-proxy|runc|pause)' | sort | uniq -c || true",
    ),
    chains: sh(
      "for t in filter nat mangle raw; do iptables-save -t $t; ip6tables-save -t $t; done | grep -E '^:(KUBE|CNI)-' | cut -d' ' -f1 | sort || true",
    ),
    links: sh("ip -br link | awk '{print $1}' | grep -E '^(bfreal|cni-)' | sort || true"),
    netns: sh("ip netns list | awk '{print $1}' | grep '^cni-' | sort || true"),
    mounts: sh(`findmnt -rn -o TARGET | grep -F '${STATE_DIR}/' || true`),
    cgroups: readdirSync('/sys/fs/cgroup').filter((h) => existsSync(`/sys/fs/cgroup/${h}/kubepods`)),
    sysctls: sh('sysctl vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops'),
    paths: ['/var/lib/kubelet', '/var/log/containers', '/var/log/pods', '/var/lib/cni', '/run/nri'].filter(
      existsSync,
    ),
  };
}

describe.skipIf(!inject('localControlPlane') || inject('podNetworkHostIP') === '')('a real node', () => {
  let before: Record<string, string[]>;
  let node: RealNode | undefined;
  let site: SiteServer | undefined;
  let stack: SessionStack | undefined;
  /** Sessions on the suite's localnode, for the comparison of start times. */
  let localStack: SessionStack | undefined;
  const browsers: Browser[] = [];

  beforeAll(async () => {
    // A run killed outright (SIGKILL: no afterAll, no exit hook) left its node up; up refuses to start over it.
    execFileSync('bash', [`${repoRoot}/hack/real-node.sh`, 'down', STATE_DIR], { stdio: 'ignore' });
    before = hostSnapshot();
    node = await startRealNode({
      stateDir: STATE_DIR,
      kubeconfigPath: inject('kubeconfig'),
      // Not the suite node's network (10.245.0.0/16 on bfsuite0) nor make dev's.
      podCIDR: '10.123.0.0/16',
      bridge: 'bfreal0',
      labels: { 'topology.kubernetes.io/region': REGION },
      taints: [TAINT],
      // localnode serves this cluster's Services on this machine already.
      kubeProxy: false,
    });
    console.log(`real node ${node.name} up in ${node.upMs} ms (${node.ip}, pods ${node.podCIDR})`);
    // Pods reach the host at their node's bridge address.
    site = await startSite(node.ip);
    stack = await startSessionStack({
      prefix: 'realnode',
      operator: {
        chrome: { ...defaultConfig.chrome, image: CHROME_IMAGE },
        sidecar: { ...defaultConfig.sidecar, image: SIDECAR_IMAGE },
        tolerations: [{ ...TAINT, operator: 'Equal' }],
      },
    });
    localStack = await startSessionStack({ prefix: 'realnode-local' });
  }, 300_000);

  afterAll(async () => {
    await Promise.all(browsers.map((b) => b.close().catch(() => undefined)));
    await stack?.stop();
    await localStack?.stop();
    await site?.close();
    // The module's exit hook takes the node down too if this process dies before it gets here.
    await node?.stop();
  }, 180_000);

  /** Creates a keep-alive session and waits for Running; returns it and how long that took. */
  async function runSession(
    s: SessionStack,
    region?: string,
  ): Promise<{ session: BrowserSession; pod: V1Pod; ms: number }> {
    const name = uniqueName('rn');
    const started = Date.now();
    await s.client.create(paths.sessions(s.namespace), {
      apiVersion: API_VERSION,
      kind: 'BrowserSession',
      metadata: { name, namespace: s.namespace },
      spec: { project: s.project, timeout: 300, keepAlive: true, ...(region ? { region } : {}) },
    });
    const session = await waitFor(
      `session ${name} Running`,
      async () => {
        const got = await s.client.get<BrowserSession>(paths.session(s.namespace, name));
        return ['Running', 'Failed'].includes(got.status?.phase ?? '') ? got : undefined;
      },
      90_000,
      25,
    );
    const ms = Date.now() - started;
    if (session.status?.phase !== 'Running')
      throw new Error(`session failed: ${JSON.stringify(session.status)}`);
    const pod = await s.client.get<V1Pod>(paths.pod(s.namespace, childName(name)));
    return { session, pod, ms };
  }

  async function connect(session: BrowserSession): Promise<Browser> {
    const browser = await chromium.connectOverCDP(session.status?.connectUrl ?? '');
    browsers.push(browser);
    return browser;
  }

  /** What the browser's page shows at `url`: the text of a file or of Chrome's directory listing. */
  async function pageText(browser: Browser, url: string): Promise<string> {
    const context = browser.contexts()[0] ?? (await browser.newContext());
    const page = await context.newPage();
    try {
      await page.goto(url);
      return (await page.locator('body').textContent()) ?? '';
    } finally {
      await page.close();
    }
  }

  let a: { session: BrowserSession; pod: V1Pod; ms: number };

  it('runs a session of the real operator on the real node, its images already there, driven through its sidecar', async () => {
    if (!stack || !node || !site) throw new Error('setup failed');
    a = await runSession(stack, REGION);
    expect(a.pod.spec?.nodeName).toBe(node.name);
    expect(a.pod.status?.podIP).toMatch(/^10\.123\./);
    expect(a.session.status?.connectUrl).toMatch(/^ws:\/\/10\.123\.\d+\.\d+:9223\//);
    // Running needs the sidecar's report (chromeReachable), so the operator's report endpoint on the suite's
    // pod-network address (10.245.0.1) answers pods on the real node's network as well.
    const images = (a.pod.status?.containerStatuses ?? []).map((c) => c.image).sort();
    expect(images).toEqual([`docker.io/${SIDECAR_IMAGE}`, `docker.io/${CHROME_IMAGE}`]);
    const events = await stack.client.get<CoreV1EventList>(
      `${paths.events(stack.namespace)}?fieldSelector=involvedObject.name=${a.pod.metadata?.name}`,
    );
    const messages = events.items.map((e) => `${e.reason}: ${e.message}`);
    expect(messages.filter((m) => /already present on machine/.test(m))).toHaveLength(2);
    expect(messages.filter((m) => /^Pulling/.test(m))).toEqual([]);

    const browser = await connect(a.session);
    const page = await (browser.contexts()[0] ?? (await browser.newContext())).newPage();
    await page.goto(`${site.url}/from-the-real-node`);
    expect(await page.title()).toBe('site /from-the-real-node');
    await page.close();
  });

  it('starts a session on localnode too, for the comparison of start times', async () => {
    if (!localStack || !node) throw new Error('setup failed');
    const local = await runSession(localStack);
    expect(local.pod.spec?.nodeName).toBe('suite-node');
    console.log(`create -> Running: real node ${a.ms} ms, localnode ${local.ms} ms`);
  });

  it('serves kubectl logs and kubectl exec through the kubelet', async () => {
    const pod = a.pod.metadata?.name ?? '';
    const ns = a.pod.metadata?.namespace ?? '';
    const logs = (await kubectl(['logs', '-n', ns, pod, '-c', 'sidecar'])).stdout;
    expect(logs).toMatch(/sidecar listening/i);
    const exec = await kubectl(['exec', '-n', ns, pod, '-c', 'chrome', '--', 'sh', '-c', 'id -u; ls /tmp']);
    expect(exec.stdout.split('\n')).toEqual(expect.arrayContaining(['1000', 'chrome-profile']));
  });

  it("keeps each pod's files from another pod's Chrome", async () => {
    if (!stack) throw new Error('setup failed');
    const b = await runSession(stack, REGION);
    const marker = uniqueName('bf-marker');
    const bPod = b.pod.metadata?.name ?? '';
    await kubectl([
      'exec',
      '-n',
      stack.namespace,
      bPod,
      '-c',
      'chrome',
      '--',
      'sh',
      '-c',
      `echo only-b > /tmp/${marker}`,
    ]);
    const browserA = await connect(a.session);
    const browserB = await connect(b.session);
    // The control: B's own Chrome sees the file, so a listing that lacks it means something.
    expect(await pageText(browserB, 'file:///tmp/')).toContain(marker);
    expect(await pageText(browserB, `file:///tmp/${marker}`)).toContain('only-b');
    const listingA = await pageText(browserA, 'file:///tmp/');
    expect(listingA).toContain('chrome-profile');
    expect(listingA).not.toContain(marker);
    await expect(pageText(browserA, `file:///tmp/${marker}`)).rejects.toThrow(/ERR_FILE_NOT_FOUND/);
  });

  it('takes the node down and leaves nothing of it on the machine', async () => {
    if (!node || !stack) throw new Error('setup failed');
    await Promise.all(browsers.splice(0).map((x) => x.close()));
    await stack.stop();
    stack = undefined;
    const name = node.name;
    await node.stop();
    node = undefined;
    const client = localStack?.client;
    if (client) {
      await expect(client.get(`/api/v1/nodes/${name}`)).rejects.toSatisfy(isNotFound);
    }
    expect(hostSnapshot()).toEqual(before);
  });
});
