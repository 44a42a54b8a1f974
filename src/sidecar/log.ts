import { createLogger } from '../shared/log.js';

/** The sidecar's logger. The logger blanks `token=` in URLs itself; callers still log paths through `redactToken`. */
export const log = createLogger({ component: 'sidecar' });

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
