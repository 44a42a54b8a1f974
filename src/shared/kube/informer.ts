import { type KubernetesListObject, type KubernetesObject, ListWatch, Watch } from '@kubernetes/client-node';
import type { KubeClient } from './client.js';

export interface InformerOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Called on every restart after an error, for metrics and logs. */
  onRestart?: (err: unknown, delayMs: number) => void;
}

/**
 * A list+watch cache that keeps itself alive: client-node's ListWatch relists on 410 Gone by itself; any
 * other error stops it, so this restarts it with capped exponential backoff (resuming from the last
 * resourceVersion, or relisting when that is too old). Handlers get the object only as a wake-up.
 */
export class Informer<T extends KubernetesObject> {
  private readonly lw: ListWatch<T>;
  private readonly handlers: ((obj: T) => void)[] = [];
  private failures = 0;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | undefined;
  synced = false;

  constructor(client: KubeClient, path: string, opts: InformerOptions = {}) {
    const listFn = () =>
      client.get<KubernetesListObject<T>>(path, {
        labelSelector: opts.labelSelector,
        fieldSelector: opts.fieldSelector,
      });
    this.lw = new ListWatch<T>(
      path,
      new Watch(client.kc),
      listFn,
      false,
      opts.labelSelector,
      opts.fieldSelector,
    );
    const fire = (obj: T) => {
      this.failures = 0;
      for (const h of this.handlers) h(obj);
    };
    this.lw.on('add', fire);
    this.lw.on('update', fire);
    this.lw.on('delete', fire);
    this.lw.on('error', (err) => {
      if (this.stopped) return;
      const delay = Math.min(30_000, 100 * 2 ** Math.min(this.failures++, 10));
      opts.onRestart?.(err, delay);
      clearTimeout(this.restartTimer);
      this.restartTimer = setTimeout(() => void this.lw.start().catch(() => undefined), delay);
    });
  }

  onChange(handler: (obj: T) => void): void {
    this.handlers.push(handler);
  }

  /** Resolves once the first list is in the cache (retrying until it is). */
  async start(): Promise<void> {
    for (;;) {
      try {
        await this.lw.start();
        this.synced = true;
        return;
      } catch (err) {
        if (this.stopped) throw err;
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** Math.min(this.failures++, 10))));
      }
    }
  }

  list(namespace?: string): readonly T[] {
    return this.lw.list(namespace);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.lw.get(name, namespace);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    await this.lw.stop();
  }
}
