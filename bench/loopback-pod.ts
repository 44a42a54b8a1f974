import { randomBytes, randomInt } from 'node:crypto';
import path from 'node:path';
import Browserbase from '@browserbasehq/sdk';
import type { V1Pod } from '@kubernetes/client-node';
import { type BrowserSession, CDP_PORT } from '../src/api/index.js';
import { childName } from '../src/operator/children.js';
import { isNotFound, paths } from '../src/shared/kube/client.js';
import { markPodReady } from '../src/testing/pod-status.js';
import { type ChildHandle, startChild } from './child-protocol.js';
import { type BenchChrome, launchChrome } from './chrome.js';
import { sleep } from './report.js';
import { type BenchStack, LOOPBACK_REGION } from './stack.js';

/**
 * A session whose browser pod the benchmark runs itself, in the kubelet's place: Chrome and the real sidecar
 * process on a loopback address, the pod status written as a kubelet would. Everything else is the real path
 * (the operator admits the session and marks it Running, the gateway authenticates and proxies), and one
 * Chrome can be reached three ways: directly, through its sidecar, through the gateway and its sidecar.
 */
export interface LoopbackSession {
  id: string;
  chrome: BenchChrome;
  sidecar: ChildHandle;
  /** ws://127.x.y.z:9223, and the pod's own token the sidecar accepts. */
  sidecarBase: string;
  sidecarToken: string;
  /** The env the operator gave the pod's sidecar (with the loopback Chrome's URL), to start another like it. */
  sidecarEnv: Record<string, string>;
  /** Browserbase's connectUrl, as the SDK returns it: ws://<gateway>/?signingKey=... */
  connectUrl: string;
  /** The same target through each path. */
  urls(target: 'browser' | { page: string }): { direct: string; sidecar: string; gateway: string };
  close(): Promise<void>;
}

export async function startLoopbackSession(stack: BenchStack): Promise<LoopbackSession> {
  const { client, namespace } = stack;
  const name = `loop-${randomBytes(4).toString('hex')}`;
  await client.create(paths.sessions(namespace), {
    apiVersion: 'browserfleet.dev/v1alpha1',
    kind: 'BrowserSession',
    metadata: { name, namespace },
    spec: { project: stack.project, region: LOOPBACK_REGION, timeout: 3600, keepAlive: true },
  });
  const podName = childName(name);
  const pod = await poll(`pod ${podName}`, () =>
    client.get<V1Pod>(paths.pod(namespace, podName)).catch((e: unknown) => {
      if (isNotFound(e)) return undefined;
      throw e;
    }),
  );
  const env = Object.fromEntries(
    (pod.spec?.containers.find((c) => c.name === 'sidecar')?.env ?? []).map((e) => [e.name, e.value ?? '']),
  );
  const chrome = await launchChrome();
  const ip = `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
  let sidecar: ChildHandle | undefined;
  try {
    sidecar = await startChild(
      'sidecar',
      {
        ...env,
        BF_CHROME_URL: chrome.httpUrl,
        BF_LISTEN_PORT: String(CDP_PORT),
        BF_METRICS_PORT: '0',
        host: ip,
      },
      { logFile: path.join(stack.logsDir, `sidecar-${name}.log`) },
    );
    await markPodReady(client, namespace, podName, ip);
    await poll(`session ${name} Running`, async () => {
      const s = await client.get<BrowserSession>(paths.session(namespace, name));
      return s.status?.phase === 'Running' ? s : undefined;
    });
    const bb = new Browserbase({ apiKey: stack.apiKey, baseURL: stack.gatewayUrl });
    const { connectUrl } = (await bb.sessions.retrieve(name)) as unknown as { connectUrl: string };
    const gateway = new URL(connectUrl);
    const sidecarToken = env['BF_SESSION_TOKEN'] ?? '';
    const sidecarBase = `ws://${ip}:${CDP_PORT}`;
    const browserPath = new URL(chrome.wsEndpoint).pathname;
    const started = sidecar;
    return {
      id: name,
      chrome,
      sidecar: started,
      sidecarBase,
      sidecarToken,
      sidecarEnv: { ...env, BF_CHROME_URL: chrome.httpUrl },
      connectUrl,
      urls(target) {
        const p = target === 'browser' ? browserPath : `/devtools/page/${target.page}`;
        return {
          direct: `ws://${new URL(chrome.httpUrl).host}${p}`,
          sidecar: `${sidecarBase}${target === 'browser' ? '/devtools/browser' : p}?token=${sidecarToken}`,
          gateway: `${gateway.protocol}//${gateway.host}${target === 'browser' ? '/' : p}${gateway.search}`,
        };
      },
      async close() {
        await bb.sessions.update(name, { status: 'REQUEST_RELEASE' }).catch(() => undefined);
        await started.stop();
        await chrome.close();
      },
    };
  } catch (err) {
    await sidecar?.stop();
    await chrome.close();
    throw err;
  }
}

async function poll<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
