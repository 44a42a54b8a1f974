import { parseFlags } from '../shared/config.js';
import { createLogger } from '../shared/log.js';
import { loadGatewayConfig } from './config.js';
import { startGateway } from './gateway.js';

/**
 * `node dist/main.js gateway [--config file]`: config from BF_GATEWAY_CONFIG / --config and env. A bad flag or
 * setting throws a ConfigError, which src/main.ts prints before exiting with 2.
 */
export async function runGateway(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const log = createLogger({ component: 'gateway' });
  const flags = parseFlags(argv, { config: { type: 'string' } });
  const config = loadGatewayConfig(env, flags.config);
  const gateway = await startGateway(config, { kubeconfigPath: env['BF_KUBECONFIG'] || undefined, log });
  const shutdown = async (signal: string) => {
    log.info('shutting down', { signal });
    await gateway.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
