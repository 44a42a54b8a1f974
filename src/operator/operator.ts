import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeClient } from '../shared/kube/client.js';
import { LeaderElector } from '../shared/kube/leader.js';
import { createLogger, type Logger } from '../shared/log.js';
import { type OperatorConfig, splitHostPort } from './config.js';
import { SessionController } from './controller.js';
import { createOperatorMetrics } from './metrics.js';
import { createReportApp } from './report-server.js';

export interface Operator {
  controller: SessionController;
  elector: LeaderElector;
  client: KubeClient;
  /** Bound addresses (port 0 in config picks a free one). */
  metricsPort: number;
  reportPort: number;
  /** Resolves when this replica stops leading (or is stopped). */
  stopped: Promise<'lost-leadership' | 'stopped'>;
  stop(): Promise<void>;
}

/** Builds and starts the operator: caches, health and report servers, then leader election gates the workers. */
export async function startOperator(
  config: OperatorConfig,
  kubeconfigPath?: string,
  log: Logger = createLogger({ component: 'operator' }),
): Promise<Operator> {
  const client = await KubeClient.create(kubeconfigPath);
  const metrics = createOperatorMetrics();
  const controller = new SessionController({ client, config, metrics, log });
  let stopping = false;
  let resolveStopped: (why: 'lost-leadership' | 'stopped') => void = () => undefined;
  const stopped = new Promise<'lost-leadership' | 'stopped'>((r) => {
    resolveStopped = r;
  });
  const elector = new LeaderElector(
    client,
    { namespace: config.namespace, identity: config.identity, ...config.leaderElection },
    {
      onStartedLeading: () => {
        metrics.leader.set(1);
        controller.startWorkers();
      },
      // Like controller-runtime: a replica that lost the lease stops at once and is restarted clean.
      // Stepping down because we were asked to stop is not a loss.
      onStoppedLeading: () => {
        metrics.leader.set(0);
        resolveStopped(stopping ? 'stopped' : 'lost-leadership');
      },
    },
    log,
  );

  const health = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return void res.writeHead(200).end('ok');
    if (path === '/readyz')
      return void res
        .writeHead(controller.synced ? 200 : 503)
        .end(controller.synced ? 'ok' : 'caches not synced');
    if (path === '/metrics') {
      metrics.queueDepth.set(controller.queue.length);
      void metrics.registry
        .metrics()
        .then((body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body));
      return;
    }
    res.writeHead(404).end();
  });
  const report = http.createServer(createReportApp({ client, sessionKey: config.sessionKey, metrics, log }));
  const listen = (server: http.Server, hp: string) =>
    new Promise<number>((resolve, reject) => {
      const { host, port } = splitHostPort(hp);
      server.once('error', reject);
      server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
    });
  const metricsPort = await listen(health, config.metricsListen);
  const reportPort = await listen(report, config.reportListen);

  await controller.startInformers();
  log.info('caches synced', { sessions: controller.sessions.list().length });
  if (config.leaderElection.enabled) elector.start();
  else {
    metrics.leader.set(1);
    controller.startWorkers();
  }

  return {
    controller,
    elector,
    client,
    metricsPort,
    reportPort,
    stopped,
    async stop() {
      stopping = true;
      await elector.stop();
      await controller.stop();
      health.closeAllConnections();
      report.closeAllConnections();
      await Promise.all([new Promise((r) => health.close(r)), new Promise((r) => report.close(r))]);
      client.close();
      resolveStopped('stopped');
    },
  };
}
