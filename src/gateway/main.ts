import { createLogger } from '../shared/log.js';
import { type GatewayConfig, GatewayConfigError, loadGatewayConfig } from './config.js';
import { startGateway } from './gateway.js';

/** `node dist/main.js gateway [--config file]`: config from BF_GATEWAY_CONFIG / --config and env. */
export async function runGateway(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const log = createLogger({ component: 'gateway' });
  const i = argv.indexOf('--config');
  let config: GatewayConfig;
  try {
    config = loadGatewayConfig(env, i >= 0 ? argv[i + 1] : undefined);
  } catch (err) {
    if (err instanceof GatewayConfigError) {
      log.error(`invalid configuration: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const gateway = await startGateway(config, { kubeconfigPath: env['BF_KUBECONFIG'] || undefined, log });
  const shutdown = async (signal: string) => {
    log.info('shutting down', { signal });
    await gateway.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
