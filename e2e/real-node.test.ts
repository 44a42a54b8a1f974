import type { CoreV1EventList, V1Node, V1Pod } from '@kubernetes/client-node';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { API_VERSION, type BrowserSession } from '../src/api/index.js';
import { CHART_IMAGES } from '../src/dev/stack.js';
import { childName } from '../src/operator/children.js';
import { paths } from '../src/shared/kube/client.js';
import { kubectl, uniqueName } from '../src/testing/cluster.js';
import { type SiteServer, startSite } from '../src/testing/site-server.js';
import { type SessionStack, startSessionStack } from '../src/testing/stack.js';
import { waitFor } from '../src/testing/wait.js';

// Browser sessions on the suite's node — a real kubelet with containerd (hack/real-node.sh) — through the real
// operator: the images `make images` built, already on the node, the CNI bridge, kubectl logs and exec, and a
// pod's filesystem that another pod's Chrome cannot see. That the node leaves nothing on this machine when it
// goes is checked by the global teardown.

describe.skipIf(inject('podNetworkHostIP') === '')('a real node', () => {
  let site: SiteServer | undefined;
  let stack: SessionStack | undefined;
  const browsers: Browser[] = [];

  beforeAll(async () => {
    site = await startSite(inject('podNetworkHostIP'));
    stack = await startSessionStack({ prefix: 'realnode' });
  }, 300_000);

  afterAll(async () => {
    await Promise.all(browsers.map((b) => b.close().catch(() => undefined)));
    await stack?.stop();
    await site?.close();
  }, 180_000);

  /** Creates a keep-alive session and waits for Running; returns it and how long that took. */
  async function runSession(s: SessionStack): Promise<{ session: BrowserSession; pod: V1Pod; ms: number }> {
    const name = uniqueName('rn');
    const started = Date.now();
    await s.client.create(paths.sessions(s.namespace), {
      apiVersion: API_VERSION,
      kind: 'BrowserSession',
      metadata: { name, namespace: s.namespace },
      spec: { project: s.project, timeout: 300, keepAlive: true },
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

  it('runs a session of the real operator on a kubelet with containerd, its images already there', async () => {
    if (!stack || !site) throw new Error('setup failed');
    a = await runSession(stack);
    const node = await stack.client.get<V1Node>(`${paths.nodes()}/${a.pod.spec?.nodeName}`);
    expect(node.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\/2\./);
    expect(node.status?.nodeInfo?.kubeletVersion).toMatch(/^v1\.\d+\.\d+/);
    expect(a.session.status?.connectUrl?.startsWith(`ws://${a.pod.status?.podIP}:9223/`)).toBe(true);
    const images = (a.pod.status?.containerStatuses ?? []).map((c) => c.image).sort();
    // chromedriver runs from the Chrome image (ADR 0014).
    expect(images).toEqual([
      `docker.io/${CHART_IMAGES.sidecar}`,
      `docker.io/${CHART_IMAGES.chrome}`,
      `docker.io/${CHART_IMAGES.chrome}`,
    ]);
    const events = await stack.client.get<CoreV1EventList>(
      `${paths.events(stack.namespace)}?fieldSelector=involvedObject.name=${a.pod.metadata?.name}`,
    );
    const messages = events.items.map((e) => `${e.reason}: ${e.message}`);
    // One "already present" per container: chrome, sidecar and webdriver (no image was pulled).
    expect(messages.filter((m) => /already present on machine/.test(m))).toHaveLength(3);
    expect(messages.filter((m) => /^Pulling/.test(m))).toEqual([]);

    const browser = await connect(a.session);
    const page = await (browser.contexts()[0] ?? (await browser.newContext())).newPage();
    await page.goto(`${site.url}/from-the-real-node`);
    expect(await page.title()).toBe('site /from-the-real-node');
    await page.close();
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
    const b = await runSession(stack);
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
});
