import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { installCrds, SUITE_NETWORK, startLocalControlPlane } from '../dev/stack.js';
import type { ControlPlane } from '../localcluster/control-plane.js';
import { type RealNode, startRealNode } from '../localcluster/real-node.js';
import { repoRoot } from '../shared/repo-root.js';
import { hostSnapshot, snapshotDiff } from './host-snapshot.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
    /** True when the suite runs against a local control plane it started. */
    localControlPlane: boolean;
    /**
     * An address of this machine that pods reach (the local node's bridge address), where test servers and the
     * operator's report endpoint listen; empty on a cluster given by BF_TEST_KUBECONFIG without
     * BF_TEST_REPORT_HOST.
     */
    podNetworkHostIP: string;
  }
}

/** The suite node's state directory (containerd, the kubelet, logs); its bridge is SUITE_NETWORK.bridge. */
const SUITE_STATE_DIR = '/run/bf-suite-node';

let plane: ControlPlane | undefined;
let node: RealNode | undefined;
let before: Record<string, string[]> | undefined;

/**
 * Gives every test file a real kube-apiserver: the one named by BF_TEST_KUBECONFIG (any cluster whose nodes
 * have the images), or a local control plane with one real node (kubelet, containerd, kube-proxy and CoreDNS:
 * hack/real-node.sh), started here and stopped after the run, which must leave nothing of it on the machine.
 */
export async function setup(project: TestProject): Promise<void> {
  const given = process.env['BF_TEST_KUBECONFIG'];
  if (given) {
    project.provide('kubeconfig', given);
    project.provide('localControlPlane', false);
    project.provide('podNetworkHostIP', process.env['BF_TEST_REPORT_HOST'] ?? '');
    installCrds(given);
    return;
  }
  // A run killed outright (no teardown, no exit hook) left its node up; up refuses to start over it.
  execFileSync('bash', [path.join(repoRoot, 'hack/real-node.sh'), 'down', SUITE_STATE_DIR], {
    stdio: 'ignore',
  });
  plane = await startLocalControlPlane(SUITE_NETWORK);
  console.log(
    `control plane ready in ${plane.readyMs} ms (${plane.server}); ready at: ${JSON.stringify(plane.phases)}`,
  );
  project.provide('kubeconfig', plane.kubeconfigPath);
  project.provide('localControlPlane', true);
  if (process.env['BF_TEST_NO_NODE'] === '1') {
    project.provide('podNetworkHostIP', '');
    return;
  }
  before = hostSnapshot(SUITE_STATE_DIR, SUITE_NETWORK.bridge);
  node = await startRealNode({
    stateDir: SUITE_STATE_DIR,
    kubeconfigPath: plane.kubeconfigPath,
    name: 'bf-suite-node',
    podCIDR: SUITE_NETWORK.podCIDR,
    bridge: SUITE_NETWORK.bridge,
  });
  console.log(`real node ${node.name} up in ${node.upMs} ms (${node.ip}, pods ${node.podCIDR})`);
  project.provide('podNetworkHostIP', node.ip);
}

export async function teardown(): Promise<void> {
  await node?.stop();
  await plane?.stop();
  if (!node || !before) return;
  // Killed processes can linger briefly as zombies until PID 1 reaps them, so the machine is polled for a while.
  let leaks: string[] = [];
  for (let attempt = 0; attempt < 50; attempt++) {
    leaks = snapshotDiff(before, hostSnapshot(SUITE_STATE_DIR, SUITE_NETWORK.bridge));
    if (leaks.length === 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  if (leaks.length > 0) {
    // vitest reports a teardown error but still exits 0: set the exit code so the run fails.
    console.error(`the test suite's node left things on this machine: ${leaks.join('; ')}`);
    process.exitCode = 1;
  } else {
    console.log(
      'after the suite: nothing of its node is left on this machine (processes, chains, mounts, ...)',
    );
  }
}
