import { createLogger } from '../shared/log.js';
import { createLocalnode } from './agent.js';
import { loadConfig } from './config.js';

/**
 * `browserfleet localnode [--config file] [--node-name n] [--kubeconfig f] [--simulate]`: runs until SIGINT or
 * SIGTERM, then stops every pod and removes everything it created before resolving.
 */
export async function runLocalnode(
  argv: readonly string[] = process.argv.slice(3),
  env: Record<string, string | undefined> = process.env,
): Promise<void> {
  const config = loadConfig(argv, env);
  const log = createLogger({ component: 'localnode', node: config.nodeName });
  const node = createLocalnode(config, { log });
  let signalled: (sig: string) => void = () => {};
  const stopRequested = new Promise<string>((resolve) => {
    signalled = resolve;
  });
  const onSignal = (sig: NodeJS.Signals) => signalled(sig);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await node.start();
    const sig = await stopRequested;
    log.info('stopping on signal', { signal: sig });
  } finally {
    await node.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
