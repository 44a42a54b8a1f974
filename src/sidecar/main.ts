import { parseFlags } from '../shared/config.js';
import { sidecarConfigFromEnv } from './config.js';
import { log } from './log.js';
import { createSidecar } from './sidecar.js';

/**
 * `node dist/main.js sidecar`: one per browser pod, the only door to its Chrome. Resolves once listening;
 * SIGTERM (pod deletion) closes the listeners and client sockets, sends the final report, and exits.
 */
export async function runSidecar(
  argv: readonly string[] = [],
  env: Record<string, string | undefined> = process.env,
): Promise<void> {
  parseFlags(argv, {}); // all settings come from the env the operator sets; a flag is a mistake
  const config = sidecarConfigFromEnv(env);
  const sidecar = createSidecar(config);
  const { port, metricsPort } = await sidecar.listen();
  log.info('sidecar listening', {
    port,
    metricsPort,
    chrome: config.chromeUrl.origin,
    session: `${config.session.namespace}/${config.session.name}`,
    reporting: config.reportUrl !== '',
  });

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    sidecar.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
