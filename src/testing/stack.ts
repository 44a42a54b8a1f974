import { inject } from 'vitest';
import { chartImageConfig, freeReportEndpoint } from '../dev/stack.js';
import { loadConfig, type OperatorConfig } from '../operator/config.js';
import { type Operator, startOperator } from '../operator/operator.js';
import { type KubeClient, paths } from '../shared/kube/client.js';
import { createLogger } from '../shared/log.js';
import { projectFixture, testClient, testKubeconfig } from './cluster.js';

export const TEST_SESSION_KEY = 'e2e-session-key-0123456789abcdef';

/**
 * What an end-to-end test file gets: its own namespace and project, and an operator that watches only that
 * namespace (so test files running side by side never act on each other's sessions). Browser pods run on
 * the shared local node that the global setup started (or on the real nodes of BF_TEST_KUBECONFIG).
 */
export interface SessionStack {
  client: KubeClient;
  kubeconfig: string;
  namespace: string;
  project: string;
  operator: Operator;
  /** Stops the operator (as a crash would leave things) and starts a new one with the same config. */
  stopOperator(): Promise<void>;
  startOperator(): Promise<void>;
  sessionKey: string;
  /** Address sidecars reach the operator's report endpoint at. */
  reportUrl: string;
  stop(): Promise<void>;
}

export async function startSessionStack(
  opts: {
    project?: Parameters<typeof projectFixture>[1];
    operator?: Partial<OperatorConfig>;
    prefix?: string;
  } = {},
): Promise<SessionStack> {
  const client = await testClient();
  const fixture = await projectFixture(
    client,
    opts.project ?? { concurrency: 10, maxQueued: 10 },
    opts.prefix ?? 'e2e',
  );
  const hostIP = inject('podNetworkHostIP');
  const base = loadConfig({
    BF_SESSION_KEY: TEST_SESSION_KEY,
    BF_NAMESPACE: fixture.namespace,
    BF_WATCH_NAMESPACE: fixture.namespace,
  });
  // The report endpoint listens on the pod network's host address, where sidecars in their namespaces reach it.
  const reportHost = hostIP || '127.0.0.1';
  const report = await freeReportEndpoint(reportHost);
  const config: OperatorConfig = {
    ...base,
    // Session pods from the images `make images` built, which the local node has (and any cluster the suite
    // is pointed at must have).
    ...chartImageConfig(base),
    metricsListen: '127.0.0.1:0',
    ...report,
    leaderElection: { ...base.leaderElection, enabled: false },
    disconnectGraceMs: 500,
    ...opts.operator,
  };
  const log = createLogger({ component: 'operator', ns: fixture.namespace });
  let operator: Operator | undefined = await startOperator(config, testKubeconfig(), log);
  return {
    client,
    kubeconfig: testKubeconfig(),
    namespace: fixture.namespace,
    project: fixture.project,
    get operator() {
      if (!operator) throw new Error('operator is stopped');
      return operator;
    },
    async stopOperator() {
      await operator?.stop();
      operator = undefined;
    },
    async startOperator() {
      operator ??= await startOperator(config, testKubeconfig(), log);
    },
    sessionKey: TEST_SESSION_KEY,
    reportUrl: report.reportUrl,
    async stop() {
      await operator?.stop();
      // Sessions first, so their pods go (and their Chromes with them) before the namespace is torn down.
      await client.request('DELETE', paths.sessions(fixture.namespace)).catch(() => undefined);
      await fixture.cleanup();
      client.close();
    },
  };
}
