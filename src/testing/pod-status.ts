import { type KubeClient, paths } from '../shared/kube/client.js';

/**
 * Plays the kubelet for one pod: writes what a kubelet writes once the pod's containers are up and its
 * readiness probe passes (Running, the pod's address, Ready). For pods no node runs: the operator's
 * integration tests and the benchmarks' loopback pods.
 */
export async function markPodReady(
  client: KubeClient,
  namespace: string,
  pod: string,
  ip: string,
): Promise<void> {
  const now = new Date().toISOString();
  await client.mergePatch(`${paths.pod(namespace, pod)}/status`, {
    status: {
      phase: 'Running',
      podIP: ip,
      podIPs: [{ ip }],
      startTime: now,
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }],
    },
  });
}
