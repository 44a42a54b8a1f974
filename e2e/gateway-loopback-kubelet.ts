import { randomInt } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import { LABEL_MANAGED_BY, MANAGED_BY } from '../src/api/index.js';
import { type KubeClient, paths } from '../src/shared/kube/client.js';
import { Informer } from '../src/shared/kube/informer.js';
import { sidecarConfigFromEnv } from '../src/sidecar/config.js';
import { createSidecar, type Sidecar } from '../src/sidecar/sidecar.js';
import { type LaunchedChromium, launchChromium } from '../src/sidecar/testing/chromium.js';

/**
 * Plays the kubelet for browser pods on loopback, for gateway tests that must not depend on the local node
 * agent: for each pod the operator creates it starts a real Chromium and the real sidecar (from the pod's own
 * env, so the credential and report URL are the operator's), binds the sidecar to a fresh 127.x.y.z address
 * at the CDP port, and writes the pod status a kubelet would. Deleting the pod stops both. Pods must not be
 * scheduled on a real node meanwhile (give the operator a node selector no node has).
 */
export interface LoopbackKubelet {
  /** Pods started so far, by name. */
  readonly started: ReadonlyMap<string, { ip: string }>;
  stop(): Promise<void>;
}

interface Running {
  ip: string;
  chrome: LaunchedChromium;
  sidecar: Sidecar;
}

export async function startLoopbackKubelet(client: KubeClient, namespace: string): Promise<LoopbackKubelet> {
  const pods = new Informer<V1Pod>(client, paths.pods(namespace), {
    labelSelector: `${LABEL_MANAGED_BY}=${MANAGED_BY}`,
  });
  const running = new Map<string, Promise<Running | undefined>>();
  const started = new Map<string, { ip: string }>();
  let stopping = false;

  async function start(pod: V1Pod): Promise<Running | undefined> {
    const name = pod.metadata?.name ?? '';
    const sidecarSpec = pod.spec?.containers.find((c) => c.name === 'sidecar');
    const env = Object.fromEntries((sidecarSpec?.env ?? []).map((e) => [e.name, e.value ?? '']));
    const chrome = await launchChromium();
    const ip = `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
    const config = {
      ...sidecarConfigFromEnv({ ...env, BF_CHROME_URL: chrome.httpUrl, BF_METRICS_PORT: '0' }),
      host: ip,
      reportIntervalMs: 2000,
    };
    const sidecar = createSidecar(config);
    await sidecar.listen();
    const now = new Date().toISOString();
    await client.mergePatch(`${paths.pod(namespace, name)}/status`, {
      status: {
        phase: 'Running',
        podIP: ip,
        podIPs: [{ ip }],
        startTime: now,
        conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }],
      },
    });
    started.set(name, { ip });
    return { ip, chrome, sidecar };
  }

  async function halt(name: string): Promise<void> {
    const entry = running.get(name);
    running.delete(name);
    const r = await entry?.catch(() => undefined);
    if (!r) return;
    await r.sidecar.close();
    await r.chrome.close();
  }

  pods.onChange((pod) => {
    const name = pod.metadata?.name ?? '';
    const current = pods.get(name, namespace);
    if (!current || current.metadata?.deletionTimestamp) {
      void halt(name);
      return;
    }
    if (!running.has(name) && !stopping) running.set(name, start(current));
  });
  await pods.start();

  return {
    started,
    async stop() {
      stopping = true;
      await pods.stop();
      await Promise.all([...running.keys()].map(halt));
    },
  };
}
