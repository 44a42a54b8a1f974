import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { installCrds, localnodeConfig, SUITE_NETWORK, startLocalControlPlane } from '../dev/stack.js';
import type { ControlPlane } from '../localcluster/control-plane.js';
import { createLocalnode, type Localnode } from '../localnode/agent.js';
import { nodeTag } from '../localnode/network.js';
import { createLogger } from '../shared/log.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
    /** True when the suite runs against a local control plane it started. */
    localControlPlane: boolean;
    /** Host side of the local pod network (where sidecars reach the operator); empty on a real cluster. */
    podNetworkHostIP: string;
  }
}

/** The shared node of the suite: pods that e2e tests create are scheduled here and run as real processes. */
export const SUITE_NODE = 'suite-node';
/** The suite node's state: pods' logs are `<dir>/<node>/logs/<namespace>_<pod>_<container>.log`. */
export const SUITE_STATE_DIR = '/run/bf-suite';

let plane: ControlPlane | undefined;
let node: Localnode | undefined;
/** Chromes that were already running (another stack on this machine); not the suite's to account for. */
let chromesBefore = new Set<number>();

/**
 * Gives every test file a real kube-apiserver: the one named by BF_TEST_KUBECONFIG (any cluster whose nodes
 * have the images), or a local control plane with a local node agent, started here and stopped after the run.
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
  // Not make dev's network: both node agents put their cluster's pod and Service addresses on this machine.
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
  chromesBefore = new Set(liveChromes());
  node = createLocalnode(
    localnodeConfig(SUITE_NETWORK, {
      nodeName: SUITE_NODE,
      kubeconfig: plane.kubeconfigPath,
      stateDir: SUITE_STATE_DIR,
      serviceProxy: true,
    }),
    { log: createLogger({ component: 'localnode' }) },
  );
  await node.start();
  project.provide('podNetworkHostIP', SUITE_NETWORK.hostIP);
}

export async function teardown(): Promise<void> {
  await node?.stop();
  await plane?.stop();
  if (!node) return;
  const leaks = await leaksAfterSuite();
  if (leaks.length > 0) {
    // vitest reports a teardown error but still exits 0: set the exit code so the run fails.
    console.error(`the test suite leaked: ${leaks.join('; ')}`);
    process.exitCode = 1;
  } else {
    console.log('after the suite: no browser pod Chrome, network namespace or bridge of the suite left');
  }
}

/**
 * The suite checks itself: after it, none of its Chromes, network namespaces or its bridge may be left.
 * Killed processes can linger briefly as zombies until PID 1 reaps them, so live ones are polled for a while.
 */
async function leaksAfterSuite(): Promise<string[]> {
  const prefix = `bf-${nodeTag(SUITE_NODE)}-`;
  let leaks: string[] = [];
  for (let attempt = 0; attempt < 50; attempt++) {
    leaks = [];
    const chromes = liveChromes().filter((p) => !chromesBefore.has(p));
    if (chromes.length > 0) leaks.push(`browser pod Chrome processes still running: ${chromes.join(', ')}`);
    const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n.startsWith(prefix));
    if (netns.length > 0) leaks.push(`network namespaces left: ${netns.join(', ')}`);
    if (execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).includes(SUITE_NETWORK.bridge)) {
      leaks.push(`bridge ${SUITE_NETWORK.bridge} left`);
    }
    if (leaks.length === 0) return leaks;
    await new Promise((r) => setTimeout(r, 200));
  }
  return leaks;
}

/** Browser-pod Chromes (DevTools on the pod's port 9222) that are alive, not zombies. */
function liveChromes(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const state = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.charAt(0);
      if (cmdline.includes('--remote-debugging-port=9222') && state !== 'Z') pids.push(Number(entry));
    } catch {
      // gone while we looked
    }
  }
  return pids;
}
