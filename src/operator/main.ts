import { createLogger } from '../shared/log.js';
import { ConfigError, loadConfig, type OperatorConfig } from './config.js';
import { startOperator } from './operator.js';

/** `node dist/main.js operator [--config file]`: config from BF_OPERATOR_CONFIG / --config and env. */
export async function runOperator(argv: string[], env = process.env): Promise<void> {
  const log = createLogger({ component: 'operator' });
  const i = argv.indexOf('--config');
  let config: OperatorConfig;
  try {
    config = loadConfig(env, i >= 0 ? argv[i + 1] : undefined);
  } catch (err) {
    if (err instanceof ConfigError) {
      log.error(`invalid configuration: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const operator = await startOperator(config, env['BF_KUBECONFIG'] || undefined, log);
  log.info('operator started', {
    identity: config.identity,
    metricsPort: operator.metricsPort,
    reportPort: operator.reportPort,
  });
  const shutdown = async (signal: string) => {
    log.info('shutting down', { signal });
    await operator.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  if ((await operator.stopped) === 'lost-leadership') {
    log.error('lost leadership; exiting so that a fresh process campaigns again');
    process.exit(1);
  }
}
