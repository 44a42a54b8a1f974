import { createLogger } from '../shared/log.js';

/** The sidecar's logger. Callers pass URLs through `redactToken` first; logs never see credentials. */
export const log = createLogger({ component: 'sidecar' });

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
