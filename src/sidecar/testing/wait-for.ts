import { waitFor as waitUntil } from '../../testing/wait.js';

/** The shared poller with the argument order these tests read best in: the condition first. */
export function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  deadlineMs = 20_000,
): Promise<T> {
  return waitUntil(what, check, deadlineMs, 25);
}
