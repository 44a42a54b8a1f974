import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import { type KubeClient, paths } from './client.js';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}

/**
 * Records core/v1 Events (what `kubectl describe` shows). Best effort, as in client-go: an Event that
 * cannot be written is logged and dropped, never allowed to fail a reconcile.
 */
export class EventRecorder {
  constructor(
    private readonly client: KubeClient,
    private readonly component: string,
    private readonly instance: string,
    private readonly log: Logger,
  ) {}

  record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const ns = target.metadata.namespace ?? 'default';
    const now = new Date().toISOString();
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${target.metadata.name}.${randomBytes(8).toString('hex')}`, namespace: ns },
      involvedObject: {
        apiVersion: target.apiVersion,
        kind: target.kind,
        name: target.metadata.name,
        namespace: ns,
        uid: target.metadata.uid,
        resourceVersion: target.metadata.resourceVersion,
      },
      reason,
      message: message.slice(0, 1024),
      type,
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: this.instance.slice(0, 128),
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    this.client.create(paths.events(ns), body).catch((err: unknown) => {
      this.log.warn('event not recorded', { reason, object: target.metadata.name, err });
    });
  }
}
