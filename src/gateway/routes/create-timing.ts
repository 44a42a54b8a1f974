import { toApiError } from '../errors.js';
import type { GatewayMetrics } from '../metrics.js';

/** Observes a create's latency by dialect and outcome ("created", or the error status it ended in). */
export async function timedCreate<T>(
  metrics: GatewayMetrics,
  dialect: 'browserbase' | 'hyperbrowser',
  create: () => Promise<T>,
): Promise<T> {
  const end = metrics.createLatency.startTimer({ dialect });
  try {
    const result = await create();
    end({ outcome: 'created' });
    return result;
  } catch (err) {
    end({ outcome: String(toApiError(err).status) });
    throw err;
  }
}
