import type { V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import { isConflict, isNotFound, type KubeClient, paths } from './client.js';

export interface LeaderElectionConfig {
  namespace: string;
  leaseName: string;
  identity: string;
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
}

/**
 * Lease-based leader election as client-go does it: acquire when the holder's record has not changed for a
 * whole lease duration (measured on our own clock, so clock skew between replicas does not matter), renew
 * every retry period, and step down when renewals have failed for the renew deadline — before the lease
 * can expire for anyone else, so two replicas never act at once.
 */
export class LeaderElector {
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private observed: { record: string; at: number } | undefined;
  private lastRenew = 0;

  constructor(
    private readonly client: KubeClient,
    private readonly cfg: LeaderElectionConfig,
    private readonly callbacks: { onStartedLeading: () => void; onStoppedLeading: () => void },
    private readonly log: Logger,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.tick();
  }

  /** Stops campaigning; a leader releases the lease so that a successor takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.client.get<V1Lease>(paths.lease(this.cfg.namespace, this.cfg.leaseName));
      if (lease.spec?.holderIdentity === this.cfg.identity) {
        lease.spec.holderIdentity = '';
        lease.spec.leaseDurationSeconds = 1;
        await this.client.request('PUT', paths.lease(this.cfg.namespace, this.cfg.leaseName), {
          body: lease,
        });
      }
    } catch (err) {
      this.log.warn('lease not released', { err });
    }
    this.callbacks.onStoppedLeading();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew();
    } catch (err) {
      this.log.warn('leader election round failed', { err });
    }
    const now = Date.now();
    if (ok) {
      this.lastRenew = now;
      if (!this.leading) {
        this.leading = true;
        this.log.info('became leader', { identity: this.cfg.identity });
        this.callbacks.onStartedLeading();
      }
    } else if (this.leading && now - this.lastRenew > this.cfg.renewDeadlineSeconds * 1000) {
      this.leading = false;
      this.log.warn('lost leadership', { identity: this.cfg.identity });
      this.callbacks.onStoppedLeading();
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), this.cfg.retryPeriodSeconds * 1000);
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const path = paths.lease(this.cfg.namespace, this.cfg.leaseName);
    const now = new Date();
    const nowMicro = now.toISOString().replace('Z', '000Z');
    let lease: V1Lease;
    try {
      lease = await this.client.get<V1Lease>(path);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.client.create(paths.leases(this.cfg.namespace), {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.cfg.leaseName, namespace: this.cfg.namespace },
        spec: {
          holderIdentity: this.cfg.identity,
          leaseDurationSeconds: this.cfg.leaseDurationSeconds,
          acquireTime: nowMicro,
          renewTime: nowMicro,
          leaseTransitions: 0,
        },
      });
      return true;
    }
    const spec = lease.spec ?? {};
    const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.leaseDurationSeconds]);
    if (!this.observed || this.observed.record !== record) this.observed = { record, at: now.getTime() };
    const holder = spec.holderIdentity ?? '';
    const mine = holder === this.cfg.identity;
    const duration = (spec.leaseDurationSeconds ?? this.cfg.leaseDurationSeconds) * 1000;
    if (!mine && holder !== '' && now.getTime() < this.observed.at + duration) return false;
    const body: V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: this.cfg.identity,
        leaseDurationSeconds: this.cfg.leaseDurationSeconds,
        renewTime: nowMicro as unknown as Date,
        ...(mine
          ? {}
          : { acquireTime: nowMicro as unknown as Date, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
      },
    };
    try {
      await this.client.request('PUT', path, { body });
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }
}
