/**
 * The processes the benchmarks start, each as its own OS process as in a deployment (so that its memory and CPU
 * can be read from /proc and nothing shares the benchmark client's event loop):
 *
 *   node dist-bench/bench/child.js <operator|gateway|sidecar>     config as JSON in BF_BENCH_CONFIG
 *
 * The parent talks to it over the IPC channel: the child says `ready` (with its ports) and answers `stats`
 * (its own counters, e.g. the operator's apiserver requests). SIGTERM stops it cleanly; so does the IPC channel
 * closing, which is what happens when the benchmark process dies.
 */
import { startGateway } from '../src/gateway/gateway.js';
import { startOperator } from '../src/operator/operator.js';
import { createLogger } from '../src/shared/log.js';
import { sidecarConfigFromEnv } from '../src/sidecar/config.js';
import { createSidecar } from '../src/sidecar/sidecar.js';
import type { ChildMessage, ParentMessage } from './child-protocol.js';

type Running = { stats(): Record<string, unknown>; stop(): Promise<void> };

function send(msg: ChildMessage): void {
  process.send?.(msg);
}

async function start(mode: string, config: Record<string, unknown>): Promise<Running> {
  const log = createLogger({ component: mode });
  switch (mode) {
    case 'operator': {
      const { kubeconfig, ...operatorConfig } = config as { kubeconfig: string } & Record<string, unknown>;
      const op = await startOperator(operatorConfig as never, kubeconfig, log);
      send({ type: 'ready', ports: { metrics: op.metricsPort, report: op.reportPort } });
      return {
        stats: () => ({
          requestsByVerb: Object.fromEntries(op.client.requestsByVerb),
          totalRequests: op.client.totalRequests,
        }),
        stop: () => op.stop(),
      };
    }
    case 'gateway': {
      const { kubeconfig, ...gatewayConfig } = config as { kubeconfig: string } & Record<string, unknown>;
      const gw = await startGateway(gatewayConfig as never, { kubeconfigPath: kubeconfig, log });
      send({ type: 'ready', ports: { http: gw.port, metrics: gw.metricsPort } });
      return { stats: () => ({}), stop: () => gw.stop() };
    }
    case 'sidecar': {
      // The pod's env contract, plus the address to bind (a pod binds 0.0.0.0 in its own network namespace).
      const env = config as Record<string, string>;
      const sidecar = createSidecar({ ...sidecarConfigFromEnv(env), host: env['host'] ?? '127.0.0.1' });
      const { port, metricsPort } = await sidecar.listen();
      send({ type: 'ready', ports: { cdp: port, metrics: metricsPort } });
      return { stats: () => ({}), stop: () => sidecar.close() };
    }
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

async function main(): Promise<void> {
  const mode = process.argv[2] ?? '';
  const config = JSON.parse(process.env['BF_BENCH_CONFIG'] ?? '{}') as Record<string, unknown>;
  const running = await start(mode, config);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    const timer = setTimeout(() => process.exit(1), 30_000);
    await running.stop().catch((err: unknown) => process.stderr.write(`${mode}: stop failed: ${err}\n`));
    clearTimeout(timer);
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  process.once('disconnect', () => void stop());
  process.on('message', (msg: ParentMessage) => {
    if (msg.type !== 'stats') return;
    // --expose-gc is set for processes whose heap is measured; a collection first makes readings comparable.
    (globalThis as { gc?: () => void }).gc?.();
    send({
      type: 'stats',
      id: msg.id,
      stats: { ...running.stats(), memory: process.memoryUsage(), cpu: process.cpuUsage() },
    });
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`${process.argv[2]}: ${err instanceof Error ? (err.stack ?? err.message) : err}\n`);
  send({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
