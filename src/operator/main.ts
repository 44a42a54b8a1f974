import { parseFlags } from '../shared/config.js';
import { createLogger } from '../shared/log.js';
import { loadConfig } from './config.js';
import { startOperator } from './operator.js';

/**
 * `node dist/main.js operator [--config file]`: config from BF_OPERATOR_CONFIG / --config and env. A bad flag
 * or setting throws a ConfigError, which src/main.ts prints before exiting with 2.
 */
export async function runOperator(argv: string[], env = process.env): Promise<void> {
  const log = createLogger({ component: 'operator' });
  const flags = parseFlags(argv, { config: { type: 'string' } });
  const config = loadConfig(env, flags.config);
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
